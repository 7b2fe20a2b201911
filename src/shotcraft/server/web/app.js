// shotcraft studio: a small front end over the REST API (no build step, no framework).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { project: null, assets: [], takes: [], kinds: {}, locks: [], corners: [], keyframes: [], source: null };

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json() : null;
  if (!response.ok) throw new Error(body && body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}
const postJson = (path, data, method = "POST") =>
  api(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(data) });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) node.append(child);
  return node;
}

// ---- sign-in and project -------------------------------------------------------------------------------
async function start() {
  const match = location.hash.match(/key=([\w-]+)/);
  if (match) {
    await postJson("/api/session", { key: match[1] }).catch(() => null);
    history.replaceState(null, "", location.pathname);
  }
  try {
    const me = await api("/api/me");
    $("#who").textContent = `key ${me.key.name} (${me.key.prefix}…)`;
  } catch (err) {
    $("#signin").hidden = false;
    return;
  }
  for (const kind of await api("/api/kinds")) state.kinds[kind.name] = kind;
  let projects = await api("/api/projects");
  if (!projects.length) projects = [await postJson("/api/projects", { name: "My project" })];
  const remembered = projects.find((p) => p.id === localStorage.getItem(PROJECT_KEY));
  setupInvent();
  drawLocalizeTable();
  await switchProject(remembered || projects[projects.length - 1], projects);
  $("#project-switch").hidden = false;
  $("#studio").hidden = false; // shown only once the project is loaded, so every control works at once
  document.body.dataset.ready = "true";
}

// ---- project switcher ------------------------------------------------------------------------------------
const PROJECT_KEY = "shotcraft.project";
async function switchProject(project, projects) {
  projects = projects || (await api("/api/projects"));
  state.project = project;
  localStorage.setItem(PROJECT_KEY, project.id);
  $("#project-select").replaceChildren(...projects.map((p) => el("option", { value: p.id }, p.name)));
  $("#project-select").value = project.id;
  // Nothing of the previous project may stay on screen: sources, outputs, progress, comparisons.
  state.assets = []; state.takes = []; comparing.clear();
  for (const id of ["#invent-takes-grid", "#localize-takes-grid", "#invent-progress-box", "#transform-progress-box",
                    "#localize-progress-box", "#advice"]) { $(id).replaceChildren(); delete $(id).dataset.state; }
  $("#output-video").hidden = true; $("#download-link").hidden = true; $("#upload-status").textContent = "";
  await refreshAssets();
  await refreshTakes();
  document.body.dataset.project = project.id;
}
$("#project-select").addEventListener("change", async () => {
  const projects = await api("/api/projects");
  await switchProject(projects.find((p) => p.id === $("#project-select").value), projects);
});
$("#new-project").addEventListener("click", async () => {
  const name = $("#new-project-name").value.trim() || `Project ${$("#project-select").options.length + 1}`;
  const project = await postJson("/api/projects", { name });
  $("#new-project-name").value = "";
  await switchProject(project);
});

$("#key-save").addEventListener("click", async () => {
  try {
    await postJson("/api/session", { key: $("#key-input").value.trim() });
    location.reload();
  } catch (err) { $("#signin-error").textContent = err.message; }
});

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => showTab(button.dataset.tab));
}
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  if (name === "takes") refreshTakes();
  if (name === "transform") sizeCanvas();
}

// ---- assets and advice -----------------------------------------------------------------------------------
async function uploadFile(file) {
  const url = `/api/projects/${state.project.id}/assets?filename=${encodeURIComponent(file.name)}`;
  return api(url, { method: "POST", body: file });
}

$("#upload-input").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  $("#upload-status").textContent = `uploading ${file.name}…`;
  try {
    const asset = await uploadFile(file);
    $("#upload-status").textContent = `stored ${asset.name} (${asset.kind}, ${(asset.size_bytes / 1e6).toFixed(2)} MB)`;
    await refreshAssets(asset.kind === "video" ? `asset:${asset.id}` : null);
  } catch (err) { $("#upload-status").textContent = err.message; $("#upload-status").className = "error"; }
});

function describeAsset(a) {
  const v = a.info && a.info.video;
  return v ? `${v.width}x${v.height}, ${v.frame_count} frames at ${v.fps} fps` : a.info.width ? `${a.info.width}x${a.info.height}` : "";
}

async function refreshAssets(select) {
  state.assets = await api(`/api/projects/${state.project.id}/assets`);
  $("#assets").replaceChildren(...state.assets.map((a) => el("li", {}, `${a.name} · ${a.kind} · ${describeAsset(a)}`)));
  fillSources(select);
}

function fillSources(select) {
  const options = [
    ...state.assets.filter((a) => a.kind === "video").map((a) => [`asset:${a.id}`, `clip ${a.name}`, a.content_url]),
    ...state.takes.map((t) => [`take:${t.id}`, `take ${t.id.slice(5, 11)} (${t.engine})`, t.content_url]),
  ];
  for (const id of ["#source-select", "#localize-source"]) {
    const current = select || $(id).value;
    $(id).replaceChildren(...options.map(([value, label, url]) => el("option", { value, "data-url": url }, label)));
    if (current && options.some(([v]) => v === current)) $(id).value = current;
  }
  loadSource();
  loadLocalizeSource();
}

function loadSource() {
  const option = $("#source-select").selectedOptions[0];
  if ((option ? option.value : null) === state.source) return;
  // Locks, corners and keyframes are drawn on one source: a new source starts without them.
  state.source = option ? option.value : null;
  state.locks = []; state.corners = []; state.keyframes = [];
  showVideo($("#source-video"), option);
  drawOverlay(); drawKeyframes();
}
function showVideo(player, option) {
  if (option) player.src = option.dataset.url;
  else { player.removeAttribute("src"); player.load(); }
}
$("#source-select").addEventListener("change", loadSource);

$("#advise-btn").addEventListener("click", async () => {
  const clip = state.assets.filter((a) => a.kind === "video").pop();
  const images = state.assets.filter((a) => a.kind === "image").map((a) => a.id);
  try {
    const advice = await postJson("/api/advise", {
      project_id: state.project.id, goal: $("#goal").value,
      clip_asset_id: clip ? clip.id : null, image_asset_ids: images,
    });
    $("#advice").replaceChildren(
      el("h3", {}, `Recommended: ${advice.workflow}`),
      el("ul", {}, ...advice.reasons.map((r) => el("li", {}, r))),
      el("ol", {}, ...advice.steps.map((s) => el("li", {}, s))),
      el("pre", {}, JSON.stringify(advice.settings, null, 2)),
      ...advice.warnings.map((w) => el("p", { class: "error" }, w)),
    );
    applyAdvice(advice.settings.transform);
  } catch (err) { $("#advice").replaceChildren(el("p", { class: "error" }, err.message)); }
});

function applyAdvice(transform) {
  if (!transform) return;
  const relight = (transform.operations || []).find((op) => op.op === "relight");
  if (relight) { $("#op-relight").checked = true; $("#relight-preset").value = relight.preset || ""; }
  for (const name of ["motion", "structure"]) {
    const value = transform[`${name}_adherence`];
    if (value !== undefined) { $(`#${name}`).value = value === "off" ? 0 : value; $(`#${name}-out`).value = value; }
  }
  if (transform.strength) $("#strength").value = transform.strength;
}

// ---- painting locks and swap corners on the frame ------------------------------------------------------
const video = $("#source-video");
const canvas = $("#lock-canvas");
function sizeCanvas() {
  if (video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; drawOverlay(); }
}
video.addEventListener("loadedmetadata", () => { sizeCanvas(); $("#timeline").value = 0; });
function framePoint(event) {
  const box = canvas.getBoundingClientRect();
  return [Math.round((event.clientX - box.left) * canvas.width / box.width),
          Math.round((event.clientY - box.top) * canvas.height / box.height)];
}
let dragStart = null;
canvas.addEventListener("mousedown", (event) => {
  const mode = document.querySelector("input[name=paint]:checked").value;
  if (mode === "swap") {
    if (state.corners.length === 4) state.corners = [];
    state.corners.push(framePoint(event));
    $("#swap-status").textContent = `${state.corners.length} of 4 corners`;
    drawOverlay();
  } else dragStart = framePoint(event);
});
canvas.addEventListener("mousemove", (event) => { if (dragStart) drawOverlay(rectFrom(dragStart, framePoint(event))); });
canvas.addEventListener("mouseup", (event) => {
  if (!dragStart) return;
  const rect = rectFrom(dragStart, framePoint(event));
  dragStart = null;
  if (rect.width > 2 && rect.height > 2) state.locks.push({ kind: "rect", ...rect });
  drawOverlay();
});
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
}
$("#clear-locks").addEventListener("click", () => { state.locks = []; state.corners = []; drawOverlay(); });

// ---- keyframe timeline ---------------------------------------------------------------------------------
$("#timeline").addEventListener("input", () => {
  if (!video.duration) return;
  video.currentTime = (Number($("#timeline").value) / 1000) * video.duration;
  $("#timeline-time").textContent = `${video.currentTime.toFixed(2)} s`;
});
$("#keyframe-input").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const asset = await uploadFile(file);
  state.keyframes = state.keyframes.filter((k) => Math.abs(k.seconds - video.currentTime) > 1e-3);
  state.keyframes.push({ seconds: Number(video.currentTime.toFixed(3)), asset });
  state.keyframes.sort((a, b) => a.seconds - b.seconds);
  drawKeyframes();
  event.target.value = "";
});
function drawKeyframes() {
  $("#keyframe-track").replaceChildren(...state.keyframes.map((k) =>
    el("span", { class: "kf", title: `${k.asset.name} at ${k.seconds} s`, style: `left:${(100 * k.seconds) / (video.duration || 1)}%` })));
  $("#keyframe-list").replaceChildren(...state.keyframes.map((k) => el("li", { class: "keyframe" },
    el("img", { src: k.asset.content_url, alt: k.asset.name }),
    el("span", {}, `${k.seconds.toFixed(2)} s · ${k.asset.name}`), " ",
    el("button", { onclick: () => { state.keyframes = state.keyframes.filter((x) => x !== k); drawKeyframes(); } }, "Remove"))));
}
video.addEventListener("seeked", () => { // however the frame moved (timeline, player), the timeline follows
  $("#timeline-time").textContent = `${video.currentTime.toFixed(2)} s`;
  if (video.duration) $("#timeline").value = Math.round((1000 * video.currentTime) / video.duration);
});
for (const name of ["motion", "structure"]) {
  $(`#${name}`).addEventListener("input", () => { $(`#${name}-out`).value = $(`#${name}`).value === "0" ? "off" : $(`#${name}`).value; });
}

// ---- building a transform spec -------------------------------------------------------------------------
async function transformSpec() {
  const adherence = (id) => ($(id).value === "0" ? "off" : Number($(id).value));
  const spec = {
    strength: $("#strength").value, motion_adherence: adherence("#motion"), structure_adherence: adherence("#structure"),
    locks: state.locks, operations: [],
    keyframes: state.keyframes.map((k) => ({ at: { seconds: k.seconds }, image: `asset:${k.asset.id}` })),
  };
  if ($("#prompt").value.trim()) spec.prompt = $("#prompt").value.trim();
  if ($("#op-restyle").checked) spec.operations.push({ op: "restyle", look: $("#restyle-look").value || null });
  if ($("#op-relight").checked) {
    const relight = { op: "relight", exposure: Number($("#exposure").value), temperature: Number($("#temperature").value) };
    if ($("#relight-preset").value) relight.preset = $("#relight-preset").value;
    spec.operations.push(relight);
  }
  if ($("#op-swap").checked) {
    const file = $("#swap-image").files[0];
    if (!file || state.corners.length !== 4) throw new Error("a product swap needs an image and 4 corners clicked on the frame");
    const image = await uploadFile(file);
    spec.operations.push({ op: "swap", image: `asset:${image.id}`, corners: state.corners });
  }
  return spec;
}

// Queue the job `body()` builds, follow it in `box`, let `show` put a successful outcome on screen, then mark
// the box with the job's final state: whoever waits for that (a script, a test) finds the results shown.
async function runJob(box, body, show) {
  delete box.dataset.state; // the previous job's outcome no longer describes this box
  try {
    const final = await follow(await postJson("/api/jobs", await body()), box);
    if (final.state === "succeeded") await show(final);
    box.dataset.state = final.state;
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
    box.dataset.state = "error";
  }
}
function withSource(body, select) {
  const [type, id] = $(select).value.split(":");
  body[type === "asset" ? "source_asset_id" : "source_take_id"] = id;
  return body;
}

$("#run-transform").addEventListener("click", () => {
  $("#output-video").hidden = true; $("#download-link").hidden = true;
  runJob($("#transform-progress-box"),
    async () => withSource({ project_id: state.project.id, kind: "transform", spec: await transformSpec() }, "#source-select"),
    async (final) => {
      const take = await api(`/api/takes/${final.take_ids[0]}`);
      $("#output-video").src = take.content_url; $("#output-video").hidden = false;
      Object.assign($("#download-link"), { href: take.content_url, download: `${take.id}.mp4`, hidden: false });
      $("#download-link").textContent = `Download ${take.id}.mp4 (${take.frame_count} frames, ${take.fps} fps)`;
      await refreshTakes();
    });
});

// ---- progress: server-sent events read with fetch (so the cookie or a header can authorise them) --------
async function follow(job, box) {
  const bar = el("progress", { id: `${box.id}-bar`, max: 100, value: 0 });
  const text = el("span", { class: "job-progress-text" }, "0 %");
  const stage = el("span", { class: "muted" }, " queued");
  const cancel = el("button", { onclick: () => postJson(`/api/jobs/${job.id}/cancel`, {}) }, "Cancel");
  box.replaceChildren(bar, text, stage, " ", cancel);
  const response = await fetch(`/api/jobs/${job.id}/events`, { credentials: "same-origin" });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", last = job;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let split;
    while ((split = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, split); buffer = buffer.slice(split + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!data) continue;
      last = JSON.parse(data);
      const percent = Math.round(last.progress * 100);
      bar.value = percent; text.textContent = `${percent} %`;
      stage.textContent = ` ${last.state}${last.stage ? " · " + last.stage : ""}${last.error ? " · " + last.error : ""}`;
    }
  }
  cancel.remove();
  return last;
}

// ---- invent ----------------------------------------------------------------------------------------------
function setupInvent() {
  const kind = state.kinds.invent;
  if (!kind || !kind.available) {
    $("#invent-unavailable").hidden = false;
    $("#invent-unavailable").textContent = kind ? kind.reason : "Inventing takes is not available on this server yet.";
    $("#run-invent").disabled = true;
  }
}
function inventSpec() {
  const spec = {
    prompt: $("#invent-prompt").value, takes: Number($("#invent-takes").value),
    duration: Number($("#invent-duration").value), quality: $("#invent-quality").value,
  };
  // Empty fields are left out, so the model's own size and a random seed apply (the seeds are recorded).
  for (const name of ["width", "height", "seed"]) {
    if ($(`#invent-${name}`).value !== "") spec[name] = Number($(`#invent-${name}`).value);
  }
  return spec;
}
$("#run-invent").addEventListener("click", () => runJob($("#invent-progress-box"),
  async () => ({ project_id: state.project.id, kind: "invent", spec: inventSpec() }),
  (final) => showJobTakes(final, "#invent-takes-grid")));
async function showJobTakes(final, grid) {
  await refreshTakes();
  const ids = new Set(final.take_ids);
  $(grid).replaceChildren(...state.takes.filter((t) => ids.has(t.id)).map(takeCard));
}

// ---- takes: compare, pick, lineage, download ------------------------------------------------------------
const comparing = new Set();
async function refreshTakes() {
  if (!state.project) return;
  state.takes = await api(`/api/projects/${state.project.id}/takes`);
  $("#takes-grid").replaceChildren(...[...state.takes].reverse().map(takeCard));
  drawCompare();
  fillSources();
}
function takeCard(t) {
  const ops = t.market ? `localize:${t.market}`
    : (t.spec.operations || []).map((op) => op.op + (op.preset || op.look ? `:${op.preset || op.look}` : "")).join(", ") || t.kind;
  const parent = t.parent_take_id ? `take ${t.parent_take_id}` : t.source_asset_id ? `asset ${t.source_asset_id}` : "prompt";
  return el("div", { class: `card${t.picked ? " picked" : ""}`, "data-take": t.id },
    el("video", { src: t.content_url, controls: true, preload: "metadata", muted: true }),
    el("div", { class: "meta" }, `${t.id} · ${ops} · ${t.engine} · ${t.frame_count} frames @ ${t.fps} fps`),
    el("div", { class: "meta" }, `from ${parent}${t.seed !== null ? ` · seed ${t.seed}` : ""}`),
    el("label", {}, el("input", { type: "checkbox", checked: comparing.has(t.id), onchange: (e) => {
      e.target.checked ? comparing.add(t.id) : comparing.delete(t.id); drawCompare(); } }), " compare"),
    el("button", { onclick: async () => { await postJson(`/api/takes/${t.id}`, { picked: !t.picked }, "PATCH"); refreshTakes(); } },
      t.picked ? "Picked ★" : "Pick"),
    " ",
    el("button", { onclick: () => { fillSources(`take:${t.id}`); showTab("transform"); } }, "Transform this"),
    " ",
    el("a", { href: t.content_url, download: `${t.id}.mp4` }, "Download"));
}
function drawCompare() {
  const picked = state.takes.filter((t) => comparing.has(t.id));
  $("#compare-box").hidden = picked.length < 2;
  $("#compare").replaceChildren(...(picked.length > 1 ? picked.map((t) =>
    el("div", { class: "card", "data-take": t.id }, el("video", { src: t.content_url, controls: true, loop: true, muted: true, preload: "auto" }),
      el("div", { class: "meta" }, `${t.id} · ${t.name} · ${t.kind}${t.market ? " " + t.market : ""}${t.seed !== null ? ` · seed ${t.seed}` : ""}`))) : []));
}
$("#compare-play").addEventListener("click", () => {
  // Restart every compared take at once so the same moment is on screen side by side.
  for (const v of document.querySelectorAll("#compare video")) { v.currentTime = 0; v.play(); }
});

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
  rows = rows || localizeRows();
  if (!rows.length) rows = [{ source: "", texts: {} }];
  const markets = localizeMarkets();
  $("#localize-table thead").replaceChildren(el("tr", {}, el("th", {}, "source text"), ...markets.map((m) => el("th", {}, m))));
  $("#localize-table tbody").replaceChildren(...rows.map((r) => el("tr", {},
    el("td", {}, el("input", { "data-col": "source", value: r.source, placeholder: "text in the clip", size: 14 })),
    ...markets.map((m) => el("td", {}, el("input", { "data-market": m, value: r.texts[m] || "", size: 14 }))))));
}
$("#localize-markets").addEventListener("change", () => drawLocalizeTable());
$("#localize-add-row").addEventListener("click", () => drawLocalizeTable([...localizeRows(), { source: "", texts: {} }]));
function loadLocalizeSource() {
  const option = $("#localize-source").selectedOptions[0];
  const value = option ? option.value : "";
  if ($("#localize-video").dataset.source === value) return;
  $("#localize-video").dataset.source = value;
  showVideo($("#localize-video"), option);
}
$("#localize-source").addEventListener("change", loadLocalizeSource);
function localizeSpec() {
  const replacements = {};
  for (const row of localizeRows()) {
    const texts = Object.fromEntries(Object.entries(row.texts).filter(([, text]) => text.trim()));
    if (row.source.trim() && Object.keys(texts).length) replacements[row.source.trim()] = texts;
  }
  return { markets: localizeMarkets(), replacements };
}
$("#run-localize").addEventListener("click", () => runJob($("#localize-progress-box"),
  async () => withSource({ project_id: state.project.id, kind: "localize", spec: localizeSpec() }, "#localize-source"),
  (final) => showJobTakes(final, "#localize-takes-grid")));

start();
