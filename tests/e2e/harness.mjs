// Shared parts of the e2e tests: the server, the browser, the CLI, screenshots
// and the accessibility check.
//
// Environment: CDSEARCH_BIN (the binary), REPO (repository root),
// ARTIFACTS (screenshot directory), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import assert from "node:assert/strict";

export const bin = process.env.CDSEARCH_BIN;
export const repo = process.env.REPO;
export const artifacts = process.env.ARTIFACTS || path.join(repo, "test-artifacts");
export const apiKey = "e2e-test-key-0001";

/** Starts `cdsearch serve` with `args` and resolves with it and its base URL once it listens. */
export function startServer(dataDir, args) {
  const child = spawn(bin, [
    "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--api-key", `e2e:${apiKey}`, ...args,
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

/** Headless Chromium (Debian's), with a fresh temporary profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/**
 * A new page of `browserOrContext`. With WEB_DIR set (a directory holding
 * index.html, app.js and app.css), the page gets those files instead of the
 * server's embedded ones: for working on the web client without rebuilding.
 */
export async function newPage(browserOrContext, options = {}) {
  const page = await browserOrContext.newPage(options);
  const dir = process.env.WEB_DIR;
  if (dir) {
    const types = { "index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css" };
    await page.route(/\/(app\.js|app\.css)?(\?.*)?$/, (route) => {
      const name = new URL(route.request().url()).pathname.slice(1) || "index.html";
      route.fulfill({ contentType: types[name], body: readFileSync(path.join(dir, name)) });
    });
  }
  page.on("pageerror", (e) => { throw e; });
  return page;
}

/** The parsed JSON output of `cdsearch search` with `args` (default parameters otherwise). */
export function cliJson(args) {
  return JSON.parse(execFileSync(bin, ["search", "--top", "500", ...args], { encoding: "utf8" }));
}

/**
 * Waits for every image on the page that is shown (those the page is still
 * fetching, `data-loading`, once they are near the viewport, where the page
 * loads them), then saves a screenshot as `name`.
 */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await page.waitForFunction(() => [...document.querySelectorAll("img")]
    .filter((i) => i.offsetParent !== null)
    .every((i) => {
      if (i.dataset.loading !== undefined) {
        const r = i.getBoundingClientRect();
        return r.top > innerHeight + 400 || r.bottom < -400;
      }
      return !i.getAttribute("src") || (i.complete && i.naturalWidth > 0);
    }));
  mkdirSync(artifacts, { recursive: true });
  const shot = path.join(artifacts, name);
  await page.screenshot({ path: shot, fullPage });
  return shot;
}

const axeSource = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/**
 * Runs axe-core (WCAG 2.x A and AA rules) on the page as it is and fails on
 * any serious or critical violation, naming the rule and the elements.
 */
export async function checkAccessibility(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: axeSource });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const text = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ` +
    v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join("\n    ")).join("\n");
  assert.equal(bad.length, 0, `accessibility of ${what}:\n${text}`);
  return result.violations.length;
}
