// neurona's page: the runs, a run's plots and history, and a pad to draw a digit on.
"use strict";

const $ = (selector) => document.querySelector(selector);
const views = { runs: $("#runs-view"), run: $("#run-view"), draw: $("#draw-view") };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function fixed(value, digits = 4) {
  return typeof value === "number" ? value.toFixed(digits) : value == null ? "–" : String(value);
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function show(name) {
  for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === (name === "run" ? "runs" : name));
  }
}

async function showRuns() {
  show("runs");
  const runs = await getJson("/api/runs");
  const body = $("#runs-table tbody");
  body.replaceChildren();
  for (const run of runs) {
    body.append(el("tr", { "data-run": run.name },
      el("td", {}, el("a", { href: `#/run/${encodeURIComponent(run.name)}` }, run.name)),
      el("td", { class: "text" }, run.kind.replace(/_/g, " ")),
      el("td", { class: `text state-${run.state}` }, run.state),
      el("td", {}, String(run.epochs)),
      el("td", {}, run.best_epoch == null ? "–" : String(run.best_epoch)),
      el("td", {}, run.test_accuracy == null ? "–" : `${(100 * run.test_accuracy).toFixed(2)} %`),
      el("td", {}, fixed(run.test_loss))));
  }
  $("#runs-empty").hidden = runs.length > 0;
  $("#runs-table").hidden = runs.length === 0;
}

async function showRun(name) {
  show("run");
  const run = await getJson(`/api/runs/${encodeURIComponent(name)}`);
  $("#run-name").textContent = run.name;
  const accuracy = run.test_accuracy == null ? "" : `, test accuracy ${(100 * run.test_accuracy).toFixed(2)} %`;
  $("#run-summary").textContent =
    `${run.kind.replace(/_/g, " ")}, ${run.state}, ${run.epochs} epochs` +
    (run.best_epoch == null ? "" : `, best epoch ${run.best_epoch}`) + accuracy;
  const plots = $("#run-plots");
  plots.replaceChildren();
  for (const file of run.plots) {
    const img = el("img", { src: `/runs/${encodeURIComponent(run.name)}/${encodeURIComponent(file)}`, alt: file });
    if (file.endsWith(".png")) img.classList.add("pixels");
    plots.append(el("figure", {}, img, el("figcaption", {}, file)));
  }
  const columns = run.history.length ? Object.keys(run.history[0]) : [];
  $("#run-epochs thead").replaceChildren(el("tr", {}, ...columns.map((c) => el("th", {}, c.replace(/_/g, " ")))));
  $("#run-epochs tbody").replaceChildren(...run.history.map((row) =>
    el("tr", {}, ...columns.map((c) => el("td", {}, c === "epoch" ? String(row[c]) : fixed(row[c]))))));
  $("#run-config").textContent = run.config;
}

// --- Drawing -------------------------------------------------------------------------------

const pad = $("#pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
let drawing = false;
let last = null;
let pending = false;
let dirty = false;

function clearPad() {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  $("#bars").replaceChildren();
  $("#answer").textContent = "";
  const seen = $("#seen").getContext("2d");
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, 140, 140);
  window.lastAnswer = null;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function stroke(from, to) {
  ink.strokeStyle = "#fff";
  ink.lineWidth = 20;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...from);
  ink.lineTo(...to);
  ink.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  stroke(last, last);
  requestAnswer();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const next = point(event);
  stroke(last, next);
  last = next;
  requestAnswer();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { drawing = false; requestAnswer(); });
}
$("#clear").addEventListener("click", clearPad);
$("#draw-run").addEventListener("change", requestAnswer);

// One request in flight; strokes made meanwhile are sent when it returns.
function requestAnswer() {
  dirty = true;
  if (!pending) sendDrawing();
}

async function sendDrawing() {
  const run = $("#draw-run").value;
  if (!run) return;
  pending = true;
  dirty = false;
  const rgba = ink.getImageData(0, 0, pad.width, pad.height).data;
  const grey = new Uint8Array(pad.width * pad.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  try {
    const response = await fetch(
      `/api/runs/${encodeURIComponent(run)}/predict?width=${pad.width}&height=${pad.height}`,
      { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: grey });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error);
    showAnswer(answer);
    $("#draw-status").textContent = `answered in ${answer.milliseconds.toFixed(1)} ms on the server`;
  } catch (error) {
    $("#draw-status").textContent = String(error.message || error);
  } finally {
    pending = false;
    if (dirty) sendDrawing();
  }
}

function showAnswer(answer) {
  window.lastAnswer = answer;
  $("#answer").textContent = `${answer.class} (${answer.class_name})`;
  const seen = $("#seen").getContext("2d");
  const image = seen.createImageData(28, 28);
  answer.image.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  small.getContext("2d").putImageData(image, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(small, 0, 0, 140, 140);
  $("#bars").replaceChildren(...answer.probabilities.map((p, c) => {
    const bar = el("div", { class: c === answer.class ? "bar top" : "bar", "data-class": String(c), "data-p": String(p) },
      el("span", {}, `${c} ${answer.class_names[c]}`),
      el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * p).toFixed(1)}%` })),
      el("span", { class: "p" }, `${(100 * p).toFixed(1)}%`));
    return bar;
  }));
}

async function showDraw() {
  show("draw");
  const runs = (await getJson("/api/runs")).filter((r) => r.kind === "image_classification" && r.epochs > 0);
  const select = $("#draw-run");
  const chosen = select.value;
  select.replaceChildren(...runs.map((r) => el("option", { value: r.name }, r.name)));
  if (runs.some((r) => r.name === chosen)) select.value = chosen;
  $("#draw-status").textContent = runs.length ? "" : "No trained image run to ask yet.";
}

// --- Routing -------------------------------------------------------------------------------

async function route() {
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/run/")) await showRun(decodeURIComponent(hash.slice(6)));
    else if (hash === "#/draw") await showDraw();
    else await showRuns();
  } catch (error) {
    document.querySelector("main").prepend(el("p", { class: "state-interrupted" }, String(error.message || error)));
  }
}

clearPad();
window.addEventListener("hashchange", route);
route();
