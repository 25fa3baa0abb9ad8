// The view lives in the URL hash (#tab=tasks&status=FAILED,DISABLED&q=foo&task=...), so a
// link restores what its sender saw and the back button walks through views.
const DEFAULTS = {
  tab: "tasks",
  status: "",   // comma list of statuses / upstream states; empty = all
  family: "",
  q: "",        // server-side search terms
  task: "",     // task shown in the details panel
  sort: "updated",
  dir: "desc",
  page: "1",
  size: "50",
  root: "",     // graph root task id
  inv: "0",     // 1: what depends on the root (inverse_dep_graph)
  done: "1",    // 0: hide DONE tasks in the graph
};

export const state = { ...DEFAULTS };
const listeners = [];

export function parseHash(hash = location.hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const s = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) {
    const v = p.get(k);
    if (v !== null) s[k] = v;
  }
  // Links made with luigid's own page keep working: #tab=graph&taskId=X, #tab=resource,
  // and hideDone / invert for the graph options.
  if (s.tab === "resource") s.tab = "resources";
  const legacyId = p.get("taskId");
  if (legacyId && !p.has("root") && !p.has("task")) {
    if (s.tab === "graph") s.root = legacyId;
    else s.task = legacyId;
  }
  if (p.get("hideDone") === "1" && !p.has("done")) s.done = "0";
  if (p.get("invert") === "1" && !p.has("inv")) s.inv = "1";
  return s;
}

export function toHash(s) {
  const p = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) {
    if (s[k] !== DEFAULTS[k] && s[k] !== undefined) p.set(k, s[k]);
  }
  const str = p.toString();
  return str ? "#" + str : "#";
}

export function statuses() {
  return state.status ? state.status.split(",").filter(Boolean) : [];
}

// Change the view. `push` makes a history entry (tab, task, graph root changes);
// typing and paging replace the current entry instead.
export function update(changes, { push = false } = {}) {
  const before = { ...state };
  Object.assign(state, changes);
  const hash = toHash(state);
  if (hash !== location.hash && !(hash === "#" && location.hash === "")) {
    if (push) history.pushState(null, "", hash);
    else history.replaceState(null, "", hash);
  }
  notify(before);
}

export function onChange(fn) {
  listeners.push(fn);
}

function notify(before) {
  const changed = new Set(Object.keys(state).filter((k) => state[k] !== before[k]));
  if (changed.size) for (const fn of listeners) fn(changed);
}

export function initFromLocation() {
  Object.assign(state, parseHash());
  const apply = () => {
    const before = { ...state };
    Object.assign(state, parseHash());
    notify(before);
  };
  window.addEventListener("popstate", apply);
  window.addEventListener("hashchange", apply);
}
