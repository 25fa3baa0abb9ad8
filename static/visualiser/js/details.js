// The task details panel: everything about one task, its error trace, and the actions
// that apply to its status.
import { call } from "./api.js";
import { state, update } from "./state.js";
import { h, clear, fmtTime, fmtAgo, fmtValue, confirmDialog } from "./util.js";
import { statusBadge, taskById } from "./tasks.js";
import { LABELS } from "./status.js";

let afterAction = async () => {};
let shownId = "";
let errorCache = { id: "", text: null };

// Look a task up by id when it is not in the table (a deep link, a graph node).
async function lookup(id, signal) {
  const known = taskById(id);
  if (known) return known;
  const reply = await call("task_search", { task_str: id }, { signal });
  for (const byStatus of Object.values(reply || {})) {
    if (byStatus && byStatus[id]) return { ...byStatus[id], taskId: id };
  }
  return null;
}

function decodeError(err) {
  if (err === null || err === undefined) return "";
  if (typeof err !== "string") return JSON.stringify(err, null, 2);
  try {
    const v = JSON.parse(err);
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  } catch (e) {
    return err;
  }
}

function safeUrl(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

function progress(value) {
  const n = Number(value);
  if (value === null || value === undefined || !isFinite(n)) return null;
  const pct = Math.max(0, Math.min(100, n));
  return h("div", { class: "progress-row" },
    h("progress", { max: "100", value: String(pct), "aria-label": "Progress" }),
    h("span", {}, `${pct}%`));
}

// The outcome of the last action, shown in the panel until another task is selected.
let flash = { id: "", text: "" };

function showFlash(id, text) {
  flash = { id, text };
  const el = document.getElementById("details-status");
  if (el && shownId === id) el.textContent = text;
}

async function act(method, id, message) {
  try {
    const reply = await call(method, { task_id: id });
    const st = reply && reply.status;
    showFlash(id, message + (st ? ` Status is now ${LABELS[st] || st}.` : ""));
    await afterAction();
  } catch (e) {
    showFlash(id, `Failed: ${e.message}`);
  }
}

function actions(t) {
  const id = t.taskId;
  const out = [];
  if (t.status === "DISABLED" && t.re_enable_able) {
    out.push(h("button", { class: "btn", dataset: { action: "re-enable" },
      onclick: () => act("re_enable_task", id, "Re-enabled.") }, "Re-enable"));
  }
  if (t.status === "FAILED") {
    out.push(h("button", { class: "btn", dataset: { action: "forgive" },
      onclick: () => act("forgive_failures", id, "Failures forgiven.") }, "Forgive failures"));
  }
  if (["RUNNING", "FAILED", "DISABLED"].includes(t.status)) {
    out.push(h("button", { class: "btn danger", dataset: { action: "mark-done" },
      onclick: async () => {
        if (await confirmDialog(`Mark ${id} as done? Tasks depending on it may then run.`, "Mark as done")) {
          act("mark_as_done", id, "Marked as done.");
        }
      } }, "Mark as done"));
  }
  out.push(h("button", { class: "btn", dataset: { action: "graph" },
    onclick: () => update({ tab: "graph", root: id, inv: "0" }, { push: true }) }, "Show graph"));
  out.push(h("button", { class: "btn", dataset: { action: "dependents" },
    onclick: () => update({ tab: "graph", root: id, inv: "1" }, { push: true }) }, "What depends on it"));
  return out;
}

function field(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", {}, label), h("dd", {}, value)];
}

async function loadDeps(id, list) {
  clear(list).append(h("li", { class: "muted" }, "loading…"));
  try {
    const reply = await call("dep_graph", { task_id: id, include_done: true });
    const root = reply && reply[id];
    const deps = root && Array.isArray(root.deps) ? root.deps.slice().sort() : [];
    clear(list);
    if (!deps.length) list.append(h("li", { class: "muted" }, "none"));
    for (const d of deps) {
      const st = reply[d] ? reply[d].status : "TRUNCATED";
      list.append(h("li", {}, statusBadge(st), " ",
        h("button", { class: "link", onclick: () => update({ task: d }, { push: true }) }, d)));
    }
  } catch (e) {
    clear(list).append(h("li", { class: "muted" }, `could not load: ${e.message}`));
  }
}

export async function refresh(signal) {
  const panel = document.getElementById("details");
  const id = state.task;
  if (!id) {
    panel.hidden = true;
    shownId = "";
    return;
  }
  const t = await lookup(id, signal);
  const body = document.getElementById("details-body");
  const fresh = shownId !== id;
  const openDeps = !fresh && body.querySelector("details.deps")?.open;
  const statusLine = flash.id === id ? flash.text : "";
  shownId = id;
  panel.hidden = false;
  clear(body);
  if (!t) {
    body.append(h("p", { class: "task-id" }, id), h("p", {}, "The scheduler does not know this task (it may have been pruned)."));
    return;
  }
  let errText = null;
  if (t.status === "FAILED" || t.status === "DISABLED") {
    if (errorCache.id === id && !fresh) errText = errorCache.text;
    else {
      const err = await call("fetch_error", { task_id: id }, { signal });
      errText = decodeError(err && err.error);
      errorCache = { id, text: errText };
    }
  }
  const params = t.params && typeof t.params === "object" ? Object.entries(t.params) : [];
  const url = t.tracking_url ? safeUrl(t.tracking_url) : null;
  const resources = t.resources_running || t.resources;
  body.append(
    h("p", { class: "task-id" }, id),
    h("p", {}, statusBadge(t.status, t.upstream)),
    h("div", { class: "actions" }, actions(t)),
    h("p", { id: "details-status", class: "note", role: "status" }, statusLine),
    h("dl", { class: "fields" },
      field("Family", t.name),
      field("Priority", String(t.priority ?? "")),
      field("Last updated", t.last_updated ? `${fmtTime(t.last_updated)} (${fmtAgo(t.last_updated)})` : ""),
      field("Started", typeof t.time_running === "number" ? fmtTime(t.time_running) : ""),
      field("Running on", t.worker_running || ""),
      field("Workers", Array.isArray(t.workers) ? t.workers.join(", ") : ""),
      field("Resources", resources && Object.keys(resources).length ? JSON.stringify(resources) : ""),
      field("Status message", t.status_message === null || t.status_message === undefined ? "" : fmtValue(t.status_message)),
      field("Progress", progress(t.progress_percentage)),
      field("Tracking URL", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url) : "")),
    h("h3", {}, "Parameters"),
    params.length
      ? h("table", { class: "params-table" }, h("tbody", {}, params.map(([k, v]) =>
        h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, fmtValue(v))))))
      : h("p", { class: "muted" }, "none"),
  );
  const depList = h("ul", { class: "dep-list" });
  const det = h("details", { class: "deps" }, h("summary", {}, "Dependencies"), depList);
  det.addEventListener("toggle", () => { if (det.open) loadDeps(id, depList); });
  body.append(det);
  if (openDeps) det.open = true;
  if (errText !== null) {
    body.append(h("h3", {}, "Error"),
      errText ? h("pre", { class: "trace", tabindex: "0" }, errText) : h("p", { class: "muted" }, "No error text was reported."));
  }
  if (fresh) document.getElementById("details-close").focus({ preventScroll: true });
}

export function init(onAction) {
  afterAction = onAction;
  document.getElementById("details-close").addEventListener("click", () => update({ task: "" }, { push: true }));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.task && !document.querySelector("dialog[open]")) update({ task: "" }, { push: true });
  });
}
