// End-to-end test of the web client: starts `cdsearch serve` on a free
// loopback port, drops a sample mask on the page in headless Chromium, waits
// for the results and checks them against `cdsearch search` for the same mask
// and parameters. Then runs the same mask with the shape stage ticked over a
// library with derived images (built from the fixtures) and checks the
// ranking and normalized scores against `cdsearch search --shape`. Saves
// screenshots of both results; runs axe-core on the form and both results.
//
// Environment: see harness.mjs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { bin, repo, apiKey, startServer, launchBrowser, newPage, cliJson, screenshot, checkAccessibility } from "./harness.mjs";

const maskName = "12191_JRC2018U.tif";
const maskPath = path.join(repo, "sample/masks", maskName);
const library = path.join(repo, "sample/library");
const fixtures = path.join(repo, "fixtures/cdm/cdsearch");
const shapeTargets = [
  "BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM",
  "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01",
  "VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01",
];

/** A library of the fixtures' targets with their gradients and derived z-gaps, plus one target without. */
function buildShapeLibrary(dir) {
  for (const stem of shapeTargets) {
    copyFileSync(path.join(fixtures, "lms", `${stem}.tif`), path.join(dir, `${stem}.tif`));
    copyFileSync(path.join(fixtures, "grad", `${stem}.png`), path.join(dir, `${stem}.tif.grad.png`));
  }
  copyFileSync(path.join(fixtures, "ems/12191_JRC2018U_FL.tif"), path.join(dir, "no_gradient.tif"));
  execFileSync(bin, ["library", "derive", dir, "--zgap-radius", "10"], { stdio: "ignore" });
}

/** The hits of `cdsearch search` for the mask over `lib`, default parameters and `extra` flags. */
function cliHits(lib, extra = []) {
  return cliJson(["--mask", maskPath, "--library", lib, "--format", "json", ...extra]).masks[0].results;
}

/** The ranking of `cdsearch search` for the mask, default parameters. */
function cliRanking() {
  return cliHits(library).map((h) => [h.imageName, h.matchingPixels]);
}

const dataDir = mkdtempSync(path.join(tmpdir(), "cdsearch-e2e-"));
const shapeLibrary = mkdtempSync(path.join(tmpdir(), "cdsearch-e2e-shapes-"));
buildShapeLibrary(shapeLibrary);
const { child, base } = await startServer(dataDir, [
  "--library", `sample=${library}`, "--library", `shapes=${shapeLibrary}`,
  "--masks", path.join(repo, "sample/masks"),
]);
const browser = await launchBrowser();
try {
  const expected = cliRanking();
  const page = await newPage(browser, { viewport: { width: 1400, height: 1000 } });
  await page.goto(`${base}/#token=${apiKey}`);
  await page.waitForSelector("#app:not([hidden])");
  assert.match(await page.textContent("#libraries"), /sample \(8 images\)/);
  await checkAccessibility(page, "the new search form");

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

  const shot = await screenshot(page, "e2e-results.png");
  await checkAccessibility(page, "the results");
  console.log(`top hit on the page: ${shown[0][0]} (${shown[0][1]} matching pixels); screenshot ${shot}`);

  // The same mask with the shape stage, over the library with derived images.
  await page.uncheck('input[name=library][value="sample"]');
  await page.check('input[name=library][value="shapes"]');
  await page.check("input[name=shape]");
  await page.fill("input[name=minMatchingPixRatio]", "0");
  await page.click("#submit");
  await page.waitForSelector('#status[data-status="done"]', { timeout: 60000 });
  await page.waitForSelector(".hit .normalized");
  const shaped = await page.$$eval(".hit", (cards) => cards.map((c) => {
    const norm = c.querySelector(".normalized");
    return [c.querySelector(".name").textContent, norm ? Number(norm.dataset.value) : null,
      Boolean(c.querySelector(".unscored"))];
  }));
  const expectedShaped = cliHits(shapeLibrary, ["--shape", "--min-ratio", "0"])
    .map((h) => [h.imageName, h.shapeScored ? h.normalizedScore : null, !h.shapeScored]);
  assert.deepEqual(shaped, expectedShaped, "the page shows the CLI's shape ranking");
  assert.equal(shaped.filter(([, norm]) => norm !== null).length, 3, "three targets are shape-scored");
  assert.deepEqual(shaped[shaped.length - 1].slice(0, 1), ["no_gradient.tif"], "unscored hit last");
  const shapeShot = await screenshot(page, "e2e-shape-results.png");
  await checkAccessibility(page, "the shape-stage results");
  console.log(`shape stage on the page: top ${shaped[0][0]} (normalized ${shaped[0][1]}); screenshot ${shapeShot}`);
  console.log("2 passed, 0 failed");
} finally {
  await browser.close();
  child.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(shapeLibrary, { recursive: true, force: true });
}
