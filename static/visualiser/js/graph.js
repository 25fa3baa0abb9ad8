// The Graph tab: a task's dependencies (or dependents) as a layered left-to-right SVG.
// Layout: longest-path layering from the root, a few barycentre sweeps to reduce edge
// crossings, and layers taller than a screen wrapped into several sub-columns so a
// fan-out of thousands stays a compact block instead of one endless column.
import { call } from "./api.js";
import { COLORS, LABELS } from "./status.js";
import { state, update } from "./state.js";
import { esc, fmtParams, clear, h } from "./util.js";

const NODE_W = 168;
const NODE_H = 24;
const ROW_H = 32;
const SUBCOL_W = NODE_W + 24;
const LAYER_GAP = 90;
// Dark labels on the light fills keep text contrast at 4.5:1 or better.
const DARK_TEXT = new Set(["PENDING", "DONE", "DISABLED", "TRUNCATED"]);

// ---- layout (pure) ----

export function buildGraph(reply, rootId) {
  const nodes = new Map();
  for (const [id, t] of Object.entries(reply || {})) {
    if (!t || typeof t !== "object") continue;
    nodes.set(id, { id, task: t, status: t.status || "UNKNOWN", out: [], layer: -1, pos: 0 });
  }
  let truncated = 0;
  const edges = [];
  for (const n of [...nodes.values()]) {
    const deps = Array.isArray(n.task.deps) ? n.task.deps.slice().sort() : [];
    for (const d of deps) {
      if (typeof d !== "string") continue;
      if (!nodes.has(d)) {
        // Listed as a dependency but not sent: the scheduler stopped at max_graph_nodes.
        nodes.set(d, { id: d, task: null, status: "TRUNCATED", out: [], layer: -1, pos: 0 });
        truncated++;
      }
      n.out.push(d);
      edges.push([n.id, d]);
    }
  }
  return { nodes, edges, truncated, rootId };
}

export function layout(g) {
  const { nodes, edges, rootId } = g;
  // Breadth-first order from the root (the fallback layer for nodes inside cycles).
  const order = [];
  const depth = new Map();
  const start = nodes.has(rootId) ? [rootId] : [];
  for (const id of nodes.keys()) if (!start.includes(id) && !start.length) start.push(id);
  for (const s of start) depth.set(s, 0);
  for (let i = 0, q = start.slice(); i < q.length; i++) {
    const id = q[i];
    order.push(id);
    for (const d of nodes.get(id).out) {
      if (!depth.has(d)) {
        depth.set(d, depth.get(id) + 1);
        q.push(d);
      }
    }
  }
  for (const id of nodes.keys()) {
    if (!depth.has(id)) {
      depth.set(id, 0);
      order.push(id);
    }
  }
  // Longest path over a topological order, so every node sits right of all its parents.
  const indeg = new Map([...nodes.keys()].map((id) => [id, 0]));
  for (const [, b] of edges) indeg.set(b, indeg.get(b) + 1);
  const queue = order.filter((id) => indeg.get(id) === 0);
  const layer = new Map();
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    const l = layer.get(id);
    for (const d of nodes.get(id).out) {
      if (!layer.has(d) || layer.get(d) < l + 1) layer.set(d, l + 1);
      indeg.set(d, indeg.get(d) - 1);
      if (indeg.get(d) === 0) queue.push(d);
    }
  }
  const layers = [];
  for (const id of order) {
    const n = nodes.get(id);
    n.layer = layer.has(id) && indeg.get(id) === 0 ? layer.get(id) : depth.get(id);
    (layers[n.layer] ||= []).push(n);
  }
  for (let i = 0; i < layers.length; i++) layers[i] ||= [];

  // Parents of each node, for the barycentre sweeps.
  const parents = new Map([...nodes.keys()].map((id) => [id, []]));
  for (const [a, b] of edges) parents.get(b).push(a);
  const setPos = (ls) => ls.forEach((n, i) => { n.pos = i; });
  layers.forEach(setPos);
  const sweep = (ls, neighbours) => {
    for (const n of ls) {
      const ps = neighbours(n);
      let sum = 0;
      let k = 0;
      for (const p of ps) {
        const m = nodes.get(p);
        if (m.layer !== n.layer) {
          sum += m.pos;
          k++;
        }
      }
      n.bary = k ? sum / k : n.pos;
    }
    ls.sort((a, b) => a.bary - b.bary || a.pos - b.pos);
    setPos(ls);
  };
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 1; i < layers.length; i++) sweep(layers[i], (n) => parents.get(n.id));
    for (let i = layers.length - 2; i >= 0; i--) sweep(layers[i], (n) => n.out);
  }
  for (let i = 1; i < layers.length; i++) sweep(layers[i], (n) => parents.get(n.id));

  // Wrap tall layers into sub-columns.
  const maxRows = Math.max(24, Math.ceil(Math.sqrt(nodes.size) * 1.3));
  let x = 0;
  let height = 0;
  const columns = layers.map((ls) => {
    const sub = Math.max(1, Math.ceil(ls.length / maxRows));
    const rows = Math.ceil(ls.length / sub);
    height = Math.max(height, rows * ROW_H);
    const col = { x, sub, rows };
    x += sub * SUBCOL_W + LAYER_GAP;
    return col;
  });
  layers.forEach((ls, li) => {
    const col = columns[li];
    const top = (height - col.rows * ROW_H) / 2;
    ls.forEach((n, i) => {
      // Fill row by row across the sub-columns, so barycentre order maps to height.
      const r = Math.floor(i / col.sub);
      const c = i % col.sub;
      n.x = col.x + c * SUBCOL_W;
      n.y = top + r * ROW_H;
    });
  });
  return { width: Math.max(NODE_W, x - LAYER_GAP), height: Math.max(ROW_H, height), layers: layers.length };
}

// ---- rendering ----

function label(n) {
  if (!n.task) return n.id;
  const name = n.task.name || n.id;
  const params = fmtParams(n.task.params);
  const s = params ? `${name}(${params})` : name;
  return s.length > 26 ? s.slice(0, 25) + "…" : s;
}

function toSvg(g, box) {
  const parts = [`<g class="edges">`];
  for (const [a, b] of g.edges) {
    const p = g.nodes.get(a);
    const q = g.nodes.get(b);
    const x1 = p.x + NODE_W;
    const y1 = p.y + NODE_H / 2;
    const x2 = q.x;
    const y2 = q.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    parts.push(`<path d="M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}"/>`);
  }
  parts.push(`</g><g class="nodes">`);
  for (const n of g.nodes.values()) {
    const fill = COLORS[n.status] || COLORS.UNKNOWN;
    const cls = `node${n.id === g.rootId ? " root" : ""}${DARK_TEXT.has(n.status) ? " dark" : ""}`;
    const tip = `${n.id} — ${LABELS[n.status] || n.status}`;
    parts.push(
      `<g class="${cls}" data-task-id="${esc(n.id)}" data-status="${esc(n.status)}" ` +
      `transform="translate(${n.x},${n.y})" tabindex="0" role="button" aria-label="${esc(tip)}">` +
      `<title>${esc(tip)}</title><rect width="${NODE_W}" height="${NODE_H}" rx="5" fill="${fill}"/>` +
      `<text x="8" y="16">${esc(label(n))}</text></g>`);
  }
  parts.push("</g>");
  return `<g id="viewport">${parts.join("")}</g>`;
}

// Pan and zoom by a transform on one group; the SVG itself never changes size.
const view = { x: 20, y: 20, k: 1, w: 0, h: 0 };

function applyView() {
  const vp = document.getElementById("viewport");
  if (vp) vp.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`);
}

function zoomAt(factor, cx, cy) {
  const k = Math.min(4, Math.max(0.05, view.k * factor));
  view.x = cx - ((cx - view.x) * k) / view.k;
  view.y = cy - ((cy - view.y) * k) / view.k;
  view.k = k;
  applyView();
}

function fit() {
  const svg = document.getElementById("graph-svg");
  const r = svg.getBoundingClientRect();
  if (!r.width || !view.w) return;
  const k = Math.min(1.5, (r.width - 40) / view.w, (r.height - 40) / view.h);
  view.k = Math.max(0.05, k);
  view.x = (r.width - view.w * view.k) / 2;
  view.y = Math.max(20, (r.height - view.h * view.k) / 2);
  applyView();
}

function renderLegend(g) {
  const counts = {};
  for (const n of g.nodes.values()) counts[n.status] = (counts[n.status] || 0) + 1;
  const legend = clear(document.getElementById("graph-legend"));
  for (const s of Object.keys(COLORS)) {
    legend.append(h("li", { dataset: { status: s } },
      h("span", { class: "swatch", style: `background:${COLORS[s]}` }),
      `${LABELS[s]} ${counts[s] ? `(${counts[s]})` : ""}`));
  }
}

let lastKey = "";
let lastSig = "";

export function renderGraph(reply, rootId) {
  const t0 = performance.now();
  const g = buildGraph(reply, rootId);
  const size = layout(g);
  const t1 = performance.now();
  const svg = document.getElementById("graph-svg");
  svg.innerHTML = toSvg(g, size);
  view.w = size.width;
  view.h = size.height;
  const t2 = performance.now();
  renderLegend(g);
  const stats = {
    nodes: g.nodes.size, edges: g.edges.length, truncated: g.truncated,
    layoutMs: t1 - t0, domMs: t2 - t1, totalMs: null,
  };
  // Time to the first frame after the DOM change (style, layout and paint included).
  requestAnimationFrame(() => requestAnimationFrame(() => {
    stats.totalMs = performance.now() - t0;
    window.__graphStats = stats;
    document.getElementById("graph-svg").dataset.rendered = String(stats.nodes);
  }));
  return g;
}

export async function refresh(signal, { force = false } = {}) {
  const note = document.getElementById("graph-note");
  const root = state.root;
  document.getElementById("graph-root").value = root;
  document.getElementById("graph-invert").checked = state.inv === "1";
  document.getElementById("graph-done").checked = state.done !== "0";
  const svg = document.getElementById("graph-svg");
  if (!root) {
    svg.innerHTML = "";
    lastKey = "";
    note.textContent = "Enter a task id, or pick a task in the Tasks tab and choose “Show graph”.";
    return;
  }
  const method = state.inv === "1" ? "inverse_dep_graph" : "dep_graph";
  const reply = await call(method, { task_id: root, include_done: state.done !== "0" }, { signal });
  const key = `${method}|${root}|${state.done}`;
  const sig = graphSignature(reply);
  if (!force && key === lastKey && sig === lastSig) return; // unchanged: keep pan and zoom
  const newRoot = key !== lastKey;
  lastKey = key;
  lastSig = sig;
  if (!reply || !Object.keys(reply).length) {
    svg.innerHTML = "";
    clear(document.getElementById("graph-legend"));
    note.textContent = `The scheduler knows no task with id “${root}”.`;
    return;
  }
  const g = renderGraph(reply, root);
  const tasks = g.nodes.size - g.truncated;
  let text = `${tasks} task${tasks === 1 ? "" : "s"}${state.inv === "1" ? " depending on it" : ""}.`;
  if (g.truncated) {
    text += ` Truncated: ${g.truncated} further task${g.truncated === 1 ? " is" : "s are"} not shown` +
      " (the scheduler's max_graph_nodes limit); they are drawn in magenta.";
  }
  note.textContent = text;
  if (newRoot) fit();
  else applyView();
}

function graphSignature(reply) {
  if (!reply || typeof reply !== "object") return "";
  const ids = Object.keys(reply).sort();
  let s = String(ids.length);
  for (const id of ids) {
    const t = reply[id] || {};
    s += `|${id}:${t.status}:${Array.isArray(t.deps) ? t.deps.length : 0}`;
  }
  return s;
}

export function init(onChangeRoot) {
  const form = document.getElementById("graph-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    update({
      root: document.getElementById("graph-root").value.trim(),
      inv: document.getElementById("graph-invert").checked ? "1" : "0",
      done: document.getElementById("graph-done").checked ? "1" : "0",
    }, { push: true });
  });
  for (const id of ["graph-invert", "graph-done"]) {
    document.getElementById(id).addEventListener("change", () => form.requestSubmit());
  }
  const svg = document.getElementById("graph-svg");
  svg.setAttribute("tabindex", "0");
  const center = () => {
    const r = svg.getBoundingClientRect();
    return [r.width / 2, r.height / 2];
  };
  document.getElementById("zoom-in").addEventListener("click", () => zoomAt(1.25, ...center()));
  document.getElementById("zoom-out").addEventListener("click", () => zoomAt(0.8, ...center()));
  document.getElementById("zoom-fit").addEventListener("click", fit);
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });

  // Drag to pan; a press that does not move is a click on whatever is under it.
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false, id: e.pointerId };
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) > 4) {
      drag.moved = true;
      svg.setPointerCapture(drag.id);
      svg.classList.add("panning");
    }
    if (drag.moved) {
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      applyView();
    }
  });
  const end = (e) => {
    const wasDrag = drag && drag.moved;
    drag = null;
    svg.classList.remove("panning");
    if (wasDrag) e.preventDefault();
    return wasDrag;
  };
  svg.addEventListener("pointerup", (e) => {
    if (end(e)) return;
    const node = e.target.closest && e.target.closest(".node");
    if (node) onChangeRoot(node.dataset.taskId);
  });
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("keydown", (e) => {
    const node = e.target.closest && e.target.closest(".node");
    if (node && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      onChangeRoot(node.dataset.taskId);
      return;
    }
    const step = 60;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) {
      e.preventDefault();
      view.x += moves[e.key][0];
      view.y += moves[e.key][1];
      applyView();
    } else if (e.key === "+" || e.key === "=") zoomAt(1.25, ...center());
    else if (e.key === "-") zoomAt(0.8, ...center());
  });
}
