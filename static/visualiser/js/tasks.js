// The Tasks tab: status boxes with counts, family list, server-side search, and the
// sortable, paged task table.
import { call, tooMany } from "./api.js";
import { STATUSES, UPSTREAM, LABELS, isUpstream } from "./status.js";
import { state, update, statuses } from "./state.js";
import { h, clear, fmtTime, fmtAgo, fmtParams, debounce } from "./util.js";

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
  const counts = await loadCounts(q, signal);
  const expected = expectedRows(counts);
  let rows;
  if (expected > softLimit() && listAnywayFor !== filterKey()) {
    rows = { byId: new Map(), refused: [{ n: expected, what: "soft" }] };
  } else {
    rows = await loadRows(q, signal);
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
  worker: (t) => workerOf(t),
};

function workerOf(t) {
  if (t.worker_running) return t.worker_running;
  const w = Array.isArray(t.workers) ? t.workers : [];
  return w.length > 1 ? `${w[0]} +${w.length - 1}` : w[0] || "";
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
      }, t.taskId)),
      h("td", {}, familyOf(t)),
      h("td", { class: "params" }, fmtParams(t.params)),
      h("td", {}, statusBadge(t.status, t.upstream)),
      h("td", { class: "num" }, String(t.priority ?? "")),
      h("td", { title: fmtAgo(t.last_updated) }, fmtTime(t.last_updated)),
      h("td", { class: "worker", title: workerOf(t) }, workerOf(t)));
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
