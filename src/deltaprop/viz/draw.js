// Drawing a network in SVG, shared by the explain page and the playground: the elements, the numbers,
// the hover texts, the colour and width of a weight, and the columns the units stand in.

const SVGNS = "http://www.w3.org/2000/svg";
const fmt = v => (v === null || v === undefined) ? "" : Number(v).toPrecision(8);
// a number with the digits that matter: 4 significant, no trailing zeros, exponent form far from 1
function short(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return Number(v).toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(Number(v).toPrecision(digits)));
}

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

const hoverText = new WeakMap();
function hover(e, text) { hoverText.set(e, text); return e; }
function installTooltip(tip) {
  document.addEventListener("mousemove", ev => {
    const text = hoverText.get(ev.target);
    if (text) { tip.style.display = "block"; tip.textContent = text; tip.style.left = ev.clientX + 14 + "px"; tip.style.top = ev.clientY + 10 + "px"; }
    else tip.style.display = "none";
  });
}

// a weight's edge: blue for +, red for -, the width its magnitude against the largest
function edgeStyle(v, wmax, widest = 4) {
  return {stroke: v >= 0 ? "#1f77b4" : "#d62728", "stroke-width": 0.5 + widest * Math.abs(v) / Math.max(wmax, 1e-12)};
}

// Where each unit stands: one column per depth from the input, units top to bottom, each in a row of
// opts.row pixels (at most opts.maxUnits of a layer drawn; the rest are counted), the bias units z_0 = 1
// under the column before the layer they feed. Returns {pos, height, shown, depth}; pos["h1:0"] = [x, y].
function columnLayout(M, width, opts) {
  const {maxUnits = 24, row = 40, top = 40, bottom = 70, minHeight = 420, left = 70, right = 90} = opts || {};
  const incoming = Object.fromEntries(M.order.map(j => [j, M.connections.filter(c => c.dst === j)]));
  const depth = {[M.input]: 0};
  for (const j of M.order) depth[j] = Math.max(...incoming[j].map(c => depth[c.src] + 1));
  const maxDepth = Math.max(...Object.values(depth));
  const shown = Object.fromEntries(M.layers.map(L => [L.name, Math.min(L.size, maxUnits)]));
  const byDepth = {};
  for (const L of M.layers) (byDepth[depth[L.name]] = byDepth[depth[L.name]] || []).push(L);
  // each unit gets a row of its own: a wide layer makes the diagram taller instead of piling units up
  const slots = Math.max(...Object.values(byDepth).map(ls => ls.reduce((s, L) => s + shown[L.name] + 1, -1)));
  const height = Math.max(minHeight, top + bottom + row * slots);
  const columnX = d => left + (width - left - right) * (maxDepth ? d / maxDepth : 0.5);
  const pos = {};
  for (const [d, layers] of Object.entries(byDepth)) {
    const x = columnX(d);
    const total = layers.reduce((s, L) => s + shown[L.name] + 1, -1);
    let slot = 0;
    for (const L of layers) {
      for (let u = 0; u < shown[L.name]; u++, slot++)
        pos[`${L.name}:${u}`] = [x + (layers.length > 1 ? (slot % 2) * 14 : 0),
                                 total > 1 ? top + (height - top - bottom) * slot / total : top + (height - top - bottom) / 2];
      slot++;
    }
  }
  for (const j of M.order) {
    const d = depth[j] - 1, k = M.order.filter(o => depth[o] - 1 === d).indexOf(j);
    pos[`bias:${j}`] = [columnX(d) + 26 + 18 * k, height - 30];
  }
  return {pos, height, shown, depth};
}

// ---- plots: axes with ticks on both, so that no axis is drawn without its numbers ----
function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag, out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}
// axes with ticks on both: returns the maps from data to pixels
function axes(svg, box, xr, yr, xlabel, ylabel, logy = false, xticks = null) {
  const [x0, y0, x1, y1] = box, g = el("g", {class: "axes"}, svg);
  const fy = logy ? Math.log10 : v => v;
  const X = v => x0 + (x1 - x0) * (v - xr[0]) / ((xr[1] - xr[0]) || 1);
  const Y = v => y1 - (y1 - y0) * (fy(v) - fy(yr[0])) / ((fy(yr[1]) - fy(yr[0])) || 1);
  el("line", {x1: x0, y1, x2: x1, y2: y1, stroke: "#555"}, g);
  el("line", {x1: x0, y1: y0, x2: x0, y2: y1, stroke: "#555"}, g);
  const xt = xticks || niceTicks(xr[0], xr[1], Math.max(2, Math.floor((x1 - x0) / 70))).map(t => [t, short(t, 3)]);
  for (const [t, label] of xt) {
    el("line", {x1: X(t), y1, x2: X(t), y2: y1 + 4, stroke: "#555"}, g);
    el("text", {x: X(t), y: y1 + 15, "text-anchor": "middle", class: "tick"}, g, label);
  }
  const yt = logy ? decades(yr) : niceTicks(yr[0], yr[1], 4);
  for (const t of yt) {
    el("line", {x1: x0 - 4, y1: Y(t), x2: x0, y2: Y(t), stroke: "#555"}, g);
    el("text", {x: x0 - 6, y: Y(t) + 4, "text-anchor": "end", class: "tick"}, g, short(t, 3));
  }
  el("text", {x: (x0 + x1) / 2, y: y1 + 30, "text-anchor": "middle"}, g, xlabel);
  el("text", {x: x0 + 4, y: y0 - 6}, g, ylabel);
  return {X, Y};
}
function decades([lo, hi]) {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi)), out = [];
  for (let k = a; k <= b; k++) if (10 ** k >= lo * 0.999 && 10 ** k <= hi * 1.001) out.push(10 ** k);
  if (out.length < 2) return [lo, hi];
  return out;
}
