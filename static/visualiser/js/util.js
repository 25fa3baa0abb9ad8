// Small DOM and formatting helpers shared by the views.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

// Scheduler times are float seconds since the epoch.
export function fmtTime(t) {
  if (typeof t !== "number" || !isFinite(t)) return "";
  const d = new Date(t * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(t, now = Date.now() / 1000) {
  if (typeof t !== "number" || !isFinite(t)) return "";
  let s = Math.max(0, Math.round(now - t));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// A span of seconds as "45s", "12m 5s", "3h 20m", "2d 4h".
export function fmtDuration(secs) {
  if (typeof secs !== "number" || !isFinite(secs)) return "";
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// The fields of a Luigi worker id, "Worker(salt=…, workers=2, host=…, username=…, pid=…)"
// (luigi's worker.py Worker.__init__ builds it); {} for any other string.
export function parseWorker(name) {
  const m = /^Worker\((.*)\)$/.exec(typeof name === "string" ? name.trim() : "");
  const out = {};
  if (!m) return out;
  for (const part of m[1].split(/,\s*/)) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

// "host · user · pid N" for a worker id; the id itself when it is not Luigi's format.
export function workerLabel(name) {
  const w = parseWorker(name);
  if (!w.host && !w.username && !w.pid) return fmtValue(name);
  return [w.host, w.username, w.pid ? `pid ${w.pid}` : ""].filter(Boolean).join(" · ");
}

// Copy text: the async clipboard where the page is a secure context (https, loopback),
// else a selected off-screen textarea and the copy command. Resolves true on success.
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // fall through to the older way (permission refused, or no focus)
  }
  const ta = h("textarea", { readonly: true, "aria-hidden": "true", style: "position:fixed;left:-9999px;top:0" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (e) {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function fmtParams(params) {
  if (!params || typeof params !== "object") return "";
  return Object.keys(params).map((k) => `${k}=${fmtValue(params[k])}`).join(", ");
}

export function debounce(fn, ms) {
  let t = null;
  const run = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  run.cancel = () => clearTimeout(t);
  return run;
}

// A modal yes/no question using the page's <dialog>; resolves true on confirm.
export function confirmDialog(message, okLabel = "Confirm") {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = message;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const done = () => {
      dlg.removeEventListener("close", done);
      resolve(dlg.returnValue === "ok");
    };
    dlg.returnValue = "";
    dlg.addEventListener("close", done);
    dlg.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// − [n] + : a number the operator can step or type (Enter sets it). `set(n)` does the call;
// its promise settles before the buttons work again, so double clicks do not race.
export function stepper({ value, min = 0, label, action, set }) {
  const input = h("input", { type: "number", min: String(min), step: "1", value: String(value ?? ""),
    "aria-label": label, dataset: { action: `${action}-value` } });
  let busy = false;
  const go = async (n) => {
    if (busy || !Number.isInteger(n) || n < min) return;
    busy = true;
    input.blur(); // lets the refresh after the change redraw (it skips a box being typed in)
    form.querySelectorAll("button,input").forEach((b) => { b.disabled = true; });
    try { await set(n); } finally {
      busy = false;
      form.querySelectorAll("button,input").forEach((b) => { b.disabled = false; });
    }
  };
  const cur = () => Number.parseInt(input.value, 10);
  const form = h("form", { class: "stepper needs-admin", onsubmit: (e) => { e.preventDefault(); go(cur()); } },
    h("button", { type: "button", class: "btn", "aria-label": `${label}: one less`, dataset: { action: `${action}-dec` },
      onclick: () => go(cur() - 1) }, "−"),
    input,
    h("button", { type: "button", class: "btn", "aria-label": `${label}: one more`, dataset: { action: `${action}-inc` },
      onclick: () => go(cur() + 1) }, "+"),
    h("button", { type: "submit", class: "btn", dataset: { action: `${action}-set` } }, "Set"));
  return form;
}
