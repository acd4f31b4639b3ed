// End-to-end test of the web client: starts `cdsearch serve` on a free
// loopback port, drops a sample mask on the page in headless Chromium, waits
// for the results and checks them against `cdsearch search` for the same mask
// and parameters. Saves a screenshot of the results.
//
// Environment: CDSEARCH_BIN (the binary), REPO (repository root),
// ARTIFACTS (screenshot directory), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

const bin = process.env.CDSEARCH_BIN;
const repo = process.env.REPO;
const artifacts = process.env.ARTIFACTS || path.join(repo, "test-artifacts");
const maskName = "12191_JRC2018U.tif";
const maskPath = path.join(repo, "sample/masks", maskName);
const library = path.join(repo, "sample/library");
const apiKey = "e2e-test-key-0001";

/** Starts the server and resolves with its base URL once it listens. */
function startServer(dataDir) {
  const child = spawn(bin, [
    "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
    "--library", `sample=${library}`, "--masks", path.join(repo, "sample/masks"),
    "--api-key", `e2e:${apiKey}`,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/serving on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: m[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

/** The ranking of `cdsearch search` for the mask, default parameters. */
function cliRanking() {
  const json = execFileSync(bin, [
    "search", "--mask", maskPath, "--library", library, "--format", "json", "--top", "500",
  ], { encoding: "utf8" });
  return JSON.parse(json).masks[0].results.map((h) => [h.imageName, h.matchingPixels]);
}

const dataDir = mkdtempSync(path.join(tmpdir(), "cdsearch-e2e-"));
const { child, base } = await startServer(dataDir);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ], // playwright starts Chromium with a fresh temporary profile of its own

});
try {
  const expected = cliRanking();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("pageerror", (e) => { throw e; });
  await page.goto(`${base}/#token=${apiKey}`);
  await page.waitForSelector("#app:not([hidden])");
  assert.match(await page.textContent("#libraries"), /sample \(8 images\)/);

  // Drop the mask file on the drop zone, as a user dragging it from a file manager.
  const bytes = readFileSync(maskPath).toString("base64");
  await page.evaluate(([name, b64]) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], name, { type: "image/tiff" }));
    document.querySelector("#drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
  }, [maskName, bytes]);
  assert.equal(await page.textContent("#uploads li span"), maskName);

  await page.click("#submit");
  await page.waitForSelector('#status[data-status="done"]', { timeout: 60000 });
  await page.waitForSelector(".hit");

  const shown = await page.$$eval(".hit", (cards) => cards.map((c) => [
    c.querySelector(".name").textContent, Number(c.querySelector(".pixels").textContent),
  ]));
  assert.deepEqual(shown, expected, "the page shows the CLI's ranking");
  assert.deepEqual(shown[0], ["12191_JRC2018U.tif", 10299], "top hit");
  assert.match(await page.textContent("#progress-text"), /^8 of 8 batches/);

  // Filtering narrows the grid; sorting by name reorders it.
  await page.fill("#filter", "_FL");
  assert.deepEqual(await page.$$eval(".hit .name", (n) => n.map((e) => e.textContent)), ["12191_JRC2018U_FL.tif"]);
  await page.fill("#filter", "");
  await page.selectOption("#sort", "rank");

  // Wait for every thumbnail, then keep a screenshot.
  await page.waitForFunction(() => [...document.querySelectorAll(".hit img")].every((i) => i.complete && i.naturalWidth > 0));
  mkdirSync(artifacts, { recursive: true });
  const shot = path.join(artifacts, "e2e-results.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`top hit on the page: ${shown[0][0]} (${shown[0][1]} matching pixels); screenshot ${shot}`);
  console.log("1 passed, 0 failed");
} finally {
  await browser.close();
  child.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
}
