// mfrec browse page: plain DOM, no framework, no build step. Every text from the server goes in
// through textContent (never innerHTML), so titles cannot inject markup.
"use strict";

const state = { models: [], liked: new Map(), searched: null, runs: { similar: 0, liked: 0, user: 0 } };
const N = 10;

const $ = (id) => document.getElementById(id);
const key = (id) => JSON.stringify(id);           // 1 and "1" are different ids
const label = (item) => item.title || String(item.id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
  return body;
}

const query = (params) => new URLSearchParams(params).toString();

// ------------------------------------------------------------------ rendering
function itemRow(item, extra) {
  const link = el("button", { type: "button", className: "item-link", text: label(item),
                              onclick: () => showSimilar(item) });
  const row = el("li", { "data-id": key(item.id) }, link);
  if (item.title) row.append(el("span", { className: "id", text: `#${item.id}` }));
  if (extra !== undefined) row.append(el("span", { className: "score", text: extra }));
  return row;
}

function column(title, subtitle) {
  const col = el("div", { className: "column" },
                 el("h3", { text: title }, el("small", { text: subtitle ? ` ${subtitle}` : "" })));
  return col;
}

function fillColumn(col, items, extra) {
  const list = el("ol", { className: "items" });
  for (const item of items) list.append(itemRow(item, extra(item)));
  if (!items.length) col.append(el("p", { className: "muted", text: "nothing to show" }));
  col.append(list);
}

const scoreText = (item) => (typeof item.score === "number" ? item.score.toFixed(3) : undefined);

function modelColumns(container, names, load, extra) {
  // One column per loaded model; models that do not know the query get a note instead of a call.
  container.replaceChildren();
  const jobs = [];
  for (const model of state.models) {
    const col = column(model.name, model.class);
    col.dataset.model = model.name;
    container.append(col);
    if (!names.includes(model.name)) {
      col.append(el("p", { className: "muted", text: "not in this model" }));
      continue;
    }
    const loading = el("p", { className: "muted", text: "loading\u2026" });
    col.append(loading);
    jobs.push(load(model.name).then(
      (result) => { loading.remove(); fillColumn(col, result.items, extra); },
      (error) => { loading.remove(); col.append(el("p", { className: "error", text: error.message })); }));
  }
  return Promise.all(jobs);
}

// ------------------------------------------------------------------ models
async function loadModels() {
  const [models, health] = await Promise.all([api("/models"), api("/health")]);
  state.models = models.models;
  const body = $("models").querySelector("tbody");
  body.replaceChildren();
  for (const m of state.models) {
    const params = Object.entries(m.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    body.append(el("tr", {},
      el("td", { text: m.name }), el("td", { text: m.class }), el("td", { text: String(m.factors) }),
      el("td", { text: m.n_users.toLocaleString() }), el("td", { text: m.n_items.toLocaleString() }),
      el("td", { text: m.n_interactions.toLocaleString() }),
      el("td", { text: (m.trained_at || m.file_modified || "").replace("T", " ").replace("+00:00", " UTC") }),
      el("td", { className: "params", text: params })));
  }
  const problems = health.models.filter((m) => m.reload_error);
  $("status").textContent = `${state.models.length} model${state.models.length === 1 ? "" : "s"} loaded: ` +
    state.models.map((m) => m.name).join(", ") +
    (problems.length ? ` \u2014 reload failed: ${problems.map((m) => `${m.name}: ${m.reload_error}`).join("; ")}` : "");
  $("status").className = problems.length ? "error" : "";
}

// ------------------------------------------------------------------ search + similar
async function search(text, force) {
  // the input's debounce and the form's submit often ask for the same text: render it once
  const results = $("search-results");
  if (!force && text === state.searched) return;
  state.searched = text;
  if (!text.trim()) { results.replaceChildren(); return; }
  let found;
  try {
    found = await api(`/items?${query({ q: text, n: 20 })}`);
  } catch (error) {
    results.replaceChildren(el("li", { className: "error", text: error.message }));
    return;
  }
  if (state.searched !== text) return;  // a newer search is under way
  results.replaceChildren();
  if (!found.items.length) results.append(el("li", { className: "muted", text: `no item matches "${text}"` }));
  for (const item of found.items) {
    const box = el("input", { type: "checkbox", "aria-label": `like ${label(item)}` });
    box.checked = state.liked.has(key(item.id));
    box.addEventListener("change", () => toggleLiked(item, box.checked));
    const row = itemRow(item, item.genres ? ` ${item.genres}` : undefined);
    row.prepend(box);
    results.append(row);
  }
}

async function modelsKnowingItem(item) {
  if (item.models) return item.models;
  const found = await api(`/items?${query({ id: String(item.id) })}`);
  const hit = found.items.find((h) => key(h.id) === key(item.id));
  return hit ? hit.models : [];
}

async function showSimilar(item) {
  const run = ++state.runs.similar;
  $("similar-section").hidden = false;
  $("similar-title").textContent = label(item);
  $("similar-section").scrollIntoView({ block: "start" });
  const names = await modelsKnowingItem(item);
  if (run !== state.runs.similar) return;
  await modelColumns($("similar"), names,
    (model) => api(`/models/${encodeURIComponent(model)}/similar?${query({ item: String(item.id), n: N })}`),
    scoreText);
}

// ------------------------------------------------------------------ liked items -> fold-in
function toggleLiked(item, on) {
  if (on) state.liked.set(key(item.id), item); else state.liked.delete(key(item.id));
  renderLiked();
  recommendLiked();
}

function renderLiked() {
  const list = $("liked");
  list.replaceChildren();
  for (const [k, item] of state.liked) {
    list.append(el("li", { "data-id": k }, el("span", { text: label(item) }),
      el("button", { type: "button", className: "remove", "aria-label": `remove ${label(item)}`, text: "\u00d7",
                     onclick: () => { toggleLiked(item, false); search(state.searched || "", true); } })));
  }
  $("liked-empty").hidden = state.liked.size > 0;
  $("liked-clear").hidden = state.liked.size === 0;
}

function recommendLiked() {
  const run = ++state.runs.liked;
  const liked = [...state.liked.values()];
  if (!liked.length) { $("liked-recs").replaceChildren(); return Promise.resolve(); }
  const names = state.models.map((m) => m.name).filter((name) => liked.some((i) => i.models.includes(name)));
  return modelColumns($("liked-recs"), names, (model) => {
    const items = liked.filter((i) => i.models.includes(model)).map((i) => i.id);
    return api(`/models/${encodeURIComponent(model)}/recommend`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ items, n: N }),
    }).then((result) => { if (run !== state.runs.liked) throw new Error("superseded"); return result; });
  }, scoreText);
}

// ------------------------------------------------------------------ a user: history + recommendations
async function showUser(text) {
  const run = ++state.runs.user;
  const view = $("user-view");
  const message = $("user-message");
  let found;
  try {
    found = await api(`/users?${query({ id: text })}`);
  } catch (error) {
    message.textContent = error.message;
    return;
  }
  if (run !== state.runs.user) return;
  const names = found.models;
  if (!names.length) {
    message.textContent = `no model knows user ${text}`;
    view.replaceChildren();
    return;
  }
  message.textContent = `user ${text}: history from ${names[0]}, recommendations from every model that knows them`;
  const history = column("history", `(${names[0]})`);
  history.classList.add("history");
  const historyJob = api(`/models/${encodeURIComponent(names[0])}/history?${query({ user: text, n: 20 })}`)
    .then((h) => {
      history.firstChild.lastChild.textContent = ` (${names[0]}, ${h.n_items} items)`;
      fillColumn(history, h.items, (item) => ` ${h.feedback === "explicit" ? "rated " : ""}${item.value}`);
    }, (error) => history.append(el("p", { className: "error", text: error.message })));
  const recs = el("div", { className: "columns" });
  view.replaceChildren(history, recs);
  await Promise.all([historyJob, modelColumns(recs, names,
    (model) => api(`/models/${encodeURIComponent(model)}/recommend?${query({ user: text, n: N })}`), scoreText)]);
}

// ------------------------------------------------------------------ wiring
function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search($("search").value); });
  $("search").addEventListener("input", debounce(() => search($("search").value), 250));
  $("user-form").addEventListener("submit", (event) => { event.preventDefault(); showUser($("user").value.trim()); });
  $("liked-clear").addEventListener("click", () => {
    state.liked.clear(); renderLiked(); recommendLiked(); search(state.searched || "", true);
  });
  loadModels().catch((error) => { $("status").textContent = error.message; $("status").className = "error"; });
});
