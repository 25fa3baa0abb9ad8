// The Workers and Resources tabs.
import { call } from "./api.js";
import { update } from "./state.js";
import { h, clear, fmtTime, fmtAgo, fmtDuration, fmtParams, confirmDialog, fmtValue, stepper, parseWorker } from "./util.js";

let afterAction = async () => {};
// Process counts asked for per worker: the worker reports the new count only when it next
// registers, so until then the page shows what was asked.
const requested = new Map();
let flash = "";
let resFlash = "";

// An auto-refresh must not throw away a number being typed.
function editing(box) {
  const a = document.activeElement;
  return a && a.tagName === "INPUT" && box.contains(a);
}

function processes(w) {
  const asked = requested.get(w.name);
  if (asked === w.workers) requested.delete(w.name);
  const pending = requested.has(w.name);
  return [
    h("span", { class: "for-viewers" }, fmtValue(w.workers)),
    w.state === "disabled" ? null : stepper({
      value: pending ? asked : w.workers, min: 1, label: `Processes of ${w.name}`, action: "procs",
      set: async (n) => {
        try {
          await call("set_worker_processes", { worker: w.name, n });
          requested.set(w.name, n);
          flash = `Asked ${w.name} to run ${n} process${n === 1 ? "" : "es"}; it applies this when it next pings.`;
        } catch (e) {
          flash = `Failed: ${e.message}`;
        }
        await afterAction();
      },
    }),
    pending ? h("span", { class: "requested muted" }, `reported ${fmtValue(w.workers)}, asked ${asked}`) : null,
  ];
}

function taskLinks(running) {
  const ids = Object.keys(running && typeof running === "object" ? running : {}).sort();
  if (!ids.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "task-links" }, ids.map((id) =>
    h("li", {}, h("button", { class: "link", onclick: () => update({ task: id }, { push: true }) }, id))));
}

function time(t) {
  return typeof t === "number" ? h("span", { title: fmtTime(t) }, fmtAgo(t)) : "";
}

// A running task in a worker card: family and parameters, for how long, progress and the
// status message the task last set.
function runningTask(id, t) {
  const task = t && typeof t === "object" ? t : {};
  const since = typeof task.time_running === "number" ? task.time_running : null;
  const pct = Number(task.progress_percentage);
  const hasPct = task.progress_percentage !== null && task.progress_percentage !== undefined && isFinite(pct);
  return h("li", { class: "running-task", dataset: { taskId: id } },
    h("button", { class: "link task-name", title: id, onclick: () => update({ task: id }, { push: true }) },
      h("strong", {}, task.name || id), task.name ? `(${fmtParams(task.params)})` : ""),
    h("div", { class: "running-meta" },
      since !== null
        ? h("span", { class: "running-for", title: `since ${fmtTime(since)}` }, `running for ${fmtDuration(Date.now() / 1000 - since)}`)
        : null,
      hasPct ? h("span", { class: "progress-row" },
        h("progress", { max: "100", value: String(Math.max(0, Math.min(100, pct))), "aria-label": `Progress of ${id}` }),
        h("span", {}, `${Math.max(0, Math.min(100, pct))}%`)) : null,
      task.status_message ? h("span", { class: "status-message" }, fmtValue(task.status_message)) : null));
}

function fact(label, value, col) {
  return h("div", { class: "fact", dataset: col ? { col } : {} }, h("dt", {}, label), h("dd", {}, value));
}

// One card per worker: who and where it is (host, user, pid from worker_list, else parsed
// from the worker id luigi builds), its processes, activity and what it runs now.
function workerCard(w) {
  const parsed = parseWorker(w.name);
  const host = fmtValue(w.host ?? parsed.host) || "unknown host";
  const user = fmtValue(w.username ?? parsed.username);
  const pid = fmtValue(w.pid ?? parsed.pid);
  const running = w.running && typeof w.running === "object" ? w.running : {};
  const ids = Object.keys(running).sort();
  const disabled = w.state === "disabled";
  return h("article", { class: `card worker${disabled ? " disabled" : ""}`, dataset: { worker: w.name } },
    h("div", { class: "worker-head" },
      h("h3", { class: "host" }, host),
      h("span", { class: "who" }, [user ? h("span", { class: "user" }, `user ${user}`) : null, pid ? h("span", { class: "pid" }, `pid ${pid}`) : null]),
      h("span", { class: `state state-${w.state || "unknown"}` }, w.state || ""),
      disabled ? null : h("button", {
        class: "btn danger needs-admin", dataset: { action: "disable-worker" },
        onclick: async () => {
          if (await confirmDialog(`Disable worker ${w.name}? It will get no new tasks and will stop.`, "Disable worker")) {
            await call("disable_worker", { worker: w.name });
            await afterAction();
          }
        },
      }, "Disable")),
    h("p", { class: "worker-id", title: "Worker id" }, w.name),
    h("dl", { class: "facts" },
      fact("Processes", processes(w), "processes"),
      fact("Started", time(w.started)),
      fact("Last active", time(w.last_active)),
      fact("Running", fmtValue(w.num_running), "running"),
      fact("Pending", fmtValue(w.num_pending), "pending"),
      fact("Unique pending", fmtValue(w.num_uniques), "uniques")),
    h("h4", {}, `Running tasks (${ids.length})`),
    ids.length
      ? h("ul", { class: "running-tasks" }, ids.map((id) => runningTask(id, running[id])))
      : h("p", { class: "muted" }, "none"));
}

export async function refreshWorkers(signal) {
  const list = await call("worker_list", {}, { signal });
  const box = document.getElementById("workers");
  if (editing(box)) return;
  clear(box);
  const workers = Array.isArray(list) ? list : [];
  box.append(h("p", { class: "note", id: "workers-status", role: "status" }, flash));
  if (!workers.length) {
    box.append(h("p", { class: "muted" }, "No workers have talked to the scheduler."));
    return;
  }
  box.append(h("div", { class: "worker-cards", id: "worker-cards" }, workers.map(workerCard)));
}

export async function refreshResources(signal) {
  const list = await call("resource_list", {}, { signal });
  const box = document.getElementById("resources");
  if (editing(box)) return;
  clear(box);
  box.append(h("p", { class: "note", id: "resources-status", role: "status" }, resFlash));
  const resources = Array.isArray(list) ? list : [];
  if (!resources.length) {
    box.append(h("p", { class: "muted" }, "No resources are configured."));
    return;
  }
  for (const r of resources) {
    const total = Number(r.num_total);
    const used = Number(r.num_used) || 0;
    const ratio = total > 0 ? used / total : used > 0 ? 1 : 0;
    const level = ratio >= 1 ? "full" : ratio > 0.5 ? "high" : "ok";
    box.append(h("article", { class: "card resource", dataset: { resource: r.name } },
      h("h3", {}, r.name),
      h("p", { class: "usage" }, h("span", { class: "used" }, String(used)), " of ",
        h("span", { class: "total" }, fmtValue(r.num_total)), " in use"),
      stepper({
        value: r.num_total, min: 0, label: `Amount of ${r.name}`, action: "resource",
        set: async (n) => {
          try {
            const ok = await call("update_resource", { resource: r.name, amount: n });
            resFlash = ok === true ? `${r.name} set to ${n}.` : `The scheduler refused ${n} for ${r.name}.`;
          } catch (e) {
            resFlash = `Could not change ${r.name}: ${e.message}`;
          }
          await afterAction();
        },
      }),
      h("div", { class: `bar ${level}`, role: "meter", "aria-valuemin": "0",
        "aria-valuemax": String(total || 0), "aria-valuenow": String(used), "aria-label": `${r.name} usage` },
      h("span", { style: `width:${Math.min(100, ratio * 100)}%` })),
      h("p", {}, `Used by ${r.num_consumer ?? 0} running task${r.num_consumer === 1 ? "" : "s"}:`),
      taskLinks(r.running)));
  }
}

export function init(onAction) {
  afterAction = onAction;
}
