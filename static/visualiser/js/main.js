// Wiring: tabs, auto-refresh, top bar (history links, pause), and the hash-driven view.
import { call } from "./api.js";
import { state, update, onChange, initFromLocation } from "./state.js";
import * as tasks from "./tasks.js";
import * as graph from "./graph.js";
import * as details from "./details.js";
import * as workers from "./workers.js";

const TABS = ["tasks", "graph", "workers", "resources"];
let timer = null;
let inflight = null;

function banner(text) {
  const b = document.getElementById("banner");
  b.textContent = text || "";
  b.hidden = !text;
}

function showTab() {
  const tab = TABS.includes(state.tab) ? state.tab : "tasks";
  for (const t of TABS) {
    const btn = document.getElementById(`tab-${t}`);
    btn.setAttribute("aria-selected", String(t === tab));
    btn.tabIndex = t === tab ? 0 : -1;
    document.getElementById(`panel-${t}`).hidden = t !== tab;
  }
  document.body.dataset.tab = tab;
}

// Load what the current view shows. Overlapping loads are cancelled, not stacked.
async function refresh({ force = false } = {}) {
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const jobs = [topBar(ctl.signal)];
  if (state.tab === "tasks") jobs.push(tasks.refresh(ctl.signal));
  if (state.tab === "graph") jobs.push(graph.refresh(ctl.signal, { force }));
  if (state.tab === "workers") jobs.push(workers.refreshWorkers(ctl.signal));
  if (state.tab === "resources") jobs.push(workers.refreshResources(ctl.signal));
  try {
    await Promise.all(jobs);
    // The details panel may look tasks up in the table just loaded, so it goes last.
    await details.refresh(ctl.signal);
    if (ctl.signal.aborted) return;
    banner("");
    const now = new Date();
    const el = document.getElementById("last-updated");
    el.textContent = now.toLocaleTimeString();
    el.dateTime = now.toISOString();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) {
    if (e.name === "AbortError") return;
    if (e.standby) {
      banner("Standby: this server waits to take over from the leader of its pair and serves no tasks. Open the leader, or the address in front of both.");
      return;
    }
    banner(`Could not load from the scheduler (${e.message}). Showing the last data; retrying on the next refresh.`);
  } finally {
    if (inflight === ctl) inflight = null;
  }
}

let pauseEnabled = null;
async function topBar(signal) {
  const [hist, pe] = await Promise.all([
    call("has_task_history", {}, { signal }),
    pauseEnabled === null ? call("is_pause_enabled", {}, { signal }) : { enabled: pauseEnabled },
  ]);
  document.getElementById("history-links").hidden = hist !== true;
  pauseEnabled = !!(pe && pe.enabled);
  const btn = document.getElementById("pause-toggle");
  btn.hidden = !pauseEnabled;
  if (pauseEnabled) {
    const p = await call("is_paused", {}, { signal });
    const paused = !!(p && p.paused);
    btn.setAttribute("aria-pressed", String(paused));
    btn.textContent = paused ? "Paused — resume scheduler" : "Pause scheduler";
    btn.classList.toggle("danger", paused);
  }
}

function schedule() {
  clearInterval(timer);
  const secs = Number(document.getElementById("refresh-interval").value);
  if (secs > 0) timer = setInterval(() => { if (!document.hidden) refresh(); }, secs * 1000);
}

function init() {
  initFromLocation();
  // The details drawer starts below the top bar, whose height depends on the width.
  const top = document.querySelector(".top");
  const setTop = () => document.documentElement.style.setProperty("--top-h", `${top.offsetHeight}px`);
  new ResizeObserver(setTop).observe(top);
  setTop();
  showTab();
  const afterAction = () => refresh({ force: true });
  tasks.init();
  graph.init((id) => update({ task: id }, { push: true }));
  details.init(afterAction);
  workers.init(afterAction);

  const tablist = document.querySelector("[role=tablist]");
  tablist.addEventListener("click", (e) => {
    const btn = e.target.closest("[data-tab]");
    if (btn) update({ tab: btn.dataset.tab }, { push: true });
  });
  tablist.addEventListener("keydown", (e) => {
    const i = TABS.indexOf(state.tab);
    const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    const next = TABS[(i + d + TABS.length) % TABS.length];
    update({ tab: next }, { push: true });
    document.getElementById(`tab-${next}`).focus();
  });

  document.getElementById("pause-toggle").addEventListener("click", async (e) => {
    const paused = e.currentTarget.getAttribute("aria-pressed") === "true";
    try {
      await call(paused ? "unpause" : "pause", {});
    } catch (err) {
      banner(`Could not ${paused ? "resume" : "pause"} the scheduler (${err.message}).`);
      return;
    }
    refresh();
  });
  const interval = document.getElementById("refresh-interval");
  const saved = localStorage.getItem("luigi-ui-refresh");
  if (saved !== null && [...interval.options].some((o) => o.value === saved)) interval.value = saved;
  interval.addEventListener("change", () => {
    localStorage.setItem("luigi-ui-refresh", interval.value);
    schedule();
  });
  document.getElementById("refresh-now").addEventListener("click", () => refresh({ force: true }));

  onChange((changed) => {
    if (changed.has("tab")) showTab();
    tasks.syncSearchBox();
    const reload = ["tab", "status", "q", "root", "inv", "done"].some((k) => changed.has(k));
    if (reload) refresh();
    else {
      if (state.tab === "tasks") tasks.render(); // sorting, paging, family: local only
      if (changed.has("task")) {
        details.refresh().catch((e) => banner(`Could not load the task (${e.message}).`));
      }
    }
  });
  schedule();
  refresh();
}

init();
