// The page's figures in BENCHMARKS.md, in Debian's chromium (playwright-core from
// tests/browser, `npm ci --prefix tests/browser` first):
// - the compare view's render time for 10 runs × 50 epochs: 10 small Fashion-MNIST runs are
//   trained, then the view is opened (route to drawn, fetches included) and redrawn (the drawing
//   alone), median of 5 each;
// - the page's weight: the bytes of its HTML, JavaScript and CSS as served.
//
//   NEURONA_BIN=target/release/neurona node bench/page.mjs
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const { chromium } = await import(path.join(here, "../tests/browser/node_modules/playwright-core/index.mjs"));
const bin = path.resolve(process.env.NEURONA_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(here, "../target"), "release/neurona"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "neurona-page-bench-"));
const runs = path.join(work, "runs");
const names = [...Array(10).keys()].map((i) => `run-${i}`);
for (const [i, name] of names.entries()) {
  const config = path.join(work, `${name}.toml`);
  fs.writeFileSync(config, `[data]
dataset = "fashion-mnist"
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 300
test_limit = 100
[model]
hidden = [${8 + i}]
[optimizer]
learning_rate = ${0.001 * (i + 1)}
[training]
epochs = 50
batch_size = 100
[output]
dir = "${runs}"
name = "${name}"
`);
  execFileSync(bin, ["train", config], { stdio: "ignore" });
}
const server = spawn(bin, ["serve", "--runs", runs, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve) => {
  let text = "";
  server.stdout.on("data", (chunk) => {
    text += chunk;
    const found = text.match(/at (http:\/\/\S+)/);
    if (found) resolve(found[1]);
  });
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  const opened = [], redrawn = [];
  for (let k = 0; k < 5; k++) {
    await page.goto(`${url}#/`);
    await page.waitForSelector("#runs-table tbody tr");
    const started = await page.evaluate(() => performance.now());
    await page.evaluate((list) => { location.hash = `#/compare?runs=${list}`; }, names.join(","));
    await page.waitForFunction((list) => document.body.dataset.compared === list, names.join(","));
    opened.push(await page.evaluate(() => performance.now()) - started);
    redrawn.push(await page.evaluate(() => {
      const t0 = performance.now();
      drawCompare();
      compareTables();
      // Layout and paint of what was drawn.
      document.body.getBoundingClientRect();
      return performance.now() - t0;
    }));
  }
  const lines = await page.locator("#compare-chart polyline").count();
  let weight = 0;
  for (const file of ["", "app.js", "style.css"]) weight += (await (await fetch(url + file)).arrayBuffer()).byteLength;
  console.log(JSON.stringify({
    runs: names.length, epochs: 50, lines,
    open_ms_median: Number(median(opened).toFixed(1)), open_ms: opened.map((x) => Number(x.toFixed(1))),
    redraw_ms_median: Number(median(redrawn).toFixed(1)), redraw_ms: redrawn.map((x) => Number(x.toFixed(1))),
    page_bytes: weight,
  }));
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(work, { recursive: true, force: true });
}
