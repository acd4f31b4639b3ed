// End-to-end test of signing in to the web client through a hosted UI, as on
// AWS (Cognito's), against the OpenID Connect stand-in of oidc-standin.mjs:
// the server is `cdsearch serve --oidc-issuer … --sign-in-domain …`, which
// verifies the stand-in's JWTs itself (API Gateway's authorizer does on AWS)
// and tells the page through GET /config where to sign in.
//
// Checks: the page offers sign-in, not an API key; the authorization code flow
// with PKCE (a wrong password is refused by the hosted UI, the right one
// returns to the page, signed in, with no code left in the address); no token
// in localStorage, sessionStorage or any URL the page requested; a search and
// its images work with the token (images are fetched with the header); the
// search belongs to the signed-in user and not to an API-key user; tokens are
// refreshed before they expire and the page keeps working after the first
// access token has expired (which the server then refuses); a search's link
// opened in a fresh browser returns to that search after signing in; sign-out
// revokes the refresh token and ends the hosted UI's session. axe-core runs
// on the signed-out and signed-in pages; screenshots go to test-artifacts/.
//
// Environment: see harness.mjs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { repo, apiKey, startServer, launchBrowser, newPage, screenshot, checkAccessibility } from "./harness.mjs";
import { startOidcStandIn } from "./oidc-standin.mjs";

const clientId = "cdsearch-web-e2e";
const user = { username: "ada", password: "correct horse battery", email: "ada@example.org" };
const ACCESS_TOKEN_SECONDS = 12;
const work = mkdtempSync(path.join(tmpdir(), "cdsearch-e2e-signin-"));
let passed = 0;

async function step(name, body) {
  await body();
  passed += 1;
  console.log(`ok - ${name}`);
}

/** Signs in on the stand-in's form (the page has just gone there). */
async function fillSignInForm(page, password = user.password) {
  await page.waitForSelector("#username");
  await page.fill("#username", user.username);
  await page.fill("#password", password);
  await page.click("button[name=signInSubmitButton]");
}

const oidc = await startOidcStandIn({ clientId, users: [user], accessTokenSeconds: ACCESS_TOKEN_SECONDS });
const { child, base } = await startServer(path.join(work, "data"), [
  "--library", `sample=${path.join(repo, "sample/library")}`, "--masks", path.join(repo, "sample/masks"),
  "--oidc-issuer", oidc.base, "--oidc-client-id", clientId, "--sign-in-domain", oidc.base,
]);
oidc.register(`${base}/`);
const browser = await launchBrowser();
const requested = []; // every URL the pages requested
const watch = (page) => page.on("request", (r) => requested.push(r.url()));
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await newPage(context);
  watch(page);
  let searchId;
  let firstAccessToken;

  await step("/config names the hosted UI; the page offers sign-in, not an API key", async () => {
    const config = await (await fetch(`${base}/config`)).json();
    assert.deepEqual(config.signIn.domain, oidc.base);
    assert.equal(config.signIn.clientId, clientId);
    await page.goto(`${base}/`);
    await page.waitForSelector("#sign-in-box:not([hidden])");
    assert.ok(await page.isHidden("#key-box"));
    assert.ok(await page.isHidden("#app"));
    await screenshot(page, "e2e-signin-signed-out.png", { fullPage: false });
    await checkAccessibility(page, "the signed-out page");
  });

  await step("authorization code with PKCE: a wrong password is refused, the right one signs in", async () => {
    await page.click("#sign-in");
    await page.waitForURL(`${oidc.base}/oauth2/authorize?**`);
    const asked = new URL(page.url()).searchParams;
    assert.equal(asked.get("response_type"), "code");
    assert.equal(asked.get("client_id"), clientId);
    assert.equal(asked.get("redirect_uri"), `${base}/`);
    assert.equal(asked.get("code_challenge_method"), "S256");
    assert.match(asked.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    assert.ok(asked.get("state").length >= 16);
    await fillSignInForm(page, "wrong password");
    await page.waitForSelector("#error");
    assert.equal(oidc.stats.badPassword, 1);
    await fillSignInForm(page);
    await page.waitForSelector("#app:not([hidden])");
    assert.equal(page.url(), `${base}/`, "no code or state is left in the address");
    assert.equal(await page.textContent("#who-name"), user.email);
    assert.equal(oidc.stats.codeGrants, 1);
    await screenshot(page, "e2e-signin-signed-in.png", { fullPage: false });
    await checkAccessibility(page, "the signed-in page");
  });

  await step("a search runs as the signed-in user, with its images fetched under the token", async () => {
    await page.click("#stored-masks-box summary");
    await page.check("#stored-masks input[value^=VT016795]");
    await page.fill("input[name=label]", "signed in");
    await page.click("#submit");
    await page.waitForSelector('#status[data-status="done"]', { timeout: 60000 });
    await page.waitForSelector(".hit img[src^='blob:']");
    searchId = await page.textContent("#search-id");
    // The thumbnails are real images, fetched with the Authorization header.
    await page.waitForFunction(() => [...document.querySelectorAll(".hit img")].slice(0, 4)
      .every((i) => i.complete && i.naturalWidth > 0));
    firstAccessToken = [...oidc.issued].find((t) => t.split(".").length === 3 && JSON.parse(
      Buffer.from(t.split(".")[1], "base64url")).token_use === "access");
    const asUser = await fetch(`${base}/searches/${searchId}`, { headers: { Authorization: `Bearer ${firstAccessToken}` } });
    assert.equal(asUser.status, 200);
    assert.equal((await asUser.json()).id, searchId);
    const asKey = await fetch(`${base}/searches/${searchId}`, { headers: { Authorization: `Bearer ${apiKey}` } });
    assert.equal(asKey.status, 404, "another user does not see the search");
    const anonymous = await fetch(`${base}/searches`);
    assert.equal(anonymous.status, 401);
    await screenshot(page, "e2e-signin-results.png", { fullPage: false });
  });

  await step("tokens are refreshed before they expire and the page works after the first one expired", async () => {
    const deadline = Date.now() + (ACCESS_TOKEN_SECONDS + 4) * 1000;
    while (oidc.stats.refreshGrants < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.ok(oidc.stats.refreshGrants >= 2, `refreshed ${oidc.stats.refreshGrants} times in ${ACCESS_TOKEN_SECONDS + 4} s`);
    // Past the first token's expiry and the server's 5 s of allowed clock skew.
    const { exp } = JSON.parse(Buffer.from(firstAccessToken.split(".")[1], "base64url"));
    while (Date.now() / 1000 < exp + 6) await new Promise((r) => setTimeout(r, 250));
    const expired = await fetch(`${base}/searches`, { headers: { Authorization: `Bearer ${firstAccessToken}` } });
    assert.equal(expired.status, 401, "the server refuses the expired first token");
    assert.match((await expired.json()).message, /expired/);
    // The page still works: open the hit viewer, whose full-size images are fetched now.
    await page.click(".hit .pair");
    await page.waitForSelector("#viewer[open]");
    await page.waitForFunction(() => document.querySelector("#viewer-target").naturalWidth === 1210);
    await page.keyboard.press("Escape");
    assert.equal(oidc.stats.codeGrants, 1, "no new sign-in was needed");
  });

  await step("no token is stored in the browser or sent in a URL", async () => {
    const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
    for (const token of oidc.issued) {
      assert.ok(!stored.includes(token), "a token is in the browser's storage");
      assert.ok(!requested.some((url) => url.includes(token)), "a token was sent in a URL");
    }
  });

  await step("a search's link in a fresh browser returns to it after signing in", async () => {
    const other = await browser.newContext({ viewport: { width: 820, height: 1180 } });
    const tab = await newPage(other);
    watch(tab);
    await tab.goto(`${base}/#search=${searchId}`);
    await tab.click("#sign-in");
    await fillSignInForm(tab);
    await tab.waitForSelector(".hit img[src^='blob:']", { timeout: 30000 });
    assert.equal(await tab.textContent("#search-id"), searchId);
    assert.equal(new URL(tab.url()).hash, `#search=${searchId}`);
    await screenshot(tab, "e2e-signin-link.png", { fullPage: false });
    await other.close();
  });

  await step("sign-out revokes the refresh token and ends the hosted UI's session", async () => {
    const refreshTokens = [...oidc.issued].filter((t) => t.split(".").length === 1);
    const revokedBefore = oidc.stats.revoked;
    await page.click("#sign-out");
    await page.waitForURL(`${base}/`);
    await page.waitForSelector("#sign-in-box:not([hidden])");
    assert.ok(await page.isHidden("#app"));
    assert.equal(oidc.stats.logouts, 1);
    assert.equal(oidc.stats.revoked, revokedBefore + 1);
    const stillWorking = await Promise.all(refreshTokens.map((t) => oidc.refreshWorks(t)));
    assert.equal(stillWorking.filter(Boolean).length, 1, "only the other browser's refresh token still works");
    // Signing in again needs the form: the hosted UI's session is gone.
    const shown = oidc.stats.formShown;
    await page.click("#sign-in");
    await page.waitForSelector("#username");
    assert.equal(oidc.stats.formShown, shown + 1);
  });

  console.log(`e2e sign-in: ${passed} steps passed; stand-in: ${JSON.stringify(oidc.stats)}`);
} finally {
  await browser.close();
  child.kill();
  await oidc.stop();
  rmSync(work, { recursive: true, force: true });
}
