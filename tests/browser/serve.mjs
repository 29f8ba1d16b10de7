// `neurona serve` used the way a person uses it, in Debian's chromium driven by playwright-core:
// the runs page lists the runs, a run's page shows its plots, a digit drawn with the mouse gets
// probabilities that are `neurona predict`'s for the 28×28 image the page shows, and paths out of
// the runs folder are refused. Screenshots of each page go to tests/browser/out/.
//
//   NEURONA_BIN=target/release/neurona node tests/browser/serve.mjs
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

const here = path.dirname(new URL(import.meta.url).pathname);
const bin = path.resolve(process.env.NEURONA_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(here, "../../target"), "release/neurona"));
const shots = path.join(here, "out");
fs.mkdirSync(shots, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), "neurona-browser-"));
const runs = path.join(work, "runs");

// A small run to look at: 2 epochs of a 32-unit MLP on 600 Fashion-MNIST images.
const config = path.join(work, "tiny.toml");
fs.writeFileSync(config, `[data]
dataset = "fashion-mnist"
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 600
test_limit = 200
[model]
hidden = [32]
[training]
epochs = 2
batch_size = 64
[output]
dir = "${runs}"
name = "tiny"
`);
execFileSync(bin, ["train", config], { stdio: ["ignore", "ignore", "inherit"] });
// A second one to compare it with: another width and learning rate.
const otherConfig = path.join(work, "tiny-b.toml");
fs.writeFileSync(otherConfig, fs.readFileSync(config, "utf8").replace("hidden = [32]", "hidden = [48]")
  .replace("[training]", "[optimizer]\nlearning_rate = 0.003\n[training]").replace('name = "tiny"', 'name = "tiny-b"'));
execFileSync(bin, ["train", otherConfig], { stdio: ["ignore", "ignore", "inherit"] });

const server = spawn(bin, ["serve", "--runs", runs, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let text = "";
  server.stdout.on("data", (chunk) => {
    text += chunk;
    const found = text.match(/at (http:\/\/\S+)/);
    if (found) resolve(found[1]);
  });
  server.on("exit", (code) => reject(new Error(`neurona serve exited with ${code}`)));
  setTimeout(() => reject(new Error("no URL from neurona serve")), 20000);
});

// Errors thrown in the page: none is allowed.
const errors = [];

// Waits for the playground's answer on `dataset`; on a timeout the error says what the page
// showed instead.
async function playgroundDone(page, dataset) {
  try {
    await page.waitForFunction((d) => window.playgroundResult?.dataset === d, dataset, { timeout: 60000 });
  } catch (error) {
    await page.screenshot({ path: path.join(shots, `playground-${dataset}-timeout.png`), fullPage: true });
    const status = await page.textContent("#pg-status");
    // Is the server still answering, to this process and to the page?
    const direct = await fetch(`${url}api/runs`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.status, (e) => String(e));
    const fromPage = await page.evaluate((u) => fetch(`${u}api/runs`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.status, (e) => String(e)), url);
    throw new Error(`no playground answer for ${dataset}: the page says ${JSON.stringify(status)}; ` +
      `GET /api/runs answers ${direct} directly and ${fromPage} from the page; page errors: ${errors}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Headless, with a fresh profile of playwright's own (its launch makes one per browser).
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on("pageerror", (error) => errors.push(String(error)));

  // Runs page: every run in the folder, one row each.
  await page.goto(url);
  await page.waitForSelector("#runs-table tbody tr");
  const listed = await page.$$eval("#runs-table tbody tr", (rows) => rows.map((r) => r.dataset.run));
  assert.deepEqual(listed, fs.readdirSync(runs).sort());
  assert.deepEqual(listed, ["tiny", "tiny-b"]);
  const listCell = (run, name) => page.textContent(`#runs-table tr[data-run="${run}"] td[data-column="${name}"]`);
  assert.equal(await listCell("tiny", "state"), "finished");
  // What the list says of the model, against the closed forms: 784·32 + 32 + 32·10 + 10 weights.
  assert.equal(await listCell("tiny", "parameters"), (784 * 32 + 32 + 32 * 10 + 10).toLocaleString("en"));
  assert.equal(await listCell("tiny-b", "parameters"), (784 * 48 + 48 + 48 * 10 + 10).toLocaleString("en"));
  assert.equal(await listCell("tiny-b", "learning_rate"), "0.003");
  assert.equal(await listCell("tiny", "optimizer"), "adam");
  // Sorting by a column orders the rows by it, both ways.
  await page.click('#runs-table th[data-sort="parameters"]');
  await page.click('#runs-table th[data-sort="parameters"]');
  assert.deepEqual(await page.$$eval("#runs-table tbody tr", (rows) => rows.map((r) => r.dataset.run)), ["tiny-b", "tiny"]);
  await page.screenshot({ path: path.join(shots, "runs.png"), fullPage: true });
  console.log("ok: runs page lists", listed.join(", "));

  // A run's page: its plots load, its epochs are tabled.
  await page.click("#runs-table >> text=tiny");
  await page.waitForSelector("#run-plots img");
  await page.waitForFunction(() => [...document.querySelectorAll("#run-plots img")]
    .every((img) => img.complete && img.naturalWidth > 0));
  const plots = await page.$$eval("#run-plots img", (imgs) => imgs.map((i) => i.alt));
  assert.deepEqual(plots, ["first_layer.png", "loss.svg"]);
  assert.equal(await page.locator("#run-epochs tbody tr").count(), 2);
  // Each epoch's host→device copies: 540 training and 60 validation images in batches of 64 are
  // 9 + 1 batches, each its images (784 float32) and labels (int64) streamed from the host:
  // 20 copies of 600 × (784 × 4 + 8) bytes; loss and accuracy read once per split.
  const column = (await page.$$eval("#run-epochs thead th", (cells) => cells.map((c) => c.textContent))).indexOf("transfers");
  const copies = await page.$$eval("#run-epochs tbody tr", (rows, at) => rows.map((r) => r.cells[at].textContent), column);
  assert.deepEqual(copies, ["20 up (1.9 MB), 4 read", "20 up (1.9 MB), 4 read"]);
  // Every picture's text at least 11 px as the page shows it: the smallest font size in the SVG
  // file, scaled by the width it is displayed at over its own width.
  const legible = await page.$$eval("#run-plots img", (imgs) => Promise.all(imgs.filter((i) => i.alt.endsWith(".svg"))
    .map(async (img) => {
      // Until the picture is loaded it has no width on the page (one run in three read 0 px).
      await img.decode();
      const svg = new DOMParser().parseFromString(await (await fetch(img.src)).text(), "image/svg+xml").documentElement;
      const sizes = [...svg.querySelectorAll("text")].map((t) => Number(t.getAttribute("font-size")));
      return { file: img.alt, px: Math.min(...sizes) * img.clientWidth / Number(svg.getAttribute("width")) };
    })));
  assert.ok(legible.length > 0);
  for (const { file, px } of legible) assert.ok(px >= 11, `${file}: smallest text ${px.toFixed(1)} px as shown`);
  await page.screenshot({ path: path.join(shots, "run.png"), fullPage: true });
  console.log("ok: run page shows", plots.join(", "), "and 2 epochs; smallest text", legible.map((l) => `${l.px.toFixed(1)} px`).join(", "));

  // Compare: tick both runs, compare. The curves are the runs' metrics.json, by epoch and by
  // cumulative training time; the settings table lists exactly the keys that differ.
  await page.goto(url);
  await page.check('#runs-table tr[data-run="tiny"] input[type=checkbox]');
  await page.check('#runs-table tr[data-run="tiny-b"] input[type=checkbox]');
  await page.click("#compare-selected");
  await page.waitForFunction(() => document.body.dataset.compared === "tiny,tiny-b");
  assert.equal(new URL(page.url()).hash, "#/compare?runs=tiny,tiny-b");
  const curve = async (run, series) => JSON.parse(await page.getAttribute(
    `#compare-chart polyline[data-run="${run}"][data-series="${series}"]`, "data-points"));
  for (const name of ["tiny", "tiny-b"]) {
    const metrics = JSON.parse(fs.readFileSync(path.join(runs, name, "metrics.json"), "utf8"));
    for (const [series, key, scale] of [["loss-train", "train_loss", 1], ["loss-valid", "valid_loss", 1],
      ["accuracy-train", "train_accuracy", 100], ["accuracy-valid", "valid_accuracy", 100]]) {
      assert.deepEqual(await curve(name, series), metrics.epochs.map((e) => [e.epoch, e[key] * scale]), `${name} ${series}`);
    }
    const accuracy = await page.textContent(`#compare-metrics tr[data-row="test accuracy"] td:nth-of-type(${name === "tiny" ? 1 : 2})`);
    assert.equal(accuracy, `${(100 * metrics.test.accuracy).toFixed(2)} %`);
  }
  assert.deepEqual(await page.$$eval("#compare-settings tbody tr", (rows) => rows.map((r) => r.dataset.key)),
    ["model.hidden", "optimizer.learning_rate"]);
  await page.screenshot({ path: path.join(shots, "compare.png"), fullPage: true });
  await page.selectOption("#compare-x", "time");
  const timed = JSON.parse(fs.readFileSync(path.join(runs, "tiny", "metrics.json"), "utf8")).epochs;
  assert.deepEqual((await curve("tiny", "loss-train")).map(([x]) => x), [timed[0].seconds, timed[0].seconds + timed[1].seconds]);
  // The address is the view: opened afresh, it shows the same runs.
  const shared = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await shared.goto(`${url}#/compare?runs=tiny-b,tiny`);
  await shared.waitForFunction(() => document.body.dataset.compared === "tiny-b,tiny");
  assert.equal(await shared.locator("#compare-chart polyline").count(), 8);
  await shared.close();
  console.log("ok: compare view overlays tiny and tiny-b from their metrics.json and lists the 2 settings that differ");

  // What the classifier gets wrong: the heatmap's cells are `neurona eval`'s confusion matrix
  // and sum to the test set; a cell's images are exactly the test images of that true class the
  // model predicts as that column, each checked with `neurona predict` on the test IDX file.
  await page.goto(`${url}#/run/tiny`);
  await page.waitForSelector("#heatmap td[data-count]");
  execFileSync(bin, ["eval", path.join(runs, "tiny")], { stdio: "ignore" });
  const evaluated = JSON.parse(fs.readFileSync(path.join(runs, "tiny", "eval.json"), "utf8"));
  const heat = await page.$$eval("#heatmap tbody tr", (rows) => rows.map((r) =>
    [...r.querySelectorAll("td")].map((td) => Number(td.dataset.count))));
  assert.deepEqual(heat, evaluated.confusion);
  assert.equal(heat.flat().reduce((a, b) => a + b, 0), 200);
  const served = await (await page.request.get(`${url}api/runs/tiny/analysis`)).json();
  assert.deepEqual(served.matrix, evaluated.confusion);
  assert.deepEqual(served.classes, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]);
  // An off-diagonal cell of a few images (the count nearest 4).
  const [t, p] = heat.flatMap((row, i) => row.map((n, j) => [i, j, n])).filter(([i, j, n]) => i !== j && n > 0)
    .sort((a, b) => Math.abs(a[2] - 4) - Math.abs(b[2] - 4))[0];
  await page.click(`#heatmap td[data-true="${t}"][data-predicted="${p}"]`);
  await page.waitForFunction((cell) => document.body.dataset.cell === cell, `${t},${p}`);
  await page.waitForSelector("#cell-gallery figure");
  const shownImages = await page.$$eval("#cell-gallery figure", (figures) => figures.map((f) => Number(f.dataset.index)));
  assert.equal(shownImages.length, Math.min(heat[t][p], 60));
  const testLabels = zlib.gunzipSync(fs.readFileSync("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"));
  // Every image shown is of the row's class (the labels file), as many as eval counts.
  const ofRow = [...Array(200).keys()].filter((i) => testLabels[8 + i] === t);
  assert.ok(shownImages.every((i) => ofRow.includes(i)));
  for (const i of shownImages.slice(0, 6)) {
    assert.equal(testLabels[8 + i], t, `test image ${i} is of class ${t}`);
    const predicted = JSON.parse(execFileSync(bin, ["predict", path.join(runs, "tiny"), "--idx",
      "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "--index", String(i), "--json"]).toString());
    assert.equal(predicted.class, p, `test image ${i} is predicted as ${p}`);
  }
  assert.equal(await page.locator("#wrong-gallery figure").count(), Math.min(24, 200 - heat.reduce((s, row, i) => s + row[i], 0)));
  await page.locator("#analysis").screenshot({ path: path.join(shots, "analysis.png") });
  // A run written before the analysis existed: the page offers to compute it.
  fs.rmSync(path.join(runs, "tiny-b", "analysis.json"));
  await page.goto(`${url}#/run/tiny-b`);
  await page.waitForSelector("#analysis-compute:not([hidden])");
  await page.screenshot({ path: path.join(shots, "analysis-missing.png") });
  await page.click("#analysis-compute");
  await page.waitForSelector("#heatmap td[data-count]", { timeout: 60000 });
  const computed = await page.$$eval("#heatmap td", (cells) => cells.reduce((s, td) => s + Number(td.dataset.count), 0));
  assert.equal(computed, 200);
  assert.ok(fs.existsSync(path.join(runs, "tiny-b", "analysis.json")));
  console.log(`ok: heatmap equals neurona eval's matrix; cell ${t}→${p} shows its ${shownImages.length} images, as neurona predict classes them; an older run's analysis computed from the page`);

  // Live: a run trained by another process grows its chart while the page watches, each epoch
  // shown within a second of its record being written.
  const liveConfig = path.join(work, "live.toml");
  fs.writeFileSync(liveConfig, fs.readFileSync(config, "utf8")
    .replace("train_limit = 600", "train_limit = 12000")
    .replace("hidden = [32]", "hidden = [256]")
    .replace("epochs = 2", "epochs = 5")
    .replace('name = "tiny"', 'name = "live"'));
  const trainer = spawn(bin, ["train", liveConfig], { stdio: "ignore" });
  const metricsFile = path.join(runs, "live", "metrics.json");
  const written = {};
  const watcher = setInterval(() => {
    try {
      const n = JSON.parse(fs.readFileSync(metricsFile, "utf8")).epochs.length;
      written[n] ??= Date.now();
    } catch { /* not yet, or being replaced */ }
  }, 10);
  while (!fs.existsSync(path.join(runs, "live", "config.toml"))) await new Promise((r) => setTimeout(r, 50));
  await page.goto(`${url}#/run/live`);
  const seen = new Set();
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const shown = await page.evaluate(() => ({ ...document.body.dataset }));
    if (shown.run !== "live") continue;
    seen.add(shown.epochs);
    if (shown.state === "finished") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(watcher);
  await new Promise((resolve) => trainer.exitCode === null ? trainer.on("exit", resolve) : resolve());
  assert.equal(trainer.exitCode, 0, "the live run trained");
  assert.equal(await page.evaluate(() => document.body.dataset.epochs), "5");
  assert.ok(seen.size >= 3, `the chart grew while the page watched: saw epoch counts ${[...seen]}`);
  const seenAt = await page.evaluate(() => window.epochSeenAt);
  const latencies = Object.keys(written).filter((n) => n > 0 && seenAt[n]).map((n) => seenAt[n] - written[n]);
  assert.ok(latencies.length >= 2 && latencies.every((ms) => ms <= 1000), `epoch to chart: ${latencies} ms`);
  assert.equal(await page.locator('#chart circle[data-series="loss-valid"]').count(), 5);
  await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
  console.log(`ok: live chart grew through ${[...seen].join(", ")} epochs; epoch to chart ${latencies.join(", ")} ms`);

  // Drawing: a "7" in the pad's upper left, off-centre and small.
  await page.goto(`${url}#/draw`);
  await page.waitForFunction(() => document.querySelector("#draw-run").options.length > 0);
  await page.selectOption("#draw-run", "tiny");
  const box = await page.locator("#pad").boundingBox();
  const at = (x, y) => [box.x + x, box.y + y];
  await page.mouse.move(...at(40, 40));
  await page.mouse.down();
  for (const [x, y] of [[90, 40], [140, 42], [120, 90], [100, 140], [85, 190]]) {
    await page.mouse.move(...at(x, y), { steps: 6 });
  }
  await page.mouse.up();
  await page.waitForFunction(() => !pending && !dirty && window.lastAnswer);
  const answer = await page.evaluate(() => window.lastAnswer);
  const sum = answer.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-6, `probabilities sum to ${sum}`);
  const bars = await page.$$eval("#bars .bar", (all) => all.map((b) => Number(b.dataset.p)));
  assert.deepEqual(bars, answer.probabilities);
  assert.ok(answer.image.some((v) => v > 0), "the model saw ink");
  // The same 28×28 image through `neurona predict`.
  const pgm = path.join(work, "seen.pgm");
  fs.writeFileSync(pgm, Buffer.concat([Buffer.from("P5\n28 28\n255\n"), Buffer.from(answer.image)]));
  const cli = JSON.parse(execFileSync(bin, ["predict", path.join(runs, "tiny"), pgm, "--json"]).toString());
  cli.probabilities.forEach((p, c) => assert.ok(Math.abs(p - answer.probabilities[c]) <= 1e-6,
    `class ${c}: page ${answer.probabilities[c]} vs predict ${p}`));
  assert.equal(cli.class, answer.class);
  await page.screenshot({ path: path.join(shots, "draw.png"), fullPage: true });
  console.log(`ok: drawing answered ${answer.class} in ${answer.milliseconds.toFixed(2)} ms, same as neurona predict`);

  // Playground: XOR trained on the server learns all four points; saved, it is a normal run.
  await page.goto(`${url}#/playground`);
  await page.fill("#pg-units", "4");
  await page.selectOption("#pg-activation", "tanh");
  await page.fill("#pg-rate", "0.5");
  await page.click("#pg-train");
  await playgroundDone(page, "xor");
  const xor = await page.evaluate(() => window.playgroundResult);
  assert.ok(xor.converged_epoch > 0, "XOR learnt");
  // XOR learns in a few hundred epochs, well under a second: the first epoch and the answer at
  // least were painted (the spirals below check a long training is painted again and again).
  assert.ok(xor.frames.length >= 2, `${xor.frames.length} frames`);
  assert.equal(xor.frames[0].epoch, 1);
  const rows = await page.$$eval("#pg-table tbody tr", (all) => all.map((r) => [Number(r.dataset.p), r.dataset.right]));
  assert.equal(rows.length, 4);
  [0, 1, 1, 0].forEach((y, k) => assert.equal(rows[k][0] >= 0.5, y === 1, `point ${k}: P(1) = ${rows[k][0]}`));
  await page.screenshot({ path: path.join(shots, "playground.png"), fullPage: true });
  await page.fill("#pg-name", "xor-page");
  await page.click("#pg-save");
  await page.waitForSelector("#pg-status a");
  const truth = execFileSync(bin, ["predict", path.join(runs, "xor-page")]).toString();
  assert.match(truth, /x1\s+x2/);
  await page.goto(url);
  await page.waitForSelector('#runs-table tr[data-run="xor-page"]');
  assert.equal(await page.textContent('#runs-table tr[data-run="xor-page"] td[data-column="state"]'), "finished");
  // A 2-D run's epochs are the ones it trained (its metrics.json's losses).
  const trained = JSON.parse(fs.readFileSync(path.join(runs, "xor-page", "metrics.json"), "utf8")).losses.length;
  assert.ok(trained > 0);
  assert.equal(await page.textContent('#runs-table tr[data-run="xor-page"] td[data-column="epochs"]'), String(trained));
  console.log(`ok: playground learnt XOR after ${xor.converged_epoch} epochs (${xor.frames.length} frames) and saved it as a run`);

  // Playground: two moons, a generated set. Picking it loads settings that learn it; the scores
  // the page shows agree with its per-point answers, and the saved run scores the same in
  // `neurona predict`, a separate process that regenerates the points from the recorded config.
  await page.goto(`${url}#/playground`);
  await page.selectOption("#pg-dataset", "moons");
  assert.equal(await page.inputValue("#pg-optimizer"), "adam");
  assert.equal(await page.isDisabled("#pg-points"), false);
  await page.check("#pg-show-test");
  await page.click("#pg-train");
  await playgroundDone(page, "moons");
  const moons = await page.evaluate(() => window.playgroundResult);
  assert.equal(moons.points.length, 200);
  assert.equal(moons.test_points.length, 200);
  const right = moons.probabilities.filter((p, k) => (p >= 0.5) === (moons.targets[k] === 1)).length;
  assert.equal(right / 200, moons.train.accuracy);
  assert.ok(moons.test.accuracy >= 0.95, `moons test accuracy ${moons.test.accuracy}`);
  assert.equal(moons.test_losses.length, moons.losses.length);
  assert.ok(await page.isHidden("#pg-table"), "the truth table is XOR's only");
  assert.match(await page.textContent("#pg-scores"), /test \(200 other points\): \d+\.\d % right/);
  await page.screenshot({ path: path.join(shots, "playground-moons.png"), fullPage: true });
  await page.fill("#pg-name", "moons-page");
  await page.click("#pg-save");
  await page.waitForSelector("#pg-status a");
  const scored = execFileSync(bin, ["predict", path.join(runs, "moons-page")]).toString();
  const test = scored.match(/test: ([\d.]+) % of 200 points right, loss ([\d.]+)/);
  assert.ok(test, scored);
  assert.equal(Number(test[1]), Number((100 * moons.test.accuracy).toFixed(1)));
  assert.equal(Number(test[2]), Number(moons.test.loss.toFixed(4)));
  // The last frame's regions are the saved run's: `neurona predict --point` at grid points.
  const side = moons.grid_side, [lo, hi] = moons.region;
  const grid = Buffer.from(moons.frames[moons.frames.length - 1].grid, "base64");
  for (const [row, col] of [[0, 0], [5, 30], [20, 20], [33, 7], [40, 40]]) {
    const x1 = lo + (hi - lo) * col / (side - 1), x2 = lo + (hi - lo) * (side - 1 - row) / (side - 1);
    const said = execFileSync(bin, ["predict", path.join(runs, "moons-page"), "--point", `${x1},${x2}`]).toString();
    // P(1) printed to 4 decimals: 255·P is known to ±0.013, the byte is its rounding.
    const p = Number(said.split("\n")[1].split("|")[1]);
    assert.ok(Math.abs(grid[row * side + col] - 255 * p) <= 0.52, `grid (${row}, ${col}) at (${x1}, ${x2}): ${grid[row * side + col]} vs ${said}`);
  }
  console.log(`ok: playground learnt two moons (${(100 * moons.test.accuracy).toFixed(1)} % of test points right), same as neurona predict on the saved run`);

  // Spirals, the hardest set: the preset learns the training points (a screenshot to look at).
  await page.selectOption("#pg-dataset", "spirals");
  await page.click("#pg-train");
  await playgroundDone(page, "spirals");
  const spirals = await page.evaluate(() => window.playgroundResult);
  assert.ok(spirals.train.accuracy >= 0.95, `spirals training accuracy ${spirals.train.accuracy}`);
  await page.screenshot({ path: path.join(shots, "playground-spirals.png"), fullPage: true });
  // It trained live: the regions were painted again and again while it learnt.
  const frames = await page.evaluate(() => window.playgroundFrames);
  const distinct = new Set(frames.map((f) => f.grid)).size;
  const perSecond = (frames.length - 1) / ((frames[frames.length - 1].at - frames[0].at) / 1000);
  assert.ok(distinct >= 10, `${distinct} distinct frames`);
  assert.ok(perSecond >= 10, `${perSecond.toFixed(1)} frames a second`);
  // The network's picture: the 8 + 8 hidden units, 2·8 + 8·8 + 8·1 weights, as the last frame
  // sent them.
  assert.equal(await page.locator("#pg-network image.unit").count(), 16);
  assert.equal(await page.locator("#pg-network line.weight").count(), 2 * 8 + 8 * 8 + 8);
  const drawn = Number(await page.getAttribute('#pg-network line[data-layer="1"][data-from="3"][data-to="5"]', "data-weight"));
  assert.equal(drawn, spirals.network.weights[1][3][5]);
  console.log(`ok: playground spirals: ${(100 * spirals.train.accuracy).toFixed(1)} % of training points, ${(100 * spirals.test.accuracy).toFixed(1)} % of test points right; ${distinct} distinct frames, ${perSecond.toFixed(1)} a second`);

  // Pause, step and play: paused, the epoch stands still; a step is one epoch; play goes on;
  // reset ends the training (its slot is free again: the next training starts).
  await page.fill("#pg-epochs", "20000");
  await page.click("#pg-train");
  await page.waitForFunction(() => window.playgroundFrames?.length >= 3);
  await page.click("#pg-pause");
  await page.waitForFunction(() => /paused/.test(document.querySelector("#pg-status").textContent));
  const lastEpoch = () => page.evaluate(() => window.playgroundFrames[window.playgroundFrames.length - 1].epoch);
  const pausedAt = await lastEpoch();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await lastEpoch(), pausedAt, "paused");
  for (const k of [1, 2]) {
    await page.click("#pg-step");
    await page.waitForFunction((e) => window.playgroundFrames[window.playgroundFrames.length - 1].epoch === e, pausedAt + k);
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await lastEpoch(), pausedAt + 2, "two steps, two epochs");
  await page.click("#pg-pause");
  await page.waitForFunction((e) => window.playgroundFrames[window.playgroundFrames.length - 1].epoch > e + 10, pausedAt);
  await page.screenshot({ path: path.join(shots, "playground-live.png"), fullPage: true });
  await page.click("#pg-reset");
  console.log(`ok: playground paused at epoch ${pausedAt}, stepped to ${pausedAt + 2}, played on, reset`);

  // Two Gaussian blobs (the workshop's own task since it has one): a line separates them, so the
  // preset's two tanh units get nearly every test point right.
  await page.selectOption("#pg-dataset", "blobs");
  await page.click("#pg-train");
  await playgroundDone(page, "blobs");
  const blobs = await page.evaluate(() => window.playgroundResult);
  assert.equal(blobs.dataset, "blobs");
  assert.ok(blobs.test.accuracy >= 0.95, `blobs test accuracy ${blobs.test.accuracy}`);
  await page.screenshot({ path: path.join(shots, "playground-blobs.png"), fullPage: true });
  console.log(`ok: playground blobs: ${(100 * blobs.test.accuracy).toFixed(1)} % of test points right`);

  // Inputs: x1 + x2 − 2·x1·x2 is XOR itself, so with x1·x2 ticked a network without hidden layers
  // learns the four points (with x1 and x2 alone it cannot); the picture shows the three inputs.
  await page.selectOption("#pg-dataset", "xor");
  await page.fill("#pg-units", "");
  await page.selectOption("#pg-optimizer", "adam");
  await page.fill("#pg-rate", "0.1");
  await page.fill("#pg-epochs", "3000");
  await page.click("#pg-train");
  await playgroundDone(page, "xor");
  const line = await page.evaluate(() => window.playgroundResult);
  assert.equal(line.converged_epoch, undefined, "a line learnt XOR");
  await page.check('#pg-features input[value="x1*x2"]');
  await page.evaluate(() => { window.playgroundResult = null; });
  await page.click("#pg-train");
  await playgroundDone(page, "xor");
  const product = await page.evaluate(() => window.playgroundResult);
  assert.ok(product.converged_epoch > 0, "x1, x2 and x1·x2 learnt XOR without a hidden layer");
  assert.deepEqual(product.inputs.map((i) => i.name), ["x1", "x2", "x1*x2"]);
  assert.equal(await page.locator("#pg-network image.input").count(), 3);
  assert.equal(await page.locator("#pg-network line.weight").count(), 3);
  assert.match(await page.textContent("#pg-config"), /features = \["x1", "x2", "x1\*x2"\]/);
  await page.screenshot({ path: path.join(shots, "playground-features.png"), fullPage: true });
  // An L1 penalty: the same moons, smaller weights (Σ|w| of the last frame's network).
  const weightSum = (training) => training.network.weights.flat(2).reduce((a, w) => a + Math.abs(w), 0);
  await page.selectOption("#pg-dataset", "moons");
  await page.fill("#pg-epochs", "1000");
  await page.evaluate(() => { window.playgroundResult = null; });
  await page.click("#pg-train");
  await playgroundDone(page, "moons");
  const free = weightSum(await page.evaluate(() => window.playgroundResult));
  await page.selectOption("#pg-penalty", "l1");
  await page.fill("#pg-lambda", "0.01");
  await page.evaluate(() => { window.playgroundResult = null; });
  await page.click("#pg-train");
  await playgroundDone(page, "moons");
  const penalised = weightSum(await page.evaluate(() => window.playgroundResult));
  assert.ok(penalised < 0.5 * free, `Σ|w| ${penalised} with L1 against ${free} without`);
  assert.match(await page.textContent("#pg-config"), /penalty = "l1"\nlambda = 0.01/);
  await page.screenshot({ path: path.join(shots, "playground-l1.png"), fullPage: true });
  console.log(`ok: playground inputs: x1·x2 learnt XOR without hidden layers in ${product.converged_epoch} epochs (x1, x2 alone did not); L1 0.01: Σ|w| ${penalised.toFixed(1)} against ${free.toFixed(1)}`);

  // Train page: a shipped experiment file, shortened in the editor, trained by the `neurona
  // train` process the page starts; its run page follows it; stop and resume from there.
  await page.goto(`${url}#/train`);
  await page.waitForFunction(() => document.querySelector("#tr-template").options.length > 0);
  await page.selectOption("#tr-template", "fashion-mnist");
  const shipped = fs.readFileSync(path.join(here, "../../configs/fashion-mnist.toml"), "utf8");
  assert.equal(await page.inputValue("#tr-config"), shipped, "the template is the shipped file");
  await page.fill("#tr-config", shipped.replace("# train_limit = 60000", "train_limit = 3000")
    .replace("# test_limit = 10000", "test_limit = 500").replace(/^epochs = 15/m, "epochs = 400"));
  await page.fill("#tr-name", "from-page");
  await page.click("#tr-start");
  await page.waitForSelector("#tr-status a");
  await page.waitForFunction(() => /epoch +1\/400/.test(document.querySelector("#tr-output").textContent),
    null, { timeout: 60000 });
  assert.equal(await page.getAttribute('#jobs-table tr[data-job="from-page"]', "data-state"), "running");
  await page.screenshot({ path: path.join(shots, "train.png"), fullPage: true });
  await page.click("#tr-status a");
  await page.waitForFunction(() => document.body.dataset.run === "from-page" && Number(document.body.dataset.epochs) >= 2,
    null, { timeout: 60000 });
  assert.equal(await page.isVisible("#run-stop"), true);
  await page.click("#run-stop");
  await page.waitForFunction(() => document.body.dataset.state === "interrupted", null, { timeout: 30000 });
  const stoppedAt = Number(await page.evaluate(() => document.body.dataset.epochs));
  assert.equal(await page.isVisible("#run-resume"), true);
  await page.screenshot({ path: path.join(shots, "run-stopped.png"), fullPage: true });
  await page.click("#run-resume");
  await page.waitForFunction((n) => document.body.dataset.state === "running" && Number(document.body.dataset.epochs) > n,
    stoppedAt, { timeout: 60000 });
  const resumed = await page.$$eval("#run-epochs tbody tr", (rows) => rows.map((r) => Number(r.cells[0].textContent)));
  assert.deepEqual(resumed, resumed.map((_, k) => k + 1), "the epochs run on from where they stopped");
  await page.click("#run-stop");
  await page.waitForFunction(() => document.body.dataset.state === "interrupted", null, { timeout: 30000 });
  console.log(`ok: a training started from the page ran, stopped at epoch ${stoppedAt}, resumed to ${resumed.length}`);

  // Paths out of the runs folder.
  fs.writeFileSync(path.join(runs, "outside.json"), "{}");
  for (const probe of ["runs/tiny/..%2Foutside.json", "runs/..%2Ftiny/loss.svg",
    "runs/tiny/%2e%2e%2foutside.json", "runs/tiny/model.bpk", "outside.json"]) {
    const response = await page.request.get(url + probe);
    assert.equal(response.status(), 404, probe);
  }
  console.log("ok: paths out of the runs folder get 404");
  assert.deepEqual(errors, []);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
