// cdsearch web client: plain JavaScript over the HTTP API (see /openapi.json).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  token: null,
  uploads: [],
  storedMasks: [],
  search: null,
  results: null,
  pollTimer: null,
  page: 1,
  selected: new Map(), // "mask:rank" -> { maskIndex, hit }
  shown: [], // the filtered, sorted hits of the current mask
  viewerIndex: -1,
};
const POLL_MS = 500;

// ---- API access -----------------------------------------------------------

async function api(path, options = {}, retried = false) {
  const headers = Object.assign({ Authorization: `Bearer ${state.token}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    // A token from the hosted UI may have expired early (clock skew, a
    // suspended laptop): refresh it once and try again.
    if (auth.signIn && !retried && auth.refreshToken && (await refreshTokens())) {
      return api(path, options, true);
    }
    signedOut(auth.signIn ? "Your session has ended: sign in again." : "The API key was not accepted.");
    throw new Error("unauthorized");
  }
  return response;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const body = await response.json();
  if (!response.ok) {
    const err = new Error(body.message || response.statusText);
    err.body = body;
    throw err;
  }
  return body;
}

/** The bytes of an API resource, failing with the API's message. */
async function apiBytes(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Saves `blob` as a download named `name`. */
function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- Images ------------------------------------------------------------------
// An <img> cannot send the Authorization header, and on AWS the gateway in
// front of the API reads the token from that header only. So images are
// fetched like any other API call and shown from object URLs, which a small
// LRU cache keeps (paging back and forth does not refetch); tokens never go
// into URLs. Thumbnails of result cards load when they come near the viewport.

const IMAGE_CACHE_SIZE = 600;
const imageCache = new Map(); // API path -> Promise of an object URL

function imageObjectURL(path) {
  let entry = imageCache.get(path);
  if (entry) {
    imageCache.delete(path);
  } else {
    entry = apiBytes(path).then((bytes) => URL.createObjectURL(new Blob([bytes], { type: "image/png" })));
    entry.catch(() => imageCache.delete(path));
  }
  imageCache.set(path, entry);
  while (imageCache.size > IMAGE_CACHE_SIZE) {
    const [oldest, old] = imageCache.entries().next().value;
    imageCache.delete(oldest);
    old.then((url) => URL.revokeObjectURL(url), () => {});
  }
  return entry;
}

function forgetImages() {
  for (const entry of imageCache.values()) entry.then((url) => URL.revokeObjectURL(url), () => {});
  imageCache.clear();
}

const lazyImages = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    lazyImages.unobserve(e.target);
    loadImage(e.target);
  }
}, { rootMargin: "400px" });

function loadImage(img) {
  const path = img.dataset.src;
  imageObjectURL(path).then(
    (url) => { if (img.dataset.src === path) img.src = url; },
    (err) => { if (img.dataset.src === path) img.title = `not loaded: ${err.message}`; },
  ).finally(() => { if (img.dataset.src === path) delete img.dataset.loading; });
}

/** Shows the API image `path` in `img`, now or (`lazy`) when it nears the viewport. */
function showImage(img, path, { lazy = false } = {}) {
  if (img.dataset.src === path && (img.getAttribute("src") || img.dataset.loading !== undefined)) return;
  img.dataset.src = path;
  img.dataset.loading = "";
  img.removeAttribute("src");
  if (lazy) lazyImages.observe(img);
  else loadImage(img);
}

// ---- Signing in ----------------------------------------------------------------
// GET /config says how: with an API key (the embedded default: `cdsearch
// serve` prints one), or, where the server names a hosted sign-in UI (the
// stack's Cognito user pool on AWS), with OAuth 2.0's authorization code grant
// and PKCE (RFC 7636) for this public client. Tokens from the hosted UI are
// kept in memory only and refreshed before they expire; across the redirect,
// sessionStorage holds just the PKCE verifier, the `state` and the link to
// return to. An API key is kept in localStorage, as before.

const auth = {
  configured: false, // whether /config was read
  signIn: null, // { domain, clientId, scopes } from /config, or null for API keys
  refreshToken: null,
  refreshTimer: null,
  refreshing: null,
};
const PENDING_SIGN_IN = "cdsearch.signIn";

function hashParams() {
  return new URLSearchParams(location.hash.slice(1));
}

function searchLink(id) {
  return `${location.origin}${location.pathname}#search=${encodeURIComponent(id)}`;
}

/** The page's address the hosted UI returns to (registered as callback and sign-out URL). */
function appURL() {
  return `${location.origin}/`;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Goes to the hosted UI's sign-in with a fresh PKCE verifier and state. */
async function beginSignIn() {
  const verifier = randomText(32);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const pending = { verifier, state: randomText(16), hash: location.hash };
  sessionStorage.setItem(PENDING_SIGN_IN, JSON.stringify(pending));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: auth.signIn.clientId,
    redirect_uri: appURL(),
    scope: auth.signIn.scopes.join(" "),
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${auth.signIn.domain}/oauth2/authorize?${query}`);
}

/** Posts a form to the hosted UI's token endpoint; resolves with its JSON or fails with its error. */
async function tokenRequest(fields) {
  const response = await fetch(`${auth.signIn.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(Object.assign({ client_id: auth.signIn.clientId }, fields)),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error_description || body.error || `token endpoint: ${response.status}`);
  return body;
}

/** Takes new tokens into memory and schedules their refresh. */
function useTokens(tokens) {
  state.token = tokens.access_token;
  if (tokens.refresh_token) auth.refreshToken = tokens.refresh_token;
  const seconds = Number(tokens.expires_in) || 3600;
  // A minute before expiry; short-lived tokens at half their life.
  const delay = seconds > 120 ? seconds - 60 : seconds / 2;
  clearTimeout(auth.refreshTimer);
  auth.refreshTimer = setTimeout(() => refreshTokens(), delay * 1000);
  if (tokens.id_token) showUser(claimsOf(tokens.id_token));
}

/** The claims of a JWT, for display only (the server verifies tokens). */
function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return {};
  }
}

/** Refreshes the tokens (one request at a time); resolves with whether it worked. */
function refreshTokens() {
  if (!auth.refreshing) {
    auth.refreshing = tokenRequest({ grant_type: "refresh_token", refresh_token: auth.refreshToken })
      .then((tokens) => { useTokens(tokens); return true; })
      .catch(() => { signedOut("Your session has ended: sign in again."); return false; })
      .finally(() => { auth.refreshing = null; });
  }
  return auth.refreshing;
}

/**
 * Completes a sign-in when the hosted UI has just returned here with a code
 * (or an error): checks the state, redeems the code with the verifier, puts
 * the link that was open back. Resolves with whether the page is signed in.
 */
async function finishSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_SIGN_IN) || "null");
  sessionStorage.removeItem(PENDING_SIGN_IN);
  history.replaceState(null, "", location.pathname + ((pending && pending.hash) || ""));
  if (query.has("error")) throw new Error(`sign-in failed: ${query.get("error_description") || query.get("error")}`);
  if (!pending || pending.state !== query.get("state")) throw new Error("sign-in failed: the answer does not belong to this page's request; try again");
  useTokens(await tokenRequest({
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: appURL(),
    code_verifier: pending.verifier,
  }));
  return true;
}

/** Signs out: forgets the key or revokes the refresh token and ends the hosted UI's session. */
async function signOut() {
  if (!auth.signIn) {
    localStorage.removeItem("cdsearch.token");
    signedOut("");
    return;
  }
  const refreshToken = auth.refreshToken;
  signedOut("");
  if (refreshToken) {
    await fetch(`${auth.signIn.domain}/oauth2/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refreshToken, client_id: auth.signIn.clientId }),
    }).catch(() => {});
  }
  const query = new URLSearchParams({ client_id: auth.signIn.clientId, logout_uri: appURL() });
  location.assign(`${auth.signIn.domain}/logout?${query}`);
}

/** Back to the sign-in screen with `message`; every token and image is forgotten. */
function signedOut(message) {
  if (!auth.signIn) localStorage.removeItem("cdsearch.token");
  state.token = null;
  auth.refreshToken = null;
  clearTimeout(auth.refreshTimer);
  clearTimeout(state.pollTimer);
  forgetImages();
  $("#who").hidden = true;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#sign-in-box").hidden = !auth.signIn;
  $("#key-box").hidden = Boolean(auth.signIn);
  $("#login-error").textContent = message || "";
}

function showUser(claims) {
  $("#who-name").textContent = claims.email || claims["cognito:username"] || claims.sub || "";
  $("#who").hidden = false;
}

/** An API key handed over once in the link (`#token=KEY`), else the stored one. */
function readKey() {
  const params = hashParams();
  if (params.has("token")) {
    localStorage.setItem("cdsearch.token", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? `#${params}` : ""));
  }
  return localStorage.getItem("cdsearch.token");
}

$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem("cdsearch.token", $("#token").value.trim());
  start();
});
$("#sign-in").addEventListener("click", () => beginSignIn());
$("#sign-out").addEventListener("click", () => signOut());

/** A search's label (the optional `label` of its submission), or "". */
function labelOf(search) {
  return (search && search.params && search.params.label) || "";
}

// ---- New search form ----------------------------------------------------------

function addFiles(files) {
  for (const f of files) state.uploads.push(f);
  renderUploads();
}

function renderUploads() {
  const list = $("#uploads");
  list.replaceChildren();
  state.uploads.forEach((file, i) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.alt = "";
    if (file.type === "image/png") img.src = URL.createObjectURL(file);
    const name = document.createElement("span");
    name.textContent = file.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `remove ${file.name}`);
    remove.addEventListener("click", () => { state.uploads.splice(i, 1); renderUploads(); });
    li.append(img, name, remove);
    list.append(li);
  });
}

const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  addFiles(e.dataTransfer.files);
});
$("#mask-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });

async function loadCatalog() {
  const [libraries, masks] = await Promise.all([apiJson("/libraries"), apiJson("/masks")]);
  state.storedMasks = masks;
  const box = $("#libraries");
  box.replaceChildren();
  libraries.forEach((lib, i) => {
    const label = document.createElement("label");
    label.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "library";
    input.value = lib.name;
    input.checked = i === 0;
    label.append(input, ` ${lib.name} (${lib.imageCount.toLocaleString()} images)`);
    box.append(label);
  });
  const stored = $("#stored-masks");
  stored.replaceChildren();
  $("#stored-masks-box").hidden = masks.length === 0;
  const editorStored = $("#editor-stored");
  editorStored.replaceChildren(new Option("choose…", ""));
  for (const m of masks) {
    const label = document.createElement("label");
    label.className = "stored-mask";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "maskRef";
    input.value = m.name;
    const img = document.createElement("img");
    showImage(img, `${m.thumbnailURL}${m.thumbnailURL.includes("?") ? "&" : "?"}size=128`);
    img.alt = "";
    const name = document.createElement("span");
    name.textContent = m.name;
    label.append(input, img, name);
    stored.append(label);
    editorStored.append(new Option(m.name, m.name));
  }
}

function formParams(form) {
  const number = (name) => Number(form.elements[name].value);
  return {
    libraries: [...form.querySelectorAll("input[name=library]:checked")].map((i) => i.value),
    maskRefs: [...form.querySelectorAll("input[name=maskRef]:checked")].map((i) => i.value),
    maskThreshold: number("maskThreshold"),
    dataThreshold: number("dataThreshold"),
    pixColorFluctuation: number("pixColorFluctuation"),
    xyShift: number("xyShift"),
    mirrorMask: form.elements.mirrorMask.checked,
    minMatchingPixRatio: number("minMatchingPixRatio"),
    maxResultsPerMask: number("maxResultsPerMask"),
    shape: form.elements.shape.checked,
    shapeTop: number("shapeTop"),
    label: form.elements.label.value.trim() || undefined,
  };
}

/** Fills the form from a past search's parameters and masks, for a re-run. */
async function prefillForm(search) {
  const form = $("#search-form");
  const p = search.params;
  for (const input of form.querySelectorAll("input[name=library]")) input.checked = p.libraries.includes(input.value);
  for (const input of form.querySelectorAll("input[name=maskRef]")) input.checked = false;
  form.elements.maskThreshold.value = (p.maskThresholds && p.maskThresholds[0]) ?? 100;
  for (const name of ["dataThreshold", "pixColorFluctuation", "minMatchingPixRatio", "maxResultsPerMask", "shapeTop"]) {
    form.elements[name].value = p[name];
  }
  form.elements.xyShift.value = String(p.xyShift);
  form.elements.mirrorMask.checked = p.mirrorMask;
  form.elements.shape.checked = Boolean(p.shape);
  form.elements.label.value = labelOf(search);
  state.uploads = [];
  for (const m of search.masks) {
    const bytes = await apiBytes(m.imageURL);
    state.uploads.push(new File([bytes], m.name, { type: "image/png" }));
  }
  renderUploads();
  $("#new-search").focus();
  $("#new-search").scrollIntoView();
}

function showErrors(list, body, fallback) {
  list.replaceChildren();
  const items = body && body.fields && body.fields.length
    ? body.fields.map((f) => `${f.field}: ${f.message}`)
    : [body && body.message ? body.message : fallback];
  for (const text of items) {
    const li = document.createElement("li");
    li.textContent = text;
    list.append(li);
  }
}

$("#search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const data = new FormData();
  data.append("params", JSON.stringify(formParams(form)));
  for (const file of state.uploads) data.append("mask", file, file.name);
  const button = $("#submit");
  button.disabled = true;
  $("#form-errors").replaceChildren();
  try {
    const search = await apiJson("/searches", {
      method: "POST",
      body: data,
      headers: { "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) },
    });
    openSearch(search);
    $("#progress-panel").scrollIntoView();
  } catch (err) {
    showErrors($("#form-errors"), err.body, err.message);
  } finally {
    button.disabled = false;
  }
});

// ---- Mask editor ----------------------------------------------------------------------
// The selection is one byte per pixel (1: drawn). The mask sent is the CDM's
// pixels where drawn and black elsewhere, as a PNG. A pixel counts for the
// score, as in crates/cds, when it is outside the two label areas burnt into
// CDMs and any channel is above the mask threshold.

const editor = {
  width: 0, height: 0, src: null, sel: null, undo: [], points: [], zoom: 1,
  stroke: null, name: "", masksMade: 0, pending: false,
};
const UNDO_DEPTH = 30;
const canvas = $("#editor-canvas");
const ctx = canvas.getContext("2d");

/** Whether (x, y) lies in a label area of a CDM `width` wide (never a mask pixel). */
function inLabelArea(x, y, width) {
  return (x < 330 && y < 100) || (x + 250 >= width && y < 90);
}

/** Whether the pixel at byte offset `o` of RGBA `data` has a channel above `t`. */
function above(data, o, t) {
  return data[o] > t || data[o + 1] > t || data[o + 2] > t;
}

function maskThreshold() {
  const t = Number($("#search-form").elements.maskThreshold.value);
  return Number.isFinite(t) ? Math.max(0, Math.min(255, t)) : 100;
}

/** Number of drawn pixels that count for the score at threshold `t`. */
function countingPixels(t) {
  const { width, height, src, sel } = editor;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (sel[i] && !inLabelArea(x, y, width) && above(src, i * 4, t)) n++;
    }
  }
  return n;
}

function openEditor() {
  $("#editor").hidden = false;
  $("#editor").scrollIntoView();
  $("#editor-file").focus();
}

async function loadEditorImage(blob, name) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const scratch = document.createElement("canvas");
  scratch.width = bitmap.width;
  scratch.height = bitmap.height;
  const sctx = scratch.getContext("2d");
  sctx.drawImage(bitmap, 0, 0);
  editor.width = bitmap.width;
  editor.height = bitmap.height;
  editor.src = sctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  editor.sel = new Uint8Array(bitmap.width * bitmap.height);
  editor.undo = [];
  editor.points = [];
  editor.masksMade = 0;
  editor.name = name.replace(/\.[^.]*$/, "");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  $("#editor-name").value = `${editor.name}_mask1`;
  $("#editor-source").textContent = `${name} · ${bitmap.width}×${bitmap.height}`;
  const box = $("#canvas-box");
  setZoom(Math.min(1, (box.clientWidth - 4) / bitmap.width) || 1);
  render();
}

async function editorLoad(action) {
  $("#editor-status").textContent = "";
  try {
    await action();
  } catch (err) {
    $("#editor-status").textContent = `Cannot open the image: ${err.message}`;
  }
}

$("#open-editor").addEventListener("click", openEditor);
$("#editor-close").addEventListener("click", () => { $("#editor").hidden = true; $("#open-editor").focus(); });
$("#editor-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) editorLoad(() => loadEditorImage(file, file.name));
});
$("#editor-stored").addEventListener("change", (e) => {
  const m = state.storedMasks.find((s) => s.name === e.target.value);
  if (m) editorLoad(async () => loadEditorImage(new Blob([await apiBytes(m.imageURL)]), m.name));
});

function setZoom(z) {
  editor.zoom = Math.max(0.1, Math.min(8, z));
  canvas.style.width = `${Math.round(editor.width * editor.zoom)}px`;
  canvas.style.height = `${Math.round(editor.height * editor.zoom)}px`;
  $("#zoom-level").textContent = `${Math.round(editor.zoom * 100)}%`;
}
$("#zoom-in").addEventListener("click", () => setZoom(editor.zoom * 1.25));
$("#zoom-out").addEventListener("click", () => setZoom(editor.zoom / 1.25));

function pushUndo() {
  editor.undo.push(editor.sel.slice());
  if (editor.undo.length > UNDO_DEPTH) editor.undo.shift();
}

function undo() {
  if (editor.points.length) { editor.points.pop(); render(); return; }
  const last = editor.undo.pop();
  if (last) { editor.sel = last; render(); }
}

$("#editor-undo").addEventListener("click", undo);
$("#editor-invert").addEventListener("click", () => {
  if (!editor.sel) return;
  pushUndo();
  for (let i = 0; i < editor.sel.length; i++) editor.sel[i] ^= 1;
  render();
});
$("#editor-clear").addEventListener("click", () => {
  if (!editor.sel) return;
  pushUndo();
  editor.sel.fill(0);
  editor.points = [];
  render();
});
$("#search-form").elements.maskThreshold.addEventListener("input", () => { if (editor.sel) render(); });

/**
 * Paints `draw` (a path on a canvas of the image's size) into the selection:
 * value 1 or 0, over the pixels of `points` padded by `pad` (the part drawn).
 */
function paint(draw, value, points, pad = 2) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs) - pad));
  const y0 = Math.max(0, Math.floor(Math.min(...ys) - pad));
  const x1 = Math.min(editor.width, Math.ceil(Math.max(...xs) + pad));
  const y1 = Math.min(editor.height, Math.ceil(Math.max(...ys) + pad));
  if (x1 <= x0 || y1 <= y0) return;
  const scratch = document.createElement("canvas");
  scratch.width = x1 - x0;
  scratch.height = y1 - y0;
  const sctx = scratch.getContext("2d");
  sctx.translate(-x0, -y0);
  sctx.fillStyle = sctx.strokeStyle = "#fff";
  draw(sctx);
  const alpha = sctx.getImageData(0, 0, x1 - x0, y1 - y0).data;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (alpha[((y - y0) * (x1 - x0) + (x - x0)) * 4 + 3] >= 128) editor.sel[y * editor.width + x] = value;
    }
  }
}

function closePolygon() {
  const pts = editor.points;
  editor.points = [];
  if (pts.length < 3) { render(); return; }
  pushUndo();
  paint((c) => {
    c.beginPath();
    c.moveTo(pts[0][0], pts[0][1]);
    for (const [x, y] of pts.slice(1)) c.lineTo(x, y);
    c.closePath();
    c.fill();
  }, 1, pts);
  render();
}

function tool() {
  return document.querySelector("input[name=tool]:checked").value;
}

function imagePoint(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * editor.width / r.width, (e.clientY - r.top) * editor.height / r.height];
}

canvas.addEventListener("pointerdown", (e) => {
  if (!editor.sel) return;
  const p = imagePoint(e);
  if (tool() === "polygon") {
    const first = editor.points[0];
    const near = first && Math.hypot(first[0] - p[0], first[1] - p[1]) * editor.zoom < 8;
    if (near && editor.points.length >= 3) closePolygon();
    else { editor.points.push(p); render(); }
    return;
  }
  canvas.setPointerCapture(e.pointerId);
  pushUndo();
  editor.stroke = { last: p, value: tool() === "brush" ? 1 : 0 };
  strokeTo(p);
});
canvas.addEventListener("pointermove", (e) => { if (editor.stroke) strokeTo(imagePoint(e)); });
canvas.addEventListener("pointerup", () => { editor.stroke = null; });
canvas.addEventListener("dblclick", (e) => { e.preventDefault(); if (tool() === "polygon") closePolygon(); });

function strokeTo(p) {
  const s = editor.stroke;
  const size = Number($("#brush-size").value);
  paint((c) => {
    c.lineWidth = size;
    c.lineCap = "round";
    c.beginPath();
    c.moveTo(s.last[0], s.last[1]);
    c.lineTo(p[0] + 0.01, p[1]);
    c.stroke();
  }, s.value, [s.last, p], size / 2 + 2);
  s.last = p;
  scheduleRender();
}

document.addEventListener("keydown", (e) => {
  if ($("#editor").hidden || !editor.sel || $("#viewer").open) return;
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo(); }
  if (tool() === "polygon" && e.key === "Enter" && editor.points.length) { e.preventDefault(); closePolygon(); }
  if (e.key === "Escape" && editor.points.length) { editor.points = []; render(); }
});

// Keyboard drawing: with the drawing area focused, the arrow keys move a
// cursor (Shift: faster), Space adds a polygon corner or paints (erases) a
// dot, Enter closes the polygon.
$("#canvas-box").addEventListener("keydown", (e) => {
  if (!editor.sel) return;
  const step = e.shiftKey ? 25 : 5;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  const c = editor.cursor || [editor.width / 2, editor.height / 2];
  if (moves[e.key]) {
    e.preventDefault();
    editor.cursor = [Math.max(0, Math.min(editor.width - 1, c[0] + moves[e.key][0])),
      Math.max(0, Math.min(editor.height - 1, c[1] + moves[e.key][1]))];
    render();
  } else if (e.key === " ") {
    e.preventDefault();
    editor.cursor = c;
    if (tool() === "polygon") { editor.points.push(c.slice()); render(); return; }
    pushUndo();
    editor.stroke = { last: c, value: tool() === "brush" ? 1 : 0 };
    strokeTo(c);
    editor.stroke = null;
  }
});
$("#canvas-box").addEventListener("blur", () => { editor.cursor = null; render(); });

function scheduleRender() {
  if (editor.pending) return;
  editor.pending = true;
  requestAnimationFrame(() => { editor.pending = false; render(); });
}

/** Draws the CDM dimmed, the drawn pixels that count bright, those below the threshold tinted, and the label areas hatched. */
function render() {
  if (!editor.sel) return;
  const { width, height, src, sel } = editor;
  const t = maskThreshold();
  const out = ctx.createImageData(width, height);
  const d = out.data;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const o = i * 4;
      const drawn = sel[i] === 1;
      const counts = drawn && !inLabelArea(x, y, width) && above(src, o, t);
      if (counts) {
        count++;
        d[o] = src[o]; d[o + 1] = src[o + 1]; d[o + 2] = src[o + 2];
      } else if (drawn) {
        d[o] = src[o] >> 2; d[o + 1] = 40 + (src[o + 1] >> 2); d[o + 2] = 110 + (src[o + 2] >> 2);
      } else {
        d[o] = src[o] >> 2; d[o + 1] = src[o + 1] >> 2; d[o + 2] = src[o + 2] >> 2;
      }
      d[o + 3] = 255;
    }
  }
  ctx.putImageData(out, 0, 0);
  ctx.save();
  ctx.fillStyle = "rgba(255, 209, 102, 0.25)";
  ctx.strokeStyle = "#ffd166";
  ctx.lineWidth = 2;
  for (const [x, y, w, h] of [[0, 0, 330, 100], [width - 250, 0, 250, 90]]) {
    ctx.fillRect(x, y, w, h);
    ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
  }
  ctx.fillStyle = "#ffd166";
  ctx.font = "16px system-ui, sans-serif";
  ctx.fillText("label area: ignored", 8, 94);
  ctx.fillText("label area: ignored", width - 242, 84);
  if (editor.points.length) {
    ctx.strokeStyle = "#4cc9f0";
    ctx.lineWidth = 2 / editor.zoom;
    ctx.beginPath();
    editor.points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    for (const [x, y] of editor.points) ctx.fillRect(x - 2, y - 2, 4, 4);
  }
  if (editor.cursor) {
    const [cx, cy] = editor.cursor;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1 / editor.zoom;
    ctx.strokeRect(cx - 6, cy - 6, 12, 12);
    ctx.beginPath();
    ctx.moveTo(cx - 12, cy); ctx.lineTo(cx + 12, cy); ctx.moveTo(cx, cy - 12); ctx.lineTo(cx, cy + 12);
    ctx.stroke();
  }
  ctx.restore();
  $("#mask-count").textContent = count.toLocaleString("en-US").replace(/,/g, "");
  $("#editor-threshold").textContent = t;
}

/** The mask as a PNG: the CDM where drawn, black elsewhere. */
function maskPng() {
  const { width, height, src, sel } = editor;
  const out = new ImageData(width, height);
  for (let i = 0; i < sel.length; i++) {
    const o = i * 4;
    if (sel[i]) { out.data[o] = src[o]; out.data[o + 1] = src[o + 1]; out.data[o + 2] = src[o + 2]; }
    out.data[o + 3] = 255;
  }
  const c = document.createElement("canvas");
  c.width = width;
  c.height = height;
  c.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

function maskFileName() {
  const name = $("#editor-name").value.trim() || "mask";
  return name.toLowerCase().endsWith(".png") ? name : `${name}.png`;
}

$("#editor-add").addEventListener("click", async () => {
  if (!editor.sel) { $("#editor-status").textContent = "Open a CDM first."; return; }
  if (!countingPixels(maskThreshold())) {
    $("#editor-status").textContent = "No drawn pixel counts at this mask threshold: draw over the neuron.";
    return;
  }
  const file = new File([await maskPng()], maskFileName(), { type: "image/png" });
  addFiles([file]);
  editor.masksMade += 1;
  $("#editor-status").textContent = `Added ${file.name}. Draw the next neuron of this image, or search.`;
  pushUndo();
  editor.sel.fill(0);
  $("#editor-name").value = `${editor.name}_mask${editor.masksMade + 1}`;
  render();
});
$("#editor-save").addEventListener("click", async () => {
  if (editor.sel) saveBlob(await maskPng(), maskFileName());
});

// ---- Progress ---------------------------------------------------------------------

function openSearch(search) {
  clearTimeout(state.pollTimer);
  state.search = search;
  state.results = null;
  state.selected.clear();
  history.replaceState(null, "", `#search=${encodeURIComponent(search.id)}`);
  $("#results-panel").hidden = true;
  $("#progress-panel").hidden = false;
  renderProgress(search);
  poll();
}

function closeSearch() {
  clearTimeout(state.pollTimer);
  state.search = null;
  state.results = null;
  history.replaceState(null, "", location.pathname);
  $("#results-panel").hidden = true;
  $("#progress-panel").hidden = true;
}

function renderProgress(s) {
  $("#search-id").textContent = s.id;
  $("#search-label").textContent = labelOf(s);
  $("#share-link").href = searchLink(s.id);
  const status = $("#status");
  status.textContent = s.status.replace("_", " ");
  status.dataset.status = s.status;
  const p = s.progress;
  $("#progress").max = Math.max(p.batchesTotal, 1);
  $("#progress").value = s.status === "done" ? $("#progress").max : p.batchesDone;
  $("#progress-text").textContent =
    `${p.batchesDone.toLocaleString()} of ${p.batchesTotal.toLocaleString()} batches · ${s.elapsedSecs.toFixed(1)} s`;
  showErrors($("#search-errors"), { fields: [], message: s.errors.join("; ") }, "");
  if (!s.errors.length) $("#search-errors").replaceChildren();
}

async function poll() {
  const id = state.search.id;
  let s;
  try {
    s = await apiJson(`/searches/${id}`);
  } catch (err) {
    showErrors($("#search-errors"), err.body, err.message);
    return;
  }
  if (!state.search || state.search.id !== id) return;
  state.search = s;
  renderProgress(s);
  if (s.status === "done") {
    loadHistory();
    await loadResults(s);
  } else if (s.status === "queued" || s.status === "running") {
    state.pollTimer = setTimeout(poll, POLL_MS);
  } else {
    loadHistory();
  }
}

$("#copy-link").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText(searchLink(state.search.id)); } catch { /* the link is on the page */ }
});
$("#rerun").addEventListener("click", () => prefillForm(state.search).catch((err) => showErrors($("#search-errors"), null, err.message)));
$("#delete-search").addEventListener("click", () => deleteSearch(state.search));

async function deleteSearch(search) {
  if (!confirm(`Delete search ${search.id}${labelOf(search) ? ` (${labelOf(search)})` : ""}?`)) return;
  const response = await api(`/searches/${encodeURIComponent(search.id)}`, { method: "DELETE" });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { /* no JSON body */ }
    showErrors($("#search-errors"), body, `Cannot delete: ${response.status} ${response.statusText}`);
    $("#progress-panel").hidden = false;
    return;
  }
  if (state.search && state.search.id === search.id) closeSearch();
  await loadHistory();
  $("#history-title").focus();
}

// ---- Results ----------------------------------------------------------------------

async function loadResults(search) {
  const perPage = Math.max(1, Math.min(10000, search.params.maxResultsPerMask));
  state.results = await apiJson(`/searches/${search.id}/results?perPage=${perPage}`);
  state.page = 1;
  const select = $("#mask-select");
  select.replaceChildren();
  state.results.masks.forEach((m, i) => select.append(new Option(`${m.mask.name} (${m.totalHits} hits)`, i)));
  const libs = new Set(state.results.masks.flatMap((m) => m.results.map((h) => h.libraryName)));
  const libSelect = $("#library-filter");
  libSelect.replaceChildren(new Option("all", ""));
  for (const lib of [...libs].sort()) libSelect.append(new Option(lib, lib));
  $("#results-panel").hidden = false;
  renderResults();
}

function maskIndex() {
  return Number($("#mask-select").value) || 0;
}

/** A hit's normalized score: the shape stage's, or its matching pixels without one. */
function normalizedScore(h) {
  return h.shapeScored ? h.normalizedScore : h.matchingPixels;
}

function visibleHits(page) {
  const text = $("#filter").value.trim().toLowerCase();
  const minPixels = Number($("#min-pixels").value) || 0;
  const minRatio = (Number($("#min-ratio").value) || 0) / 100;
  const minScore = Number($("#min-score").value) || 0;
  const library = $("#library-filter").value;
  const hits = page.results.filter((h) =>
    h.matchingPixels >= minPixels && h.matchingRatio >= minRatio && normalizedScore(h) >= minScore &&
    (!library || h.libraryName === library) &&
    (!text || h.imageName.toLowerCase().includes(text)));
  const sort = $("#sort").value;
  if (sort === "pixels") hits.sort((a, b) => b.matchingPixels - a.matchingPixels || a.rank - b.rank);
  if (sort === "ratio") hits.sort((a, b) => b.matchingRatio - a.matchingRatio || a.rank - b.rank);
  if (sort === "score") hits.sort((a, b) => normalizedScore(b) - normalizedScore(a) || a.rank - b.rank);
  if (sort === "name") hits.sort((a, b) => a.imageName.localeCompare(b.imageName));
  return hits;
}

function selectionKey(mask, h) {
  return `${mask}:${h.rank}`;
}

function renderSelectionCount() {
  $("#selected-count").textContent = `${state.selected.size} selected`;
}

function renderResults() {
  const r = state.results;
  if (!r) return;
  const mi = maskIndex();
  const page = r.masks[mi];
  const hits = visibleHits(page);
  state.shown = hits;
  const perPage = Number($("#per-page").value);
  const pages = Math.max(1, Math.ceil(hits.length / perPage));
  state.page = Math.min(Math.max(1, state.page), pages);
  const first = (state.page - 1) * perPage;
  const onPage = hits.slice(first, first + perPage);
  $("#results-summary").textContent =
    `${page.totalHits} hits of ${r.searched.toLocaleString()} targets searched` +
    (r.skipped.length ? ` (${r.skipped.length} could not be read)` : "") +
    ` · mask pixels ${page.maskPixels.toLocaleString()} · showing ${hits.length}`;
  $("#page-info").textContent = `page ${state.page} of ${pages}`;
  $("#page-prev").disabled = state.page <= 1;
  $("#page-next").disabled = state.page >= pages;
  const grid = $("#grid");
  const cards = document.createDocumentFragment();
  onPage.forEach((h, k) => {
    const card = document.createElement("figure");
    card.className = "hit";
    card.dataset.rank = h.rank;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "pair";
    open.setAttribute("aria-label", `Examine #${h.rank} ${h.imageName}`);
    const m = document.createElement("img");
    showImage(m, page.mask.thumbnailURL, { lazy: true });
    m.alt = "";
    if (h.mirrored) m.className = "mirrored";
    const t = document.createElement("img");
    showImage(t, h.thumbnailURL, { lazy: true });
    t.alt = "";
    open.append(m, t);
    open.addEventListener("click", () => openViewer(first + k));
    const caption = document.createElement("figcaption");
    caption.innerHTML =
      `<label class="check select"><input type="checkbox"> <span class="rank">#${h.rank}</span></label> <span class="name"></span><br>` +
      `<span class="pixels">${h.matchingPixels}</span> px · ` +
      `<span class="ratio">${(100 * h.matchingRatio).toFixed(2)}%</span> · <span class="lib"></span>` +
      (h.mirrored ? ' <span class="badge">mirrored</span>' : "") +
      shapeCaption(h);
    caption.querySelector(".name").textContent = h.imageName;
    caption.querySelector(".lib").textContent = h.libraryName;
    const box = caption.querySelector("input");
    box.setAttribute("aria-label", `select #${h.rank} ${h.imageName}`);
    box.checked = state.selected.has(selectionKey(mi, h));
    box.addEventListener("change", () => {
      if (box.checked) state.selected.set(selectionKey(mi, h), { maskIndex: mi, hit: h });
      else state.selected.delete(selectionKey(mi, h));
      renderSelectionCount();
    });
    card.append(open, caption);
    cards.append(card);
  });
  grid.replaceChildren(cards);
  renderSelectionCount();
}

/** The shape stage's part of a hit's caption (empty when the search did not run it). */
function shapeCaption(h) {
  if (h.shapeScored === undefined) return "";
  if (!h.shapeScored) return '<br><span class="badge unscored">not shape-scored</span>';
  return `<br>normalized <span class="normalized" data-value="${h.normalizedScore}">${h.normalizedScore.toFixed(1)}</span>` +
    ` · shape <span class="shape">${h.shapeScore}</span>` +
    (h.shapeMirrored ? ' <span class="badge">shape mirrored</span>' : "");
}

function filtersChanged() {
  state.page = 1;
  renderResults();
}
for (const id of ["#mask-select", "#sort", "#library-filter", "#per-page"]) $(id).addEventListener("change", filtersChanged);
for (const id of ["#filter", "#min-pixels", "#min-ratio", "#min-score"]) $(id).addEventListener("input", filtersChanged);
$("#page-prev").addEventListener("click", () => { state.page -= 1; renderResults(); });
$("#page-next").addEventListener("click", () => { state.page += 1; renderResults(); });
$("#select-shown").addEventListener("click", () => {
  const mi = maskIndex();
  for (const h of state.shown) state.selected.set(selectionKey(mi, h), { maskIndex: mi, hit: h });
  renderResults();
});
$("#select-none").addEventListener("click", () => { state.selected.clear(); renderResults(); });

async function download(format, extension = format) {
  const s = state.search;
  const perPage = Math.max(1, Math.min(10000, s.params.maxResultsPerMask));
  const response = await api(`/searches/${s.id}/results?perPage=${perPage}&format=${format}`);
  saveBlob(await response.blob(), `search-${s.id}${extension}`);
}
$("#download-csv").addEventListener("click", () => download("csv", ".csv"));
$("#download-json").addEventListener("click", () => download("json", ".json"));
$("#download-neuronbridge").addEventListener("click", () => download("neuronbridge", ".neuronbridge.json"));

// ---- Hit viewer -------------------------------------------------------------------------

const viewer = $("#viewer");

function openViewer(index) {
  state.viewerIndex = index;
  renderViewer();
  if (!viewer.open) viewer.showModal();
  $("#viewer-next").focus();
}

function renderViewer() {
  const page = state.results.masks[maskIndex()];
  const h = state.shown[state.viewerIndex];
  if (!h) return;
  $("#viewer-title").textContent = `#${h.rank} ${h.imageName}`;
  $("#viewer-caption").textContent =
    `${h.libraryName} · ${h.matchingPixels} matching pixels · ${(100 * h.matchingRatio).toFixed(2)}%` +
    (h.shapeScored ? ` · normalized score ${h.normalizedScore.toFixed(1)}` : "") +
    (h.mirrored ? " · mask mirrored" : "") +
    ` · hit ${state.viewerIndex + 1} of ${state.shown.length}`;
  const mask = $("#viewer-mask");
  showImage(mask, page.mask.imageURL);
  mask.alt = `mask ${page.mask.name}${h.mirrored ? ", mirrored" : ""}`;
  mask.classList.toggle("mirrored", h.mirrored);
  $("#viewer-mask-caption").textContent = h.mirrored ? "mask (mirrored)" : "mask";
  const target = $("#viewer-target");
  showImage(target, h.imageURL);
  target.alt = `target ${h.imageName}`;
  showMatches(h);
  $("#viewer-prev").disabled = state.viewerIndex <= 0;
  $("#viewer-next").disabled = state.viewerIndex >= state.shown.length - 1;
}

function stepViewer(delta) {
  const next = state.viewerIndex + delta;
  if (next < 0 || next >= state.shown.length) return;
  state.viewerIndex = next;
  renderViewer();
}

$("#viewer-prev").addEventListener("click", () => stepViewer(-1));
$("#viewer-next").addEventListener("click", () => stepViewer(1));
$("#viewer-close").addEventListener("click", () => viewer.close());
viewer.addEventListener("keydown", (e) => {
  if (e.target.matches("input[type=range], input[type=radio]")) return; // arrows move these
  if (e.key === "ArrowRight" || e.key === "n") { e.preventDefault(); stepViewer(1); }
  if (e.key === "ArrowLeft" || e.key === "p") { e.preventDefault(); stepViewer(-1); }
});
viewer.addEventListener("close", () => {
  // Back to the card of the hit last shown (on its page).
  const perPage = Number($("#per-page").value);
  state.page = Math.floor(state.viewerIndex / perPage) + 1;
  renderResults();
  const card = $(`.hit[data-rank="${state.shown[state.viewerIndex]?.rank}"] .pair`);
  if (card) card.focus();
});
for (const input of document.querySelectorAll("input[name=view]")) {
  input.addEventListener("change", () => { $("#viewer-images").dataset.view = input.value; });
}
/**
 * The API path of the pixels of hit `h`'s target that matched the open mask
 * (a PNG of the target's size, transparent elsewhere), from its image path
 * `/libraries/LIB/images/NAME`.
 */
function matchesPath(h) {
  const [, library, image] = h.imageURL.match(/^\/libraries\/([^/]+)\/images\/(.+)$/) || [];
  if (!library) return null;
  return `/searches/${encodeURIComponent(state.search.id)}/masks/${maskIndex()}/matches/${library}/${image}`;
}

/** Shows or hides the matching pixels of hit `h` over its target, as the checkbox says. */
function showMatches(h) {
  const overlay = $("#viewer-matches");
  const path = $("#viewer-highlight").checked && matchesPath(h);
  overlay.hidden = !path;
  // The overlay has the matched pixels in the target's own colours: the rest is dimmed.
  $("#viewer-images").toggleAttribute("data-highlight", Boolean(path));
  $("#viewer-target-caption").textContent = path ? `target, ${h.matchingPixels} matching pixels highlighted` : "target";
  if (path) showImage(overlay, path);
}

$("#viewer-highlight").addEventListener("change", () => {
  const h = state.shown[state.viewerIndex];
  if (h) showMatches(h);
});
$("#viewer-full").addEventListener("change", (e) => {
  $("#viewer-images").dataset.fit = e.target.checked ? "full" : "fit";
});
$("#overlay-opacity").addEventListener("input", (e) => {
  $("#viewer-images").style.setProperty("--overlay-opacity", e.target.value / 100);
});
$("#viewer-edit").addEventListener("click", () => {
  const h = state.shown[state.viewerIndex];
  viewer.close();
  openEditor();
  editorLoad(async () => loadEditorImage(new Blob([await apiBytes(h.imageURL)]), h.imageName.split("/").pop()));
});

// ---- Zip of the selected hits' images ---------------------------------------------------
// A store-only zip (no compression: PNGs are compressed already), UTF-8 names.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive (Blob) of `files`, each `{ name, data: Uint8Array }`, stored uncompressed. */
function zipStore(files, date = new Date()) {
  const enc = new TextEncoder();
  const dosTime = (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1);
  const dosDate = ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const file of files) {
    const name = enc.encode(file.name);
    const crc = crc32(file.data);
    const size = file.data.length;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(8, 0, true); // stored
    local.setUint16(10, dosTime, true);
    local.setUint16(12, dosDate, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, size, true);
    local.setUint32(22, size, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);
    parts.push(local, name, file.data);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true); // made by
    entry.setUint16(6, 20, true); // needed
    entry.setUint16(8, 0x0800, true);
    entry.setUint16(10, 0, true);
    entry.setUint16(12, dosTime, true);
    entry.setUint16(14, dosDate, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, size, true);
    entry.setUint32(24, size, true);
    entry.setUint16(28, name.length, true);
    entry.setUint32(42, offset, true); // extra, comment, disk, attributes stay 0
    central.push(entry, name);
    offset += 30 + name.length + size;
  }
  const centralSize = central.reduce((n, p) => n + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

/** The zip entry name of a hit: `<mask>/<rank>_<library>_<target>.png`. */
function zipName(maskName, h) {
  const stem = (s) => s.replace(/\.[^./]*$/, "").replace(/[/\\]/g, "_");
  return `${stem(maskName)}/${String(h.rank).padStart(4, "0")}_${stem(h.libraryName)}_${stem(h.imageName)}.png`;
}

$("#download-zip").addEventListener("click", async () => {
  const status = $("#selected-count");
  if (!state.selected.size) { status.textContent = "Select hits first (checkboxes, or Select all shown)."; return; }
  const chosen = [...state.selected.values()].sort((a, b) => a.maskIndex - b.maskIndex || a.hit.rank - b.hit.rank);
  const files = [];
  const masksDone = new Set();
  status.textContent = `fetching ${chosen.length} images…`;
  for (const { maskIndex: mi, hit } of chosen) {
    const mask = state.results.masks[mi].mask;
    if (!masksDone.has(mi)) {
      masksDone.add(mi);
      files.push({ name: `${mask.name.replace(/\.[^./]*$/, "")}/mask.png`, data: await apiBytes(mask.imageURL) });
    }
    files.push({ name: zipName(mask.name, hit), data: await apiBytes(hit.imageURL) });
  }
  saveBlob(zipStore(files), `search-${state.search.id}-selected.zip`);
  renderSelectionCount();
});

// ---- History -----------------------------------------------------------------------

async function loadHistory() {
  const searches = await apiJson("/searches");
  const rows = $("#history-rows");
  rows.replaceChildren();
  for (const s of searches) {
    const tr = document.createElement("tr");
    tr.dataset.id = s.id;
    const cells = [
      new Date(s.createdMs).toLocaleString(),
      labelOf(s),
      s.masks.map((m) => m.name).join(", "),
      s.params.libraries.join(", "),
      s.status.replace("_", " "),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const actions = document.createElement("td");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "secondary open";
    open.textContent = "Open";
    open.setAttribute("aria-label", `Open search ${labelOf(s) || s.id}`);
    open.addEventListener("click", () => { openSearch(s); $("#progress-panel").scrollIntoView(); });
    const rerun = document.createElement("button");
    rerun.type = "button";
    rerun.className = "secondary";
    rerun.textContent = "Re-run";
    rerun.setAttribute("aria-label", `Edit and re-run search ${labelOf(s) || s.id}`);
    rerun.addEventListener("click", () => prefillForm(s));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger delete";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete search ${labelOf(s) || s.id}`);
    del.addEventListener("click", () => deleteSearch(s));
    actions.append(open, rerun, del);
    tr.append(actions);
    rows.append(tr);
  }
}

// ---- Start --------------------------------------------------------------------------

/** How the server wants to be signed in to (GET /config); API keys if it does not say. */
async function loadConfig() {
  try {
    const response = await fetch("/config");
    if (response.ok) return await response.json();
  } catch {
    // an older server: API keys
  }
  return { signIn: null };
}

async function start() {
  if (!auth.configured) {
    auth.signIn = (await loadConfig()).signIn || null;
    auth.configured = true;
  }
  if (auth.signIn) {
    try {
      if (!state.token && !(await finishSignIn())) {
        signedOut("");
        return;
      }
    } catch (err) {
      signedOut(err.message);
      return;
    }
  } else {
    state.token = readKey();
    if (!state.token) {
      signedOut("");
      return;
    }
    showUser({ sub: "API key" });
  }
  try {
    await loadCatalog();
  } catch (err) {
    if (err.message !== "unauthorized") $("#login-error").textContent = err.message;
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  await loadHistory();
  const id = hashParams().get("search");
  if (id) {
    try {
      openSearch(await apiJson(`/searches/${encodeURIComponent(id)}`));
    } catch (err) {
      showErrors($("#form-errors"), null, `Search ${id}: ${err.message}`);
    }
  }
}

start();
