// End-to-end test of the web client's working tools, over the sample library:
// draws two masks on a stored CDM with the mask editor (polygon, brush,
// eraser, undo, invert), checks the editor's pixel count against the
// scorer's, searches both masks in one search, and checks the ranking equals
// `cdsearch search` with the mask images saved from the editor. Then examines
// hits (viewer, keyboard, matching pixels highlighted: as many as the score
// counted, also for a mirrored hit), filters and sorts, downloads CSV, NeuronBridge
// JSON and a zip of selected images and checks their content, opens the
// search's link in a fresh browser, re-runs it with a changed parameter,
// deletes a search, and runs axe-core on each page state. Screenshots of each
// step go to test-artifacts/.
//
// Environment: see harness.mjs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { repo, apiKey, startServer, launchBrowser, newPage, cliJson, screenshot, checkAccessibility } from "./harness.mjs";

const library = path.join(repo, "sample/library");
const sourceName = "12191_JRC2018U.tif";
const work = mkdtempSync(path.join(tmpdir(), "cdsearch-e2e-client-"));
const dataDir = path.join(work, "data");
let passed = 0;

/** Runs step `name`, counting it. */
async function step(name, body) {
  await body();
  passed += 1;
  console.log(`ok - ${name}`);
}

/** Clicks `selector` and saves the download it starts under `work`; resolves with its path. */
async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const file = path.join(work, dl.suggestedFilename());
  await dl.saveAs(file);
  return file;
}

/** Clicks the image points `pts` (image pixels) on the editor canvas. */
async function clickImagePoints(page, pts) {
  await page.locator("#editor-canvas").scrollIntoViewIfNeeded();
  const box = await page.locator("#editor-canvas").boundingBox();
  const size = await page.evaluate(() => [document.querySelector("#editor-canvas").width, document.querySelector("#editor-canvas").height]);
  const at = ([x, y]) => [box.x + (x * box.width) / size[0], box.y + (y * box.height) / size[1]];
  return { box, size, at, click: async () => { for (const p of pts) await page.mouse.click(...at(p)); } };
}

async function drag(page, from, to) {
  const { at } = await clickImagePoints(page, []);
  await page.mouse.move(...at(from));
  await page.mouse.down();
  for (let k = 1; k <= 10; k++) {
    await page.mouse.move(...at([from[0] + ((to[0] - from[0]) * k) / 10, from[1] + ((to[1] - from[1]) * k) / 10]));
  }
  await page.mouse.up();
}

const count = (page) => page.$eval("#mask-count", (e) => Number(e.textContent));

/** The opaque pixels of the viewer's matching-pixels overlay, once it shows target `name`'s. */
async function highlighted(page, name) {
  await page.waitForFunction((name) => {
    const img = document.querySelector("#viewer-matches");
    return img.dataset.src.endsWith(`/${name}`) && img.dataset.loading === undefined && img.complete && img.naturalWidth > 0;
  }, name);
  return page.$eval("#viewer-matches", (img) => {
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let opaque = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) opaque += 1;
    return opaque;
  });
}

/** A zip's entries (name -> bytes), read by Python's zipfile, which also checks every CRC. */
function unzip(file) {
  const out = execFileSync("python3", ["-c", `
import base64, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "bad CRC"
print(json.dumps({i.filename: base64.b64encode(z.read(i)).decode() for i in z.infolist()}))
`, file], { encoding: "utf8", maxBuffer: 1 << 28 });
  return Object.fromEntries(Object.entries(JSON.parse(out)).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

const { child, base } = await startServer(dataDir, [
  "--library", `sample=${library}`, "--masks", path.join(repo, "sample/masks"),
]);
const browser = await launchBrowser();
const authHeaders = { Authorization: `Bearer ${apiKey}` };
try {
  const page = await newPage(browser, { viewport: { width: 1400, height: 1000 } });
  page.on("dialog", (d) => d.accept());
  await page.goto(`${base}/#token=${apiKey}`);
  await page.waitForSelector("#app:not([hidden])");
  const saved = [];
  const counts = [];

  await step("mask editor: polygon, brush, eraser, undo, invert, label areas, live count", async () => {
    await page.click("#open-editor");
    await page.selectOption("#editor-stored", sourceName);
    await page.waitForFunction(() => document.querySelector("#editor-source").textContent.includes("1210×566"));
    assert.equal(await count(page), 0);
    await checkAccessibility(page, "the mask editor");
    // A polygon around the left optic lobe and central brain; it reaches into
    // the top-left label area, whose pixels must not count.
    const poly = await clickImagePoints(page, [[150, 40], [640, 60], [660, 420], [300, 500], [140, 300]]);
    await poly.click();
    await page.keyboard.press("Enter");
    const polygonCount = await count(page);
    assert.ok(polygonCount > 1000, `the polygon selects mask pixels (${polygonCount})`);
    // Brush adds, eraser removes, undo restores.
    await page.check("input[name=tool][value=brush]");
    await drag(page, [700, 200], [900, 250]);
    const brushed = await count(page);
    assert.ok(brushed > polygonCount, `the brush adds pixels (${polygonCount} -> ${brushed})`);
    await page.check("input[name=tool][value=eraser]");
    await drag(page, [400, 150], [400, 400]);
    const erased = await count(page);
    assert.ok(erased < brushed, `the eraser removes pixels (${brushed} -> ${erased})`);
    await page.click("#editor-undo");
    assert.equal(await count(page), brushed, "undo restores the erased pixels");
    // Invert twice is the same selection; the threshold changes the count live.
    await page.click("#editor-invert");
    const inverted = await count(page);
    assert.notEqual(inverted, brushed);
    await page.click("#editor-invert");
    assert.equal(await count(page), brushed);
    // Every neuron pixel of this EM CDM has a saturated channel: none is above 255.
    await page.fill("input[name=maskThreshold]", "255");
    assert.equal(await count(page), 0, "no pixel counts at threshold 255");
    assert.equal(await page.textContent("#editor-threshold"), "255");
    await page.fill("input[name=maskThreshold]", "100");
    await page.click("#zoom-in");
    assert.equal(await page.textContent("#zoom-level"), `${Math.round(await page.evaluate(() => editor.zoom * 100))}%`);
    await page.click("#zoom-out");
    await screenshot(page, "e2e-editor.png");
    counts.push(brushed);
    await page.fill("#editor-name", "lobe");
    saved.push(await download(page, "#editor-save"));
    await page.click("#editor-add");
    await page.waitForFunction(() => document.querySelectorAll("#uploads li").length === 1);
    assert.equal(await count(page), 0, "adding a mask clears the drawing for the next one");
    // A second neuron of the same image: a polygon on the right side, drawn
    // with the keyboard (the cursor starts at the centre, 605,283).
    await page.check("input[name=tool][value=polygon]");
    await page.focus("#canvas-box");
    const press = async (key, n) => { for (let k = 0; k < n; k++) await page.keyboard.press(key); };
    for (const [key, n] of [["Shift+ArrowRight", 4], ["Shift+ArrowUp", 6], ["Shift+ArrowRight", 14],
      ["Shift+ArrowDown", 14], ["Shift+ArrowLeft", 14]]) {
      await press(key, n);
      await page.keyboard.press("Space");
    }
    assert.deepEqual(await page.evaluate(() => editor.points),
      [[705, 283], [705, 133], [1055, 133], [1055, 483], [705, 483]]);
    await page.keyboard.press("Enter");
    assert.ok(await count(page) > 0, "the keyboard polygon selects pixels");
    counts.push(await count(page));
    await page.fill("#editor-name", "right");
    saved.push(await download(page, "#editor-save"));
    await page.click("#editor-add");
    await page.waitForFunction(() => document.querySelectorAll("#uploads li").length === 2);
    assert.deepEqual(await page.$$eval("#uploads li span", (s) => s.map((e) => e.textContent)), ["lobe.png", "right.png"]);
  });

  let searchId;
  const cli = [];
  await step("search with the drawn masks equals cdsearch search with the saved mask images", async () => {
    await page.fill("input[name=label]", "two drawn masks");
    await page.check("input[name=mirrorMask]");
    await page.click("#submit");
    await page.waitForSelector('#status[data-status="done"]', { timeout: 60000 });
    await page.waitForSelector(".hit");
    searchId = await page.textContent("#search-id");
    for (const [i, file] of saved.entries()) {
      const report = cliJson(["--mask", file, "--library", library, "--format", "json", "--mirror"]);
      cli.push(report.masks[0]);
      assert.equal(report.masks[0].maskPixels, counts[i], `the editor's count is the scorer's mask pixels (mask ${i})`);
      await page.selectOption("#mask-select", String(i));
      const shown = await page.$$eval(".hit", (cards) => cards.map((c) => [
        c.querySelector(".name").textContent, Number(c.querySelector(".pixels").textContent),
      ]));
      assert.deepEqual(shown, report.masks[0].results.map((h) => [h.imageName, h.matchingPixels]), `ranking of mask ${i}`);
      assert.ok(shown.length >= 2, `mask ${i} has hits`);
    }
    await page.selectOption("#mask-select", "0");
    assert.equal(await page.textContent("#search-label"), "two drawn masks");
    assert.ok(page.url().endsWith(`#search=${searchId}`), "the URL names the search");
    await screenshot(page, "e2e-drawn-results.png");
    await checkAccessibility(page, "the results");
  });

  await step("examine hits: viewer, keyboard navigation, overlay, Escape", async () => {
    const names = cli[0].results.map((h) => h.imageName);
    await page.focus(".hit .pair");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#viewer[open]");
    assert.equal(await page.textContent("#viewer-title"), `#1 ${names[0]}`);
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.textContent("#viewer-title"), `#2 ${names[1]}`);
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.textContent("#viewer-title"), `#1 ${names[0]}`);
    await page.keyboard.press("ArrowRight");
    const target = await page.$eval("#viewer-target", (i) => i.dataset.src);
    assert.match(target, new RegExp(`/libraries/sample/images/${names[1].replace(/\./g, "\\.")}`));
    await page.waitForFunction(() => document.querySelector("#viewer-target").naturalWidth === 1210);
    await screenshot(page, "e2e-viewer-side.png", { fullPage: false });
    await checkAccessibility(page, "the hit viewer");
    // Fitted side by side, then at full resolution (1210 pixels wide).
    assert.ok(await page.$eval("#viewer-target", (i) => i.getBoundingClientRect().width < 700));
    await page.check("#viewer-full");
    assert.equal(await page.$eval("#viewer-target", (i) => i.getBoundingClientRect().width), 1210);
    await page.uncheck("#viewer-full");
    // The matching pixels, from the service, over the target: as many as the hit's score.
    await page.check("#viewer-highlight");
    assert.equal(await highlighted(page, names[1]), cli[0].results[1].matchingPixels, "highlighted = matching pixels");
    assert.equal(await page.textContent("#viewer-target-caption"),
      `target, ${cli[0].results[1].matchingPixels} matching pixels highlighted`);
    await screenshot(page, "e2e-viewer-matches.png", { fullPage: false });
    await checkAccessibility(page, "the hit viewer with matching pixels highlighted");
    await page.check("input[name=view][value=overlay]");
    await page.fill("#overlay-opacity", "70");
    assert.equal(await page.$eval("#viewer-images", (e) => e.dataset.view), "overlay");
    assert.equal(await page.$eval("#viewer-images figure + figure", (e) => getComputedStyle(e).opacity), "0.7");
    await screenshot(page, "e2e-viewer-overlay.png", { fullPage: false });
    // A mirrored hit shows the mask mirrored.
    const mirrored = cli[0].results.findIndex((h) => h.mirrored);
    assert.ok(mirrored > 1, "a mirrored hit below the second");
    await page.focus("#viewer-next"); // arrows move the opacity slider while it has the focus
    for (let k = 1; k < mirrored; k++) await page.keyboard.press("ArrowRight");
    assert.equal(await page.textContent("#viewer-title"), `#${mirrored + 1} ${names[mirrored]}`);
    assert.equal(await page.$eval("#viewer-mask", (i) => getComputedStyle(i).transform), "matrix(-1, 0, 0, 1, 0, 0)");
    assert.equal(await page.textContent("#viewer-mask-caption"), "mask (mirrored)");
    assert.equal(await highlighted(page, names[mirrored]), cli[0].results[mirrored].matchingPixels,
      "highlighted = matching pixels of a mirrored hit");
    await page.uncheck("#viewer-highlight");
    assert.ok(await page.isHidden("#viewer-matches"));
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.$eval("#viewer-mask", (i) => getComputedStyle(i).transform), "none");
    for (let k = mirrored - 1; k > 1; k--) await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("Escape");
    await page.waitForSelector("#viewer:not([open])", { state: "hidden" });
    // Focus returns to the card of the hit shown last.
    await page.waitForFunction(() => document.activeElement.closest(".hit")?.dataset.rank === "2");
  });

  await step("filters by ratio and library, sorting by name", async () => {
    const hits = cli[0].results;
    const minRatio = 5;
    await page.fill("#min-ratio", String(minRatio));
    const shown = await page.$$eval(".hit .name", (n) => n.map((e) => e.textContent));
    assert.deepEqual(shown, hits.filter((h) => h.matchingRatio >= minRatio / 100).map((h) => h.imageName));
    assert.ok(shown.length < hits.length, "the ratio filter drops hits");
    await page.fill("#min-ratio", "0");
    await page.selectOption("#library-filter", "sample");
    await page.selectOption("#sort", "name");
    const byName = await page.$$eval(".hit .name", (n) => n.map((e) => e.textContent));
    assert.deepEqual(byName, hits.map((h) => h.imageName).sort((a, b) => a.localeCompare(b)));
    await page.selectOption("#sort", "rank");
  });

  await step("downloads: CSV, NeuronBridge JSON, zip of selected images", async () => {
    const csv = readFileSync(await download(page, "#download-csv"), "utf8").trim().split("\n");
    assert.equal(csv[0], "mask,rank,target,matchingPixels,matchingRatio,mirrored,library");
    const rows = csv.slice(1).map((l) => l.split(","));
    const expected = cli.flatMap((m, i) => m.results.map((h, r) =>
      [["lobe.png", "right.png"][i], String(r + 1), h.imageName, String(h.matchingPixels)]));
    assert.deepEqual(rows.map((r) => r.slice(0, 4)), expected);

    const nb = JSON.parse(readFileSync(await download(page, "#download-neuronbridge"), "utf8"));
    assert.equal(nb.length, 2);
    nb.forEach((m, i) => {
      assert.equal(m.inputImage.id, ["lobe.png", "right.png"][i]);
      assert.equal(m.inputImage.files.ColorDepthMip, `/searches/${searchId}/masks/${i}/image`);
      const pixels = m.results.map((r) => r.matchingPixels);
      assert.deepEqual(pixels, [...pixels].sort((a, b) => b - a), "sorted by matchingPixels");
      const want = [...cli[i].results].sort((a, b) => b.matchingPixels - a.matchingPixels);
      assert.deepEqual(m.results.map((r) => [r.image.id, r.matchingPixels, r.mirrored, r.normalizedScore]),
        want.map((h) => [h.imageName, h.matchingPixels, h.mirrored, h.matchingPixels]));
      assert.deepEqual(Object.keys(m.results[0]), ["image", "files", "mirrored", "normalizedScore", "matchingPixels"]);
      assert.equal(m.results[0].image.libraryName, "sample");
      assert.equal(m.results[0].files.ColorDepthMipInput, m.inputImage.files.ColorDepthMip);
    });

    // Select the first two hits of mask 0 by hand, and all of mask 1.
    const boxes = page.locator(".hit .select input");
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.selectOption("#mask-select", "1");
    await page.click("#select-shown");
    const selected = 2 + cli[1].results.length;
    assert.equal(await page.textContent("#selected-count"), `${selected} selected`);
    const zip = unzip(await download(page, "#download-zip"));
    const stem = (s) => s.replace(/\.[^.]*$/, "");
    const want = [
      "lobe/mask.png",
      ...cli[0].results.slice(0, 2).map((h, r) => `lobe/${String(r + 1).padStart(4, "0")}_sample_${stem(h.imageName)}.png`),
      "right/mask.png",
      ...cli[1].results.map((h, r) => `right/${String(r + 1).padStart(4, "0")}_sample_${stem(h.imageName)}.png`),
    ];
    assert.deepEqual(Object.keys(zip), want);
    const fetchBytes = async (url) => Buffer.from(await (await fetch(`${base}${url}`, { headers: authHeaders })).arrayBuffer());
    assert.ok(zip["lobe/mask.png"].equals(await fetchBytes(`/searches/${searchId}/masks/0/image`)), "mask bytes");
    assert.ok(zip[want[1]].equals(await fetchBytes(`/libraries/sample/images/${cli[0].results[0].imageName}`)), "target bytes");
    assert.ok(zip[want.at(-1)].equals(await fetchBytes(`/libraries/sample/images/${cli[1].results.at(-1).imageName}`)), "last target bytes");
    await page.selectOption("#mask-select", "0");
  });

  await step("paging over 500 hits per mask and 4 masks (synthetic results in the page)", async () => {
    const timing = await page.evaluate(() => {
      const real = state.results;
      const hit = real.masks[0].results[0];
      state.results = Object.assign({}, real, {
        masks: [0, 1, 2, 3].map((m) => Object.assign({}, real.masks[0], {
          totalHits: 500,
          results: Array.from({ length: 500 }, (_, i) => Object.assign({}, hit, {
            rank: i + 1, imageName: `t${m}_${String(i).padStart(3, "0")}.tif`,
            matchingPixels: 5000 - i, matchingRatio: (5000 - i) / 10000,
          })),
        })),
      });
      const select = document.querySelector("#mask-select");
      select.replaceChildren(...state.results.masks.map((_, i) => new Option(`mask ${i}`, i)));
      const t0 = performance.now();
      for (let m = 0; m < 4; m++) { select.value = String(m); filtersChanged(); }
      return (performance.now() - t0) / 4;
    });
    assert.equal(await page.textContent("#page-info"), "page 1 of 11");
    assert.equal(await page.locator(".hit").count(), 48);
    await page.click("#page-next");
    assert.equal(await page.getAttribute(".hit", "data-rank"), "49");
    await page.fill("#min-pixels", "4990");
    assert.equal(await page.textContent("#page-info"), "page 1 of 1");
    assert.equal(await page.locator(".hit").count(), 11);
    await page.fill("#min-pixels", "0");
    await page.selectOption("#per-page", "200");
    assert.equal(await page.textContent("#page-info"), "page 1 of 3");
    await page.selectOption("#per-page", "48");
    console.log(`  filter + render of a page of 48 of 500 hits: ${timing.toFixed(1)} ms per mask switch`);
    await page.evaluate(() => openSearch(state.search));
    await page.waitForFunction(() => state.results && state.results.masks.length === 2);
  });

  await step("the search's link opens it in a fresh browser after entering the key", async () => {
    const link = await page.$eval("#share-link", (a) => a.href);
    const other = await browser.newContext({ viewport: { width: 820, height: 1180 } }); // a tablet
    const tab = await newPage(other);
    await tab.goto(link);
    await tab.waitForSelector("#login:not([hidden])");
    await checkAccessibility(tab, "the sign-in form");
    await tab.fill("#token", apiKey);
    await tab.click("#login-form button");
    await tab.waitForSelector(".hit");
    assert.equal(await tab.textContent("#search-id"), searchId);
    assert.equal(await tab.textContent("#search-label"), "two drawn masks", "the label is the API's");
    await screenshot(tab, "e2e-tablet-results.png");
    await checkAccessibility(tab, "the results at tablet width");
    await other.close();
  });

  let rerunId;
  await step("re-run with a changed parameter, then delete it", async () => {
    await page.click("#rerun");
    await page.waitForFunction(() => document.querySelectorAll("#uploads li").length === 2);
    assert.equal(await page.inputValue("input[name=label]"), "two drawn masks");
    assert.equal(await page.inputValue("input[name=minMatchingPixRatio]"), "2");
    await page.fill("input[name=minMatchingPixRatio]", "5");
    await page.fill("input[name=label]", "ratio 5");
    await page.click("#submit");
    await page.waitForFunction((old) => document.querySelector("#search-id").textContent !== old, searchId);
    await page.waitForSelector('#status[data-status="done"]', { timeout: 60000 });
    rerunId = await page.textContent("#search-id");
    assert.notEqual(rerunId, searchId);
    const again = cliJson(["--mask", saved[0], "--library", library, "--format", "json", "--mirror", "--min-ratio", "5"]).masks[0];
    await page.waitForSelector(".hit");
    assert.deepEqual(await page.$$eval(".hit .name", (n) => n.map((e) => e.textContent)), again.results.map((h) => h.imageName));
    await page.waitForSelector(`#history-rows tr[data-id="${rerunId}"]`);
    assert.match(await page.textContent(`#history-rows tr[data-id="${rerunId}"]`), /ratio 5/);
    await screenshot(page, "e2e-history.png");
    await page.click(`#history-rows tr[data-id="${rerunId}"] button.delete`);
    await page.waitForSelector(`#history-rows tr[data-id="${rerunId}"]`, { state: "detached" });
    assert.ok(await page.$(`#history-rows tr[data-id="${searchId}"]`), "the other search stays");
    assert.equal((await fetch(`${base}/searches/${rerunId}`, { headers: authHeaders })).status, 404);
    assert.ok(await page.isHidden("#progress-panel"), "the deleted search is closed");
    await checkAccessibility(page, "the history after a delete");
  });

  console.log(`${passed} passed, 0 failed`);
} finally {
  await browser.close();
  child.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
