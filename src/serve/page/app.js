// neurona's page: the runs, a run's plots and history (live while it trains), trainings started
// from the page, a pad to draw a digit on, and the 2-D playground.
"use strict";

const $ = (selector) => document.querySelector(selector);
const views = {
  runs: $("#runs-view"), run: $("#run-view"), compare: $("#compare-view"), train: $("#train-view"),
  draw: $("#draw-view"), playground: $("#playground-view"),
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function fixed(value, digits = 4) {
  return typeof value === "number" ? value.toFixed(digits) : value == null ? "–" : String(value);
}

// One cell of the epochs table: the epoch number as it is, the host↔device copies as counts and
// megabytes, numbers to four decimals.
function cell(column, value) {
  if (column === "epoch") return String(value);
  if (column === "transfers" && value) {
    return `${value.uploads} up (${(value.upload_bytes / 1e6).toFixed(1)} MB), ${value.reads} read`;
  }
  return fixed(value);
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function show(name) {
  for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === (name === "run" || name === "compare" ? "runs" : name));
  }
}

// Seconds as people read them: "12.3 s", "4 min 05 s", "2 h 03 min".
function duration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

function date(started) {
  if (started == null) return "–";
  const d = new Date(started * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

// Linear and logistic runs are fitted, not trained by epochs.
const glm = (run) => run.kind === "linear_regression" || run.kind === "logistic_regression";

const runsState = { runs: [], sort: { key: "name", ascending: true }, selected: new Set() };

function sortedRuns() {
  const { key, ascending } = runsState.sort;
  const value = (run) => run[key] ?? null;
  return [...runsState.runs].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    // Runs without the value go last whichever the direction.
    if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
}

function renderRuns() {
  const body = $("#runs-table tbody");
  body.replaceChildren(...sortedRuns().map((run) => {
    const tick = el("input", { type: "checkbox", "aria-label": `compare ${run.name}` });
    tick.checked = runsState.selected.has(run.name);
    tick.addEventListener("change", () => {
      if (tick.checked) runsState.selected.add(run.name); else runsState.selected.delete(run.name);
      updateCompareButton();
    });
    // Each cell names its column (`data-column`), for tests and tools.
    const cell = (column, content, cls = "") => el("td", { "data-column": column, class: cls }, content);
    return el("tr", { "data-run": run.name },
      cell("compare", tick, "text"),
      cell("name", el("a", { href: `#/run/${encodeURIComponent(run.name)}` }, run.name)),
      cell("kind", run.kind.replace(/_/g, " "), "text"),
      cell("model", run.model ?? "–", "text model"),
      cell("parameters", run.parameters == null ? "–" : run.parameters.toLocaleString("en")),
      cell("optimizer", run.optimizer ?? "–", "text"),
      cell("learning_rate", run.learning_rate == null ? "–" : String(run.learning_rate)),
      cell("state", run.state, `text state-${run.state}`),
      cell("epochs", glm(run) ? "–" : String(run.epochs)),
      cell("best_epoch", run.best_epoch == null ? "–" : String(run.best_epoch)),
      cell("test_accuracy", run.test_accuracy == null ? "–" : `${(100 * run.test_accuracy).toFixed(2)} %`),
      cell("test_loss", fixed(run.test_loss)),
      cell("seconds", duration(run.seconds)),
      cell("started", date(run.started)));
  }));
  for (const th of document.querySelectorAll("#runs-table th[data-sort]")) {
    const { key, ascending } = runsState.sort;
    th.dataset.order = th.dataset.sort === key ? (ascending ? "ascending" : "descending") : "";
  }
  updateCompareButton();
}

function updateCompareButton() {
  const names = runsState.runs.map((r) => r.name).filter((n) => runsState.selected.has(n));
  $("#compare-selected").disabled = names.length < 2;
  $("#compare-hint").textContent = names.length < 2
    ? "tick two or more runs to compare them" : `${names.length} runs: ${names.join(", ")}`;
}

for (const th of document.querySelectorAll("#runs-table th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort, sort = runsState.sort;
    runsState.sort = { key, ascending: sort.key === key ? !sort.ascending : true };
    renderRuns();
  });
}

$("#compare-selected").addEventListener("click", () => {
  const names = runsState.runs.map((r) => r.name).filter((n) => runsState.selected.has(n));
  location.hash = `#/compare?runs=${names.map(encodeURIComponent).join(",")}`;
});

async function showRuns() {
  show("runs");
  runsState.runs = await getJson("/api/runs");
  const present = new Set(runsState.runs.map((r) => r.name));
  for (const name of [...runsState.selected]) if (!present.has(name)) runsState.selected.delete(name);
  renderRuns();
  $("#runs-empty").hidden = runsState.runs.length > 0;
  $("#runs-table").hidden = runsState.runs.length === 0;
}

// --- Comparing runs --------------------------------------------------------------------------

// One colour per run, distinct in print and for the common colour-vision deficiencies.
const palette = ["#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0c8599", "#5c940d", "#862e9c", "#d9480f", "#364fc7"];

// Overlaid lines in one panel. `series`: {run, colour, dashed, key, points: [[x, y]]}; the points
// are also kept on the line (`data-points`) for tests and tools.
function panel({ title, series, xLabel, log, width = 440, height = 330 }) {
  const top = 34, bottom = 46, left = 70, right = 14;
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => isFinite(v) && (!log || v > 0));
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter(isFinite);
  let [lo, hi] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (hi === lo) { hi += 0.5 * (Math.abs(hi) || 1); lo -= 0.5 * (Math.abs(lo) || 1); }
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (x1 === x0) { x1 = x0 + 1; }
  const f = log ? Math.log10 : (v) => v;
  const [flo, fhi] = [f(lo), f(hi)];
  const X = (x) => left + (width - left - right) * (x - x0) / (x1 - x0);
  const Y = (v) => top + (height - top - bottom) * (1 - (f(v) - flo) / (fhi - flo || 1));
  const out = [`<g><text x="${left}" y="18" font-weight="600">${title}${log ? " (log)" : ""}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = log ? 10 ** (flo + (fhi - flo) * i / 4) : lo + (hi - lo) * i / 4;
    out.push(`<line class="grid" x1="${left}" x2="${width - right}" y1="${Y(v)}" y2="${Y(v)}"/>`,
      `<text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end">${Number(v.toPrecision(3))}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + (x1 - x0) * i / 4;
    out.push(`<text x="${X(x)}" y="${height - bottom + 17}" text-anchor="middle">${Number(x.toPrecision(3))}</text>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}"/>`,
    `<text x="${left + (width - left - right) / 2}" y="${height - 8}" text-anchor="middle">${xLabel}</text>`);
  for (const s of series) {
    const kept = s.points.filter(([x, y]) => isFinite(x) && isFinite(y) && (!log || y > 0));
    if (!kept.length) continue;
    const attrs = `data-run="${s.run}" data-series="${s.key}" data-points='${JSON.stringify(s.points)}'`;
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    out.push(`<polyline class="run-line" ${attrs} stroke="${s.colour}"${dash} points="${kept.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ")}"/>`);
    if (kept.length === 1) out.push(`<circle cx="${X(kept[0][0])}" cy="${Y(kept[0][1])}" r="3.5" fill="${s.colour}"/>`);
  }
  out.push("</g>");
  return out.join("");
}

const compareState = { names: [], runs: new Map(), streams: [] };

function stopCompare() {
  for (const stream of compareState.streams) stream.close();
  compareState.streams = [];
}

// A run's curves as the compare view draws them: by epoch (or cumulative training seconds),
// training and validation (a 2-D workshop run: training and test loss per epoch).
function curves(entry, x) {
  const { metrics } = entry;
  if (Array.isArray(metrics.epochs) && metrics.epochs.length) {
    let clock = 0;
    const at = metrics.epochs.map((e) => (x === "time" ? (clock += e.seconds ?? 0) : e.epoch));
    const column = (key) => metrics.epochs.map((e, i) => [at[i], e[key] ?? NaN]);
    return {
      loss: [["train", column("train_loss")], ["valid", column("valid_loss")]],
      accuracy: [["train", column("train_accuracy").map(([a, v]) => [a, 100 * v])],
        ["valid", column("valid_accuracy").map(([a, v]) => [a, 100 * v])]],
    };
  }
  if (Array.isArray(metrics.losses)) {
    const by = (values) => values.map((v, i) => [i + 1, v]);
    return { loss: [["train", by(metrics.losses)], ["valid", by(metrics.test_losses ?? [])]], accuracy: [] };
  }
  return { loss: [], accuracy: [] };
}

function drawCompare() {
  const x = $("#compare-x").value, log = $("#compare-log").checked;
  const series = { loss: [], accuracy: [] };
  compareState.names.forEach((name, k) => {
    const entry = compareState.runs.get(name);
    if (!entry) return;
    const c = curves(entry, x);
    for (const key of ["loss", "accuracy"]) {
      for (const [split, points] of c[key]) {
        if (points.some(([, v]) => isFinite(v))) {
          series[key].push({ run: name, colour: palette[k % palette.length], dashed: split === "valid", key: `${key}-${split}`, points });
        }
      }
    }
  });
  const xLabel = x === "time" ? "training time (s)" : "epoch";
  const hasAccuracy = series.accuracy.length > 0;
  const width = hasAccuracy ? 900 : 460;
  const legendHeight = 24 * Math.ceil(compareState.names.length / 3) + 26;
  const legend = compareState.names.map((name, k) =>
    `<g transform="translate(${20 + (k % 3) * 290}, ${346 + 24 * Math.floor(k / 3)})"><rect width="22" height="4" y="-5" fill="${palette[k % palette.length]}"/><text x="28">${name}</text></g>`).join("");
  const note = `<text x="20" y="${346 + legendHeight - 12}" class="muted-text">solid: training · dashed: validation (a 2-D run: test)</text>`;
  $("#compare-chart").innerHTML = `<svg viewBox="0 0 ${width} ${340 + legendHeight}" role="img" aria-label="compared learning curves">` +
    panel({ title: "loss", series: series.loss, xLabel, log }) +
    (hasAccuracy ? `<g transform="translate(460, 0)">${panel({ title: "accuracy (%)", series: series.accuracy, xLabel, log: false })}</g>` : "") +
    legend + note + "</svg>";
  const curvesShown = series.loss.length > 0 || hasAccuracy;
  $("#compare-chart").hidden = !curvesShown;
  $("#compare-controls").hidden = !curvesShown;
  drawCrossValidation();
}

// Linear and logistic runs with a cross-validation curve: held-out error against the penalty.
function drawCrossValidation() {
  const series = [];
  compareState.names.forEach((name, k) => {
    const cv = compareState.runs.get(name)?.cv;
    if (!cv) return;
    const values = cv.mse_mean ?? cv.log_loss_mean ?? cv.score_mean;
    const strengths = cv.lambdas ?? cv.cs;
    if (!values || !strengths) return;
    series.push({ run: name, colour: palette[k % palette.length], key: "cv", points: strengths.map((s, i) => [Math.log10(s), values[i]]) });
  });
  $("#compare-cv").hidden = series.length === 0;
  if (!series.length) return;
  $("#compare-cv").innerHTML = `<svg viewBox="0 0 460 340" role="img" aria-label="cross-validation curves">` +
    panel({ title: "mean held-out error, k-fold cross-validation", series, xLabel: "log10 penalty strength", log: false }) + "</svg>";
}

function compareTables() {
  const entries = compareState.names.map((name) => compareState.runs.get(name)).filter(Boolean);
  const head = el("tr", {}, el("th", { class: "text" }, ""), ...entries.map((e, k) =>
    el("th", { class: "text" }, el("span", { class: "swatch", style: `background:${palette[k % palette.length]}` }), e.run.name)));
  const rows = [
    ["kind", (r) => r.kind.replace(/_/g, " ")], ["model", (r) => r.model ?? "–"],
    ["parameters", (r) => r.parameters == null ? "–" : r.parameters.toLocaleString("en")],
    ["optimizer", (r) => r.optimizer ?? "–"], ["learning rate", (r) => r.learning_rate ?? "–"],
    ["state", (r) => r.state], ["epochs", (r) => glm(r) ? "–" : r.epochs], ["best epoch", (r) => r.best_epoch ?? "–"],
    ["test accuracy", (r) => r.test_accuracy == null ? "–" : `${(100 * r.test_accuracy).toFixed(2)} %`],
    ["test loss", (r) => fixed(r.test_loss)], ["training time", (r) => duration(r.seconds)],
  ];
  $("#compare-metrics thead").replaceChildren(head.cloneNode(true));
  $("#compare-metrics tbody").replaceChildren(...rows.map(([label, get]) =>
    el("tr", { "data-row": label }, el("th", { class: "text" }, label), ...entries.map((e) => el("td", {}, String(get(e.run)))))));
  // Settings: only the keys whose values differ (the run's own name and folder left out).
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e.run.settings)))]
    .filter((key) => !key.startsWith("output."))
    .filter((key) => new Set(entries.map((e) => e.run.settings[key] ?? "–")).size > 1).sort();
  $("#compare-settings thead").replaceChildren(head.cloneNode(true));
  $("#compare-settings tbody").replaceChildren(...keys.map((key) =>
    el("tr", { "data-key": key }, el("th", { class: "text" }, el("code", {}, key)),
      ...entries.map((e) => el("td", { class: "text" }, e.run.settings[key] ?? "–")))));
  $("#compare-settings").hidden = keys.length === 0;
  $("#compare-same").hidden = keys.length > 0;
  // Coefficients of linear and logistic runs, one row per feature.
  const fits = entries.filter((e) => e.coefficients?.coefficients);
  $("#compare-coefficients-block").hidden = fits.length === 0;
  if (fits.length) {
    const features = [...new Set(fits.flatMap((e) => [e.coefficients.intercept?.name, ...e.coefficients.coefficients.map((c) => c.name)]).filter(Boolean))];
    const coef = (e, name) => {
      const c = e.coefficients;
      const found = c.intercept?.name === name ? c.intercept : c.coefficients.find((x) => x.name === name);
      return found ? (found.coef === 0 ? "0" : Number(found.coef).toPrecision(5)) : "–";
    };
    $("#compare-coefficients thead").replaceChildren(el("tr", {}, el("th", { class: "text" }, "feature"),
      ...fits.map((e) => el("th", {}, e.run.name))));
    $("#compare-coefficients tbody").replaceChildren(...features.map((name) =>
      el("tr", { "data-feature": name }, el("th", { class: "text" }, name), ...fits.map((e) => el("td", {}, coef(e, name))))));
  }
}

// The optional files of a run: absent is normal (404), anything else is reported.
async function optionalJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  return response.ok ? response.json() : null;
}

async function loadCompared(name) {
  const base = `/runs/${encodeURIComponent(name)}`;
  const [run, metrics, coefficients, cv] = await Promise.all([
    getJson(`/api/runs/${encodeURIComponent(name)}`), optionalJson(`${base}/metrics.json`),
    optionalJson(`${base}/coefficients.json`), optionalJson(`${base}/cv.json`)]);
  compareState.runs.set(name, { run, metrics: metrics ?? {}, coefficients: coefficients ?? cv?.refit, cv });
}

async function showCompare(query) {
  show("compare");
  stopCompare();
  // Set again once these runs are drawn (tests and tools wait for it).
  delete document.body.dataset.compared;
  const names = (new URLSearchParams(query).get("runs") ?? "").split(",").map((n) => n.trim()).filter(Boolean);
  compareState.names = [...new Set(names)];
  compareState.runs = new Map();
  $("#compare-runs").textContent = compareState.names.length < 2
    ? "Give two or more runs: #/compare?runs=a,b" : compareState.names.join(" · ");
  const missing = [];
  await Promise.all(compareState.names.map((name) => loadCompared(name).catch(() => missing.push(name))));
  if (missing.length) $("#compare-runs").textContent += ` — not found: ${missing.join(", ")}`;
  drawCompare();
  compareTables();
  // Runs still training redraw in place as their epochs arrive.
  for (const name of compareState.names) {
    if (compareState.runs.get(name)?.run.state !== "running") continue;
    const stream = new EventSource(`/api/runs/${encodeURIComponent(name)}/events`);
    stream.addEventListener("run", async () => {
      await loadCompared(name);
      drawCompare();
      compareTables();
    });
    compareState.streams.push(stream);
  }
  document.body.dataset.compared = compareState.names.join(",");
}

$("#compare-x").addEventListener("change", drawCompare);
$("#compare-log").addEventListener("change", drawCompare);

// --- Learning curves, live -------------------------------------------------------------------

let events = null;
const chartState = { history: [], live: [], epoch: null };

function stopEvents() {
  if (events) events.close();
  events = null;
}

function smoothed(values, factor) {
  let last = null;
  return values.map((v) => (v == null ? v : (last = last == null ? v : factor * last + (1 - factor) * v)));
}

// Two panels, loss and accuracy, per epoch (train and validation) plus the batches of the epoch
// in progress at fractional epochs. Plain SVG: nothing to download.
function drawChart() {
  const log = $("#log-scale").checked;
  const factor = Number($("#smoothing").value);
  const { history, live } = chartState;
  const width = 900, height = 310, panel = 420, top = 30, bottom = 40, left = 55;
  const svg = [`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="learning curves">`];
  const panels = [
    { title: "loss", key: "loss", x0: 0, log },
    { title: "accuracy (%)", key: "accuracy", x0: panel + 40, log: false },
  ];
  const lastEpoch = Math.max(1, history.length, ...live.map((p) => p.x));
  for (const p of panels) {
    const series = {
      train: smoothed(history.map((e) => e[`train_${p.key}`]), factor),
      valid: smoothed(history.map((e) => e[`valid_${p.key}`]), factor),
      live: smoothed(live.map((b) => b[p.key]), factor),
    };
    const scale = p.key === "accuracy" ? 100 : 1;
    const all = [...series.train, ...series.valid, ...series.live].filter((v) => v != null && isFinite(v) && (!p.log || v > 0));
    let lo = all.length ? Math.min(...all) : 0, hi = all.length ? Math.max(...all) : 1;
    if (hi === lo) { hi += 0.5 * (Math.abs(hi) || 1); lo -= 0.5 * (Math.abs(lo) || 1); }
    const f = p.log ? Math.log10 : (v) => v;
    const [flo, fhi] = [f(p.log ? Math.max(lo, 1e-12) : lo), f(hi)];
    const X = (x) => p.x0 + left + (panel - left - 10) * (lastEpoch === 1 ? x : (x - 1) / (lastEpoch - 1 || 1));
    const Y = (v) => top + (height - top - bottom) * (1 - (f(p.log ? Math.max(v, 1e-12) : v) - flo) / (fhi - flo || 1));
    svg.push(`<text x="${p.x0 + left}" y="13" font-weight="600">${p.title}${p.log ? " (log)" : ""}</text>`);
    for (let i = 0; i <= 4; i++) {
      const v = p.log ? 10 ** (flo + (fhi - flo) * i / 4) : lo + (hi - lo) * i / 4;
      const y = Y(v);
      svg.push(`<line class="grid" x1="${p.x0 + left}" x2="${p.x0 + panel - 10}" y1="${y}" y2="${y}"/>`);
      svg.push(`<text x="${p.x0 + left - 6}" y="${y + 4}" text-anchor="end">${(v * scale).toPrecision(3)}</text>`);
    }
    svg.push(`<line class="axis" x1="${p.x0 + left}" x2="${p.x0 + panel - 10}" y1="${height - bottom}" y2="${height - bottom}"/>`);
    const ticks = Math.min(lastEpoch, 10);
    for (let i = 0; i < ticks; i++) {
      const e = Math.round(1 + (lastEpoch - 1) * (ticks === 1 ? 0 : i / (ticks - 1)));
      svg.push(`<text x="${X(e)}" y="${height - bottom + 15}" text-anchor="middle">${e}</text>`);
    }
    svg.push(`<text x="${p.x0 + left + (panel - left) / 2}" y="${height - 5}" text-anchor="middle">epoch</text>`);
    for (const [name, values, xs] of [["train", series.train, history.map((e) => e.epoch)],
      ["valid", series.valid, history.map((e) => e.epoch)], ["live", series.live, live.map((b) => b.x)]]) {
      const points = values.map((v, i) => [xs[i], v]).filter(([, v]) => v != null && isFinite(v));
      if (points.length > 1) {
        svg.push(`<polyline class="${name}" data-series="${p.key}-${name}" points="${points.map(([x, v]) => `${X(x).toFixed(1)},${Y(v).toFixed(1)}`).join(" ")}"/>`);
      }
      if (name !== "live") {
        for (const [x, v] of points) svg.push(`<circle class="dot-${name}" data-series="${p.key}-${name}" cx="${X(x).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3"/>`);
      }
    }
  }
  svg.push(`<g transform="translate(${width - 190}, 14)"><rect width="12" height="3" y="-4" fill="#2f6fde"/><text x="16">train</text>`,
    `<rect x="60" width="12" height="3" y="-4" fill="#e8590c"/><text x="76">validation</text></g>`);
  svg.push("</svg>");
  $("#chart").innerHTML = svg.join("");
}

$("#log-scale").addEventListener("change", drawChart);
$("#smoothing").addEventListener("input", drawChart);

function followRun(name) {
  stopEvents();
  chartState.live = [];
  events = new EventSource(`/api/runs/${encodeURIComponent(name)}/events`);
  // A "run" event says the run changed (its summary); its data is fetched once per change.
  events.addEventListener("run", async () => {
    const run = await getJson(`/api/runs/${encodeURIComponent(name)}`);
    if (document.body.dataset.run !== undefined && document.body.dataset.run !== name) return;
    chartState.history = run.history;
    // Batches of epochs now complete are replaced by their epoch's point.
    chartState.live = chartState.live.filter((b) => b.x > run.history.length + 1e-9);
    renderRun(run);
  });
  events.addEventListener("live", (message) => {
    const live = JSON.parse(message.data);
    if (live.split !== "train" || !live.total || live.loss == null) return;
    const x = live.epoch - 1 + live.items / live.total;
    if (chartState.live.length && x <= chartState.live[chartState.live.length - 1].x) return;
    chartState.live.push({ x, loss: live.loss, accuracy: live.accuracy });
    $("#live-status").textContent = `epoch ${live.epoch}: ${live.items}/${live.total} training items`;
    drawChart();
  });
}

async function showRun(name) {
  show("run");
  const run = await getJson(`/api/runs/${encodeURIComponent(name)}`);
  chartState.history = run.history;
  renderRun(run);
  followRun(name);
}

function renderRun(run) {
  $("#run-name").textContent = run.name;
  const accuracy = run.test_accuracy == null ? "" : `, test accuracy ${(100 * run.test_accuracy).toFixed(2)} %`;
  $("#run-summary").textContent =
    `${run.kind.replace(/_/g, " ")}, ${run.state}, ${run.epochs} epochs` +
    (run.best_epoch == null ? "" : `, best epoch ${run.best_epoch}`) + accuracy;
  const plots = $("#run-plots");
  plots.replaceChildren();
  for (const file of run.plots) {
    // The epoch count in the address: a picture redrawn after an epoch is fetched again.
    const src = `/runs/${encodeURIComponent(run.name)}/${encodeURIComponent(file)}?epochs=${run.history.length}`;
    const img = el("img", { src, alt: file });
    if (file.endsWith(".png")) img.classList.add("pixels");
    plots.append(el("figure", {}, img, el("figcaption", {}, file)));
  }
  const columns = run.history.length ? Object.keys(run.history[0]) : [];
  $("#run-epochs thead").replaceChildren(el("tr", {}, ...columns.map((c) => el("th", {}, c.replace(/_/g, " ")))));
  $("#run-epochs tbody").replaceChildren(...run.history.map((row) =>
    el("tr", {}, ...columns.map((c) => el("td", {}, cell(c, row[c]))))));
  $("#run-config").textContent = run.config;
  document.body.dataset.run = run.name;
  document.body.dataset.epochs = String(run.history.length);
  (window.epochSeenAt ||= {})[run.history.length] ??= Date.now();
  // A stop or resume asked for has happened once the state changes.
  if (document.body.dataset.state !== run.state) $("#run-action-status").textContent = "";
  document.body.dataset.state = run.state;
  if (run.state !== "running") $("#live-status").textContent = "";
  $("#run-stop").hidden = run.state !== "running";
  $("#run-resume").hidden = !(run.state === "interrupted" && run.kind === "image_classification");
  if (run.kind === "image_classification" && run.state !== "running") loadAnalysis(run.name);
  else $("#analysis").hidden = true;
  const curves = run.history.length > 0 || run.state === "running";
  $("#chart").hidden = !curves;
  document.querySelector(".chart-controls").hidden = !curves;
  if (curves) drawChart();
}

async function postJson(url, body = undefined) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/toml" }, body });
  const answer = await response.json().catch(() => ({ error: `${response.status}` }));
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

$("#run-stop").addEventListener("click", async () => {
  const name = document.body.dataset.run;
  try {
    await postJson(`/api/jobs/${encodeURIComponent(name)}/stop`);
    $("#run-action-status").textContent = "stopping…";
  } catch (error) {
    $("#run-action-status").textContent = error.message === "not found"
      ? "this training was not started from the page: stop it where it runs"
      : error.message;
  }
});

$("#run-resume").addEventListener("click", async () => {
  const name = document.body.dataset.run;
  try {
    await postJson(`/api/runs/${encodeURIComponent(name)}/resume`);
    $("#run-action-status").textContent = "resuming from the last completed epoch…";
  } catch (error) {
    $("#run-action-status").textContent = error.message;
  }
});

// --- What the classifier gets wrong ----------------------------------------------------------

const analysisState = { run: null, analysis: null, cell: null };

async function loadAnalysis(name) {
  if (analysisState.run === name && analysisState.analysis) return;
  analysisState.run = name;
  analysisState.analysis = null;
  $("#analysis").hidden = false;
  $("#analysis-body").hidden = true;
  $("#analysis-compute").hidden = true;
  $("#analysis-status").textContent = "";
  for (const part of ["#heatmap thead", "#heatmap tbody", "#class-scores tbody", "#cell-gallery", "#wrong-gallery"]) {
    $(part).replaceChildren();
  }
  const response = await fetch(`/api/runs/${encodeURIComponent(name)}/analysis`, { cache: "no-store" });
  const answer = await response.json().catch(() => ({ error: `${response.status}` }));
  if (analysisState.run !== name) return;
  if (!response.ok) {
    $("#analysis-status").textContent = answer.error;
    $("#analysis-compute").hidden = response.status !== 422;
    return;
  }
  showAnalysis(answer);
}

$("#analysis-compute").addEventListener("click", async () => {
  const name = analysisState.run;
  $("#analysis-compute").disabled = true;
  $("#analysis-status").textContent = "evaluating the test set…";
  try {
    const response = await fetch(`/api/runs/${encodeURIComponent(name)}/analysis`,
      { method: "POST", headers: { "Content-Type": "application/json" } });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error);
    if (analysisState.run === name) showAnalysis(answer);
  } catch (error) {
    $("#analysis-status").textContent = String(error.message || error);
  } finally {
    $("#analysis-compute").disabled = false;
  }
});

function showAnalysis(analysis) {
  analysisState.analysis = analysis;
  analysisState.cell = null;
  window.lastAnalysis = analysis;
  const right = analysis.matrix.reduce((sum, row, t) => sum + row[t], 0);
  $("#analysis-status").textContent =
    `${analysis.images} test images, ${right} right (${(100 * right / analysis.images).toFixed(2)} %)`;
  $("#analysis-compute").hidden = true;
  $("#analysis-body").hidden = false;
  $("#cell-block").hidden = true;
  drawHeatmap();
  $("#class-scores tbody").replaceChildren(...analysis.per_class.map((c) => el("tr", {},
    el("td", { class: "text" }, c.class), el("td", {}, `${(100 * c.precision).toFixed(1)} %`),
    el("td", {}, `${(100 * c.recall).toFixed(1)} %`), el("td", {}, c.f1.toFixed(3)), el("td", {}, String(c.support)))));
  showGallery($("#wrong-gallery"), analysis.most_confidently_wrong.slice(0, 24).map((m) => ({
    index: m.index,
    caption: [`#${m.index} is ${analysis.classes[m.true_class]}`,
      ...m.top.map((r) => `${analysis.classes[r.class]} ${(100 * r.probability).toFixed(1)}\u00a0%`)],
  })));
}

function drawHeatmap() {
  const { analysis } = analysisState;
  const shares = $("#heatmap-mode").value === "rows";
  const names = analysis.classes;
  $("#heatmap thead").replaceChildren(el("tr", {}, el("th", { class: "text" }, "true \\ predicted"),
    ...names.map((n, c) => el("th", { class: "column-name", title: n }, el("span", {}, `${c} ${n}`)))));
  $("#heatmap tbody").replaceChildren(...analysis.matrix.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el("tr", {}, el("th", { class: "text" }, `${t} ${names[t]}`), ...row.map((count, p) => {
      const share = count / total;
      // Right answers in blue, mistakes in orange, the stronger the larger their share of the row.
      const strength = p === t ? share : Math.min(1, 4 * share);
      const [r, g, b] = p === t ? [47, 111, 222] : [232, 89, 12];
      const mix = (c) => Math.round(255 + (c - 255) * strength);
      const cell = el("td", {
        "data-true": String(t), "data-predicted": String(p), "data-count": String(count),
        style: `background: rgb(${mix(r)},${mix(g)},${mix(b)}); color: ${strength > 0.55 ? "#fff" : "#1d2430"}`,
        title: `${count} ${names[t]} predicted as ${names[p]}`,
      }, shares ? (100 * share).toFixed(1) : String(count));
      if (count > 0) cell.addEventListener("click", () => showCell(t, p));
      else cell.classList.add("empty");
      return cell;
    }));
  }));
}

$("#heatmap-mode").addEventListener("change", () => { if (analysisState.analysis) drawHeatmap(); });

// The images of one cell: every test image of true class `t` the model predicted as `p`.
const CELL_IMAGES = 60;

async function showCell(t, p) {
  const { analysis } = analysisState;
  const indices = [];
  analysis.labels.forEach((label, i) => { if (label === t && analysis.predictions[i] === p) indices.push(i); });
  analysisState.cell = [t, p];
  for (const td of document.querySelectorAll("#heatmap td")) {
    td.classList.toggle("selected", td.dataset.true === String(t) && td.dataset.predicted === String(p));
  }
  $("#cell-block").hidden = false;
  const more = indices.length > CELL_IMAGES ? ` (the first ${CELL_IMAGES} shown)` : "";
  $("#cell-title").textContent = t === p
    ? `${analysis.classes[t]} recognised: ${indices.length} images${more}`
    : `${analysis.classes[t]} predicted as ${analysis.classes[p]}: ${indices.length} images${more}`;
  await showGallery($("#cell-gallery"), indices.slice(0, CELL_IMAGES).map((i) => ({
    index: i, caption: [`#${i}`, `${analysis.classes[p]} ${(100 * analysis.confidence[i]).toFixed(1)}\u00a0%`],
  })));
  document.body.dataset.cell = `${t},${p}`;
}

// Test images as small pictures with their captions, fetched from the run's test set.
async function showGallery(gallery, items) {
  gallery.replaceChildren();
  if (!items.length) return;
  const run = analysisState.run;
  const answer = await getJson(`/api/runs/${encodeURIComponent(run)}/test-images?indices=${items.map((i) => i.index).join(",")}`);
  if (analysisState.run !== run) return;
  const pixels = Uint8Array.from(atob(answer.pixels), (c) => c.charCodeAt(0));
  const size = answer.side * answer.side;
  gallery.replaceChildren(...items.map((item, k) => {
    const canvas = el("canvas", { width: String(answer.side), height: String(answer.side), "aria-label": `test image ${item.index}` });
    const paint = canvas.getContext("2d");
    const image = paint.createImageData(answer.side, answer.side);
    for (let i = 0; i < size; i++) {
      const v = 255 - pixels[k * size + i];
      image.data.set([v, v, v, 255], 4 * i);
    }
    paint.putImageData(image, 0, 0);
    return el("figure", { "data-index": String(item.index) }, canvas,
      el("figcaption", {}, ...item.caption.flatMap((line, j) => (j ? [el("br"), line] : [line]))));
  }));
}

// --- Training from the page ------------------------------------------------------------------

let templates = null;
let jobsTimer = null;

async function showTrain() {
  show("train");
  if (!templates) {
    templates = await getJson("/api/templates");
    $("#tr-template").replaceChildren(...templates.map((t) => el("option", { value: t.name }, t.name)));
    loadTemplate();
  }
  await refreshJobs();
  jobsTimer = setInterval(refreshJobs, 1000);
}

function loadTemplate() {
  const template = templates.find((t) => t.name === $("#tr-template").value);
  $("#tr-config").value = template.text;
  $("#tr-name").value = `${template.name}-page`;
}

async function refreshJobs() {
  const jobs = await getJson("/api/jobs");
  window.lastJobs = jobs;
  $("#jobs-empty").hidden = jobs.length > 0;
  $("#jobs-table").hidden = jobs.length === 0;
  $("#jobs-table tbody").replaceChildren(...jobs.map((job) => {
    const stop = el("button", { type: "button" }, "Stop");
    stop.hidden = job.state !== "running";
    stop.addEventListener("click", () => postJson(`/api/jobs/${encodeURIComponent(job.run)}/stop`).then(refreshJobs));
    return el("tr", { "data-job": job.run, "data-state": job.state },
      el("td", {}, el("a", { href: `#/run/${encodeURIComponent(job.run)}` }, job.run)),
      el("td", { class: `text state-${job.state === "running" ? "running" : job.state === "finished" ? "finished" : "interrupted"}` }, job.state),
      el("td", {}, `${job.seconds.toFixed(0)} s`),
      el("td", { class: "text" }, stop));
  }));
  // The output of the newest training: what a terminal would have shown.
  const newest = jobs.find((j) => j.run === $("#train-form").dataset.started) || jobs[jobs.length - 1];
  $("#tr-output").hidden = !newest;
  if (newest) $("#tr-output").textContent = `$ neurona train ${newest.run}\n${newest.output}`;
}

$("#tr-template").addEventListener("change", loadTemplate);

$("#train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#tr-name").value.trim();
  $("#tr-status").textContent = "starting…";
  try {
    const started = await postJson(`/api/jobs?name=${encodeURIComponent(name)}`, $("#tr-config").value);
    $("#train-form").dataset.started = started.run;
    $("#tr-status").replaceChildren("training ", el("a", { href: `#/run/${encodeURIComponent(started.run)}` }, started.run),
      " — its page shows the curves as they grow");
    await refreshJobs();
  } catch (error) {
    $("#tr-status").textContent = error.message;
  }
});

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

// --- Playground ------------------------------------------------------------------------------

// Settings that learn each data set in a few seconds; picking a data set loads them.
const presets = {
  xor: { units: "4", activation: "tanh", optimizer: "sgd", rate: 0.5, epochs: 5000 },
  circle: { units: "8", activation: "tanh", optimizer: "adam", rate: 0.03, epochs: 2000 },
  moons: { units: "8", activation: "tanh", optimizer: "adam", rate: 0.03, epochs: 2000 },
  spirals: { units: "8, 8", activation: "tanh", optimizer: "adam", rate: 0.03, epochs: 3000 },
  blobs: { units: "2", activation: "tanh", optimizer: "adam", rate: 0.03, epochs: 500 },
};

function applyPreset() {
  const dataset = $("#pg-dataset").value, preset = presets[dataset];
  $("#pg-units").value = preset.units;
  $("#pg-activation").value = preset.activation;
  $("#pg-optimizer").value = preset.optimizer;
  $("#pg-rate").value = preset.rate;
  $("#pg-epochs").value = preset.epochs;
  $("#pg-name").value = `${dataset}-playground`;
  // The presets learn their set from the point's two coordinates, unpenalised, full-batch.
  for (const box of document.querySelectorAll("#pg-features input")) box.checked = box.value === "x1" || box.value === "x2";
  $("#pg-penalty").value = "none";
  $("#pg-batch").value = "";
  const generated = dataset !== "xor";
  for (const id of ["#pg-points", "#pg-share", "#pg-noise", "#pg-show-test"]) {
    $(id).disabled = !generated;
    $(id).closest("label").classList.toggle("off", !generated);
  }
}

// The hidden widths typed as "8, 8": whole numbers, anything else dropped (the server checks
// the sizes against its limits).
function hiddenWidths() {
  return $("#pg-units").value.split(/[\s,]+/).filter(Boolean).map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

// The experiment file the form stands for: the same file `neurona train` reads.
function playgroundConfig() {
  const dataset = $("#pg-dataset").value;
  const name = $("#pg-name").value.trim() || `${dataset}-playground`;
  const total = Math.max(4, Math.round(Number($("#pg-points").value)) || 4);
  const training = Math.max(2, Math.min(total - 2, Math.round(total * Number($("#pg-share").value))));
  const generated = dataset !== "xor"
    ? `points = ${training}\ntest_points = ${total - training}\nnoise = ${Number($("#pg-noise").value) || 0}\n`
    : "";
  const features = [...document.querySelectorAll("#pg-features input:checked")].map((box) => JSON.stringify(box.value));
  const batch = Math.round(Number($("#pg-batch").value));
  const penalty = $("#pg-penalty").value;
  const trainingKeys = (batch > 0 ? `batch_size = ${batch}\n` : "")
    + (penalty !== "none" ? `penalty = "${penalty}"\nlambda = ${Number($("#pg-lambda").value) || 0}\n` : "");
  return `# neurona's 2-D workshop, from the playground page
task = "points"
backend = "auto"
precision = "f32"
seed = ${Math.round(Number($("#pg-seed").value)) || 0}

[data]
dataset = "${dataset}"
features = [${features.join(", ")}]
${generated}
[model]
hidden = [${hiddenWidths().join(", ")}]
activation = "${$("#pg-activation").value}"
init = "xavier"
output = "sigmoid"

[optimizer]
kind = "${$("#pg-optimizer").value}"
learning_rate = ${Number($("#pg-rate").value) || 0.1}

[training]
gradients = "autodiff"
epochs = ${Math.round(Number($("#pg-epochs").value)) || 1}
${trainingKeys}
[output]
name = ${JSON.stringify(name)}
`;
}

let shown = null; // the training and frame on the canvas, repainted when "show test points" changes

function paintRegions(training, frame) {
  shown = { training, frame };
  const canvas = $("#regions");
  const paint = canvas.getContext("2d");
  const side = training.grid_side, cell = canvas.width / side;
  // The grid comes as base64 bytes, 255·P(1).
  const grid = Uint8Array.from(atob(frame.grid), (c) => c.charCodeAt(0));
  grid.forEach((byte, i) => {
    const p = byte / 255;
    // Blue for P(1) near 1, orange near 0, white at the boundary.
    const t = Math.abs(p - 0.5) * 2;
    const [r, g, b] = p >= 0.5 ? [47, 111, 222] : [232, 89, 12];
    paint.fillStyle = `rgb(${255 + (r - 255) * t * 0.6},${255 + (g - 255) * t * 0.6},${255 + (b - 255) * t * 0.6})`;
    paint.fillRect((i % side) * cell, Math.floor(i / side) * cell, cell + 1, cell + 1);
  });
  const [lo, hi] = training.region;
  const at = (v) => (v - lo) / (hi - lo) * canvas.width;
  // Four XOR points are big; hundreds of generated ones small. Test points are hollow rings.
  const radius = training.points.length <= 8 ? 9 : 3.5;
  const dot = ([x1, x2], target, test) => {
    paint.beginPath();
    paint.arc(at(x1), canvas.height - at(x2), radius, 0, 2 * Math.PI);
    const colour = target === 1 ? "#1d4ed8" : "#c2410c";
    paint.lineWidth = test ? 1.5 : radius > 5 ? 2 : 1;
    if (test) {
      paint.strokeStyle = colour;
    } else {
      paint.fillStyle = colour;
      paint.fill();
      paint.strokeStyle = "#fff";
    }
    paint.stroke();
  };
  training.points.forEach((p, k) => dot(p, training.targets[k], false));
  if ($("#pg-show-test").checked) training.test_points.forEach((p, k) => dot(p, training.test_targets[k], true));
  const test = frame.test_loss == null ? "" : `, test loss ${frame.test_loss.toFixed(4)}`;
  $("#pg-status").textContent = `epoch ${frame.epoch}, loss ${frame.loss.toFixed(4)}${test}`;
}

// Both losses by epoch: a live training has a loss for each frame it painted, not each epoch.
function drawLoss(training) {
  const all = training.losses.concat(training.test_losses);
  const w = 320, h = 200, left = 44, bottom = 28;
  const max = Math.max(...all), min = Math.min(...all);
  const epochs = training.epochs ?? training.losses.map((_, i) => i + 1);
  const last = epochs[epochs.length - 1];
  const X = (epoch) => left + (w - left - 8) * (last > 1 ? (epoch - 1) / (last - 1) : 0);
  const Y = (v) => 10 + (h - 10 - bottom) * (1 - (Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min) || 1));
  const line = (losses, kind) => {
    if (!losses.length) return "";
    const step = Math.max(1, Math.floor(losses.length / 300));
    const points = losses.map((v, i) => [epochs[i], v]).filter((_, i) => i % step === 0 || i === losses.length - 1)
      .map(([epoch, v]) => `${X(epoch).toFixed(1)},${Y(v).toFixed(1)}`);
    return `<polyline class="${kind}" points="${points.join(" ")}"/>`;
  };
  const legend = training.test_losses.length
    ? `<text x="${w - 8}" y="9" text-anchor="end"><tspan class="legend-train">training</tspan> · <tspan class="legend-valid">test</tspan></text>`
    : "";
  $("#pg-loss").innerHTML = `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="loss">
    <text x="${left}" y="9" font-weight="600">loss (log scale)</text>${legend}
    <line class="axis" x1="${left}" x2="${w - 8}" y1="${h - bottom}" y2="${h - bottom}"/>
    <text x="${left - 4}" y="${Y(max) + 4}" text-anchor="end">${max.toPrecision(2)}</text>
    <text x="${left - 4}" y="${Y(min) + 4}" text-anchor="end">${min.toPrecision(2)}</text>
    <text x="${left}" y="${h - bottom + 14}">1</text>
    <text x="${w - 8}" y="${h - bottom + 14}" text-anchor="end">${last}</text>
    <text x="${(left + w) / 2}" y="${h - 4}" text-anchor="middle">epoch</text>
    ${line(training.losses, "train")}${line(training.test_losses, "valid")}</svg>`;
}

// XOR: the truth table with each point's answer. Generated sets: training and test scores.
function showOutcome(training) {
  const xor = training.dataset === "xor";
  $("#pg-table").hidden = !xor;
  const percent = (score) => `${(100 * score.accuracy).toFixed(1)} % right, loss ${score.loss.toFixed(4)}`;
  $("#pg-scores").textContent = xor ? "" : `training: ${percent(training.train)}; test (${training.test_points.length} other points): ${percent(training.test)}`;
  if (!xor) return;
  $("#pg-table tbody").replaceChildren(...training.points.map(([x1, x2], k) => {
    const p = training.probabilities[k];
    const right = (p >= 0.5) === (training.targets[k] === 1);
    return el("tr", { "data-p": String(p), "data-right": String(right) },
      el("td", {}, String(x1)), el("td", {}, String(x2)), el("td", {}, String(training.targets[k])),
      el("td", {}, p.toFixed(4)), el("td", {}, right ? "✓" : "✗"));
  }));
}

async function playgroundPost(path) {
  const config = playgroundConfig();
  $("#pg-config").textContent = config;
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/toml" }, body: config });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

$("#pg-dataset").addEventListener("change", applyPreset);
$("#pg-show-test").addEventListener("change", () => { if (shown) paintRegions(shown.training, shown.frame); });

// A live training: the server streams one JSON line per frame while it trains.
let live = null;

function stopLive() {
  if (live) live.controller.abort();
  live = null;
  for (const id of ["#pg-pause", "#pg-step", "#pg-reset"]) $(id).disabled = true;
  $("#pg-pause").textContent = "Pause";
}

async function setMode(mode) {
  if (!live?.session) return;
  await fetch(`/api/playground/live/${live.session}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ mode }) });
}

// A small heatmap as an image: `bytes` over a `side × side` grid, blue above `centre`, orange
// below, white at it (the regions' colours).
function heatImage(bytes, side, centre) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const paint = canvas.getContext("2d");
  const image = paint.createImageData(side, side);
  bytes.forEach((byte, i) => {
    const t = Math.min(1, Math.abs(byte - centre) / centre);
    const [r, g, b] = byte >= centre ? [47, 111, 222] : [232, 89, 12];
    image.data.set([255 + (r - 255) * t * 0.8, 255 + (g - 255) * t * 0.8, 255 + (b - 255) * t * 0.8, 255], 4 * i);
  });
  paint.putImageData(image, 0, 0);
  return canvas.toDataURL();
}

const bytesOf = (base64) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

// The network as TensorFlow Playground draws it: the inputs, each hidden unit's output over the
// plane, the output's regions, and every weight as a line (blue positive, orange negative, wider
// the larger).
function drawNetwork(training, network, grid) {
  const side = 21, box = 34, w = 320;
  const widths = [network.weights[0].length, ...network.units.map((l) => l.length), 1];
  const h = Math.max(...widths) * (box + 10) + 30;
  const x = (layer) => 10 + layer * (w - 20 - box) / (widths.length - 1);
  const y = (layer, unit) => 24 + (h - 24 - widths[layer] * (box + 10)) / 2 + unit * (box + 10);
  // The inputs as the server computed them over the plane (x1 grows to the right, x2 upwards).
  const inputs = training.inputs.map((input) => ({ href: heatImage(bytesOf(input.grid), side, 128),
    name: input.name.replace("^2", "²").replace("*x2", "·x2").replace("pi*", "π") }));
  const largest = Math.max(1e-9, ...network.weights.flat(2).map(Math.abs));
  const parts = [`<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="the network">`,
    `<text x="10" y="14" font-weight="600">the network, unit by unit</text>`,
    `<text x="${w - 8}" y="14" text-anchor="end" font-size="11"><tspan fill="#2f6fde">+</tspan> / <tspan fill="#e8590c">−</tspan> weights</text>`];
  network.weights.forEach((matrix, layer) => matrix.forEach((row, i) => row.forEach((weight, o) => {
    const width = (0.4 + 4 * Math.abs(weight) / largest).toFixed(2);
    parts.push(`<line class="weight" data-layer="${layer}" data-from="${i}" data-to="${o}" data-weight="${weight}" x1="${x(layer) + box}" y1="${y(layer, i) + box / 2}" x2="${x(layer + 1)}" y2="${y(layer + 1, o) + box / 2}" stroke="${weight >= 0 ? "#2f6fde" : "#e8590c"}" stroke-width="${width}" opacity="0.7"/>`);
  })));
  inputs.forEach((input, k) => parts.push(`<image class="input" href="${input.href}" x="${x(0)}" y="${y(0, k)}" width="${box}" height="${box}"/>`,
    `<text x="${x(0) + box / 2}" y="${y(0, k) + box + 9}" text-anchor="middle" font-size="11">${input.name}</text>`));
  network.units.forEach((layer, l) => layer.forEach((unit, u) => parts.push(
    `<image class="unit" data-layer="${l}" data-unit="${u}" href="${heatImage(bytesOf(unit), side, 128)}" x="${x(l + 1)}" y="${y(l + 1, u)}" width="${box}" height="${box}" style="image-rendering: pixelated"/>`)));
  const last = widths.length - 1;
  parts.push(`<image href="${heatImage(bytesOf(grid), training.grid_side, 127.5)}" x="${x(last)}" y="${y(last, 0)}" width="${box}" height="${box}"/>`,
    `<text x="${x(last) + box / 2}" y="${y(last, 0) + box + 9}" text-anchor="middle" font-size="11">P(1)</text>`, "</svg>");
  $("#pg-network").innerHTML = parts.join("");
  $("#pg-network").hidden = false;
}

function liveLine(line, training) {
  if (line.kind === "queued") {
    $("#pg-status").textContent = `waiting for a free training slot: the server trains ${line.running} at once, `
      + (line.ahead ? `${line.ahead} waiting ahead of yours` : "yours is next");
  } else if (line.kind === "start") {
    $("#pg-status").textContent = "training…";
    Object.assign(training, line, { frames: [], losses: [], test_losses: [], epochs: [] });
    live.session = line.session;
    for (const id of ["#pg-pause", "#pg-step", "#pg-reset"]) $(id).disabled = false;
  } else if (line.kind === "frame" || line.kind === "done") {
    if (line.kind === "frame") {
      training.losses.push(line.loss);
      if (line.test_loss != null) training.test_losses.push(line.test_loss);
      training.epochs.push(line.epoch);
    } else {
      // The answer carries every epoch's losses: the curve drawn from them all.
      Object.assign(training, { losses: line.losses, test_losses: line.test_losses, epochs: undefined });
    }
    const frame = { epoch: line.epoch, grid: line.grid,
      loss: training.losses[training.losses.length - 1] ?? NaN, test_loss: training.test_losses[training.test_losses.length - 1] };
    training.frames.push(frame);
    window.playgroundFrames.push({ epoch: line.epoch, grid: line.grid, at: performance.now() });
    paintRegions(training, frame);
    drawLoss(training);
    if (line.network) {
      training.network = line.network;
      drawNetwork(training, line.network, line.grid);
    }
    if (line.kind === "frame" && line.mode === "pause") $("#pg-status").textContent += " — paused";
    if (line.kind === "done") {
      Object.assign(training, { probabilities: line.probabilities, converged_epoch: line.converged_epoch,
        train: line.train, test: line.test ?? null });
      showOutcome(training);
      $("#pg-status").textContent += training.converged_epoch
        ? ` — learnt after ${training.converged_epoch} epochs`
        : " — not every training point right yet: more epochs, another learning rate or a wider network";
      window.playgroundResult = training;
      stopLive();
    }
  } else if (line.kind === "error") {
    $("#pg-status").textContent = line.error;
    stopLive();
  }
}

$("#playground-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  stopLive();
  window.playgroundResult = null;
  window.playgroundFrames = [];
  $("#pg-status").textContent = "training…";
  $("#pg-scores").textContent = "";
  $("#pg-table").hidden = true;
  const config = playgroundConfig();
  $("#pg-config").textContent = config;
  const mine = { controller: new AbortController(), session: null };
  live = mine;
  const training = {};
  try {
    const response = await fetch("/api/playground/live", { method: "POST",
      headers: { "Content-Type": "application/toml" }, body: config, signal: mine.controller.signal });
    if (!response.ok) throw new Error((await response.json()).error);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || live !== mine) break;
      buffered += decoder.decode(value, { stream: true });
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        liveLine(JSON.parse(buffered.slice(0, end)), training);
        buffered = buffered.slice(end + 1);
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") $("#pg-status").textContent = String(error.message || error);
  }
});

$("#pg-pause").addEventListener("click", async () => {
  const pausing = $("#pg-pause").textContent === "Pause";
  $("#pg-pause").textContent = pausing ? "Play" : "Pause";
  await setMode(pausing ? "pause" : "play");
});
$("#pg-step").addEventListener("click", async () => {
  $("#pg-pause").textContent = "Play";
  await setMode("step");
});
$("#pg-reset").addEventListener("click", () => {
  stopLive();
  shown = null;
  const canvas = $("#regions");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  $("#pg-loss").replaceChildren();
  $("#pg-network").replaceChildren();
  $("#pg-network").hidden = true;
  $("#pg-status").textContent = "reset: press Train to start again";
});

$("#pg-save").addEventListener("click", async () => {
  $("#pg-status").textContent = "training and saving…";
  try {
    const saved = await playgroundPost("/api/playground/save");
    $("#pg-status").replaceChildren("saved as ", el("a", { href: `#/run/${encodeURIComponent(saved.run)}` }, saved.run));
  } catch (error) {
    $("#pg-status").textContent = String(error.message || error);
  }
});

applyPreset();

// --- Routing -------------------------------------------------------------------------------

async function route() {
  const hash = location.hash || "#/";
  stopEvents();
  stopCompare();
  stopLive();
  clearInterval(jobsTimer);
  $("#run-action-status").textContent = "";
  delete document.body.dataset.run;
  window.epochSeenAt = {};
  try {
    if (hash.startsWith("#/run/")) await showRun(decodeURIComponent(hash.slice(6)));
    else if (hash.startsWith("#/compare")) await showCompare(hash.slice(hash.indexOf("?") + 1 || hash.length));
    else if (hash === "#/draw") await showDraw();
    else if (hash === "#/train") await showTrain();
    else if (hash === "#/playground") show("playground");
    else await showRuns();
  } catch (error) {
    document.querySelector("main").prepend(el("p", { class: "state-interrupted" }, String(error.message || error)));
  }
}

clearPad();
window.addEventListener("hashchange", route);
route();
