// cdsearch web client: plain JavaScript over the HTTP API (see /openapi.json).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: null, uploads: [], search: null, results: null, pollTimer: null };
const POLL_MS = 500;

// ---- API access -----------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${state.token}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    forgetToken("The API key was not accepted.");
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

/** An image URL carrying the API key (images are loaded by <img>, which cannot send headers). */
function authed(url, extra = "") {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}access_token=${encodeURIComponent(state.token)}${extra}`;
}

// ---- API key ----------------------------------------------------------------

function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("cdsearch.token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return localStorage.getItem("cdsearch.token");
}

function forgetToken(message) {
  localStorage.removeItem("cdsearch.token");
  state.token = null;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem("cdsearch.token", $("#token").value.trim());
  start();
});

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
    remove.title = "remove";
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
  for (const m of masks) {
    const label = document.createElement("label");
    label.className = "stored-mask";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "maskRef";
    input.value = m.name;
    const img = document.createElement("img");
    img.src = authed(m.thumbnailURL, "&size=128");
    img.alt = m.name;
    const name = document.createElement("span");
    name.textContent = m.name;
    label.append(input, img, name);
    stored.append(label);
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
  };
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
  } catch (err) {
    showErrors($("#form-errors"), err.body, err.message);
  } finally {
    button.disabled = false;
  }
});

// ---- Progress ---------------------------------------------------------------------

function openSearch(search) {
  clearTimeout(state.pollTimer);
  state.search = search;
  state.results = null;
  $("#results-panel").hidden = true;
  $("#progress-panel").hidden = false;
  renderProgress(search);
  poll();
}

function renderProgress(s) {
  $("#search-id").textContent = s.id;
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
  const s = await apiJson(`/searches/${id}`);
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

// ---- Results ----------------------------------------------------------------------

async function loadResults(search) {
  const perPage = Math.max(1, Math.min(10000, search.params.maxResultsPerMask));
  state.results = await apiJson(`/searches/${search.id}/results?perPage=${perPage}`);
  const select = $("#mask-select");
  select.replaceChildren();
  state.results.masks.forEach((m, i) => {
    const o = document.createElement("option");
    o.value = i;
    o.textContent = `${m.mask.name} (${m.totalHits} hits)`;
    select.append(o);
  });
  $("#results-panel").hidden = false;
  renderResults();
}

function visibleHits(page) {
  const text = $("#filter").value.trim().toLowerCase();
  const minPixels = Number($("#min-pixels").value) || 0;
  const hits = page.results.filter((h) =>
    h.matchingPixels >= minPixels && (!text || h.imageName.toLowerCase().includes(text)));
  const sort = $("#sort").value;
  if (sort === "pixels") hits.sort((a, b) => b.matchingPixels - a.matchingPixels || a.rank - b.rank);
  if (sort === "ratio") hits.sort((a, b) => b.matchingRatio - a.matchingRatio || a.rank - b.rank);
  if (sort === "name") hits.sort((a, b) => a.imageName.localeCompare(b.imageName));
  return hits;
}

function renderResults() {
  const r = state.results;
  if (!r) return;
  const page = r.masks[Number($("#mask-select").value) || 0];
  const hits = visibleHits(page);
  $("#results-summary").textContent =
    `${page.totalHits} hits of ${r.searched.toLocaleString()} targets searched` +
    (r.skipped.length ? ` (${r.skipped.length} could not be read)` : "") +
    ` · mask pixels ${page.maskPixels.toLocaleString()} · showing ${hits.length}`;
  const grid = $("#grid");
  grid.replaceChildren();
  const maskThumb = authed(page.mask.thumbnailURL);
  for (const h of hits) {
    const card = document.createElement("figure");
    card.className = "hit";
    card.dataset.rank = h.rank;
    const pair = document.createElement("div");
    pair.className = "pair";
    const m = document.createElement("img");
    m.src = maskThumb;
    m.alt = `mask ${page.mask.name}`;
    m.loading = "lazy";
    const t = document.createElement("img");
    t.src = authed(h.thumbnailURL);
    t.alt = h.imageName;
    t.loading = "lazy";
    const link = document.createElement("a");
    link.href = authed(h.imageURL);
    link.target = "_blank";
    link.append(t);
    pair.append(m, link);
    const caption = document.createElement("figcaption");
    caption.innerHTML =
      `<span class="rank">#${h.rank}</span> <span class="name"></span><br>` +
      `<span class="pixels">${h.matchingPixels}</span> px · ` +
      `<span class="ratio">${(100 * h.matchingRatio).toFixed(2)}%</span>` +
      (h.mirrored ? ' <span class="badge">mirrored</span>' : "") +
      shapeCaption(h);
    caption.querySelector(".name").textContent = h.imageName;
    caption.querySelector(".name").title = `${h.libraryName}/${h.imageName}`;
    card.append(pair, caption);
    grid.append(card);
  }
}

/** The shape stage's part of a hit's caption (empty when the search did not run it). */
function shapeCaption(h) {
  if (h.shapeScored === undefined) return "";
  if (!h.shapeScored) return '<br><span class="badge unscored">not shape-scored</span>';
  return `<br>normalized <span class="normalized" data-value="${h.normalizedScore}">${h.normalizedScore.toFixed(1)}</span>` +
    ` · shape <span class="shape">${h.shapeScore}</span>` +
    (h.shapeMirrored ? ' <span class="badge">shape mirrored</span>' : "");
}

for (const id of ["#mask-select", "#sort"]) $(id).addEventListener("change", renderResults);
for (const id of ["#filter", "#min-pixels"]) $(id).addEventListener("input", renderResults);

async function download(format) {
  const s = state.search;
  const perPage = Math.max(1, Math.min(10000, s.params.maxResultsPerMask));
  const response = await api(`/searches/${s.id}/results?perPage=${perPage}&format=${format}`);
  const blob = await response.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `search-${s.id}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
}
$("#download-csv").addEventListener("click", () => download("csv"));
$("#download-json").addEventListener("click", () => download("json"));

// ---- History -----------------------------------------------------------------------

async function loadHistory() {
  const searches = await apiJson("/searches");
  const rows = $("#history-rows");
  rows.replaceChildren();
  for (const s of searches) {
    const tr = document.createElement("tr");
    tr.className = "clickable";
    const cells = [
      new Date(s.createdMs).toLocaleString(),
      s.masks.map((m) => m.name).join(", "),
      s.params.libraries.join(", "),
      s.status.replace("_", " "),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => openSearch(s));
    rows.append(tr);
  }
}

// ---- Start --------------------------------------------------------------------------

async function start() {
  state.token = readToken();
  if (!state.token) {
    forgetToken("");
    return;
  }
  try {
    await loadCatalog();
  } catch (err) {
    if (err.message !== "unauthorized") $("#login-error").textContent = err.message;
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  loadHistory();
}

start();
