// The task details panel: everything about one task, its error trace, and the actions
// that apply to its status.
import { call, hasOwnMethods, noOwnMethods } from "./api.js";
import { state, update } from "./state.js";
import { h, clear, fmtTime, fmtAgo, fmtValue, fmtDuration, confirmDialog, copyText, workerLabel } from "./util.js";
import { statusBadge, taskById } from "./tasks.js";
import { LABELS } from "./status.js";

let afterAction = async () => {};
let shownId = "";
let errorCache = { id: "", text: null, info: null };

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
    out.push(h("button", { class: "btn needs-admin", dataset: { action: "re-enable" },
      onclick: () => act("re_enable_task", id, "Re-enabled.") }, "Re-enable"));
  }
  if (t.status === "FAILED") {
    out.push(h("button", { class: "btn needs-admin", dataset: { action: "forgive" },
      onclick: () => act("forgive_failures", id, "Failures forgiven.") }, "Forgive failures"));
  }
  if (["RUNNING", "FAILED", "DISABLED"].includes(t.status)) {
    out.push(h("button", { class: "btn danger needs-admin", dataset: { action: "mark-done" },
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
    live(null);
    messageBox(null);
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
  live(t && (t.status === "RUNNING" || t.status === "BATCH_RUNNING") ? id : null);
  messageBox(t && t.status === "RUNNING" && t.accepts_messages && t.worker_running ? t : null);
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
      errorCache = { id, text: errText, info: err && typeof err === "object" ? err : null };
    }
  }
  const disabled = t.status === "DISABLED" ? await disableDetails(id, signal) : null;
  const params = t.params && typeof t.params === "object" ? Object.entries(t.params) : [];
  const url = t.tracking_url ? safeUrl(t.tracking_url) : null;
  const resources = t.resources_running || t.resources;
  const running = t.status === "RUNNING" || t.status === "BATCH_RUNNING";
  body.append(
    h("p", { class: "task-id" }, id),
    h("p", {}, statusBadge(t.status, t.upstream)),
    t.status === "DISABLED" ? disabledNote(t, disabled) : "",
    h("div", { class: "actions" }, actions(t)),
    h("p", { id: "details-status", class: "note", role: "status" }, statusLine),
    h("dl", { class: "fields" },
      field("Family", t.name),
      field("Priority", String(t.priority ?? "")),
      field("Last updated", t.last_updated ? `${fmtTime(t.last_updated)} (${fmtAgo(t.last_updated)})` : ""),
      field("Started", typeof t.time_running === "number" ? fmtTime(t.time_running) : ""),
      field("Running for", running && typeof t.time_running === "number" ? fmtDuration(Date.now() / 1000 - t.time_running) : ""),
      field("Running on", t.worker_running ? workerLabel(t.worker_running) : ""),
      field("Workers", Array.isArray(t.workers) && t.workers.length
        ? h("ul", { class: "worker-names" }, t.workers.map((w) => h("li", { title: w }, workerLabel(w)))) : ""),
      field("Resources", resources && Object.keys(resources).length ? JSON.stringify(resources) : ""),
      running
        ? [h("dt", {}, "Status message"), h("dd", { id: "live-message" }, fmtValue(t.status_message))]
        : field("Status message", fmtValue(t.status_message)),
      running
        ? [h("dt", {}, "Progress"), h("dd", { id: "live-progress" }, progress(t.progress_percentage))]
        : field("Progress", progress(t.progress_percentage)),
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
    body.append(h("h3", {}, "Error"));
    if (errText) {
      // The last lines (where the exception is) here; the whole trace in a wide dialog.
      const lines = errText.replace(/\s+$/, "").split("\n");
      body.append(
        h("pre", { class: "trace trace-tail" }, (lines.length > 4 ? "…\n" : "") + lines.slice(-4).join("\n")),
        h("div", { class: "actions" },
          h("button", { class: "btn", dataset: { action: "show-error" },
            onclick: () => showError(id, t, errText, errorCache.id === id ? errorCache.info : null) }, "Show full error")));
    } else {
      body.append(h("p", { class: "muted" }, "No error text was reported."));
    }
  }
  if (fresh) document.getElementById("details-close").focus({ preventScroll: true });
}

// Who disabled a task and when it comes back, from luigid-rs's own read-only method
// (src/api/details.rs); luigid's task_list says only whether the scheduler disabled it
// (re_enable_able: luigi's scheduler.py Task.scheduler_disable_time is set), so against
// luigid the note says no more than that.
async function disableDetails(id, signal) {
  if (!hasOwnMethods()) return null;
  try {
    return await call("luigid_rs_task_details", { task_id: id }, { signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    if (e.status === 404) noOwnMethods();
    return null;
  }
}

function schedulerCause(d) {
  const p = d.retry_policy || {};
  if (d.disable_reason === "hard_timeout") {
    return `it kept failing for longer than its disable_hard_timeout (${fmtDuration(p.disable_hard_timeout)})` +
      (typeof d.first_failure_time === "number" ? ` since its first failure at ${fmtTime(d.first_failure_time)}` : "");
  }
  const n = d.failures_at_disable;
  return `${n} failure${n === 1 ? "" : "s"} within ${fmtDuration(p.disable_window)} ` +
    `(its retry_count is ${p.retry_count})`;
}

function disabledNote(t, d) {
  if (d && d.disabled_by === "scheduler" && typeof d.re_enable_time === "number") {
    const at = d.re_enable_time;
    const left = at - Date.now() / 1000;
    return h("p", { class: "disabled-by", dataset: { by: "scheduler", reEnableAt: String(at) } },
      `Disabled by the scheduler at ${fmtTime(d.scheduler_disable_time)} after ${schedulerCause(d)}. `,
      left > 0
        ? `The scheduler re-enables it by itself at ${fmtTime(at)} (in ${fmtDuration(left)}; ` +
          `disable_persist is ${fmtDuration(d.disable_persist)})`
        : `Its disable_persist (${fmtDuration(d.disable_persist)}) is over since ${fmtTime(at)}: ` +
          "the scheduler re-enables it at its next prune",
      "; “Re-enable” does it now.");
  }
  if (t.re_enable_able || (d && d.disabled_by === "scheduler")) {
    return h("p", { class: "disabled-by", dataset: { by: "scheduler" } },
      "Disabled by the scheduler: it failed more often than its retry policy allows " +
      "(retry_count failures within disable_window). The scheduler re-enables it by itself " +
      "once the server's disable_persist has passed since it was disabled; “Re-enable” does it now.");
  }
  const w = Array.isArray(t.workers) ? t.workers : [];
  return h("p", { class: "disabled-by", dataset: { by: "worker" } },
    "Disabled by a worker", w.length ? ` (${w.map(workerLabel).join("; ")})` : "",
    t.last_updated ? ` at ${fmtTime(t.last_updated)}` : "",
    ". The scheduler does not re-enable it; it stays disabled until a worker schedules it again or it is marked as done.");
}

// Luigi's command line for the task, as luigid's page offers it: --module, the family, and
// one --name value per parameter (underscores in names become dashes); values are quoted
// for a POSIX shell when they need it.
export function rerunCommand(module, family, params) {
  const q = (v) => (/^[A-Za-z0-9_.,:\/=@%+-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`);
  const parts = ["luigi"];
  if (module) parts.push("--module", q(module));
  parts.push(q(family));
  for (const [k, v] of Object.entries(params && typeof params === "object" ? params : {})) {
    parts.push(`--${k.replace(/_/g, "-")}`, q(fmtValue(v)));
  }
  return parts.join(" ");
}

function showError(id, t, text, info) {
  const dlg = document.getElementById("error-dialog");
  const family = (info && info.taskFamily) || t.name || id;
  const params = (info && info.taskParams) || t.params;
  const module = info && info.taskModule;
  const cmd = rerunCommand(module, family, params);
  document.getElementById("error-title").textContent = `Error of ${(info && info.displayName) || t.display_name || id}`;
  document.getElementById("error-task-id").textContent = id;
  document.getElementById("error-text").textContent = text;
  document.getElementById("error-command").textContent = cmd;
  const note = document.getElementById("error-copied");
  note.textContent = "";
  const copy = (what, value) => async () => {
    note.textContent = (await copyText(value)) ? `${what} copied to the clipboard.` : `Could not copy; select the ${what.toLowerCase()} and copy it.`;
  };
  document.getElementById("error-copy").onclick = copy("Traceback", text);
  document.getElementById("error-copy-command").onclick = copy("Command", cmd);
  if (!dlg.open) dlg.showModal();
  document.getElementById("error-close").focus();
}

// While a running task is shown, its status message and progress are re-read every
// LIVE_MS (a worker sets them as it goes), independent of the page's auto-refresh.
const LIVE_MS = 1000;
let liveTimer = null;
let liveId = "";
function live(id) {
  if (id === liveId) return;
  clearInterval(liveTimer);
  liveTimer = null;
  liveId = id || "";
  if (!id) return;
  let busy = false;
  liveTimer = setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const [m, p] = await Promise.all([
        call("get_task_status_message", { task_id: id }),
        call("get_task_progress_percentage", { task_id: id }),
      ]);
      if (liveId !== id) return;
      const md = document.getElementById("live-message");
      const pd = document.getElementById("live-progress");
      const text = fmtValue(m && m.statusMessage);
      if (md && md.textContent !== text) md.textContent = text;
      const pct = p ? p.progressPercentage : null;
      if (pd && pd.dataset.value !== String(pct)) {
        pd.dataset.value = String(pct);
        clear(pd).append(progress(pct) || "");
      }
    } catch (e) {
      // The next full refresh reports an unreachable scheduler; polling just goes on.
    } finally {
      busy = false;
    }
  }, LIVE_MS);
}

// Messages to a running task whose worker accepts them (luigi's Task.accepts_messages):
// the scheduler queues it for the worker's next ping; with "wait for a reply" the page polls
// for the task's answer. Built once per task, so a refresh does not eat what is typed.
let msgFor = "";
let msgPoll = null;
function messageBox(t) {
  const box = document.getElementById("details-message");
  const key = t ? `${t.taskId}\n${t.worker_running}` : "";
  if (key === msgFor) return;
  msgFor = key;
  clearInterval(msgPoll);
  msgPoll = null;
  clear(box).hidden = !t;
  if (!t) return;
  const input = h("input", { type: "text", id: "message-text", "aria-label": "Message to the task", autocomplete: "off" });
  const wait = h("input", { type: "checkbox", id: "message-wait", checked: true });
  const out = h("p", { id: "message-status", class: "note", role: "status" });
  const reply = h("pre", { id: "message-reply", class: "trace", hidden: true });
  const send = async (e) => {
    e.preventDefault();
    const content = input.value;
    if (!content) return;
    clearInterval(msgPoll);
    reply.hidden = true;
    out.textContent = "Sending…";
    let sent;
    try {
      sent = await call("send_scheduler_message", { worker: t.worker_running, task: t.taskId, content });
    } catch (err) {
      out.textContent = `Failed: ${err.message}`;
      return;
    }
    if (msgFor !== key) return;
    const mid = sent && sent.message_id;
    if (!mid) {
      out.textContent = "The scheduler does not pass messages on (send_messages is off).";
      return;
    }
    input.value = "";
    if (!wait.checked) {
      out.textContent = "Sent; the worker gets it at its next ping.";
      return;
    }
    out.textContent = "Sent; waiting for the reply…";
    let tries = 0;
    let busy = false;
    const timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const r = await call("get_scheduler_message_response", { task_id: t.taskId, message_id: mid });
        const answer = r ? r.response : null;
        if (answer !== null && answer !== undefined) {
          clearInterval(timer);
          out.textContent = "Reply:";
          reply.textContent = fmtValue(answer);
          reply.hidden = false;
        } else if (++tries >= 300) {
          clearInterval(timer);
          out.textContent = "No reply after 5 minutes; stopped waiting.";
        }
      } catch (err) {
        clearInterval(timer);
        out.textContent = `Failed: ${err.message}`;
      } finally {
        busy = false;
      }
    }, 1000);
    msgPoll = timer;
  };
  box.append(h("div", { class: "needs-admin" },
    h("h3", {}, "Send a message"),
    h("form", { onsubmit: send }, input,
      h("label", { class: "check" }, wait, " wait for a reply"),
      h("button", { type: "submit", class: "btn", dataset: { action: "send-message" } }, "Send")),
    out, reply));
}

export function init(onAction) {
  afterAction = onAction;
  document.getElementById("details-close").addEventListener("click", () => update({ task: "" }, { push: true }));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.task && !document.querySelector("dialog[open]")) update({ task: "" }, { push: true });
  });
  document.getElementById("error-close").addEventListener("click", () => document.getElementById("error-dialog").close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  document.getElementById("error-dialog").addEventListener("click", (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    if (e.target === e.currentTarget && (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom)) {
      e.currentTarget.close();
    }
  });
}
