// painter serve's page: send each chosen photo to POST /api/paint, show it beside its
// painting as soon as that arrives, and offer each painting (or all, as a zip) for
// download. Everything stays on this server: no external fetch (the page's CSP forbids it).
"use strict";

const $ = (id) => document.getElementById(id);
const paintings = [];  // {name, blob} of every painting received, in the order shown
let model = null;
let active = 0;

function setStatus() {
  const done = paintings.length;
  $("status").textContent = active ? `painting ${active}…` : (done ? `${done} painted` : "");
  $("zip").disabled = done === 0;
}

function figure(caption, content) {
  const fig = document.createElement("figure");
  fig.append(content);
  const cap = document.createElement("figcaption");
  cap.append(caption);
  fig.append(cap);
  return fig;
}

function image(src, alt, className) {
  const img = document.createElement("img");
  img.src = src;
  img.alt = alt;
  if (className) img.className = className;
  return img;
}

function downloadLink(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.className = "download";
  a.textContent = `Download ${name}`;
  return a;
}

function filenameOf(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : fallback;
}

// POSTs the form, waiting as the server's Retry-After says when its queue is full.
async function post(form) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch("/api/paint", { method: "POST", body: form });
    if (response.status !== 503 || attempt >= 20) return response;
    const wait = Number(response.headers.get("Retry-After")) || 1;
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

async function errorText(response) {
  try {
    return (await response.json()).error;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

async function paintInto(item, slot, form, fallbackName) {
  active++;
  setStatus();
  try {
    const response = await post(form);
    if (!response.ok) throw new Error(await errorText(response));
    const blob = await response.blob();
    const name = filenameOf(response, fallbackName);
    paintings.push({ name, blob });
    const link = downloadLink(blob, name);
    const painted = figure(link, image(URL.createObjectURL(blob), `painting: ${name}`, "painting"));
    slot.replaceWith(painted);
    item.dataset.state = "done";
  } catch (error) {
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = String(error.message || error);
    slot.replaceChildren(message);
    item.dataset.state = "error";
  } finally {
    active--;
    setStatus();
  }
}

function pendingSlot() {
  const slot = document.createElement("div");
  slot.className = "pending";
  slot.textContent = "painting…";
  return slot;
}

function paintFiles(files) {
  for (const file of files) {
    const item = document.createElement("li");
    item.dataset.state = "pending";
    const slot = pendingSlot();
    item.append(figure(file.name, image(URL.createObjectURL(file), `photo: ${file.name}`, "photo")), slot);
    $("results").prepend(item);
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("fit", $("fit").value);
    form.append("size", $("size").value);
    if (model.directions.length) form.append("direction", $("direction").value);
    const stem = file.name.replace(/\.[^.]*$/, "") || "upload";
    paintInto(item, slot, form, `${stem}_painted.jpg`);
  }
}

function paintSeed(seed) {
  const item = document.createElement("li");
  item.className = "latent";
  item.dataset.state = "pending";
  const slot = pendingSlot();
  item.append(slot);
  $("results").prepend(item);
  const form = new FormData();
  form.append("seed", seed);
  paintInto(item, slot, form, `seed_${seed}.jpg`);
}

// ---- a zip of all paintings (stored, not deflated: JPEGs do not compress) ----------------

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

async function zipOf(files) {
  const encoder = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  const used = new Set();
  for (const { name, blob } of files) {
    let unique = name;
    for (let i = 2; used.has(unique); i++) unique = name.replace(/(\.[^.]*)?$/, `_${i}$1`);
    used.add(unique);
    const data = new Uint8Array(await blob.arrayBuffer());
    const nameBytes = encoder.encode(unique);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true);  // UTF-8 names
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, nameBytes.length, true);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(8, 0x0800, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, data.length, true);
    entry.setUint32(24, data.length, true);
    entry.setUint16(28, nameBytes.length, true);
    entry.setUint32(42, offset, true);
    parts.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const size = central.reduce((sum, part) => sum + part.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

async function downloadZip() {
  const a = downloadLink(await zipOf(paintings), "paintings.zip");
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- set-up -------------------------------------------------------------------------------

async function start() {
  model = await (await fetch("/api/model")).json();
  if (model.kind === "latents") {
    $("latents").hidden = false;
    $("sample-form").addEventListener("submit", (event) => {
      event.preventDefault();
      paintSeed($("seed").value || "0");
    });
  } else {
    $("photos").hidden = false;
    const select = $("direction");
    for (const d of model.directions) select.add(new Option(d.label, d.route));
    $("direction-label").hidden = model.directions.length < 2;
    $("file").addEventListener("change", (event) => {
      paintFiles(event.target.files);
      event.target.value = "";
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      paintFiles(event.dataTransfer.files);
    });
  }
  $("zip").addEventListener("click", downloadZip);
  document.body.dataset.ready = "true";
}

start();
