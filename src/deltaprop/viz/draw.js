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
