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
  const projects = await api("/api/projects");
  state.project = projects.length ? projects[projects.length - 1] : await postJson("/api/projects", { name: "My project" });
  setupInvent();
  await refreshAssets();
  await refreshTakes();
  $("#studio").hidden = false; // shown only once the project is loaded, so every control works at once
  document.body.dataset.ready = "true";
}

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
  const current = select || $("#source-select").value;
  $("#source-select").replaceChildren(...options.map(([value, label, url]) => el("option", { value, "data-url": url }, label)));
  if (current && options.some(([v]) => v === current)) $("#source-select").value = current;
  loadSource();
}

function loadSource() {
  const option = $("#source-select").selectedOptions[0];
  if (!option || state.source === option.value) return;
  state.source = option.value;
  state.locks = []; state.corners = []; state.keyframes = [];
  $("#source-video").src = option.dataset.url;
  drawOverlay(); drawKeyframes();
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
  drawKeyframes();
  event.target.value = "";
});
function drawKeyframes() {
  $("#keyframe-track").replaceChildren(...state.keyframes.map((k) =>
    el("span", { class: "kf", title: `${k.asset.name} at ${k.seconds} s`, style: `left:${(100 * k.seconds) / (video.duration || 1)}%` })));
}
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
  if ($("#op-localize").checked) {
    const markets = $("#markets").value.split(",").map((m) => m.trim()).filter(Boolean);
    const replacements = {};
    if ($("#replace-from").value.trim()) {
      replacements[$("#replace-from").value.trim()] = Object.fromEntries(
        $("#replace-to").value.split(";").map((p) => p.split("=").map((s) => s.trim())).filter((p) => p.length === 2));
    }
    spec.operations.push({ op: "localize", markets, replacements });
  }
  return spec;
}

$("#run-transform").addEventListener("click", async () => {
  const box = $("#transform-progress-box");
  try {
    const [type, id] = $("#source-select").value.split(":");
    const body = { project_id: state.project.id, kind: "transform", spec: await transformSpec() };
    body[type === "asset" ? "source_asset_id" : "source_take_id"] = id;
    const job = await postJson("/api/jobs", body);
    const final = await follow(job, box);
    if (final.state === "succeeded") {
      const take = await api(`/api/takes/${final.take_ids[0]}`);
      $("#output-video").src = take.content_url; $("#output-video").hidden = false;
      Object.assign($("#download-link"), { href: take.content_url, download: `${take.id}.mp4`, hidden: false });
      $("#download-link").textContent = `Download ${take.id}.mp4 (${take.frame_count} frames, ${take.fps} fps)`;
      await refreshTakes();
    }
  } catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); }
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
  box.dataset.state = last.state;
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
$("#run-invent").addEventListener("click", async () => {
  const box = $("#invent-progress-box");
  try {
    const job = await postJson("/api/jobs", {
      project_id: state.project.id, kind: "invent",
      spec: { prompt: $("#invent-prompt").value, takes: Number($("#invent-takes").value), duration: Number($("#invent-duration").value) },
    });
    const final = await follow(job, box);
    await refreshTakes();
    const ids = new Set(final.take_ids || []);
    $("#invent-takes-grid").replaceChildren(...state.takes.filter((t) => ids.has(t.id)).map(takeCard));
  } catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); }
});

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
  const ops = (t.spec.operations || []).map((op) => op.op + (op.preset ? `:${op.preset}` : "")).join(", ") || t.kind;
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
  $("#compare").replaceChildren(...(picked.length > 1 ? picked.map((t) =>
    el("div", { class: "card" }, el("video", { src: t.content_url, controls: true, autoplay: true, loop: true, muted: true }),
      el("div", { class: "meta" }, t.id))) : []));
}

start();
