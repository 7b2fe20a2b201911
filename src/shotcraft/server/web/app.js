// shotcraft studio: a small front end over the REST API (no build step, no framework).
//
// The server is the source of truth: the jobs of the open project, their progress and their takes are read
// from the API whenever the page loads, so a reload, a second tab or a project switch never loses or mixes
// them up. Each panel shows one job, by id; a job's outcome is drawn only where that job is shown.
"use strict";

const $ = (sel) => document.querySelector(sel);
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const KIND_WORDS = { transform: "transform", invent: "invention", localize: "set of market versions" };
const state = {
  project: null, projects: [], assets: [], takes: [], jobs: new Map(), capabilities: null,
  locks: [], corners: [], keyframes: [], source: null, fps: 25,
};

// ---- talking to the API ------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(body && body.error ? body.error.message : `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}
const sendJson = (path, data, method = "POST", headers = {}) =>
  api(path, { method, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(data) });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), guard(v));
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// Every handler runs through `guard`: an error becomes a message on the page, never an uncaught exception.
function guard(fn) {
  return (...args) => {
    try {
      const result = fn(...args);
      if (result && typeof result.catch === "function") result.catch(showNotice);
    } catch (err) { showNotice(err); }
  };
}
function on(selector, event, fn) { $(selector).addEventListener(event, guard(fn)); }
function showNotice(err) {
  const notice = $("#notice");
  notice.textContent = err && err.message ? err.message : String(err);
  notice.className = "error";
  notice.hidden = false;
}
function clearNotice() { $("#notice").hidden = true; }
// A message in a panel: a failure is styled as one and announced (role=alert); anything else is a status.
function say(node, text, kind = "muted") {
  node.textContent = text;
  node.className = kind;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
}

// A short stable hash (FNV-1a, 53 bits) of a request, for its Idempotency-Key: not a secret, just a name.
function requestHash(text) {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 16777619); h2 = Math.imul(h2 ^ c, 2246822519);
  }
  return ((h2 >>> 0) & 0x1fffff).toString(16) + (h1 >>> 0).toString(16).padStart(8, "0");
}

// ---- the confirm / rename dialog ---------------------------------------------------------------------------
function ask(text, { value = null, ok = "OK" } = {}) {
  const dialog = $("#dialog"), input = $("#dialog-input");
  $("#dialog-text").textContent = text;
  $("#dialog-ok").textContent = ok;
  input.hidden = value === null;
  input.value = value || "";
  dialog.returnValue = "";
  dialog.showModal();
  (value === null ? $("#dialog-cancel") : input).focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => {
    const confirmed = dialog.returnValue === "ok";
    resolve(value === null ? confirmed : confirmed ? input.value.trim() : null);
  }, { once: true }));
}

// ---- sign-in ----------------------------------------------------------------------------------------------
async function start() {
  const match = location.hash.match(/key=([\w-]+)/);
  if (match) {
    await sendJson("/api/session", { key: match[1] }).catch(() => null);
    history.replaceState(null, "", location.pathname);
  }
  let me;
  try { me = await api("/api/me"); } catch (err) {
    // Signed out: only the sign-in form is shown; no tab or button that needs a key is on the page.
    $("#signin").hidden = false;
    if (err.status !== 401) say($("#signin-error"), err.message, "error");
    $("#key-input").focus();
    document.body.dataset.ready = "signed-out";
    return;
  }
  $("#who").textContent = `key ${me.key.name} (${me.key.prefix}…)`;
  $("#sign-out").hidden = false;
  state.capabilities = await api("/api/capabilities");
  state.projects = await api("/api/projects");
  if (!state.projects.length) state.projects = [await sendJson("/api/projects", { name: "My project" })];
  setupInvent();
  drawLocalizeTable();
  // The project is this tab's own (sessionStorage): another tab choosing a project does not move this one.
  const remembered = state.projects.find((p) => p.id === sessionStorage.getItem(PROJECT_KEY));
  await switchProject(remembered || state.projects[state.projects.length - 1]);
  $("#tabs").hidden = false;
  $("#project-switch").hidden = false;
  $("#studio").hidden = false; // shown only once the project is loaded, so every control works at once
  document.body.dataset.ready = "true";
}

on("#signin-form", "submit", async (event) => {
  event.preventDefault();
  const key = $("#key-input").value.trim();
  if (!key) { say($("#signin-error"), "Paste your API key first.", "error"); return; }
  try {
    await sendJson("/api/session", { key });
    location.reload();
  } catch (err) { say($("#signin-error"), err.message, "error"); }
});
on("#sign-out", "click", async () => { await api("/api/session", { method: "DELETE" }); location.reload(); });

// ---- projects ---------------------------------------------------------------------------------------------
const PROJECT_KEY = "shotcraft.project";
async function switchProject(project) {
  state.project = project;
  sessionStorage.setItem(PROJECT_KEY, project.id);
  drawProjects();
  // Nothing of the previous project may stay on screen: jobs, sources, outputs, progress, viewer.
  stopFollowing();
  state.assets = []; state.takes = []; state.jobs = new Map(); takeCards.clear();
  for (const id of ["#invent-takes-grid", "#localize-takes-grid", "#advice", "#jobs-list", "#takes-grid"]) $(id).replaceChildren();
  for (const kind of Object.keys(PANELS)) clearPanel(kind);
  say($("#upload-status"), ""); say($("#timeline-status"), "");
  clearNotice();
  await refreshAssets();
  await refreshTakes();
  await loadJobs(true);
  document.body.dataset.project = project.id;
}
function drawProjects() {
  $("#project-select").replaceChildren(...state.projects.map((p) => el("option", { value: p.id }, p.name)));
  $("#project-select").value = state.project.id;
}
on("#project-select", "change", async () => {
  state.projects = await api("/api/projects");
  await switchProject(state.projects.find((p) => p.id === $("#project-select").value));
});
on("#new-project-form", "submit", async (event) => {
  event.preventDefault();
  const name = $("#new-project-name").value.trim() || `Project ${state.projects.length + 1}`;
  const project = await sendJson("/api/projects", { name });
  $("#new-project-name").value = "";
  state.projects = await api("/api/projects");
  await switchProject(state.projects.find((p) => p.id === project.id) || project);
});
on("#rename-project", "click", async () => {
  const name = await ask(`Rename the project “${state.project.name}”:`, { value: state.project.name, ok: "Rename" });
  if (!name) return;
  state.project = await sendJson(`/api/projects/${state.project.id}`, { name }, "PATCH");
  state.projects = await api("/api/projects");
  drawProjects();
});
on("#delete-project", "click", async () => {
  const p = state.project;
  const sure = await ask(`Delete the project “${p.name}” with its ${state.assets.length} uploads and ${state.takes.length} takes? This cannot be undone.`, { ok: "Delete project" });
  if (!sure) return;
  await api(`/api/projects/${p.id}`, { method: "DELETE" });
  state.projects = await api("/api/projects");
  if (!state.projects.length) state.projects = [await sendJson("/api/projects", { name: "My project" })];
  await switchProject(state.projects[state.projects.length - 1]);
});

// ---- tabs -------------------------------------------------------------------------------------------------
for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", guard(() => showTab(button.dataset.tab)));
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) {
    b.classList.toggle("active", b.dataset.tab === name);
    if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  if (name === "takes" || name === "sequence") refreshTakes().catch(showNotice);
  if (name === "transform") { sizeCanvas(); drawKeyframes(); }
}
// Another tab may have queued or finished jobs: coming back to this one reads them again.
document.addEventListener("visibilitychange", guard(async () => {
  if (document.visibilityState === "visible" && state.project) { await loadJobs(false); await refreshTakes(); }
}));

// ---- uploads and advice -----------------------------------------------------------------------------------
async function uploadFile(file, keyframeFor = null) {
  let url = `/api/projects/${state.project.id}/assets?filename=${encodeURIComponent(file.name)}`;
  if (keyframeFor) url += `&keyframe_for=${encodeURIComponent(keyframeFor)}`;
  return api(url, { method: "POST", body: file });
}

on("#upload-input", "change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const project = state.project;
  say($("#upload-status"), `uploading ${file.name}…`);
  try {
    const asset = await uploadFile(file);
    if (state.project !== project) return;
    say($("#upload-status"), `stored ${asset.name} (${asset.kind}, ${(asset.size_bytes / 1e6).toFixed(2)} MB)`, "ok");
    await refreshAssets(asset.kind === "video" ? `asset:${asset.id}` : null);
  } catch (err) {
    say($("#upload-status"), `${file.name} was not stored: ${err.message}`, "error");
  } finally { event.target.value = ""; }
});

function describeAsset(a) {
  const v = a.info && a.info.video;
  return v ? `${v.width}x${v.height}, ${v.frame_count} frames at ${v.fps} fps` : a.info.width ? `${a.info.width}x${a.info.height}` : "";
}
async function refreshAssets(select) {
  const project = state.project;
  const assets = await api(`/api/projects/${project.id}/assets`);
  if (state.project !== project) return;
  state.assets = assets;
  $("#assets").replaceChildren(...state.assets.map((a) => el("li", {}, `${a.name} · ${a.kind} · ${describeAsset(a)}`)));
  fillSources(select);
  drawSequence();
}

function sourceOptions() {
  return [
    ...state.assets.filter((a) => a.kind === "video").map((a) => ({ value: `asset:${a.id}`, label: `clip ${a.name}`, url: a.content_url, fps: a.info.video && a.info.video.fps })),
    ...state.takes.map((t) => ({ value: `take:${t.id}`, label: `take ${t.label} (${shortTime(t.created_at)})`, url: t.content_url, fps: t.fps })),
  ];
}
function fillSources(select) {
  const options = sourceOptions();
  for (const id of ["#source-select", "#localize-source"]) {
    const current = select || $(id).value;
    $(id).replaceChildren(...options.map((o) => el("option", { value: o.value, "data-url": o.url, "data-fps": o.fps }, o.label)));
    if (current && options.some((o) => o.value === current)) $(id).value = current;
  }
  fillViewerChoices();
  loadSource();
  loadLocalizeSource();
}
function fraction(text) {
  const [n, d] = String(text || "25").split("/").map(Number);
  return d ? n / d : n || 25;
}

function loadSource() {
  const option = $("#source-select").selectedOptions[0];
  if ((option ? option.value : null) === state.source) return;
  // Locks, corners and keyframes are drawn on one source: a new source starts without them.
  state.source = option ? option.value : null;
  state.fps = fraction(option && option.dataset.fps);
  state.locks = []; state.corners = []; state.keyframes = [];
  showVideo($("#source-video"), option);
  $("#frame-strip").replaceChildren();
  drawOverlay(); drawKeyframes();
}
function showVideo(player, option) {
  if (option) player.src = option.dataset.url;
  else { player.removeAttribute("src"); player.load(); }
}
on("#source-select", "change", loadSource);

on("#advise-btn", "click", async () => {
  const clip = state.assets.filter((a) => a.kind === "video").pop();
  const images = state.assets.filter((a) => a.kind === "image").map((a) => a.id);
  const project = state.project;
  $("#advice").replaceChildren(el("p", { class: "muted", role: "status" }, "asking…"));
  try {
    const advice = await sendJson("/api/advise", {
      project_id: project.id, goal: $("#goal").value,
      clip_asset_id: clip ? clip.id : null, image_asset_ids: images,
    });
    if (state.project !== project) return;
    const settings = Object.keys(advice.settings).length ? el("pre", {}, JSON.stringify(advice.settings, null, 2)) : null;
    $("#advice").replaceChildren(
      el("h3", {}, `Recommended: ${advice.workflow}`),
      el("ul", {}, ...advice.reasons.map((r) => el("li", {}, r))),
      el("ol", {}, ...advice.steps.map((s) => el("li", {}, s))),
      settings,
      ...advice.warnings.map((w) => el("p", { class: "warning" }, w)),
    );
    applyAdvice(advice.settings.transform);
  } catch (err) { $("#advice").replaceChildren(el("p", { class: "error", role: "alert" }, err.message)); }
});

function applyAdvice(transform) {
  if (!transform) return;
  const relight = (transform.operations || []).find((op) => op.op === "relight");
  if (relight) { setOp("relight", true); $("#relight-preset").value = relight.preset || ""; }
  for (const name of ["motion", "structure"]) {
    const value = transform[`${name}_adherence`];
    if (value !== undefined) { $(`#${name}`).value = value === "off" ? 0 : value; $(`#${name}-out`).value = value; }
  }
  if (transform.strength) $("#strength").value = transform.strength;
}

// ---- operations: ticking one opens its options ---------------------------------------------------------------
function setOp(name, checked) {
  $(`#op-${name}`).checked = checked;
  $(`#${name}-box`).open = checked;
}
for (const name of ["relight", "restyle", "swap"]) on(`#op-${name}`, "change", () => { $(`#${name}-box`).open = $(`#op-${name}`).checked; });

// ---- painting locks and swap corners on the frame (mouse, pen and touch alike) ----------------------------
const video = $("#source-video");
const canvas = $("#lock-canvas");
function sizeCanvas() {
  if (video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; drawOverlay(); }
}
video.addEventListener("loadedmetadata", guard(() => { sizeCanvas(); $("#timeline").value = 0; drawKeyframes(); drawStrip(); }));
function framePoint(event) {
  const box = canvas.getBoundingClientRect();
  return [Math.round((event.clientX - box.left) * canvas.width / box.width),
          Math.round((event.clientY - box.top) * canvas.height / box.height)];
}
let dragStart = null;
on("#lock-canvas", "pointerdown", (event) => {
  if (!canvas.width) return;
  event.preventDefault();
  const mode = document.querySelector("input[name=paint]:checked").value;
  if (mode === "swap") {
    if (state.corners.length === 4) state.corners = [];
    state.corners.push(framePoint(event));
    $("#swap-status").textContent = `${state.corners.length} of 4 corners`;
    drawOverlay();
    return;
  }
  try { canvas.setPointerCapture(event.pointerId); } catch { /* a synthetic pointer cannot be captured */ }
  dragStart = framePoint(event);
});
on("#lock-canvas", "pointermove", (event) => { if (dragStart) drawOverlay(rectFrom(dragStart, framePoint(event))); });
function endDrag(event) {
  if (!dragStart) return;
  const rect = rectFrom(dragStart, framePoint(event));
  dragStart = null;
  if (rect.width > 2 && rect.height > 2) state.locks.push({ kind: "rect", ...rect });
  drawOverlay();
}
on("#lock-canvas", "pointerup", endDrag);
on("#lock-canvas", "pointercancel", () => { dragStart = null; drawOverlay(); });
function rectFrom([x0, y0], [x1, y1]) {
  const clamp = (v, hi) => Math.max(0, Math.min(v, hi));
  const x = clamp(Math.min(x0, x1), canvas.width - 1), y = clamp(Math.min(y0, y1), canvas.height - 1);
  return { x, y, width: clamp(Math.max(x0, x1), canvas.width) - x, height: clamp(Math.max(y0, y1), canvas.height) - y };
}
function drawOverlay(pending) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = Math.max(2, canvas.width / 320);
  for (const r of [...state.locks, ...(pending ? [pending] : [])]) {
    ctx.fillStyle = "rgba(80, 160, 255, 0.35)"; ctx.strokeStyle = "#50a0ff";
    ctx.fillRect(r.x, r.y, r.width, r.height); ctx.strokeRect(r.x, r.y, r.width, r.height);
  }
  if (state.corners.length) {
    ctx.strokeStyle = "#f0a030"; ctx.beginPath();
    state.corners.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (state.corners.length === 4) ctx.closePath();
    ctx.stroke();
  }
  $("#locks-list").textContent = state.locks.map((r) => `lock ${r.x},${r.y} ${r.width}x${r.height}`).join(" · ");
  if (!pending) drawLockFields();
}
// Each lock as number fields: exact rectangles by keyboard, and a way to fix a painted one.
function drawLockFields() {
  $("#lock-fields").replaceChildren(...state.locks.map((lock, i) => el("div", { class: "lock" },
    el("span", {}, `Lock ${i + 1}`),
    ...["x", "y", "width", "height"].map((f) => el("label", {}, f === "width" ? "w" : f === "height" ? "h" : f,
      el("input", { type: "number", min: 0, step: 1, value: lock[f], "data-lock": i, "data-field": f, "aria-label": `lock ${i + 1} ${f}`,
        onchange: (e) => { lock[f] = Math.max(0, Math.round(Number(e.target.value) || 0)); drawOverlay(); } }))),
    el("button", { type: "button", onclick: () => { state.locks.splice(i, 1); drawOverlay(); } }, "Remove"))));
}
on("#add-lock", "click", () => {
  const w = canvas.width || 64, h = canvas.height || 48;
  state.locks.push({ kind: "rect", x: Math.round(w / 4), y: Math.round(h / 4), width: Math.round(w / 4), height: Math.round(h / 4) });
  drawOverlay();
  const fields = document.querySelectorAll("#lock-fields input");
  if (fields.length) fields[fields.length - 4].focus();
});
on("#clear-locks", "click", () => { state.locks = []; state.corners = []; drawOverlay(); });

// ---- keyframe timeline: a frame strip, markers to move and remove, restyle and relight keyframes together --
function frameTime(seconds) { return Number((Math.round(seconds * state.fps) / state.fps).toFixed(3)); }
function seek(seconds) {
  if (!video.duration) return;
  video.currentTime = Math.max(0, Math.min(seconds, video.duration - 1e-3));
  showTime();
}
function showTime() {
  $("#timeline-time").textContent = `${video.currentTime.toFixed(2)} s`;
  if (video.duration) $("#timeline").value = Math.round((1000 * video.currentTime) / video.duration);
  const head = $("#keyframe-track .playhead");
  if (head && video.duration) head.style.left = `${(100 * video.currentTime) / video.duration}%`;
}
on("#timeline", "input", () => { if (video.duration) seek((Number($("#timeline").value) / 1000) * video.duration); });
on("#frame-prev", "click", () => seek(frameTime(video.currentTime) - 1 / state.fps));
on("#frame-next", "click", () => seek(frameTime(video.currentTime) + 1 / state.fps));
video.addEventListener("seeked", guard(showTime)); // however the frame moved (timeline, player), the timeline follows

let stripToken = 0;
async function drawStrip() {
  // Thumbnails from a second player, so the source's own frame does not jump around while they are made.
  const token = ++stripToken, src = video.currentSrc || video.src;
  const strip = $("#frame-strip");
  const count = Math.max(4, Math.min(12, Math.floor(strip.clientWidth / 48) || 8));
  const canvases = Array.from({ length: count }, () => el("canvas", { width: 64, height: 36 }));
  strip.replaceChildren(...canvases);
  if (!src || !video.duration) return;
  const probe = el("video", { muted: true, preload: "auto" });
  probe.src = src;
  await new Promise((done) => { probe.addEventListener("loadeddata", done, { once: true }); probe.addEventListener("error", done, { once: true }); });
  if (!probe.duration) return;
  for (let i = 0; i < count && token === stripToken; i++) {
    await new Promise((done) => { probe.addEventListener("seeked", done, { once: true }); probe.currentTime = ((i + 0.5) / count) * probe.duration; });
    if (token !== stripToken) break;
    const c = canvases[i];
    c.height = Math.round((c.width * probe.videoHeight) / probe.videoWidth) || 36;
    c.getContext("2d").drawImage(probe, 0, 0, c.width, c.height);
  }
  probe.removeAttribute("src"); probe.load();
  strip.dataset.ready = String(token === stripToken);
}

on("#keyframe-input", "change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const status = $("#keyframe-status");
  const seconds = frameTime(video.currentTime), use = $("#keyframe-use").value, source = state.source;
  say(status, `uploading ${file.name}…`);
  try {
    // The server refuses a still whose shape cannot fit the clip now, naming the clip's size.
    const asset = await uploadFile(file, source);
    if (state.source !== source) return;
    addKeyframe({ seconds, asset, use });
    say(status, `${file.name} is the ${use} keyframe at ${seconds.toFixed(2)} s`, "ok");
    await refreshAssets();
  } catch (err) {
    say(status, `${file.name} was not added: ${err.message}`, "error");
  } finally { event.target.value = ""; }
});
function addKeyframe(k) {
  state.keyframes = state.keyframes.filter((x) => !(Math.abs(x.seconds - k.seconds) < 1e-3 && x.use === k.use));
  state.keyframes.push(k);
  if (k.use === "relight") setOp("relight", true);
  drawKeyframes();
}
function moveKeyframe(k, seconds) {
  k.seconds = frameTime(Math.max(0, Math.min(seconds, (video.duration || seconds) - 1 / state.fps / 2)));
  drawKeyframes();
}
function removeKeyframe(k) { state.keyframes = state.keyframes.filter((x) => x !== k); drawKeyframes(); }
function drawKeyframes() {
  state.keyframes.sort((a, b) => a.seconds - b.seconds);
  const track = $("#keyframe-track"), duration = video.duration || 1;
  const markers = state.keyframes.map((k) => {
    const marker = el("button", { type: "button", class: `kf ${k.use}`, title: `${k.asset.name} at ${k.seconds.toFixed(2)} s (${k.use})`,
      "aria-label": `${k.use} keyframe ${k.asset.name} at ${k.seconds.toFixed(2)} s: arrows move it, Delete removes it` });
    marker.style.left = `${(100 * k.seconds) / duration}%`;
    marker.addEventListener("keydown", guard((e) => {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        e.preventDefault();
        moveKeyframe(k, k.seconds + (e.key === "ArrowRight" ? 1 : -1) / state.fps);
        focusMarker(k);
      } else if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); removeKeyframe(k); }
    }));
    marker.addEventListener("pointerdown", guard((e) => {
      e.preventDefault();
      try { marker.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
      const box = track.getBoundingClientRect();
      const at = (ev) => ((ev.clientX - box.left) / box.width) * duration;
      const move = (ev) => { k.seconds = frameTime(Math.max(0, Math.min(at(ev), duration))); marker.style.left = `${(100 * k.seconds) / duration}%`; };
      const up = (ev) => {
        move(ev);
        marker.removeEventListener("pointermove", move);
        moveKeyframe(k, k.seconds);
        seek(k.seconds);
      };
      marker.addEventListener("pointermove", move);
      marker.addEventListener("pointerup", up, { once: true });
    }));
    marker.keyframe = k;
    return marker;
  });
  const head = el("span", { class: "playhead" });
  track.replaceChildren(...markers, head);
  showTime();
  $("#keyframe-list").replaceChildren(...state.keyframes.map((k) => el("li", { class: `keyframe ${k.use}` },
    el("img", { src: k.asset.content_url, alt: k.asset.name }),
    el("span", {}, `${k.seconds.toFixed(2)} s · ${k.asset.name}`),
    el("label", {}, "at ", el("input", { type: "number", min: 0, step: (1 / state.fps).toFixed(4), value: k.seconds, "aria-label": `time of ${k.asset.name}`,
      onchange: (e) => moveKeyframe(k, Number(e.target.value) || 0) }), " s"),
    el("select", { "aria-label": `use of ${k.asset.name}`, onchange: (e) => { k.use = e.target.value; if (k.use === "relight") setOp("relight", true); drawKeyframes(); } },
      ...["restyle", "relight"].map((u) => el("option", { value: u, selected: u === k.use }, u))),
    el("button", { type: "button", onclick: () => seek(k.seconds) }, "Show"),
    el("button", { type: "button", onclick: () => removeKeyframe(k) }, "Remove"))));
}
function focusMarker(k) {
  const marker = [...document.querySelectorAll("#keyframe-track .kf")].find((m) => m.keyframe === k);
  if (marker) marker.focus();
}
for (const name of ["motion", "structure"]) {
  on(`#${name}`, "input", () => { $(`#${name}-out`).value = $(`#${name}`).value === "0" ? "off" : $(`#${name}`).value; });
}

// ---- the transform: checked in plain words before anything is sent ------------------------------------------
class Refusal extends Error {}
async function transformBody() {
  if (!$("#source-select").value) throw new Refusal("Choose a clip to transform: upload one on the “1 · Clip & advice” tab first.");
  const adherence = (id) => ($(id).value === "0" ? "off" : Number($(id).value));
  const restyleKeys = state.keyframes.filter((k) => k.use === "restyle");
  const relightKeys = state.keyframes.filter((k) => k.use === "relight");
  const at = (k) => ({ at: { seconds: k.seconds }, image: `asset:${k.asset.id}` });
  const spec = {
    strength: $("#strength").value, motion_adherence: adherence("#motion"), structure_adherence: adherence("#structure"),
    locks: state.locks.map((l) => ({ ...l })), operations: [], keyframes: restyleKeys.map(at),
  };
  if ($("#prompt").value.trim()) spec.prompt = $("#prompt").value.trim();
  const ops = ["relight", "restyle", "swap"].filter((name) => $(`#op-${name}`).checked);
  if (!ops.length && !spec.prompt && !restyleKeys.length) {
    throw new Refusal("Nothing to change yet: tick Relight, Restyle or Product swap (or add a keyframe or a prompt), then press Transform.");
  }
  if ($("#op-restyle").checked) {
    const look = $("#restyle-look").value || null;
    if (!look && !restyleKeys.length) throw new Refusal("Restyle “by keyframes” needs a keyframe: scrub to a frame and add the still you edited from it, or choose a look.");
    spec.operations.push({ op: "restyle", look });
  }
  if ($("#op-relight").checked) {
    const relight = { op: "relight", exposure: Number($("#exposure").value), temperature: Number($("#temperature").value), keyframes: relightKeys.map(at) };
    if ($("#relight-preset").value) relight.preset = $("#relight-preset").value;
    if (!relight.preset && !relight.exposure && !relight.temperature && !relightKeys.length) {
      throw new Refusal("Relight as set changes nothing: choose a preset, move exposure or temperature, or add a graded keyframe.");
    }
    spec.operations.push(relight);
  } else if (relightKeys.length) {
    throw new Refusal("There are relight keyframes but Relight is not ticked: tick it, or switch those keyframes to restyle.");
  }
  if ($("#op-swap").checked) {
    const file = $("#swap-image").files[0];
    if (!file) throw new Refusal("Product swap needs the product's image: choose it under Product swap.");
    if (state.corners.length !== 4) throw new Refusal(`Product swap needs 4 corners clicked on the frame (${state.corners.length} so far): choose “click 4 swap corners” and click them.`);
    const image = await uploadFile(file);
    spec.operations.push({ op: "swap", image: `asset:${image.id}`, corners: state.corners });
  }
  return withSource({ project_id: state.project.id, kind: "transform", spec }, "#source-select");
}
function withSource(body, select) {
  const [type, id] = $(select).value.split(":");
  body[type === "asset" ? "source_asset_id" : "source_take_id"] = id;
  return body;
}
on("#run-transform", "click", () => submit("transform", transformBody));

// Put the form back as a job had it (after a reload or in another tab), so what is running is what is shown.
function restoreTransform(job) {
  const spec = job.spec || {};
  const source = job.source_asset_id ? `asset:${job.source_asset_id}` : job.parent_take_id ? `take:${job.parent_take_id}` : null;
  if (source && [...$("#source-select").options].some((o) => o.value === source)) { $("#source-select").value = source; loadSource(); }
  const ops = Object.fromEntries((spec.operations || []).map((op) => [op.op, op]));
  for (const name of ["relight", "restyle", "swap"]) setOp(name, Boolean(ops[name]));
  if (ops.relight) {
    $("#relight-preset").value = ops.relight.preset || "";
    $("#exposure").value = ops.relight.exposure || 0; $("#temperature").value = ops.relight.temperature || 0;
  }
  if (ops.restyle) $("#restyle-look").value = ops.restyle.look || "";
  for (const name of ["motion", "structure"]) {
    const value = spec[`${name}_adherence`];
    if (value !== undefined) { $(`#${name}`).value = value === "off" ? 0 : value; $(`#${name}-out`).value = value; }
  }
  if (spec.strength) $("#strength").value = spec.strength;
  $("#prompt").value = spec.prompt || "";
  state.locks = (spec.locks || []).filter((l) => l.kind === "rect").map((l) => ({ kind: "rect", x: l.x, y: l.y, width: l.width, height: l.height }));
  const asset = (ref) => state.assets.find((a) => `asset:${a.id}` === ref);
  const keys = (list, use) => (list || []).filter((k) => asset(k.image) && k.at.seconds != null).map((k) => ({ seconds: k.at.seconds, asset: asset(k.image), use }));
  state.keyframes = [...keys(spec.keyframes, "restyle"), ...keys(ops.relight && ops.relight.keyframes, "relight")];
  drawOverlay(); drawKeyframes();
}

// ---- jobs: one list per project from the server; panels show one job each, by id --------------------------
const PANELS = {
  transform: { box: "#transform-progress-box", button: "#run-transform", show: showTransformResult, restore: restoreTransform, tab: "transform" },
  invent: { box: "#invent-progress-box", button: "#run-invent", show: (job) => showJobTakes(job, "#invent-takes-grid"), restore: restoreInvent, tab: "invent" },
  localize: { box: "#localize-progress-box", button: "#run-localize", show: (job) => showJobTakes(job, "#localize-takes-grid"), restore: restoreLocalize, tab: "localize" },
};
const submitting = new Set();

async function submit(kind, buildBody) {
  const panel = PANELS[kind], box = $(panel.box);
  if (submitting.has(kind)) return; // a second click while the first is still being sent
  submitting.add(kind);
  $(panel.button).disabled = true;
  const project = state.project;
  // The panel stops showing the previous job at once: whatever it says next is about this press.
  clearPanel(kind);
  box.append(el("p", { class: "muted", role: "status" }, "checking…"));
  try {
    const body = await buildBody();
    const hash = requestHash(JSON.stringify(body));
    const same = [...state.jobs.values()].filter((j) => (j.idempotency_key || "").startsWith(`web:${hash}:`));
    const running = same.find((j) => !FINAL.has(j.state));
    if (running) {
      bindPanel(kind, running);
      note(box, `This exact ${KIND_WORDS[kind]} is already ${running.state === "queued" ? "waiting to run" : "running"}: it is shown here. Wait for it, or cancel it to start again.`);
      return;
    }
    // The key is the request and how many times it already ran: a second tab, a double click or a retry
    // sends the same key and gets the same job; once that job is over, the same request is a new job.
    const job = await sendJson("/api/jobs", body, "POST", { "Idempotency-Key": `web:${hash}:${same.length}` });
    if (state.project !== project) return; // the job is in its own project's list; this tab moved on
    upsertJob(job);
    bindPanel(kind, job);
    follow(job);
  } catch (err) {
    if (state.project !== project) return;
    box.replaceChildren(el("p", { class: "error", role: "alert" }, err instanceof Refusal ? err.message : `Not started: ${err.message}`));
    delete box.dataset.job;
    box.dataset.state = "error";
  } finally {
    submitting.delete(kind);
    $(panel.button).disabled = kind === "invent" && !inventAvailable();
  }
}
function note(box, text) {
  const line = box.querySelector(".job-note") || el("p", { class: "job-note muted", role: "status" });
  line.textContent = text;
  box.append(line);
}

async function loadJobs(bindPanels) {
  const project = state.project;
  const jobs = await api(`/api/projects/${project.id}/jobs`);
  if (state.project !== project) return;
  for (const job of jobs) upsertJob(job);
  if (bindPanels) {
    for (const kind of Object.keys(PANELS)) {
      const newest = jobs.find((j) => j.kind === kind);
      if (!newest) continue;
      if (!FINAL.has(newest.state)) PANELS[kind].restore(newest);
      bindPanel(kind, newest);
    }
  }
  for (const job of jobs) if (!FINAL.has(job.state)) follow(job);
}
function upsertJob(job) {
  const known = state.jobs.get(job.id);
  const merged = known ? { ...known, ...job } : job;
  state.jobs.set(job.id, merged);
  drawJobRow(merged);
  for (const kind of Object.keys(PANELS)) if ($(PANELS[kind].box).dataset.job === job.id) drawPanel(kind, merged).catch(showNotice);
  return merged;
}

function jobTitle(job) {
  return `${job.label}${job.source_name ? ` · ${job.source_name}` : ""}`;
}
function progressText(job) {
  const percent = Math.round((job.progress || 0) * 100);
  if (job.state === "failed") return "failed";
  if (job.state === "cancelled") return "cancelled";
  if (job.state === "queued") return job.attempts ? `${percent} % · waiting to retry` : "waiting to run";
  return `${percent} %`;
}
function drawJobRow(job) {
  const list = $("#jobs-list");
  let row = list.querySelector(`li[data-job="${job.id}"]`);
  if (!row) {
    row = el("li", { "data-job": job.id },
      el("span", { class: "job-label" }), el("span", { class: "muted job-when" }), el("progress", { max: 100 }),
      el("span", { class: "job-state" }), el("span", { class: "muted job-stage" }), el("span", { class: "job-actions" }));
    // Newest first, as the server lists them.
    const after = [...list.children].find((r) => (state.jobs.get(r.dataset.job) || {}).created_at < job.created_at);
    list.insertBefore(row, after || null);
  }
  row.className = FINAL.has(job.state) ? job.state : "live";
  row.querySelector(".job-label").textContent = jobTitle(job);
  row.querySelector(".job-when").textContent = shortTime(job.created_at);
  row.querySelector("progress").value = Math.round((job.progress || 0) * 100);
  row.querySelector("progress").hidden = FINAL.has(job.state) && job.state !== "succeeded";
  row.querySelector(".job-state").textContent = job.state === "succeeded" ? "done" : progressText(job);
  row.querySelector(".job-stage").textContent = !FINAL.has(job.state) && job.stage ? job.stage : "";
  let error = row.querySelector(".job-error");
  if (job.state === "failed" && job.error) {
    if (!error) row.append(error = el("p", { class: "job-error error", role: "alert" }));
    error.textContent = `${job.label} failed: ${job.error}`;
  } else if (error) error.remove();
  const actions = [];
  if (!FINAL.has(job.state)) actions.push(el("button", { type: "button", onclick: () => cancelJob(job.id) }, "Cancel"));
  if (PANELS[job.kind]) actions.push(el("button", { type: "button", onclick: () => { bindPanel(job.kind, state.jobs.get(job.id)); showTab(PANELS[job.kind].tab); } }, "Show"));
  row.querySelector(".job-actions").replaceChildren(...actions);
  $("#jobs-empty").hidden = state.jobs.size > 0;
}
async function cancelJob(id) { upsertJob(await sendJson(`/api/jobs/${id}/cancel`, {})); }
function shortTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function clearPanel(kind) {
  const box = $(PANELS[kind].box);
  box.replaceChildren();
  delete box.dataset.job; delete box.dataset.state;
  if (kind === "transform") { $("#output-video").hidden = true; $("#output-video").removeAttribute("src"); $("#download-link").hidden = true; }
  if (kind === "invent") $("#invent-takes-grid").replaceChildren();
  if (kind === "localize") $("#localize-takes-grid").replaceChildren();
}
// Show `job` in its kind's panel; everything the panel showed before belonged to another job and goes.
function bindPanel(kind, job) {
  const box = $(PANELS[kind].box);
  if (box.dataset.job === job.id) { drawPanel(kind, job).catch(showNotice); return; }
  clearPanel(kind);
  box.dataset.job = job.id;
  box.dataset.project = job.project_id;
  box.append(el("div", { class: "job-head" }), el("progress", { id: `${box.id}-bar`, max: 100, value: 0 }),
    el("span", { class: "job-progress-text" }), el("span", { class: "muted job-stage" }), " ",
    el("button", { type: "button", class: "job-cancel", onclick: () => cancelJob(job.id) }, "Cancel"));
  drawPanel(kind, job).catch(showNotice);
}
async function drawPanel(kind, job) {
  const box = $(PANELS[kind].box);
  if (box.dataset.job !== job.id) return;
  box.querySelector(".job-head").textContent = jobTitle(job);
  box.querySelector("progress").value = Math.round((job.progress || 0) * 100);
  box.querySelector(".job-progress-text").textContent = progressText(job);
  box.querySelector(".job-stage").textContent = FINAL.has(job.state) ? "" : job.stage ? ` · ${job.stage}` : "";
  box.querySelector(".job-cancel").hidden = FINAL.has(job.state);
  if (!FINAL.has(job.state) || box.dataset.state === job.state || box.dataset.showing === job.id) return;
  if (job.state === "failed" || job.state === "cancelled") {
    const words = job.state === "failed" ? `${job.label} failed: ${job.error || "the worker gave no reason"}` : `${job.label} was cancelled.`;
    box.append(el("p", { class: job.state === "failed" ? "error" : "muted", role: job.state === "failed" ? "alert" : "status" }, words));
    box.dataset.state = job.state;
    return;
  }
  box.dataset.showing = job.id;
  try {
    if (!job.take_ids) Object.assign(job, await api(`/api/jobs/${job.id}`));
    // The outcome is drawn only while this panel still shows this job: a later job, another project or a
    // reload must never receive it.
    if (box.dataset.job !== job.id) return;
    await PANELS[kind].show(job);
    if (box.dataset.job === job.id) box.dataset.state = job.state;
  } finally { delete box.dataset.showing; }
}

async function showTransformResult(job) {
  if (!job.take_ids.length) return;
  const take = await api(`/api/takes/${job.take_ids[0]}`);
  if ($("#transform-progress-box").dataset.job !== job.id) return;
  $("#output-video").src = take.content_url; $("#output-video").hidden = false;
  const link = $("#download-link");
  Object.assign(link, { href: take.content_url, download: `${take.label}.mp4`, hidden: false });
  link.textContent = `Download “${take.label}” (${take.frame_count} frames, ${take.fps} fps)`;
  await refreshTakes();
}
async function showJobTakes(job, grid) {
  await refreshTakes();
  const ids = new Set(job.take_ids);
  if ($(PANELS[job.kind].box).dataset.job !== job.id) return;
  $(grid).replaceChildren(...state.takes.filter((t) => ids.has(t.id)).map((t) => takeCard(t)));
}

// Progress: server-sent events read with fetch (so the cookie authorises them); one reader per job.
const followers = new Map();
function stopFollowing() { for (const controller of followers.values()) controller.abort(); followers.clear(); }
function follow(job) {
  if (followers.has(job.id) || FINAL.has(job.state)) return;
  const controller = new AbortController();
  followers.set(job.id, controller);
  const project = state.project;
  readEvents(job, controller.signal)
    .catch((err) => { if (!controller.signal.aborted) showNotice(new Error(`lost track of ${job.label}: ${err.message}; reload to see it again`)); })
    .finally(() => { if (followers.get(job.id) === controller) followers.delete(job.id); })
    .then(async () => {
      if (controller.signal.aborted || state.project !== project) return;
      // The final view with its take ids (the stream's last event has them too; this also names them).
      upsertJob(await api(`/api/jobs/${job.id}`));
      await refreshTakes();
    })
    .catch(showNotice);
}
async function readEvents(job, signal) {
  const response = await fetch(`/api/jobs/${job.id}/events`, { credentials: "same-origin", signal });
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let split;
    while ((split = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, split); buffer = buffer.slice(split + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data && !signal.aborted) upsertJob(JSON.parse(data));
    }
  }
}

// ---- invent --------------------------------------------------------------------------------------------------
function inventAvailable() {
  const kind = state.capabilities && state.capabilities.kinds.invent;
  return Boolean(kind && kind.available);
}
function setupInvent() {
  const kind = state.capabilities.kinds.invent;
  if (inventAvailable()) return;
  $("#invent-unavailable").hidden = false;
  $("#invent-reason").textContent = kind ? kind.reason : "Inventing takes is not available on this server.";
  $("#invent-operator").textContent = kind && kind.operator_note ? kind.operator_note : "";
  $("#run-invent").disabled = true;
  $("#run-invent").title = $("#invent-reason").textContent;
  $("#run-invent").setAttribute("aria-describedby", "invent-reason");
}
function inventBody() {
  if (!$("#invent-prompt").value.trim()) throw new Refusal("Write a prompt: say what the shot shows.");
  const spec = {
    prompt: $("#invent-prompt").value.trim(), takes: Number($("#invent-takes").value),
    duration: Number($("#invent-duration").value), quality: $("#invent-quality").value,
  };
  // Empty fields are left out, so the model's own size and a random seed apply (the seeds are recorded).
  for (const name of ["width", "height", "seed"]) {
    if ($(`#invent-${name}`).value !== "") spec[name] = Number($(`#invent-${name}`).value);
  }
  return { project_id: state.project.id, kind: "invent", spec };
}
function restoreInvent(job) {
  const spec = job.spec || {};
  $("#invent-prompt").value = spec.prompt || "";
  for (const [name, field] of [["takes", "takes"], ["duration", "duration"], ["quality", "quality"]]) if (spec[field] !== undefined) $(`#invent-${name}`).value = spec[field];
}
on("#run-invent", "click", () => submit("invent", inventBody));

// ---- takes: named by what was done, picked, renamed, deleted, compared --------------------------------------
const takeCards = new Map();
async function refreshTakes() {
  if (!state.project) return;
  const project = state.project;
  const takes = await api(`/api/projects/${project.id}/takes`);
  if (state.project !== project) return;
  state.takes = takes;
  // Cards are kept and updated in place: picking or renaming one never reloads every video on the page.
  const grid = $("#takes-grid"), ids = new Set(takes.map((t) => t.id));
  for (const [id, card] of takeCards) if (!ids.has(id)) { card.remove(); takeCards.delete(id); }
  for (const t of [...takes].reverse()) {
    const card = takeCards.get(t.id) || takeCard(t, true);
    updateCard(card, t);
    grid.append(card); // append moves an existing card; order: newest first
  }
  $("#takes-empty").hidden = takes.length > 0;
  for (const card of document.querySelectorAll("#invent-takes-grid .card, #localize-takes-grid .card")) {
    const take = takes.find((t) => t.id === card.dataset.take);
    if (take) updateCard(card, take); else card.remove();
  }
  fillSources();
  drawSequence();
}
function takeCard(t, keep = false) {
  const card = el("div", { class: "card", "data-take": t.id },
    el("video", { src: t.content_url, controls: true, preload: "metadata", muted: true, playsinline: true }),
    el("div", { class: "title" }), el("div", { class: "meta" }), el("div", { class: "meta lineage" }),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "pick", onclick: () => pickTake(t.id) }, "Pick"),
      el("button", { type: "button", onclick: () => compareWithSource(t.id) }, "Before / after"),
      el("button", { type: "button", onclick: () => { fillSources(`take:${t.id}`); showTab("transform"); } }, "Transform this"),
      el("button", { type: "button", onclick: () => renameTake(t.id) }, "Rename"),
      el("button", { type: "button", class: "danger", onclick: () => deleteTake(t.id) }, "Delete"),
      el("a", { href: t.content_url, download: `${t.label}.mp4` }, "Download")));
  if (keep) takeCards.set(t.id, card);
  updateCard(card, t);
  return card;
}
function updateCard(card, t) {
  card.classList.toggle("picked", t.picked);
  card.querySelector(".title").textContent = t.label;
  const what = t.market ? `localize:${t.market} · ` : "";
  card.querySelectorAll(".meta")[0].textContent = `${what}${t.engine} · ${t.frame_count} frames @ ${t.fps} fps · ${shortTime(t.created_at)}${t.seed !== null ? ` · seed ${t.seed}` : ""}`;
  card.querySelector(".lineage").textContent = `from ${t.source_name || (t.kind === "invent" ? "a prompt" : "an earlier take")}`;
  card.querySelector(".pick").textContent = t.picked ? "Picked ★" : "Pick";
  card.querySelector(".pick").setAttribute("aria-pressed", String(t.picked));
}
function takeById(id) { return state.takes.find((t) => t.id === id); }
function updateTake(take) {
  state.takes = state.takes.map((t) => (t.id === take.id ? take : t));
  for (const card of document.querySelectorAll(`.card[data-take="${take.id}"]`)) updateCard(card, take);
  fillViewerChoices();
  drawSequence();
}
async function pickTake(id) { updateTake(await sendJson(`/api/takes/${id}`, { picked: !takeById(id).picked }, "PATCH")); }
async function renameTake(id) {
  const take = takeById(id);
  const title = await ask("Name this take (empty: named by what was done):", { value: take.title || take.label, ok: "Rename" });
  if (title === null) return;
  updateTake(await sendJson(`/api/takes/${id}`, { title }, "PATCH"));
}
async function deleteTake(id) {
  const take = takeById(id);
  if (!(await ask(`Delete the take “${take.label}” (from ${take.source_name || "a prompt"})? Its file is removed; this cannot be undone.`, { ok: "Delete take" }))) return;
  await api(`/api/takes/${id}`, { method: "DELETE" });
  await refreshTakes();
}

// ---- the sequence: start → takes → picked → versions, drawn from each take's parent ------------------------
// A take hangs under the take it was made from, else under the clip it was made from, else under the prompt
// (its invent job). One whose parent was deleted hangs under that parent's name ("take “…” (deleted)").
function lineageKey(t, takeIds, assetIds) {
  if (t.parent_take_id && takeIds.has(t.parent_take_id)) return `take:${t.parent_take_id}`;
  if (t.source_asset_id && assetIds.has(t.source_asset_id)) return `asset:${t.source_asset_id}`;
  if (t.kind === "invent") return `prompt:${t.job_id}`;
  return `gone:${t.source_name || "a deleted take"}`;
}
function stageWords(t) {
  if (t.kind === "invent") return "invented take";
  if (t.market) return `market version · ${t.market}`;
  return t.kind === "localize" ? "market version" : "transform";
}
function drawSequence() {
  const tree = $("#sequence-tree");
  if (!tree || !state.project) return;
  const takeIds = new Set(state.takes.map((t) => t.id));
  const assetIds = new Set(state.assets.map((a) => a.id));
  const children = new Map();
  for (const t of state.takes) {
    const key = lineageKey(t, takeIds, assetIds);
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(t); // takes come oldest first: siblings in the order they were made
  }
  const branch = (key) => {
    const kids = children.get(key) || [];
    return kids.length ? el("ul", {}, ...kids.map((t) => el("li", {}, takeNode(t), branch(`take:${t.id}`)))) : null;
  };
  const roots = [];
  for (const a of state.assets.filter((x) => x.kind === "video" || children.has(`asset:${x.id}`))) {
    roots.push(el("li", {}, sequenceNode("clip", a.name, describeAsset(a), { "data-asset": a.id, onclick: () => openViewer(`asset:${a.id}`, "") }), branch(`asset:${a.id}`)));
  }
  for (const [key, kids] of children) {
    if (!key.startsWith("prompt:")) continue;
    const prompt = (kids[0].spec && kids[0].spec.prompt) || "";
    roots.push(el("li", {}, el("div", { class: "seq-node seq-start" }, el("span", { class: "seq-stage" }, "prompt"),
      el("span", { class: "seq-name" }, prompt ? `“${prompt}”` : "from an image")), branch(key)));
  }
  for (const key of children.keys()) {
    if (key.startsWith("gone:")) roots.push(el("li", {}, el("div", { class: "seq-node seq-start" }, el("span", { class: "seq-stage" }, "made from"), el("span", { class: "seq-name" }, key.slice(5))), branch(key)));
  }
  tree.replaceChildren(...roots);
  const picked = state.takes.filter((t) => t.picked);
  const clips = state.assets.filter((a) => a.kind === "video").length;
  say($("#sequence-summary"), !roots.length ? "Nothing here yet: upload a clip or invent takes, and what you make from them appears here."
    : `${count(clips, "clip")}, ${count(state.takes.length, "take")}; picked: ${picked.length ? picked.map((t) => `“${t.label}”`).join(", ") : "none yet"}.`);
  $("#timeline-download").disabled = !state.takes.length;
  $("#timeline-empty").hidden = state.takes.length > 0;
}
function count(n, what) { return `${n} ${what}${n === 1 ? "" : "s"}`; }
function takeNode(t) {
  const meta = [];
  if (t.seed !== null && t.seed !== undefined) meta.push(`seed ${t.seed}`);
  meta.push(t.model ? `${t.engine} · ${t.model}` : t.engine);
  const node = sequenceNode(stageWords(t), t.label, meta.join(" · "), { "data-take": t.id, onclick: () => compareWithSource(t.id) });
  if (t.picked) {
    node.classList.add("picked");
    node.append(el("span", { class: "seq-picked" }, "★ picked"));
  }
  return node;
}
function sequenceNode(stage, name, meta, attrs) {
  return el("button", { type: "button", class: "seq-node", ...attrs },
    el("span", { class: "seq-stage" }, stage), el("span", { class: "seq-name" }, name), meta ? el("span", { class: "seq-meta" }, meta) : null);
}

// The timeline is fetched rather than linked, so a refusal reads as a message here, not as a downloaded file
// of JSON, and the file is named after the project.
on("#timeline-download", "click", async () => {
  const project = state.project, format = $("#timeline-format").value, status = $("#timeline-status");
  say(status, "preparing the timeline…");
  try {
    const response = await fetch(`/api/projects/${project.id}/timeline?format=${format}`, { credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(body && body.error ? body.error.message : `the server answered ${response.status}`);
    }
    const url = URL.createObjectURL(await response.blob());
    const name = `${project.name.replace(/[\\/:*?"<>|]+/g, " ").trim() || "timeline"}.${format}`;
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000); // the browser reads it after the click returns
    if (state.project === project) say(status, `${name} downloaded, with ${count(state.takes.length, "take")}.`, "ok");
  } catch (err) {
    if (state.project === project) say(status, `The timeline could not be made: ${err.message}`, "error");
  }
});

// ---- the before / after viewer: two players, one scrubber, frame steps, split or wipe -----------------------
const playerA = $("#viewer-video-a"), playerB = $("#viewer-video-b");
function fillViewerChoices() {
  const options = sourceOptions();
  for (const id of ["#viewer-a", "#viewer-b"]) {
    const current = $(id).value;
    $(id).replaceChildren(el("option", { value: "" }, "—"), ...options.map((o) => el("option", { value: o.value, "data-url": o.url, "data-fps": o.fps }, o.label)));
    if (options.some((o) => o.value === current)) $(id).value = current;
  }
  loadViewer();
}
function compareWithSource(takeId) {
  const take = takeById(takeId);
  openViewer(take.source_asset_id ? `asset:${take.source_asset_id}` : take.parent_take_id ? `take:${take.parent_take_id}` : "", `take:${takeId}`);
}
// Before and after are option values of the viewer's lists (`asset:ID`, `take:ID`, or "" for none); one that
// is gone (a deleted take) shows nothing rather than the last choice.
function openViewer(before, after) {
  for (const [id, value] of [["#viewer-a", before], ["#viewer-b", after]]) {
    $(id).value = value;
    if ($(id).value !== value) $(id).value = "";
  }
  loadViewer();
  showTab("takes");
  $("#viewer").scrollIntoView({ block: "start" });
  $("#viewer-stage").focus({ preventScroll: true });
}
function loadViewer() {
  for (const [select, player, tag] of [["#viewer-a", playerA, "#viewer-tag-a"], ["#viewer-b", playerB, "#viewer-tag-b"]]) {
    const option = $(select).selectedOptions[0];
    const url = option && option.value ? option.dataset.url : "";
    if ((player.dataset.url || "") !== url) {
      player.dataset.url = url;
      if (url) player.src = url; else { player.removeAttribute("src"); player.load(); }
    }
    $(tag).textContent = option && option.value ? option.textContent : "";
  }
  const a = $("#viewer-a").selectedOptions[0], b = $("#viewer-b").selectedOptions[0];
  const timed = a && a.value ? a : b && b.value ? b : null;
  state.viewerFps = fraction(timed ? timed.dataset.fps : 25);
}
on("#viewer-a", "change", loadViewer);
on("#viewer-b", "change", loadViewer);
on("#viewer-mode", "change", () => {
  const wipe = $("#viewer-mode").value === "wipe";
  $("#viewer-stage").className = wipe ? "wipe" : "split";
  $("#wipe-label").hidden = !wipe;
  applyWipe();
});
function applyWipe() {
  const wipe = $("#viewer-mode").value === "wipe";
  playerB.parentElement.style.clipPath = wipe ? `inset(0 0 0 ${$("#wipe").value}%)` : "";
}
on("#wipe", "input", applyWipe);
function viewerDuration() { return Math.max(playerA.duration || 0, playerB.duration || 0); }
function viewerSeek(seconds) {
  for (const p of [playerA, playerB]) if (p.duration) p.currentTime = Math.max(0, Math.min(seconds, p.duration - 1e-3));
  showViewerTime(seconds);
}
function viewerFrame() { return Math.floor((playerA.duration ? playerA.currentTime : playerB.currentTime) * (state.viewerFps || 25) + 1e-6); }
function viewerStep(by) {
  pausePlayers();
  const fps = state.viewerFps || 25;
  viewerSeek((Math.max(0, viewerFrame() + by) + 0.5) / fps); // the middle of the frame: no rounding onto its neighbour
}
function showViewerTime(seconds) {
  const fps = state.viewerFps || 25, duration = viewerDuration();
  $("#viewer-time").textContent = `frame ${Math.floor(seconds * fps + 1e-6)} · ${seconds.toFixed(2)} s`;
  if (duration) $("#viewer-scrub").value = Math.round((1000 * seconds) / duration);
}
on("#viewer-scrub", "input", () => { pausePlayers(); viewerSeek((Number($("#viewer-scrub").value) / 1000) * viewerDuration()); });
on("#viewer-prev", "click", () => viewerStep(-1));
on("#viewer-next", "click", () => viewerStep(1));
function pausePlayers() { playerA.pause(); playerB.pause(); $("#viewer-play").textContent = "Play"; }
on("#viewer-play", "click", async () => {
  if (!playerA.paused || !playerB.paused) { pausePlayers(); return; }
  const t = playerA.duration ? playerA.currentTime : playerB.currentTime;
  viewerSeek(t >= viewerDuration() - 0.05 ? 0 : t);
  $("#viewer-play").textContent = "Pause";
  await Promise.all([playerA, playerB].filter((p) => p.src).map((p) => p.play()));
});
// While playing, the after follows the before, so both show the same moment.
playerA.addEventListener("timeupdate", guard(() => {
  if (playerA.paused) return;
  if (playerB.src && !playerB.paused && Math.abs(playerB.currentTime - playerA.currentTime) > 1.5 / (state.viewerFps || 25)) playerB.currentTime = playerA.currentTime;
  showViewerTime(playerA.currentTime);
}));
playerA.addEventListener("ended", guard(pausePlayers));
$("#viewer-stage").addEventListener("keydown", guard((e) => {
  if (e.key === "ArrowLeft" || e.key === "ArrowRight") { e.preventDefault(); viewerStep(e.key === "ArrowRight" ? 1 : -1); }
  else if (e.key === " ") { e.preventDefault(); $("#viewer-play").click(); }
}));

// ---- localize: one clip into market versions --------------------------------------------------------------
function localizeMarkets() {
  return $("#localize-markets").value.split(",").map((m) => m.trim()).filter(Boolean);
}
function localizeRows() {
  // The table as it stands: [{source, texts: {market: text}}], read from its inputs.
  return [...$("#localize-table tbody").rows].map((row) => ({
    source: row.querySelector("input[data-col=source]").value,
    texts: Object.fromEntries([...row.querySelectorAll("input[data-market]")].map((i) => [i.dataset.market, i.value])),
  }));
}
function drawLocalizeTable(rows) {
  rows = rows && rows.length ? rows : [{ source: "", texts: {} }];
  drawLocalizeHead();
  $("#localize-table tbody").replaceChildren(...rows.map((r, i) => localizeRow(r, i)));
}
function drawLocalizeHead() {
  $("#localize-table thead").replaceChildren(el("tr", {}, el("th", {}, "source text"), ...localizeMarkets().map((m) => el("th", {}, m))));
}
function localizeRow(r, i) {
  return el("tr", {},
    el("td", {}, el("input", { "data-col": "source", value: r.source, placeholder: "text in the clip", "aria-label": `row ${i + 1}: text in the clip` })),
    ...localizeMarkets().map((m) => localizeCell(m, i, r.texts[m] || "")));
}
function localizeCell(market, i, text = "") {
  return el("td", {}, el("input", { "data-market": market, value: text, "aria-label": `row ${i + 1}: ${market}` }));
}
// A new list of markets adds and removes columns; the cells already typed in stay where they are (one may
// be the field that has the focus right now).
function syncLocalizeMarkets() {
  const markets = localizeMarkets();
  drawLocalizeHead();
  [...$("#localize-table tbody").rows].forEach((row, i) => {
    const cells = new Map([...row.querySelectorAll("input[data-market]")].map((input) => [input.dataset.market, input.closest("td")]));
    for (const [market, td] of cells) if (!markets.includes(market)) td.remove();
    let previous = row.cells[0];
    for (const market of markets) {
      const td = cells.get(market) || localizeCell(market, i);
      if (previous.nextSibling !== td) row.insertBefore(td, previous.nextSibling);
      previous = td;
    }
  });
}
on("#localize-markets", "change", syncLocalizeMarkets);
on("#localize-add-row", "click", () => {
  const body = $("#localize-table tbody");
  body.append(localizeRow({ source: "", texts: {} }, body.rows.length));
});
function loadLocalizeSource() {
  const option = $("#localize-source").selectedOptions[0];
  const value = option ? option.value : "";
  if ($("#localize-video").dataset.source === value) return;
  $("#localize-video").dataset.source = value;
  showVideo($("#localize-video"), option);
}
on("#localize-source", "change", loadLocalizeSource);
function localizeBody() {
  if (!$("#localize-source").value) throw new Refusal("Choose the clip to make market versions of: upload one on the “1 · Clip & advice” tab first.");
  const markets = localizeMarkets();
  if (!markets.length) throw new Refusal("Name at least one market, e.g. “de, fr”.");
  const replacements = {}, missing = [];
  for (const row of localizeRows()) {
    const source = row.source.trim();
    if (!source) continue;
    replacements[source] = {};
    for (const m of markets) {
      const text = (row.texts[m] || "").trim();
      if (text) replacements[source][m] = text; else missing.push(`${m} for “${source}”`);
    }
  }
  if (!Object.keys(replacements).length) throw new Refusal("The text table is empty: write the text shown in the clip and what each market should read instead.");
  if (missing.length) throw new Refusal(`Some markets have no text: ${missing.join(", ")}. Fill them in, or take those markets out of the list.`);
  return withSource({ project_id: state.project.id, kind: "localize", spec: { markets, replacements } }, "#localize-source");
}
function restoreLocalize(job) {
  const spec = job.spec || {};
  if (spec.markets) $("#localize-markets").value = spec.markets.join(", ");
  const rows = Object.entries(spec.replacements || {}).map(([source, texts]) => ({ source, texts }));
  drawLocalizeTable(rows);
}
on("#run-localize", "click", () => submit("localize", localizeBody));

start().catch(showNotice);
