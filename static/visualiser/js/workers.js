// The Workers and Resources tabs.
import { call } from "./api.js";
import { update } from "./state.js";
import { h, clear, fmtTime, fmtAgo, confirmDialog, fmtValue } from "./util.js";

let afterAction = async () => {};

function taskLinks(running) {
  const ids = Object.keys(running && typeof running === "object" ? running : {}).sort();
  if (!ids.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "task-links" }, ids.map((id) =>
    h("li", {}, h("button", { class: "link", onclick: () => update({ task: id }, { push: true }) }, id))));
}

function time(t) {
  return typeof t === "number" ? h("span", { title: fmtTime(t) }, fmtAgo(t)) : "";
}

export async function refreshWorkers(signal) {
  const list = await call("worker_list", {}, { signal });
  const box = clear(document.getElementById("workers"));
  const workers = Array.isArray(list) ? list : [];
  if (!workers.length) {
    box.append(h("p", { class: "muted" }, "No workers have talked to the scheduler."));
    return;
  }
  box.append(h("div", { class: "scroll-x" }, h("table", { class: "grid", id: "worker-table" },
    h("caption", { class: "vh" }, "Workers"),
    h("thead", {}, h("tr", {}, ["Worker", "Host", "PID", "User", "Processes", "Started", "Last active",
      "State", "Running", "Pending", "Unique pending", "Running tasks", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, workers.map((w) => h("tr", {
      class: w.state === "disabled" ? "disabled" : "", dataset: { worker: w.name },
    },
    h("td", { class: "id" }, w.name),
    h("td", {}, fmtValue(w.host)),
    h("td", { class: "num" }, fmtValue(w.pid)),
    h("td", {}, fmtValue(w.username)),
    h("td", { class: "num" }, fmtValue(w.workers)),
    h("td", {}, time(w.started)),
    h("td", {}, time(w.last_active)),
    h("td", {}, w.state || ""),
    h("td", { class: "num", dataset: { col: "running" } }, fmtValue(w.num_running)),
    h("td", { class: "num", dataset: { col: "pending" } }, fmtValue(w.num_pending)),
    h("td", { class: "num", dataset: { col: "uniques" } }, fmtValue(w.num_uniques)),
    h("td", {}, taskLinks(w.running)),
    h("td", {}, w.state === "disabled" ? "" : h("button", {
      class: "btn danger", dataset: { action: "disable-worker" },
      onclick: async () => {
        if (await confirmDialog(`Disable worker ${w.name}? It will get no new tasks and will stop.`, "Disable worker")) {
          await call("disable_worker", { worker: w.name });
          await afterAction();
        }
      },
    }, "Disable"))))))));
}

export async function refreshResources(signal) {
  const list = await call("resource_list", {}, { signal });
  const box = clear(document.getElementById("resources"));
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
