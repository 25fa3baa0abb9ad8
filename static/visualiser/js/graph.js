// The Graph tab: a task's dependencies (or dependents) as a layered left-to-right SVG.
// Layout: longest-path layering from the root, a few barycentre sweeps to reduce edge
// crossings, and layers taller than a screen wrapped into several sub-columns so a
// fan-out of thousands stays a compact block instead of one endless column.
// Labels: the family on one line, then the parameters that tell the family's nodes in this
// graph apart, wrapped; each layer's boxes are as wide and tall as its longest label.
import { call } from "./api.js";
import { COLORS, LABELS } from "./status.js";
import { state, update } from "./state.js";
import { esc, fmtParams, fmtValue, clear, h } from "./util.js";

const LINE_H = 15;
const PAD_X = 9;
const PAD_Y = 6;
const MIN_W = 120;
const MAX_TEXT_W = 330; // wider labels wrap onto further lines
const MAX_PARAM_LINES = 3;
const ROW_GAP = 8;
const SUBCOL_GAP = 24;
const LAYER_GAP = 90;
// The label font; the same string is used to measure (canvas) and to draw (CSS in
// app.css, #graph-svg .node text), so boxes fit their text.
export const LABEL_FONT = "12px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
const FAMILY_FONT = "600 " + LABEL_FONT;

// Text colour per fill: black or white, whichever contrasts more (WCAG 2 relative
// luminance), so every status colour keeps its label legible.
function luminance(hex) {
  const v = hex.replace("#", "");
  const c = [0, 2, 4].map((i) => parseInt(v.slice(i, i + 2), 16) / 255)
    .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
export function textColour(fill) {
  return contrast(fill, "#000000") >= contrast(fill, "#ffffff") ? "#000000" : "#ffffff";
}

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

// Parameter names whose values differ between the nodes of each family (null: the
// family has a single node here, so all its parameters are shown).
function varyingParams(nodes) {
  const seen = new Map(); // family -> {count, values: Map(key -> first value), varying: Set}
  for (const n of nodes.values()) {
    if (!n.task) continue;
    const fam = n.task.name || "";
    let f = seen.get(fam);
    if (!f) seen.set(fam, (f = { count: 0, values: new Map(), varying: new Set() }));
    f.count++;
    const params = n.task.params && typeof n.task.params === "object" ? n.task.params : {};
    const keys = new Set(Object.keys(params));
    for (const k of f.values.keys()) if (!keys.has(k)) f.varying.add(k);
    for (const k of keys) {
      const v = fmtValue(params[k]);
      if (!f.values.has(k)) {
        if (f.count > 1) f.varying.add(k);
        f.values.set(k, v);
      } else if (f.values.get(k) !== v) f.varying.add(k);
    }
  }
  const out = new Map();
  for (const [fam, f] of seen) out.set(fam, f.count > 1 ? f.varying : null);
  return out;
}

// Text widths from per-character widths measured once per font (canvas measureText of
// each whole label costs ~10 µs, too slow for thousands of nodes); kerning is ignored, so
// a small slack is added to every width.
let ctx2d = null;
const charWidths = new Map(); // font -> widths indexed by UTF-16 code unit
function measure(text, font) {
  let widths = charWidths.get(font);
  if (!widths) charWidths.set(font, (widths = []));
  let w = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let cw = widths[c];
    if (cw === undefined) {
      ctx2d ||= document.createElement("canvas").getContext("2d");
      if (ctx2d.font !== font) ctx2d.font = font;
      // A lone half of a surrogate pair has no glyph: count it as a wide character.
      cw = c >= 0xd800 && c <= 0xdfff ? ctx2d.measureText("M").width : ctx2d.measureText(text[i]).width;
      widths[c] = cw;
    }
    w += cw;
  }
  return w * 1.03;
}

// Greedy wrap of `pieces` (joined by `sep`) into lines no wider than `max`; a piece wider
// than a line on its own is cut where it reaches the edge.
function wrap(pieces, sep, font, max) {
  const lines = [];
  let cur = "";
  for (const piece of pieces) {
    const next = cur ? cur + sep + piece : piece;
    if (measure(next, font) <= max) {
      cur = next;
      continue;
    }
    if (cur) lines.push(cur + sep.trimEnd());
    cur = piece;
    for (let guard = 0; guard < 100 && cur.length > 1 && measure(cur, font) > max; guard++) {
      let i = 1;
      while (i < cur.length - 1 && measure(cur.slice(0, i + 1), font) <= max) i++;
      lines.push(cur.slice(0, i));
      cur = cur.slice(i);
    }
  }
  if (cur) lines.push(cur);
  return lines;
}

// Lines of each node's label and the size of its box.
export function labelNodes(g) {
  const varying = varyingParams(g.nodes);
  for (const n of g.nodes.values()) {
    let head;
    let rest = [];
    if (n.task) {
      head = n.task.name || n.id;
      const params = n.task.params && typeof n.task.params === "object" ? n.task.params : {};
      const show = varying.get(n.task.name || "");
      const keys = Object.keys(params).filter((k) => !show || show.has(k));
      rest = wrap(keys.map((k) => `${k}=${fmtValue(params[k])}`), ", ", LABEL_FONT, MAX_TEXT_W);
      if (rest.length > MAX_PARAM_LINES) {
        rest = rest.slice(0, MAX_PARAM_LINES);
        rest[MAX_PARAM_LINES - 1] += " …";
      }
    } else {
      head = n.id; // not sent by the scheduler: only the id is known
    }
    const headLines = wrap([head], "", FAMILY_FONT, MAX_TEXT_W);
    n.lines = [...headLines.map((t) => ({ t, bold: true })), ...rest.map((t) => ({ t, bold: false }))];
    let w = 0;
    for (const l of n.lines) w = Math.max(w, measure(l.t, l.bold ? FAMILY_FONT : LABEL_FONT));
    n.w = Math.max(MIN_W, Math.ceil(w) + 2 * PAD_X + 4);
    n.h = n.lines.length * LINE_H + 2 * PAD_Y;
  }
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

  // Wrap tall layers into sub-columns. Boxes of a layer share its widest and tallest
  // label's size (nodes without a measured label get the smallest box).
  const maxRows = Math.max(24, Math.ceil(Math.sqrt(nodes.size) * 1.3));
  let x = 0;
  let height = 0;
  const columns = layers.map((ls) => {
    let w = MIN_W;
    let hh = LINE_H + 2 * PAD_Y;
    for (const n of ls) {
      w = Math.max(w, n.w || 0);
      hh = Math.max(hh, n.h || 0);
    }
    const sub = Math.max(1, Math.ceil(ls.length / maxRows));
    const rows = Math.ceil(ls.length / sub);
    const rowH = hh + ROW_GAP;
    height = Math.max(height, rows * rowH);
    const col = { x, sub, rows, w, h: hh, rowH };
    x += sub * (w + SUBCOL_GAP) - SUBCOL_GAP + LAYER_GAP;
    return col;
  });
  layers.forEach((ls, li) => {
    const col = columns[li];
    const top = (height - col.rows * col.rowH) / 2;
    ls.forEach((n, i) => {
      // Fill row by row across the sub-columns, so barycentre order maps to height.
      const r = Math.floor(i / col.sub);
      const c = i % col.sub;
      n.x = col.x + c * (col.w + SUBCOL_GAP);
      n.y = top + r * col.rowH;
      n.w = col.w;
      n.h = col.h;
    });
  });
  return { width: Math.max(MIN_W, x - LAYER_GAP), height: Math.max(LINE_H, height), layers: layers.length };
}

// ---- rendering ----

// A task's readable name: Family(param=value, ...).
export function prettyName(t, id) {
  if (!t) return id;
  const params = fmtParams(t.params);
  return `${t.name || id}(${params})`;
}

// `text`: false leaves the labels out (drawn later, when the view is zoomed in enough).
function toSvg(g, text) {
  const parts = [`<g class="edges">`];
  for (const [a, b] of g.edges) {
    const p = g.nodes.get(a);
    const q = g.nodes.get(b);
    const x1 = p.x + p.w;
    const y1 = p.y + p.h / 2;
    const x2 = q.x;
    const y2 = q.y + q.h / 2;
    const mx = (x1 + x2) / 2;
    parts.push(`<path d="M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}"/>`);
  }
  parts.push(`</g><g class="nodes">`);
  for (const n of g.nodes.values()) {
    const fill = COLORS[n.status] || COLORS.UNKNOWN;
    const cls = `node${n.id === g.rootId ? " root" : ""}`;
    const tip = `${n.id}\n${n.task ? prettyName(n.task, n.id) + "\n" : ""}${LABELS[n.status] || n.status}`;
    const top = (n.h - n.lines.length * LINE_H) / 2 + LINE_H - 4;
    const spans = n.lines.map((l, i) =>
      `<tspan x="${PAD_X}" y="${top + i * LINE_H}" class="${l.bold ? "gfam" : "detail"}">${esc(l.t)}</tspan>`).join("");
    parts.push(
      `<g class="${cls}" data-task-id="${esc(n.id)}" data-status="${esc(n.status)}" ` +
      `transform="translate(${n.x},${n.y})" tabindex="0" role="button" aria-label="${esc(tip)}">` +
      `<title>${esc(tip)}</title><rect width="${n.w}" height="${n.h}" rx="5" fill="${fill}"/>` +
      (text ? `<text fill="${textColour(fill)}">${spans}</text>` : "") + "</g>");
  }
  parts.push("</g>");
  return `<g id="viewport" transform="${viewTransform()}">${parts.join("")}</g>`;
}

// Pan and zoom by a transform on one group; the SVG itself never changes size.
const view = { x: 20, y: 20, k: 1, w: 0, h: 0 };

// Level of detail: text drawn smaller than about 6 px cannot be read but costs most of a
// big graph's drawing time, so below these zooms the parameter lines, then all labels, are
// left out (the boxes keep their size; the hover text still names each node).
// Below HIDE_TEXT_K a graph is first drawn without labels at all; they are added the
// first time the view is zoomed in past it.
const HIDE_DETAIL_K = 0.5;
const HIDE_TEXT_K = 0.3;
const shown = { g: null, text: false };
function viewTransform() {
  return `translate(${view.x},${view.y}) scale(${view.k})`;
}
function applyView() {
  const svg = document.getElementById("graph-svg");
  if (shown.g && !shown.text && view.k >= HIDE_TEXT_K) {
    shown.text = true;
    svg.innerHTML = toSvg(shown.g, true);
  }
  const vp = document.getElementById("viewport");
  if (vp) vp.setAttribute("transform", viewTransform());
  svg.classList.toggle("lod-detail", view.k < HIDE_DETAIL_K);
  svg.classList.toggle("lod-text", view.k < HIDE_TEXT_K);
}

function zoomAt(factor, cx, cy) {
  const k = Math.min(4, Math.max(0.05, view.k * factor));
  view.x = cx - ((cx - view.x) * k) / view.k;
  view.y = cy - ((cy - view.y) * k) / view.k;
  view.k = k;
  applyView();
}

// The view that fits the whole graph into a box of r.width x r.height.
function fitted(r) {
  const k = Math.max(0.05, Math.min(1.5, (r.width - 40) / view.w, (r.height - 40) / view.h));
  return { k, x: (r.width - view.w * k) / 2, y: Math.max(20, (r.height - view.h * k) / 2) };
}

function fit() {
  const r = document.getElementById("graph-svg").getBoundingClientRect();
  if (!r.width || !view.w) return;
  Object.assign(view, fitted(r));
  applyView();
}

// A new graph opens fitted to the view. A graph of up to READABLE_MAX nodes whose fit
// would shrink the labels below legibility opens at READABLE_K instead, with the root at
// the left edge, vertically centred on it (drag, the arrow keys or Fit show the rest);
// bigger graphs open as an overview. Set before the graph is inserted, so the first frame
// is drawn once, at its level of detail.
const READABLE_K = 0.8;
const READABLE_MAX = 200;
function initialView(g, r) {
  if (!r.width) return;
  Object.assign(view, fitted(r));
  const root = g.nodes.get(g.rootId);
  if (view.k >= READABLE_K || !root || g.nodes.size > READABLE_MAX) return;
  view.k = READABLE_K;
  view.x = 20 - root.x * view.k;
  view.y = r.height / 2 - (root.y + root.h / 2) * view.k;
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

// `fresh`: a new graph, which gets its initial view; otherwise pan and zoom are kept.
export function renderGraph(reply, rootId, { fresh = true } = {}) {
  const t0 = performance.now();
  const g = buildGraph(reply, rootId);
  labelNodes(g);
  const size = layout(g);
  const t1 = performance.now();
  const svg = document.getElementById("graph-svg");
  view.w = size.width;
  view.h = size.height;
  // The SVG's box does not depend on its content: read it before the content changes.
  if (fresh) initialView(g, svg.getBoundingClientRect());
  shown.g = g;
  shown.text = view.k >= HIDE_TEXT_K;
  svg.innerHTML = toSvg(g, shown.text);
  applyView();
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

// "Dependencies of Family(params)", with the id on its own line.
function renderTitle(reply, root) {
  const title = document.getElementById("graph-title");
  const t = reply && reply[root];
  clear(title).hidden = !root;
  if (!root) return;
  const params = t ? fmtParams(t.params) : "";
  title.append(state.inv === "1" ? "Tasks that depend on " : "Dependencies of ",
    t ? h("span", { class: "root-fam" }, t.name || root) : h("span", { class: "root-fam" }, root),
    t ? `(${params})` : "",
    t ? h("code", { class: "graph-root-id" }, root) : null);
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
    shown.g = null;
    lastKey = "";
    renderTitle(null, "");
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
  renderTitle(reply, root);
  if (!reply || !Object.keys(reply).length) {
    svg.innerHTML = "";
    shown.g = null;
    clear(document.getElementById("graph-legend"));
    note.textContent = `The scheduler knows no task with id “${root}”.`;
    return;
  }
  const g = renderGraph(reply, root, { fresh: newRoot });
  const tasks = g.nodes.size - g.truncated;
  let text = `${tasks} task${tasks === 1 ? "" : "s"}${state.inv === "1" ? " depending on it" : ""}.`;
  if (g.truncated) {
    text += ` Truncated: ${g.truncated} further task${g.truncated === 1 ? " is" : "s are"} not shown` +
      " (the scheduler's max_graph_nodes limit); they are drawn in magenta.";
  }
  note.textContent = text;

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
