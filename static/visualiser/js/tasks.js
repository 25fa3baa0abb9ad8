// The Tasks tab: status boxes with counts, family list, server-side search, and the
// sortable, paged task table.
import { call, tooMany } from "./api.js";
import { STATUSES, UPSTREAM, LABELS, isUpstream } from "./status.js";
import { state, update, statuses } from "./state.js";
import { h, clear, fmtTime, fmtAgo, fmtParams, fmtValue, fmtDuration, debounce, workerLabel } from "./util.js";

const PAGE_SIZES = ["25", "50", "100", "500"];

// Everything the table shows, from the last successful load.
const data = {
  counts: {},      // status or upstream state -> number (or null while unknown)
  rows: [],        // tasks of the current status filter and search, each with .taskId
  tooMany: null,   // {n, what} when the scheduler refused to list them
  byId: new Map(),
};

export function taskById(id) {
  return data.byId.get(id);
}

// A count is asked for with max_shown_tasks=1: the scheduler then answers
// {"num_tasks": N} instead of serialising the tasks, so counting 100k tasks stays cheap.
// For the upstream states a non-empty search is needed to reach the counting branch
// (a lone space matches every task), since without one the reply would be -1.
async function count(status, upstream, q, signal) {
  const params = { status, upstream_status: upstream, search: q, max_shown_tasks: 1 };
  if (upstream && !q) params.search = " ";
  const reply = await call("task_list", params, { signal });
  const n = tooMany(reply);
  if (n !== null) return n;
  return reply && typeof reply === "object" ? Object.keys(reply).length : 0;
}

async function loadCounts(q, signal) {
  const jobs = [
    ...STATUSES.map((s) => count(s, "", q, signal).then((n) => [s, n])),
    ...UPSTREAM.map((u) => count("PENDING", u, q, signal).then((n) => [u, n])),
  ];
  return Object.fromEntries(await Promise.all(jobs));
}

// Search by id. The scheduler's task_list search (luigi's scheduler.py task_list) matches
// words against each task's pretty name, Family(param=value, ...), never its id; so a
// query of one word (a pasted id, or part of one) is also sent to task_search, which
// matches ids (case-sensitive substring, as luigid does). Its hits the name search missed
// are the "extra" tasks added to the rows and counts here.
const MAX_UPSTREAM_LOOKUPS = 10;
function idQuery(q) {
  return /^\S{3,}$/.test(q) ? q : "";
}

async function idSearch(q, signal) {
  const reply = await call("task_search", { task_str: q }, { signal });
  const term = q.toLowerCase();
  const extras = [];
  for (const [status, tasks] of Object.entries(reply && typeof reply === "object" ? reply : {})) {
    for (const [id, t] of Object.entries(tasks && typeof tasks === "object" ? tasks : {})) {
      if (!t || typeof t !== "object") continue;
      const pretty = t.display_name || `${t.name || ""}(${fmtParams(t.params)})`;
      if (pretty.toLowerCase().includes(term)) continue; // task_list finds it already
      extras.push({ ...t, status: t.status || status, taskId: id });
    }
  }
  // A pending task's upstream state is not in the reply: ask task_list, filtered by each
  // state and searched by the task's own pretty name, which state lists it.
  const pending = extras.filter((t) => t.status === "PENDING").slice(0, MAX_UPSTREAM_LOOKUPS);
  await Promise.all(pending.map(async (t) => {
    const search = t.display_name || "";
    if (!search) return;
    const found = await Promise.all(UPSTREAM.map((u) =>
      call("task_list", { status: "PENDING", upstream_status: u, search }, { signal })
        .then((r) => (r && typeof r === "object" && r[t.taskId] ? u : ""))));
    t.upstream = found.find(Boolean) || "";
  }));
  return extras;
}

function addExtras(counts, extras) {
  for (const t of extras) {
    if (typeof counts[t.status] === "number" && counts[t.status] >= 0) counts[t.status]++;
    if (t.upstream && typeof counts[t.upstream] === "number" && counts[t.upstream] >= 0) counts[t.upstream]++;
  }
}

function extraRows(byId, extras) {
  const sel = statuses();
  for (const t of extras) {
    if (!sel.length || sel.includes(t.status) || (t.upstream && sel.includes(t.upstream))) {
      const row = { ...t };
      if (!sel.includes(t.status)) row.upstream = sel.length ? t.upstream : undefined;
      else delete row.upstream;
      byId.set(t.taskId, row);
    }
  }
}

async function loadRows(q, signal) {
  const sel = statuses();
  const queries = sel.length
    ? sel.map((s) => (isUpstream(s) ? ["PENDING", s] : [s, ""]))
    : [["", ""]];
  const replies = await Promise.all(
    queries.map(([status, upstream]) =>
      call("task_list", { status, upstream_status: upstream, search: q }, { signal })
        .then((r) => [status, upstream, r])),
  );
  const byId = new Map();
  let refused = null;
  for (const [status, upstream, reply] of replies) {
    const n = tooMany(reply);
    if (n !== null) {
      refused = refused || [];
      refused.push({ n, what: upstream ? LABELS[upstream] : status ? LABELS[status] : "all" });
      continue;
    }
    for (const [id, t] of Object.entries(reply || {})) {
      if (!t || typeof t !== "object") continue;
      t.taskId = id;
      if (upstream) t.upstream = upstream;
      byId.set(id, t);
    }
  }
  return { byId, refused };
}

// Above this many rows the table waits for a status filter, a search or a click on
// "List them anyway": 100k serialised tasks are tens of megabytes per refresh.
// localStorage "luigi-ui-row-limit" changes it for one browser.
function softLimit() {
  const v = Number(localStorage.getItem("luigi-ui-row-limit"));
  return Number.isInteger(v) && v > 0 ? v : 20000;
}
// "List them anyway" holds for the filter it was clicked on, not for later ones.
let listAnywayFor = null;
const filterKey = () => `${state.status}|${state.q.trim()}`;

function expectedRows(counts) {
  const sel = statuses();
  const keys = sel.length ? sel : STATUSES;
  return keys.reduce((sum, k) => sum + Math.max(0, counts[k] || 0), 0);
}

let generation = 0;
export async function refresh(signal) {
  const gen = ++generation;
  const q = state.q.trim();
  const idq = idQuery(q);
  const [counts, extras] = await Promise.all([loadCounts(q, signal), idq ? idSearch(idq, signal) : []]);
  addExtras(counts, extras);
  const expected = expectedRows(counts);
  let rows;
  if (expected > softLimit() && listAnywayFor !== filterKey()) {
    rows = { byId: new Map(), refused: [{ n: expected, what: "soft" }] };
  } else {
    rows = await loadRows(q, signal);
    extraRows(rows.byId, extras);
  }
  if (gen !== generation) return; // a newer load started meanwhile
  data.counts = counts;
  data.byId = rows.byId;
  data.rows = [...rows.byId.values()];
  data.tooMany = rows.refused;
  render();
}

// ---- rendering ----

function renderBoxes() {
  const sel = new Set(statuses());
  const box = (s) => {
    const n = data.counts[s];
    const pressed = sel.has(s);
    return h("button", {
      class: `box st-${s}`, "aria-pressed": String(pressed), dataset: { status: s },
      title: isUpstream(s) ? `Pending tasks whose dependencies are ${LABELS[s].toLowerCase()}` : "",
      onclick: () => toggleStatus(s),
    }, h("span", { class: "count" }, n === undefined ? "?" : n < 0 ? "many" : String(n)),
    h("span", { class: "label" }, LABELS[s]));
  };
  const boxes = document.getElementById("status-boxes");
  clear(boxes).append(...STATUSES.map(box));
  const up = document.getElementById("upstream-boxes");
  clear(up).append(h("span", { class: "boxes-title" }, "Pending, by upstream:"), ...UPSTREAM.map(box));
}

function toggleStatus(s) {
  const sel = new Set(statuses());
  if (sel.has(s)) sel.delete(s);
  else sel.add(s);
  const ordered = [...STATUSES, ...UPSTREAM].filter((x) => sel.has(x));
  update({ status: ordered.join(","), page: "1" }, { push: true });
}

function familyOf(t) {
  return t.name || "(none)";
}

function renderFamilies() {
  const counts = new Map();
  for (const t of data.rows) counts.set(familyOf(t), (counts.get(familyOf(t)) || 0) + 1);
  const list = clear(document.getElementById("family-list"));
  const names = [...counts.keys()].sort((a, b) => a.localeCompare(b));
  if (state.family && !counts.has(state.family)) names.unshift(state.family);
  for (const name of names) {
    list.append(h("li", {}, h("button", {
      class: "fam", "aria-pressed": String(state.family === name), dataset: { family: name },
      onclick: () => update({ family: state.family === name ? "" : name, page: "1" }, { push: true }),
    }, h("span", { class: "fam-name" }, name),
    h("span", { class: "fam-count" }, String(counts.get(name) || 0)))));
  }
  if (!names.length) list.append(h("li", { class: "muted" }, data.tooMany ? "shown once tasks are listed" : "none"));
}

const SORT_KEYS = {
  id: (t) => t.taskId,
  family: (t) => familyOf(t),
  params: (t) => fmtParams(t.params),
  status: (t) => t.status || "",
  priority: (t) => (typeof t.priority === "number" ? t.priority : 0),
  updated: (t) => (typeof t.last_updated === "number" ? t.last_updated : 0),
  worker: (t) => workerLabel(workerOf(t)),
};

function workerOf(t) {
  if (t.worker_running) return t.worker_running;
  const w = Array.isArray(t.workers) ? t.workers : [];
  return w[0] || "";
}

// The Worker cell: host · user · pid of the running worker (else the first interested
// one, "+N" for the others); the full worker ids on hover.
function workerCell(t) {
  const all = t.worker_running ? [t.worker_running] : Array.isArray(t.workers) ? t.workers : [];
  if (!all.length) return h("td", { class: "worker" });
  return h("td", { class: "worker", title: all.join("\n") }, workerLabel(all[0]),
    all.length > 1 ? h("span", { class: "muted" }, ` +${all.length - 1}`) : null);
}

// Ids break after underscores (Luigi ids are Family_values_hash), not mid-word.
function breakable(id) {
  const parts = String(id).split("_");
  return parts.flatMap((p, i) => (i < parts.length - 1 ? [p + "_", h("wbr")] : [p]));
}

// Parameters one per line-break opportunity; resources under them, as luigid's table has.
function paramsCell(t) {
  const params = t.params && typeof t.params === "object" ? Object.entries(t.params) : [];
  const res = t.resources_running || t.resources;
  const resText = res && typeof res === "object" && Object.keys(res).length
    ? Object.entries(res).map(([k, v]) => `${k}: ${fmtValue(v)}`).join(", ") : "";
  return h("td", { class: "params" },
    params.map(([k, v], i) => h("span", { class: "param" }, `${k}=${fmtValue(v)}${i < params.length - 1 ? ", " : ""}`)),
    resText ? h("div", { class: "res", title: "Resources" }, `Resources: ${resText}`) : null);
}

function statusCell(t) {
  const running = (t.status === "RUNNING" || t.status === "BATCH_RUNNING") && typeof t.time_running === "number";
  return h("td", { class: "status" }, statusBadge(t.status, t.upstream),
    running ? h("div", { class: "running-for", dataset: { since: String(t.time_running) } },
      `for ${fmtDuration(Date.now() / 1000 - t.time_running)}`) : null);
}

function visibleRows() {
  let rows = data.rows;
  if (state.family) rows = rows.filter((t) => familyOf(t) === state.family);
  const key = SORT_KEYS[state.sort] || SORT_KEYS.updated;
  const dir = state.dir === "asc" ? 1 : -1;
  return rows.slice().sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return c !== 0 ? c * dir : a.taskId.localeCompare(b.taskId);
  });
}

export function statusBadge(status, upstream) {
  return h("span", { class: `badge st-${status}` }, LABELS[status] || status,
    upstream ? h("small", { class: "up" }, ` · ${LABELS[upstream]}`) : null);
}

function renderTable() {
  const note = clear(document.getElementById("table-note"));
  const notes = [];
  let offerAll = false;
  for (const { n, what } of data.tooMany || []) {
    const scope = what === "all" ? "" : ` in “${what}”`;
    if (what === "soft") {
      notes.push(`${n} tasks match. Pick a status or search to narrow the list.`);
      offerAll = true;
    } else if (n >= 0) {
      notes.push(`Too many tasks to list${scope}: ${n} match, more than the scheduler's ` +
        "max_shown_tasks. Pick a status or search to narrow the list.");
    } else {
      notes.push(`Too many tasks to list${scope} (more than the scheduler's max_shown_tasks). ` +
        "Search to narrow the list.");
    }
  }
  const rows = visibleRows();
  const size = PAGE_SIZES.includes(state.size) ? Number(state.size) : 50;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const page = Math.min(Math.max(1, Number(state.page) || 1), pages);
  const slice = rows.slice((page - 1) * size, page * size);
  note.append(notes.join(" "));
  if (offerAll) {
    note.append(" ", h("button", { class: "btn link", id: "list-anyway", onclick: () => {
      listAnywayFor = filterKey();
      document.getElementById("refresh-now").click();
    } }, "List them anyway"));
  }
  note.classList.toggle("warn", notes.length > 0);

  for (const th of document.querySelectorAll("#task-table th[data-sort]")) {
    const active = th.dataset.sort === state.sort;
    th.setAttribute("aria-sort", active ? (state.dir === "asc" ? "ascending" : "descending") : "none");
  }
  const tbody = clear(document.querySelector("#task-table tbody"));
  const frag = document.createDocumentFragment();
  for (const t of slice) {
    const tr = h("tr", { dataset: { taskId: t.taskId }, class: t.taskId === state.task ? "selected" : "" },
      h("td", { class: "id" }, h("button", {
        class: "link", title: t.taskId,
        onclick: () => update({ task: t.taskId }, { push: true }),
      }, breakable(t.taskId))),
      h("td", { class: "family" }, familyOf(t)),
      paramsCell(t),
      statusCell(t),
      h("td", { class: "num" }, String(t.priority ?? "")),
      h("td", { class: "last-upd", title: fmtAgo(t.last_updated) }, fmtTime(t.last_updated)),
      workerCell(t));
    frag.append(tr);
  }
  tbody.append(frag);
  if (!slice.length) {
    tbody.append(h("tr", {}, h("td", { colspan: "7", class: "muted" },
      data.tooMany ? "No tasks listed." : "No tasks match.")));
  }

  const pager = clear(document.getElementById("pager"));
  pager.append(
    h("button", { class: "btn", disabled: page <= 1, onclick: () => update({ page: String(page - 1) }) }, "‹ Previous"),
    h("span", { class: "page-info", "aria-live": "polite" },
      `Page ${page} of ${pages} · ${rows.length} task${rows.length === 1 ? "" : "s"}`),
    h("button", { class: "btn", disabled: page >= pages, onclick: () => update({ page: String(page + 1) }) }, "Next ›"),
    h("label", {}, "Rows ",
      h("select", { onchange: (e) => update({ size: e.target.value, page: "1" }) },
        PAGE_SIZES.map((s) => h("option", { value: s, selected: s === String(size) }, s)))));
}

export function render() {
  renderBoxes();
  renderFamilies();
  renderTable();
}

export function init() {
  const input = document.getElementById("search");
  input.value = state.q;
  // A changed `q` reloads through the state listener; typing waits for a pause.
  const send = debounce(() => update({ q: input.value, page: "1" }), 400);
  input.addEventListener("input", send);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      send.cancel();
      update({ q: input.value, page: "1" });
    }
  });
  document.getElementById("clear-filters").addEventListener("click", () => {
    input.value = "";
    update({ q: "", status: "", family: "", page: "1" }, { push: true });
  });
  for (const th of document.querySelectorAll("#task-table th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      const dir = state.sort === key && state.dir === "asc" ? "desc" : "asc";
      update({ sort: key, dir });
    });
  }
}

export function syncSearchBox() {
  const input = document.getElementById("search");
  if (document.activeElement !== input) input.value = state.q;
}
