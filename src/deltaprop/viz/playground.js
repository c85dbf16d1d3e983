// The playground: the data, the run (options, weights, the rules' state), its steps (deltaprop.optimize.rules),
// the scripting face (window.deltaprop), the address, the controls and the pictures. Read after net.js and draw.js.

const P = JSON.parse(document.getElementById("page-data").textContent);
const SETS = P.sets;
const ACTIVATIONS = ["tanh", "logistic", "relu", "softplus", "linear"];
const RULES = ["gd", "sgd", "momentum", "adam"];
const BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;   // Adam's constants, as deltaprop.optimize.rules
const REPLAY = 2e6;                              // the most patterns' passes a state replays from w0 (seconds of work)

// ---- presets: what each opens with ----
const PRESETS = {
  mazur: {data: "mazur", sizes: [2], hidden: ["logistic"], output: "logistic", error: "sum-of-squares", rule: "gd",
          lr: 0.5, batch_size: 1, weight_decay: 0, momentum: 0.9, seed: 0,
          w: [0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.60], fixed: [4, 5, 10, 11]},
  seed: {data: "seed", sizes: [3], hidden: ["tanh"], output: "linear", error: "sum-of-squares", rule: "gd", lr: 0.1,
         batch_size: 50, weight_decay: 0, momentum: 0.9, seed: 0},
  "figure-5.3": {data: "figure-5.3 x^2", sizes: [3], hidden: ["tanh"], output: "linear", error: "sum-of-squares",
                 rule: "adam", lr: 0.05, batch_size: 50, weight_decay: 0, momentum: 0.9, seed: 0},
  xor: {data: "xor", sizes: [4], hidden: ["tanh"], output: "logistic", error: "cross-entropy", rule: "adam", lr: 0.03,
        batch_size: 10, weight_decay: 0, momentum: 0.9, seed: 0},
  digits: {data: "digits", sizes: [16, 16], hidden: ["tanh", "tanh"], output: "softmax", error: "cross-entropy",
           rule: "adam", lr: 0.01, batch_size: 32, weight_decay: 0, momentum: 0.9, seed: 0},
};
if (P.user) {
  const kind = SETS[P.user].kind;
  PRESETS.data = {data: P.user, sizes: [8], hidden: ["tanh"], output: outputFor(kind), error: kind === "regression" ? "sum-of-squares" : "cross-entropy",
                  rule: "adam", lr: 0.01, batch_size: 32, weight_decay: 0, momentum: 0.9, seed: 0};
}
function outputFor(kind) { return {regression: "linear", binary: "logistic", classes: "softmax"}[kind]; }

// ---- random numbers: mulberry32, seeded, so that a seed gives the same run in any browser ----
function mulberry32(a) {
  return () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussian(rand) { let u = 0; while (u === 0) u = rand(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()); }

// ---- the run: options C, data, network, weights, the rule's state ----
let C = null;            // the options (a preset's, changed by the controls)
let D = null;            // the data: {X, T, kind, classes, image, input_names, note}
let NET = null, SPEC = null;
let w = null, rule = null, steps = 0, history = [], path = [];
let current = 0, selected = {unit: null, weight: null}, playing = false, anim = null;

function standardise(X) {
  const d = X[0].length, mean = new Array(d).fill(0), sd = new Array(d).fill(0);
  for (const r of X) r.forEach((v, i) => mean[i] += v / X.length);
  for (const r of X) r.forEach((v, i) => sd[i] += (v - mean[i]) ** 2 / X.length);
  return X.map(r => r.map((v, i) => sd[i] > 0 ? (v - mean[i]) / Math.sqrt(sd[i]) : 0));
}
function dataOf(name, given) {
  if (given) return given;
  const s = SETS[name];
  if (!s) throw new Error(`unknown data ${JSON.stringify(name)}; the page has ${Object.keys(SETS).join(", ")}`);
  if (s.standardise && !s.ready) {
    s.X = standardise(s.X);
    if (s.kind === "regression") s.T = standardise(s.T);
    s.ready = true;
  }
  return s;
}

// the network as net.js reads it, its blocks in the Python engine's order: W[h1<-x], b[h1], W[h2<-h1], ...
function describe(layers, hidden, output, error) {
  const names = layers.map((_, l) => l === 0 ? "x" : l === layers.length - 1 ? "y" : `h${l}`);
  const spec = {layers: layers.map((size, l) => ({name: names[l], size, activation: l === 0 ? null : l === layers.length - 1 ? output : hidden[l - 1]})),
                order: names.slice(1), input: "x", output: "y", output_kind: output, components: 0, error,
                connections: [], biases: {}};
  let offset = 0;
  for (let l = 1; l < layers.length; l++) {
    spec.connections.push({src: names[l - 1], dst: names[l], name: `W[${names[l]}<-${names[l - 1]}]`, offset, shape: [layers[l], layers[l - 1]], mask: null});
    offset += layers[l] * layers[l - 1];
    spec.biases[names[l]] = {offset};
    offset += layers[l];
  }
  spec.n_params = offset;
  spec.isWeight = new Array(offset).fill(false);          // connections' weights: the ones weight decay acts on
  for (const c of spec.connections) for (let k = 0; k < c.shape[0] * c.shape[1]; k++) spec.isWeight[c.offset + k] = true;
  spec.label = new Array(offset);
  for (const c of spec.connections) for (let q = 0; q < c.shape[0]; q++) for (let i = 0; i < c.shape[1]; i++)
    spec.label[c.offset + q * c.shape[1] + i] = {text: `w(${c.dst}_${q + 1} <- ${c.src}_${i + 1})`, dst: c.dst, q, src: c.src, i};
  for (const j of spec.order) for (let q = 0; q < layers[names.indexOf(j)]; q++)
    spec.label[spec.biases[j].offset + q] = {text: `w(${j}_${q + 1} <- 1), the bias`, dst: j, q, src: null, i: null};
  return spec;
}

function initialWeights(spec, seed) {      // w ~ N(0, 1/fan-in) for weights, biases 0
  const rand = mulberry32(seed * 2654435761 + 1), w0 = new Array(spec.n_params).fill(0);
  for (const c of spec.connections) for (let k = 0; k < c.shape[0] * c.shape[1]; k++) w0[c.offset + k] = gaussian(rand) / Math.sqrt(c.shape[1]);
  return w0;
}

// ---- the order of the patterns: a fresh permutation each epoch, from the seed and the epoch's number ----
function orderOf(epoch) {
  const N = D.X.length, rand = mulberry32((C.seed + 1) * 1000003 + epoch * 7919), p = [...Array(N).keys()];
  for (let i = N - 1; i > 0; i--) { const k = Math.floor(rand() * (i + 1)); [p[i], p[k]] = [p[k], p[i]]; }
  return p;
}
function batchSize() { return C.rule === "gd" ? D.X.length : Math.min(C.batch_size, D.X.length); }
// the batch step number s uses: all patterns in order for a full batch, else the s-th batch of its epoch's permutation
let orderCache = {epoch: -1, order: null};
function batchOf(s) {
  const N = D.X.length, n = batchSize();
  if (n >= N) return [...Array(N).keys()];
  const perEpoch = Math.ceil(N / n), epoch = Math.floor(s / perEpoch), start = (s % perEpoch) * n;
  if (orderCache.epoch !== epoch) orderCache = {epoch, order: orderOf(epoch)};
  return orderCache.order.slice(start, start + n);
}

// ---- E, the gradient and the steps (PRML 5.41, 5.43; deltaprop.optimize.rules) ----
function sums(wv, rows) {                 // E and its gradient summed over the patterns of rows, in their order
  const g = new Array(wv.length).fill(0);
  let E = 0;
  for (const n of rows) E += NET.patternGradient(wv, D.X[n], D.T[n], g).E;
  return {E, g};
}
function errorAll(wv) {
  let E = 0;
  for (let n = 0; n < D.X.length; n++) { const {a, z} = NET.forward(wv, D.X[n]); E += NET.errorOf(z.y, D.T[n], a.y); }
  return E;
}
function newRule() {
  const W = SPEC.n_params;
  return C.rule === "momentum" ? {v: new Array(W).fill(0)} : C.rule === "adam" ? {m: new Array(W).fill(0), v: new Array(W).fill(0), t: 0} : {};
}
function stepOnce() {
  const rows = batchOf(steps), n = rows.length, N = D.X.length, share = n / N, scale = 1 / n;
  const {g} = sums(w, rows);
  if (C.weight_decay) for (let i = 0; i < g.length; i++) if (SPEC.isWeight[i]) g[i] += share * (w[i] * C.weight_decay);  // PRML 5.112
  for (const i of C.fixed) g[i] = 0;
  const fixed = new Set(C.fixed);
  if (C.rule === "gd" || C.rule === "sgd") {
    for (let i = 0; i < w.length; i++) if (!fixed.has(i)) w[i] -= C.lr * (g[i] * scale);               // w - eta g / n
  } else if (C.rule === "momentum") {
    for (let i = 0; i < w.length; i++) if (!fixed.has(i)) {
      const step = C.lr * (g[i] * scale);
      rule.v[i] *= C.momentum; rule.v[i] -= step; w[i] += rule.v[i];                                 // v <- mu v - eta g / n; w <- w + v
    }
  } else {
    rule.t += 1;
    const stepSize = C.lr / (1 - BETA1 ** rule.t), r = 1 / Math.sqrt(1 - BETA2 ** rule.t);
    for (let i = 0; i < w.length; i++) if (!fixed.has(i)) {
      const gs = g[i] * scale;
      rule.m[i] *= BETA1; rule.m[i] += (1 - BETA1) * gs;
      rule.v[i] *= BETA2; rule.v[i] += (1 - BETA2) * gs * gs;
      w[i] -= stepSize * rule.m[i] / (Math.sqrt(rule.v[i]) * r + EPS);                             // Adam (Kingma and Ba 2015)
    }
  }
  steps += 1;
  if (pathWeights()) path.push([w[surface.i], w[surface.j]]);
}

// ---- set up a run from options ----
function parseList(text, what, f) {
  const items = String(text).split(",").map(s => s.trim()).filter(s => s.length);
  if (!items.length) return [];
  return items.map(s => { const v = f(s); if (v === undefined) throw new Error(`${what}: ${JSON.stringify(s)} is not allowed`); return v; });
}
function checkOptions(o, data) {
  const K = data.T[0].length;
  if (!(o.sizes.length <= 8)) throw new Error(`hidden units: at most 8 hidden layers; got ${o.sizes.length}`);
  for (const s of o.sizes) if (!(Number.isInteger(s) && s >= 1 && s <= 100)) throw new Error(`hidden units: each layer 1 to 100 units; got ${s}`);
  if (o.hidden.length !== o.sizes.length) throw new Error(`hidden activations: one name, or one for each of the ${o.sizes.length} hidden layers; got ${o.hidden.length}`);
  for (const h of o.hidden) if (!ACTIVATIONS.includes(h)) throw new Error(`hidden activations: ${JSON.stringify(h)} is not one of ${ACTIVATIONS.join(", ")}`);
  if (!RULES.includes(o.rule)) throw new Error(`rule: ${JSON.stringify(o.rule)} is not one of ${RULES.join(", ")}`);
  if (!(Number.isFinite(o.lr) && o.lr > 0)) throw new Error(`learning rate: a number above 0; got ${o.lr}`);
  if (!(Number.isInteger(o.batch_size) && o.batch_size >= 1)) throw new Error(`batch size: a whole number from 1; got ${o.batch_size}`);
  if (!(Number.isFinite(o.weight_decay) && o.weight_decay >= 0)) throw new Error(`weight decay: a number from 0; got ${o.weight_decay}`);
  if (!(Number.isFinite(o.momentum) && o.momentum >= 0 && o.momentum < 1)) throw new Error(`momentum: a number in [0, 1); got ${o.momentum}`);
  if (!Number.isInteger(o.seed)) throw new Error(`seed: a whole number; got ${o.seed}`);
  if (o.output === "softmax" && K < 2) throw new Error("output: softmax needs two or more classes; this data has one target (use logistic)");
  if (o.error === "cross-entropy" && data.kind === "regression") throw new Error("output: cross-entropy needs targets that are classes (0/1); this data is a regression (use linear, sum-of-squares)");
  if (o.output === "linear" && o.error !== "sum-of-squares") throw new Error("output: a linear output goes with the sum-of-squares error");
  if (o.output === "softmax" && o.error !== "cross-entropy") throw new Error("output: softmax goes with the cross-entropy error");
}

// start(options, {w, X, T, step}): a new run; w given is used as w0, else drawn from the seed, and
// `step` steps are replayed (or, with w given, only counted)
function start(o, extra = {}) {
  const data = dataOf(o.data, extra.X ? {kind: extra.kind || (SETS[o.data] || {}).kind || "regression", X: extra.X, T: extra.T, classes: null, image: null,
                                          input_names: extra.X[0].map((_, i) => `x${i + 1}`), note: "data given to load()"} : null);
  checkOptions(o, data);
  const layers = [data.X[0].length, ...o.sizes, data.T[0].length];
  const spec = describe(layers, o.hidden, o.output, o.error);
  if (extra.w && extra.w.length !== spec.n_params) throw new Error(`w: ${spec.n_params} numbers for layers ${layers.join("-")}; got ${extra.w.length}`);
  const w0 = extra.w ? extra.w.slice() : (o.w && o.w.length === spec.n_params ? o.w.slice() : initialWeights(spec, o.seed));
  for (const i of o.fixed) if (!(Number.isInteger(i) && i >= 0 && i < spec.n_params)) throw new Error(`fixed: ${i} is not an index of w (0 to ${spec.n_params - 1})`);
  const step = extra.step === undefined ? 0 : extra.step;
  if (!(Number.isInteger(step) && step >= 0)) throw new Error(`step: a whole number from 0; got ${step}`);
  const perStep = o.rule === "gd" ? data.X.length : Math.min(o.batch_size, data.X.length);
  if (!extra.w && step * perStep > REPLAY) throw new Error(`step: ${step} steps of ${perStep} pattern${perStep === 1 ? "" : "s"} ` +
    `are more than this page replays on opening (${REPLAY.toLocaleString("en")} patterns' passes); open it at an earlier step`);
  C = o; D = data; SPEC = spec; NET = deltapropNet(spec); w = w0; rule = newRule(); steps = 0; history = []; path = [];
  orderCache = {epoch: -1, order: null};
  current = Math.min(current, D.X.length - 1);
  selected = {unit: `${spec.order[0]}:0`, weight: 0};
  surface.i = 0; surface.j = Math.min(1, spec.n_params - 1); surface.grid = null;
  if (extra.w) steps = step;
  else for (let s = 0; s < step; s++) stepOnce();
  path = [[w[surface.i], w[surface.j]]];
  record();
  if (Math.min(D.X.length, 300) * SPEC.n_params * 961 <= 3e7) computeSurface();   // at once where it is quick
}
function presetOptions(name) {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset ${JSON.stringify(name)}; the page has ${Object.keys(PRESETS).join(", ")}`);
  return {preset: name, fixed: [], w: null, ...JSON.parse(JSON.stringify(p))};
}

// ---- the scripting face: window.deltaprop ----
function patternTrace(n) {
  const {a, z} = NET.forward(w, D.X[n]), {delta} = NET.backward(w, a, z, D.T[n]);
  return {index: n, a, z, delta};
}
function state() {
  const all = sums(w, [...Array(D.X.length).keys()]);
  return {preset: C.preset, data: C.data, layers: SPEC.layers.map(l => l.size), hidden: C.hidden.slice(), output: C.output, error: C.error,
          rule: C.rule, lr: C.lr, batch_size: C.batch_size, weight_decay: C.weight_decay, momentum: C.momentum, seed: C.seed,
          step: steps, w: w.slice(), fixed: C.fixed.slice(), X: D.X.map(r => r.slice()), T: D.T.map(r => r.slice()),
          E: all.E, g: all.g, pattern: patternTrace(current), batch: batchOf(steps)};
}
function load(s) {
  s = typeof s === "string" ? {preset: s} : (s || {});
  const o = presetOptions(s.preset || (C && C.preset) || P.start);
  for (const k of ["data", "hidden", "output", "error", "rule", "lr", "batch_size", "weight_decay", "momentum", "seed", "fixed"]) if (s[k] !== undefined) o[k] = s[k];
  if (typeof o.hidden === "string") o.hidden = [o.hidden];
  if (s.layers !== undefined) o.sizes = s.layers.slice(1, -1);
  if (o.hidden.length === 1 && o.sizes.length > 1) o.hidden = o.sizes.map(() => o.hidden[0]);
  if (s.X !== undefined) {                 // the data of a set the page has (state() gives them back) keep its name
    const named = SETS[s.data];
    if (named && JSON.stringify(dataOf(s.data).X) === JSON.stringify(s.X) && JSON.stringify(named.T) === JSON.stringify(s.T)) { o.data = s.data; delete s.X; }
    else o.data = "given to load()";
  }
  const preset = PRESETS[o.preset];
  if (o.data !== preset.data || o.sizes.join() !== preset.sizes.join()) {
    o.w = null;                            // the preset's w0 belongs to its own data and layers
    if (s.fixed === undefined) o.fixed = [];
  }
  start(o, {w: s.w, X: s.X, T: s.T, step: s.step});
  showOptions();
  draw();
  writeHash();
  return state();
}
function nudges() {                      // -dE_n/dw for each pattern of the next step's batch (their sum: -g)
  return batchOf(steps).map(n => NET.patternGradient(w, D.X[n], D.T[n]).g.map(v => -v));
}
window.deltaprop = {
  presets: Object.keys(PRESETS), load, state, nudges, orderOf: e => orderOf(e),
  step(n = 1) {                          // n updates; the error curve gets up to 100 points along them
    const every = Math.max(1, Math.ceil(n / 100), Math.ceil(D.X.length * SPEC.n_params / 2e5));  // a record costs a pass over the data
    for (let s = 1; s <= n; s++) { stepOnce(); if (s % every === 0) record(); if (diverged()) break; }
    record(); draw(); writeHash(); return steps;
  },
};

// ---- the address holds the options ----
const HASH_KEYS = ["preset", "data", "hidden_sizes", "hidden", "output", "error", "rule", "lr", "batch_size", "weight_decay", "momentum", "seed", "step"];
function writeHash() {
  const q = new URLSearchParams();
  const v = {...C, hidden_sizes: C.sizes.join(","), hidden: C.hidden.join(","), step: steps};
  for (const k of HASH_KEYS) q.set(k, String(v[k]));
  history_replace("#" + q.toString());
}
function history_replace(h) { try { window.history.replaceState(null, "", h); } catch (e) { /* a file: URL in some browsers */ } }
function readHash() {
  const q = new URLSearchParams(location.hash.slice(1));
  if (!q.has("preset")) return null;
  const o = presetOptions(q.get("preset"));
  const num = k => { const v = Number(q.get(k)); if (!q.has(k) || q.get(k) === "" || !Number.isFinite(v)) throw new Error(`the address: ${k}=${q.get(k)} is not a number`); return v; };
  if (q.has("data")) o.data = q.get("data");
  if (q.has("hidden_sizes")) o.sizes = parseList(q.get("hidden_sizes"), "hidden units", s => Number(s));
  if (q.has("hidden")) o.hidden = parseList(q.get("hidden"), "hidden activations", s => s);
  for (const k of ["output", "error", "rule"]) if (q.has(k)) o[k] = q.get(k);
  for (const k of ["lr", "batch_size", "weight_decay", "momentum", "seed"]) if (q.has(k)) o[k] = num(k);
  if (o.hidden.length === 1 && o.sizes.length > 1) o.hidden = o.sizes.map(() => o.hidden[0]);
  if (o.data !== PRESETS[o.preset].data || o.sizes.join() !== PRESETS[o.preset].sizes.join()) { o.w = null; o.fixed = []; }
  return {o, step: q.has("step") ? num("step") : 0};
}

// ---- a pasted table: checked as deltaprop fit checks a CSV, every refusal naming the line and column ----
function pastedData(text, target, classes) {
  const lines = text.split(/\r?\n/).map(l => l.trim()).filter(l => l.length);
  if (lines.length < 2) throw new Error("the table needs a header row and at least one row of data");
  if (lines.length > 2001) throw new Error(`the page takes at most 2,000 rows; the table has ${lines.length - 1}`);
  const header = lines[0].split(",").map(h => h.trim());
  const t = header.indexOf(target.trim());
  if (t < 0) throw new Error(`no column ${JSON.stringify(target.trim())}; the columns are ${header.join(", ")}`);
  if (header.length < 2) throw new Error("the table needs an input column beside the target");
  const X = [], labels = [];
  lines.slice(1).forEach((line, r) => {
    const cells = line.split(",").map(c => c.trim());
    if (cells.length !== header.length) throw new Error(`line ${r + 2} has ${cells.length} fields, the header ${header.length}`);
    const x = [];
    cells.forEach((c, k) => {
      if (k === t) return;
      const v = Number(c);
      if (c === "" || !Number.isFinite(v)) throw new Error(`column ${JSON.stringify(header[k])}, line ${r + 2}: ${JSON.stringify(c)} is not a finite number`);
      x.push(v);
    });
    X.push(x);
    labels.push(cells[t]);
  });
  const inputNames = header.filter((_, k) => k !== t);
  if (classes) {
    const names = [...new Set(labels)].sort();
    if (names.length < 2 || names.length > 10) throw new Error(`column ${JSON.stringify(target)} has ${names.length} classes; the page takes 2 to 10`);
    const T = labels.map(l => names.length === 2 ? [names.indexOf(l)] : names.map(n => n === l ? 1 : 0));
    return {kind: names.length === 2 ? "binary" : "classes", X: standardise(X), T, classes: names, image: null, input_names: inputNames,
            note: `pasted data: ${X.length} rows, classes ${names.join(", ")}, inputs standardised`};
  }
  const T = labels.map((c, r) => { const v = Number(c); if (c === "" || !Number.isFinite(v)) throw new Error(`column ${JSON.stringify(target)}, line ${r + 2}: ${JSON.stringify(c)} is not a finite number`); return [v]; });
  return {kind: "regression", X: standardise(X), T: standardise(T), classes: null, image: null, input_names: inputNames,
          note: `pasted data: ${X.length} rows, inputs and targets standardised`};
}
function usePasted() {
  try {
    pause();
    const d = pastedData($("paste").value, $("paste-target").value, $("paste-classes").checked);
    SETS.pasted = d;
    if (![...$("data").options].some(o => o.value === "pasted")) { const o = document.createElement("option"); o.value = o.textContent = "pasted"; $("data").appendChild(o); }
    const o = presetOptions(C.preset);
    Object.assign(o, {data: "pasted", sizes: [8], hidden: ["tanh"], output: outputFor(d.kind), error: d.kind === "regression" ? "sum-of-squares" : "cross-entropy",
                      rule: "adam", lr: 0.01, batch_size: 32, w: null, fixed: []});
    start(o);
    $("status").textContent = "";
    showOptions(); draw(); writeHash();
  } catch (e) { $("status").textContent = `pasted table: ${e.message}`; }
}

// ---- the controls ----
const $ = id => document.getElementById(id);
function showOptions() {
  $("preset").value = C.preset in PRESETS ? C.preset : "";
  $("data").value = C.data;
  $("hidden-sizes").value = C.sizes.join(", ");
  $("hidden").value = C.hidden.join(", ");
  $("output").value = `${C.output}/${C.error}`;
  $("rule").value = C.rule;
  $("lr").value = C.lr; $("batch-size").value = C.batch_size; $("weight-decay").value = C.weight_decay;
  $("momentum").value = C.momentum; $("seed").value = C.seed;
  $("pattern").max = D.X.length - 1; $("pattern").value = current;
  fillSelects();
}
function optionsFromControls() {
  const o = {...C};
  o.data = $("data").value;
  o.sizes = parseList($("hidden-sizes").value, "hidden units", s => { const v = Number(s); return Number.isFinite(v) ? v : undefined; });
  o.hidden = parseList($("hidden").value, "hidden activations", s => s);
  if (o.hidden.length === 1 && o.sizes.length > 1) o.hidden = o.sizes.map(() => o.hidden[0]);
  [o.output, o.error] = $("output").value.split("/");
  o.rule = $("rule").value;
  o.lr = Number($("lr").value); o.batch_size = Number($("batch-size").value);
  o.weight_decay = Number($("weight-decay").value); o.momentum = Number($("momentum").value); o.seed = Number($("seed").value);
  if (o.data !== C.data) {                     // new data: the output that suits it, and the preset's w no longer fits
    const kind = SETS[o.data].kind;
    o.output = outputFor(kind); o.error = kind === "regression" ? "sum-of-squares" : "cross-entropy";
  }
  if (o.data !== C.data || o.sizes.join() !== C.sizes.join()) { o.w = null; o.fixed = []; }
  return o;
}
function applyControls() {
  try {
    pause();
    start(optionsFromControls());
    $("status").textContent = "";
    showOptions(); draw(); writeHash();
  } catch (e) { $("status").textContent = e.message; }
}
function fillSelects() {
  const us = $("unit-select"); us.innerHTML = "";
  for (const L of SPEC.layers) for (let u = 0; u < L.size; u++) {
    const o = document.createElement("option"); o.value = `${L.name}:${u}`; o.textContent = `${L.name}_${u + 1}`; us.appendChild(o);
  }
  for (const id of ["weight-select", "surface-i", "surface-j"]) {
    const s = $(id); s.innerHTML = "";
    SPEC.label.forEach((l, k) => { const o = document.createElement("option"); o.value = k; o.textContent = `${k}: ${l.text}`; s.appendChild(o); });
  }
  us.value = selected.unit; $("weight-select").value = selected.weight;
  $("surface-i").value = surface.i; $("surface-j").value = surface.j;
}

// ---- play / pause ----
let lastDraw = 0;
function play() {
  playing = true; $("play").innerHTML = "&#10074;&#10074; Pause"; $("play").setAttribute("aria-pressed", "true");
  const frame = () => {
    if (!playing) return;
    const t0 = performance.now();
    do { stepOnce(); } while (performance.now() - t0 < 25 && !diverged());
    if (diverged()) pause();
    if (performance.now() - lastDraw > 120) { record(); draw(); lastDraw = performance.now(); }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}
function pause() {
  if (!playing) return;
  playing = false; $("play").innerHTML = "&#9654; Play"; $("play").setAttribute("aria-pressed", "false");
  record(); draw(); writeHash();
}
function diverged() {                 // w left the finite numbers: say so, stop, and keep what it shows
  if (w.every(Number.isFinite)) return false;
  $("status").textContent = `diverged at step ${steps}: w is no longer finite; lower the learning rate (${C.lr}) and reset`;
  return true;
}
function record() { const E = errorAll(w); if (!history.length || history[history.length - 1].step !== steps) history.push({step: steps, E}); }

// ---- drawing ----
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }
// the diagram: units in columns (net.js's layout, shared with the explain page), edges by weight
function diagramGeometry(width) {
  const most = Math.max(...SPEC.layers.map(L => L.size));
  const row = Math.max(8, Math.min(46, Math.floor(620 / most)));
  const placed = columnLayout(SPEC, width, {maxUnits: 100, row, top: 46, bottom: 56, minHeight: 300, left: 60, right: 60});
  return {...placed, row, r: Math.max(3, Math.min(15, row * 0.36))};
}
function unitImages(geo) {          // for 2-D inputs, each unit's z over the square [-1, 1]^2, as an image
  if (D.X[0].length !== 2 || geo.r < 9) return null;
  const G = 20, canvases = {};
  for (const L of SPEC.layers.slice(1)) for (let u = 0; u < L.size; u++) { const c = document.createElement("canvas"); c.width = c.height = G; canvases[`${L.name}:${u}`] = c; }
  const ctx = Object.fromEntries(Object.entries(canvases).map(([k, c]) => [k, c.getContext("2d").createImageData(G, G)]));
  for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) {
    const x = [-1 + 2 * (c + 0.5) / G, 1 - 2 * (r + 0.5) / G], {z} = NET.forward(w, x);
    for (const L of SPEC.layers.slice(1)) for (let u = 0; u < L.size; u++) {
      const v = L.activation === "linear" || L.activation === "relu" || L.activation === "softplus" ? Math.tanh(z[L.name][u]) : L.activation === "tanh" ? z[L.name][u] : 2 * z[L.name][u] - 1;
      const [R, Gc, Bc] = diverging(v), d = ctx[`${L.name}:${u}`].data, k = 4 * (r * G + c);
      d[k] = R; d[k + 1] = Gc; d[k + 2] = Bc; d[k + 3] = 255;
    }
  }
  const out = {};
  for (const [k, c] of Object.entries(canvases)) { c.getContext("2d").putImageData(ctx[k], 0, 0); out[k] = c.toDataURL(); }
  return out;
}
function unitCurves(geo, pos) {     // for one input, each unit's z(x) over the data's range, drawn inside it
  if (D.X[0].length !== 1 || geo.r < 9) return null;
  const xs = D.X.map(r => r[0]), lo = Math.min(...xs), hi = Math.max(...xs), G = 25;
  const grid = [...Array(G).keys()].map(k => lo + (hi - lo) * k / (G - 1)), zs = grid.map(x => NET.forward(w, [x]).z);
  const out = {}, r = geo.r * 0.75;
  for (const L of SPEC.layers.slice(1)) for (let u = 0; u < L.size; u++) {
    const v = zs.map(z => z[L.name][u]), vlo = Math.min(...v), vhi = Math.max(...v), [cx, cy] = pos[`${L.name}:${u}`];
    out[`${L.name}:${u}`] = v.map((z, k) => `${k ? "L" : "M"}${(cx - r + 2 * r * k / (G - 1)).toFixed(1)},${(cy + r - 2 * r * (vhi > vlo ? (z - vlo) / (vhi - vlo) : 0.5)).toFixed(1)}`).join("");
  }
  return out;
}
function diverging(v) {            // -1 red, 0 white, +1 blue
  v = Math.max(-1, Math.min(1, v));
  return v >= 0 ? [255 - 224 * v, 255 - 136 * v, 255 - 75 * v] : [255 + 41 * v, 255 + 216 * v, 255 + 215 * v].map(Math.round);
}
function drawDiagram() {
  const svg = $("diagram"), width = svg.clientWidth || 900, geo = diagramGeometry(width);
  svg.setAttribute("height", geo.height);
  clear(svg);
  const {pos, r} = geo, wmax = Math.max(1e-12, ...w.map(Math.abs));
  const edges = el("g", {}, svg), units = el("g", {}, svg);
  const nEdges = SPEC.connections.reduce((s, c) => s + c.shape[0] * c.shape[1], 0), widest = nEdges > 400 ? 1.5 : 4;
  const litEdges = anim ? anim.edges : null;
  const sel = selected.weight;
  const grouped = nEdges > 2500;          // many edges: one path per sign and width class (pick a weight in the list)
  const groups = {};
  for (const c of SPEC.connections) for (let q = 0; q < c.shape[0]; q++) for (let i = 0; i < c.shape[1]; i++) {
    const k = c.offset + q * c.shape[1] + i, [x1, y1] = pos[`${c.src}:${i}`], [x2, y2] = pos[`${c.dst}:${q}`];
    const lit = litEdges && litEdges.layer === c.dst;
    if (grouped && k !== sel && !lit) {
      const key = `${w[k] >= 0 ? "+" : "-"}${Math.min(3, Math.floor(4 * Math.abs(w[k]) / wmax))}`;
      (groups[key] = groups[key] || []).push(`M${x1.toFixed(1)},${y1.toFixed(1)}L${x2.toFixed(1)},${y2.toFixed(1)}`);
      continue;
    }
    const e = el("line", {x1, y1, x2, y2, class: "edge", "data-w": k, ...edgeStyle(w[k], wmax, widest)}, edges);
    if (k === sel) e.classList.add("selected");
    if (lit) e.classList.add(litEdges.kind);
    hover(e, `${SPEC.label[k].text} = ${short(w[k], 6)}`);
  }
  for (const [key, parts] of Object.entries(groups))
    el("path", {d: parts.join(""), class: "edge grouped", fill: "none", "pointer-events": "none",
                ...edgeStyle((key[0] === "+" ? 1 : -1) * (Number(key[1]) + 0.5) / 4 * wmax, wmax, widest)}, edges);
  for (const j of SPEC.order) {
    const [bx, by] = pos[`bias:${j}`];
    for (let q = 0; q < SPEC.layers.find(L => L.name === j).size; q++) {
      const k = SPEC.biases[j].offset + q, [x2, y2] = pos[`${j}:${q}`];
      const e = el("line", {x1: bx, y1: by, x2, y2, class: "edge", "data-w": k, "stroke-dasharray": "3 2", ...edgeStyle(w[k], wmax, widest)}, edges);
      if (k === sel) e.classList.add("selected");
      hover(e, `${SPEC.label[k].text} = ${short(w[k], 6)}`);
    }
    el("rect", {x: bx - 6, y: by - 6, width: 12, height: 12, fill: "#eee", stroke: "#333"}, units);
    el("text", {x: bx, y: by + 4, "text-anchor": "middle", class: "unitlabel"}, units, "1");
  }
  const images = unitImages(geo), curves = unitCurves(geo, pos), trace = patternTrace(current);
  const columnGap = Math.min(...SPEC.layers.slice(1).map((L, l) => pos[`${L.name}:0`][0] - pos[`${SPEC.layers[l].name}:0`][0]));
  SPEC.layers.forEach(L => {
    const [x0] = pos[`${L.name}:0`];
    const text = columnGap > 120 ? `${L.name}: ${L.size} ${L.activation || (L.size === 1 ? "input" : "inputs")}` : L.name;
    el("text", {x: x0, y: 16, "text-anchor": "middle", class: "layername"}, units, text);
    for (let u = 0; u < L.size; u++) {
      const key = `${L.name}:${u}`, [x, y] = pos[key];
      if (images && images[key]) el("image", {href: images[key], x: x - r, y: y - r, width: 2 * r, height: 2 * r, "pointer-events": "none"}, units);
      const c = el("circle", {cx: x, cy: y, r, class: "unit", "data-unit": key, "fill-opacity": images && images[key] ? 0 : 1}, units);
      if (key === selected.unit) c.classList.add("selected");
      if (curves && curves[key]) el("path", {d: curves[key], fill: "none", stroke: "#d62728", "stroke-width": 1.2, "pointer-events": "none"}, units);
      if (anim && anim.units && anim.units.includes(L.name)) c.classList.add("lit");
      hover(c, unitText(L, u, trace));
      if (geo.row >= 18 && !(images && images[key]) && !(curves && curves[key])) el("text", {x, y: y + 4, "text-anchor": "middle", class: "unitlabel", "pointer-events": "none"}, units, `${u + 1}`);
      if (anim && anim.units && anim.units.includes(L.name) && geo.row >= 30) {
        const shown = anim.show(L.name, u, trace);
        if (shown) el("text", {x: x + r + 4, y: y + 4, class: "unitvalue", fill: anim.kind === "backward" ? "#d62728" : "#1f77b4"}, units, shown);
      }
    }
  });
}
function unitText(L, u, trace) {
  const name = `${L.name}_${u + 1}`;
  if (L.name === "x") return `${name}: input x_${u + 1} = ${short(trace.z.x[u], 6)}`;
  return `${name} (${L.activation}): a = ${short(trace.a[L.name][u], 6)}, z = ${short(trace.z[L.name][u], 6)}, delta = ${short(trace.delta[L.name][u], 6)}`;
}

// the output: the fitted curve (1 input), a map of the output over the square (2 inputs), or the digit and its probabilities
function drawOutput() {
  const svg = $("output-plot"), W = svg.clientWidth || 420, Hh = 300;
  clear(svg); $("digit-images").innerHTML = "";
  const d = D.X[0].length, K = D.T[0].length;
  if (d === 1 && K === 1) {
    $("output-title").textContent = "The fitted function y(x, w) and the data";
    const xs = D.X.map(r => r[0]), ts = D.T.map(r => r[0]);
    const lo = Math.min(...xs), hi = Math.max(...xs), grid = [...Array(120).keys()].map(i => lo + (hi - lo) * i / 119);
    const ys = grid.map(x => NET.forward(w, [x]).z.y[0]);
    const all = ts.concat(ys), ylo = Math.min(...all), yhi = Math.max(...all), pad = 0.05 * (yhi - ylo || 1);
    const A = axes(svg, [50, 20, W - 15, Hh - 40], [lo, hi], [ylo - pad, yhi + pad], "x", "t, y");
    xs.forEach((x, n) => el("circle", {cx: A.X(x), cy: A.Y(ts[n]), r: n === current ? 5 : 3, fill: n === current ? "#ff9800" : "none", stroke: "#1f77b4"}, svg));
    el("path", {d: grid.map((x, i) => `${i ? "L" : "M"}${A.X(x)},${A.Y(ys[i])}`).join(""), fill: "none", stroke: "#d62728", "stroke-width": 2}, svg);
  } else if (d === 2 && (D.kind !== "regression" || K === 1)) {
    const regression = D.kind === "regression";
    $("output-title").textContent = regression ? "y(x, w) over the inputs (blue high, red low), and the data" :
      K === 1 ? "p(class 1 | x) over the inputs, and the data" : "The most probable class over the inputs, and the data";
    const tScale = regression ? Math.max(1e-12, ...D.T.map(r => Math.abs(r[0]))) : 1;
    const side = Math.min(W - 70, Hh - 60), G = 60, canvas = document.createElement("canvas");
    canvas.width = canvas.height = G;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(G, G);
    for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) {
      const y = NET.forward(w, [-1 + 2 * (c + 0.5) / G, 1 - 2 * (r + 0.5) / G]).z.y, k = 4 * (r * G + c);
      let rgb;
      if (regression) rgb = diverging(y[0] / tScale);
      else if (K === 1) rgb = diverging(2 * y[0] - 1);
      else { const best = y.indexOf(Math.max(...y)), col = COLOURS[best]; rgb = [1, 3, 5].map(o => Math.round(255 - (255 - parseInt(col.slice(o, o + 2), 16)) * 0.35 * y[best])); }
      img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    el("image", {href: canvas.toDataURL(), x: 50, y: 20, width: side, height: side, preserveAspectRatio: "none"}, svg);
    const A = axes(svg, [50, 20, 50 + side, 20 + side], [-1, 1], [-1, 1], D.input_names[0], D.input_names[1]);
    D.X.forEach((x, n) => {
      const k = K === 1 ? D.T[n][0] : D.T[n].indexOf(Math.max(...D.T[n]));
      const fill = regression ? `rgb(${diverging(D.T[n][0] / tScale).map(Math.round).join(",")})` : K === 1 ? (k ? "#1f77b4" : "#d62728") : COLOURS[k];
      el("circle", {cx: A.X(x[0]), cy: A.Y(x[1]), r: n === current ? 5 : 2.6, fill, stroke: n === current ? "#ff9800" : "#555", "stroke-width": n === current ? 2 : 0.5}, svg);
    });
  } else {
    $("output-title").textContent = D.image ? "The current digit, and the network's probabilities" : "The outputs y_k for the current pattern (bars) and its targets t_k (black)";
    const y = NET.forward(w, D.X[current]).z.y, labels = D.classes || y.map((_, k) => `y${k + 1}`);
    const top = Math.max(1, ...y.map(Math.abs));
    const regression = D.kind === "regression", ts = D.T[current];
    const lo = Math.min(0, ...y, ...(regression ? ts : [])), hi = regression ? Math.max(top, ...ts, 1e-9) : 1;
    const A = axes(svg, [50, 20, W - 15, Hh - 40], [-0.5, y.length - 0.5], [lo, hi], regression ? "output k" : "class (green: the target)",
                   regression ? "y_k" : "y_k = p(class | x)", false, labels.map((l, k) => [k, String(l).slice(0, 4)]));
    y.forEach((v, k) => {
      const t = D.T[current][k];
      el("rect", {x: A.X(k) - 8, y: A.Y(Math.max(v, 0)), width: 16, height: Math.abs(A.Y(Math.min(v, 0)) - A.Y(Math.max(v, 0))), fill: !regression && t === 1 ? "#2ca02c" : "#1f77b4"}, svg);
      if (regression) el("line", {x1: A.X(k) - 12, x2: A.X(k) + 12, y1: A.Y(t), y2: A.Y(t), stroke: "#000", "stroke-width": 2}, svg);
    });
    if (D.image) drawDigits();
  }
}
function pixelImage(values, [rows, cols], scale, diverge) {
  const canvas = document.createElement("canvas"); canvas.width = cols; canvas.height = rows;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(cols, rows), m = Math.max(1e-12, ...values.map(Math.abs));
  values.forEach((v, k) => {
    const rgb = diverge ? diverging(v / m) : [255 * (1 - v), 255 * (1 - v), 255 * (1 - v)];
    img.data.set([...rgb.map(Math.round), 255], 4 * k);
  });
  ctx.putImageData(img, 0, 0);
  const im = document.createElement("img");
  im.src = canvas.toDataURL(); im.width = cols * scale; im.height = rows * scale; im.style.imageRendering = "pixelated"; im.style.margin = "2px";
  return im;
}
function drawDigits() {
  const box = $("digit-images"), first = SPEC.connections[0];
  const p = document.createElement("p"); p.className = "muted";
  p.textContent = `Pattern ${current}: the input image; then each unit of ${first.dst}: its ${first.shape[1]} incoming weights as an image (blue +, red \u2212).`;
  box.appendChild(p);
  box.appendChild(pixelImage(D.X[current], D.image, 8, false));
  for (let q = 0; q < first.shape[0]; q++) {
    const im = pixelImage(w.slice(first.offset + q * first.shape[1], first.offset + (q + 1) * first.shape[1]), D.image, 4, true);
    im.alt = `weights into ${first.dst}_${q + 1}`; im.title = im.alt;
    box.appendChild(im);
  }
}

// the numbers of the selected unit and weight, for the current pattern and the batch, with a central-difference check
function drawInspector() {
  const box = $("inspector"), trace = patternTrace(current), rows = batchOf(steps), eq = s => `<span class="eq">${s}</span>`;
  const [layer, uStr] = selected.unit.split(":"), u = Number(uStr), L = SPEC.layers.find(l => l.name === layer);
  const listed = v => v.length <= 8 ? `(${v.map(x => short(x)).join(", ")})` : `${v.length} numbers${D.image ? ", the image above" : ""}`;
  let html = `<p>Pattern n = ${current}: x = ${listed(D.X[current])}, t = ${D.classes && D.T[current].length > 1 ? `class ${D.classes[D.T[current].indexOf(1)]}` : listed(D.T[current])}; E<sub>n</sub> = ${short(NET.errorOf(trace.z.y, D.T[current], trace.a.y), 6)}. The next step's batch: ${rows.length} pattern${rows.length === 1 ? "" : "s"}.</p>`;
  html += `<table><tr><th>unit ${layer}_${u + 1}</th><th>this pattern</th><th>equation</th></tr>`;
  if (layer === "x") html += `<tr><td>z<sub>i</sub> = x<sub>i</sub></td><td data-q="z">${short(trace.z.x[u], 6)}</td><td></td></tr>`;
  else {
    const out = layer === "y";
    const deltaEq = out ? (NET.canonical ? "&delta;<sub>k</sub> = y<sub>k</sub> &minus; t<sub>k</sub> (PRML 5.54)" : "&delta;<sub>k</sub> = (y<sub>k</sub> &minus; t<sub>k</sub>) h'(a<sub>k</sub>), sum-of-squares on h") : "&delta;<sub>j</sub> = h'(a<sub>j</sub>) &Sigma;<sub>k</sub> w<sub>kj</sub> &delta;<sub>k</sub> (PRML 5.56)";
    let batchDelta = 0;
    for (const n of rows) batchDelta += patternTrace(n).delta[layer][u];
    html += `<tr><td>a<sub>j</sub></td><td data-q="a">${short(trace.a[layer][u], 6)}</td><td>${eq("a<sub>j</sub> = &Sigma;<sub>i</sub> w<sub>ji</sub> z<sub>i</sub> + w<sub>j0</sub> (PRML 5.48)")}</td></tr>`;
    html += `<tr><td>z<sub>j</sub></td><td data-q="z">${short(trace.z[layer][u], 6)}</td><td>${eq(`z<sub>j</sub> = h(a<sub>j</sub>), h = ${L.activation} (PRML 5.49)`)}</td></tr>`;
    html += `<tr><td>&delta;<sub>j</sub></td><td data-q="delta">${short(trace.delta[layer][u], 6)}</td><td>${eq(deltaEq)}</td></tr>`;
    html += `<tr><td>&Sigma;<sub>batch</sub> &delta;<sub>j</sub></td><td>${short(batchDelta, 6)}</td><td>${eq("= &part;E/&part;w<sub>j0</sub> over the batch (PRML 5.53, z<sub>0</sub> = 1)")}</td></tr>`;
  }
  html += "</table>";
  const k = selected.weight, lab = SPEC.label[k];
  const gn = NET.patternGradient(w, D.X[current], D.T[current]).g[k], gb = sums(w, rows).g[k];
  // over all the data, and the check, while paused: two more passes over the data than a step takes
  const gAll = playing ? NaN : sums(w, [...Array(D.X.length).keys()]).g[k];
  const h = 1e-6 * Math.max(1, Math.abs(w[k])), wp = w.slice(), wm = w.slice();
  wp[k] += h; wm[k] -= h;
  const cd = playing ? NaN : (errorAll(wp) - errorAll(wm)) / (2 * h), rel = Math.abs(cd - gAll) / Math.max(1e-12, Math.abs(cd) + Math.abs(gAll));
  html += `<table><tr><th>weight ${k}: ${lab.text}</th><th>value</th><th>equation</th></tr>`;
  html += `<tr><td>w</td><td>${short(w[k], 6)}</td><td>${C.fixed.includes(k) ? "held fixed" : ""}</td></tr>`;
  html += `<tr><td>&part;E<sub>n</sub>/&part;w, this pattern</td><td data-q="dw">${short(gn, 6)}</td><td>${eq(lab.src === null ? "&delta;<sub>j</sub> &middot; 1 (PRML 5.53)" : "&delta;<sub>j</sub> z<sub>i</sub> (PRML 5.53)")}</td></tr>`;
  html += `<tr><td>over the batch</td><td>${short(gb, 6)}</td><td>${eq("&Sigma;<sub>n in batch</sub> &part;E<sub>n</sub>/&part;w (PRML 5.11)")}</td></tr>`;
  html += `<tr><td>over all the data, by backpropagation</td><td data-q="g">${short(gAll, 8)}</td><td>${eq("&part;E/&part;w = &Sigma;<sub>n</sub> &part;E<sub>n</sub>/&part;w")}</td></tr>`;
  html += `<tr><td>by central differences</td><td data-q="cd">${short(cd, 8)}</td><td>${eq(`[E(w + &epsilon;) &minus; E(w &minus; &epsilon;)] / 2&epsilon;, &epsilon; = ${short(h, 2)} (PRML 5.69)`)}; ${playing ? "computed when paused" : `relative difference ${short(rel, 2)}`}</td></tr>`;
  html += "</table>";
  box.innerHTML = html;
}

// each pattern's nudge -dE_n/dw to the weights into the selected unit (all weights when there are few), and their sum
function drawNudges() {
  const svg = $("nudges"), width = svg.clientWidth || 700, rows = batchOf(steps), shownRows = rows.slice(0, 12);
  clear(svg);
  const [layer, uStr] = selected.unit.split(":"), u = Number(uStr);
  let cols;
  if (SPEC.n_params <= 24) cols = [...Array(SPEC.n_params).keys()];
  else if (layer === "x") cols = SPEC.label.map((l, k) => l.src === "x" && l.i === u ? k : -1).filter(k => k >= 0).slice(0, 40);
  else cols = SPEC.label.map((l, k) => l.dst === layer && l.q === u ? k : -1).filter(k => k >= 0).slice(0, 40);
  const g = rows.map(n => NET.patternGradient(w, D.X[n], D.T[n]).g);
  const sum = cols.map(k => -g.reduce((s, gn) => s + gn[k], 0));
  const cell = Math.max(14, Math.min(40, Math.floor((width - 80) / Math.max(1, cols.length))));
  const lines = [...shownRows.map((n, r) => ({label: `n = ${n}`, values: cols.map(k => -g[r][k])})), {label: "sum = \u2212g", values: sum}];
  const m = Math.max(1e-12, ...lines.flatMap(l => l.values.map(Math.abs)));
  const height = 30 + 26 * lines.length;
  svg.setAttribute("height", height);
  const labelEvery = Math.ceil(7 * String(Math.max(...cols, 0)).length / cell);   // no two labels overlap
  cols.forEach((k, c) => { if (c % labelEvery === 0) el("text", {x: 80 + c * cell + cell / 2, y: 12, "text-anchor": "middle", class: "tick"}, svg, String(k)); });
  lines.forEach((line, r) => {
    const y = 30 + 26 * r;
    el("text", {x: 0, y: y + 4, class: r === lines.length - 1 ? "layername" : ""}, svg, line.label);
    el("line", {x1: 80, y1: y, x2: 80 + cols.length * cell, y2: y, stroke: "#ccc"}, svg);
    line.values.forEach((v, c) => {
      const hgt = 11 * Math.abs(v) / m;
      const bar = el("rect", {x: 80 + c * cell + 2, y: v >= 0 ? y - hgt : y, width: cell - 4, height: Math.max(hgt, 0.5), fill: v >= 0 ? "#1f77b4" : "#d62728"}, svg);
      hover(bar, `${line.label}: ${r === lines.length - 1 ? "\u2212\u2202E/\u2202w over the batch" : "\u2212\u2202E_n/\u2202w"} for weight ${cols[c]} (${SPEC.label[cols[c]].text}) = ${short(v, 6)}`);
    });
  });
  const more = rows.length - shownRows.length;
  $("nudge-caption").textContent = `Each row: one pattern of the next step's batch and how it wants to move each weight, \u2212\u2202E\u2099/\u2202w` +
    ` (weights numbered as in w; ${SPEC.n_params <= 24 ? "all of them" : `those ${layer === "x" ? "out of" : "into"} ${layer}_${u + 1}: pick another unit to see its own`}).` +
    `${more > 0 ? ` ${more} more patterns are in the batch, not drawn.` : ""} The last row is their sum over the whole batch, \u2212g;` +
    ` the step moves w by the learning rate times their mean, \u2212\u03b7 g / ${rows.length}${C.weight_decay ? ", plus the weight decay's share" : ""}.`;
}

// the error against the steps, on a log axis where it spans more than a decade
function drawCurve() {
  const svg = $("curve"), W = svg.clientWidth || 420, Hh = 220;
  clear(svg);
  if (history.length < 1) return;
  const xs = history.map(h => h.step), Es = history.map(h => h.E).filter(Number.isFinite);
  if (!Es.length) return;
  const lo = Math.min(...Es), hi = Math.max(...Es), logy = lo > 0 && hi / lo > 10;
  const yr = logy ? [lo, hi] : [Math.min(0, lo), hi === lo ? hi + 1 : hi];
  const A = axes(svg, [60, 16, W - 15, Hh - 40], [Math.min(...xs), Math.max(Math.max(...xs), 1)], yr, "step", `E(w), all the data${logy ? " (log scale)" : ""}`, logy);
  el("path", {d: history.filter(h => Number.isFinite(h.E)).map((h, i) => `${i ? "L" : "M"}${A.X(h.step)},${A.Y(h.E)}`).join(""), fill: "none", stroke: "#1f77b4", "stroke-width": 1.5}, svg);
}

// the error surface along weights i and j, the others where they are, with the path of training on it
const surface = {i: 0, j: 1, grid: null};
function pathWeights() { return SPEC && surface.i < w.length && surface.j < w.length; }
function computeSurface() {
  const G = 31, i = surface.i, j = surface.j, ci = w[i], cj = w[j];
  const spanOf = c => Math.max(1, 2 * Math.abs(c));
  const ri = [ci - spanOf(ci), ci + spanOf(ci)], rj = [cj - spanOf(cj), cj + spanOf(cj)];
  const rows = D.X.length > 300 ? [...Array(300).keys()] : [...Array(D.X.length).keys()];
  const Es = [], wv = w.slice();
  for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) {
    wv[i] = ri[0] + (ri[1] - ri[0]) * c / (G - 1); wv[j] = rj[1] - (rj[1] - rj[0]) * r / (G - 1);
    let E = 0;
    for (const n of rows) { const {a, z} = NET.forward(wv, D.X[n]); E += NET.errorOf(z.y, D.T[n], a.y); }
    Es.push(E);
  }
  surface.grid = {G, ri, rj, Es, rows: rows.length, at: steps};
  path = [[w[i], w[j]]];
}
function drawSurface() {
  const svg = $("surface"); clear(svg);
  const cap = $("surface-caption");
  if (!surface.grid) { cap.textContent = "Pick two weights and draw: E over a grid of their values, the other weights where training has them."; return; }
  const {G, ri, rj, Es, rows, at} = surface.grid, side = 240;
  const lo = Math.min(...Es), hi = Math.max(...Es), canvas = document.createElement("canvas");
  canvas.width = canvas.height = G;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(G, G);
  Es.forEach((E, k) => { const v = Math.log(1 + E - lo) / Math.log(1 + hi - lo || 2), c = Math.round(255 * (1 - v)); img.data.set([c, Math.round(140 + 115 * (1 - v)), 255, 255], 4 * k); });
  ctx.putImageData(img, 0, 0);
  el("image", {href: canvas.toDataURL(), x: 60, y: 16, width: side, height: side, preserveAspectRatio: "none"}, svg);
  const A = axes(svg, [60, 16, 60 + side, 16 + side], ri, rj, `w${surface.i}`, `w${surface.j}`);
  el("path", {d: path.map(([a, b], k) => `${k ? "L" : "M"}${A.X(a)},${A.Y(b)}`).join(""), fill: "none", stroke: "#ff9800", "stroke-width": 2}, svg);
  const [a, b] = [w[surface.i], w[surface.j]];
  el("circle", {cx: A.X(a), cy: A.Y(b), r: 4, fill: "#d62728"}, svg);
  cap.textContent = `E over ${rows} pattern${rows === 1 ? "" : "s"}${rows < D.X.length ? ` (the first ${rows} of ${D.X.length})` : ""}, drawn at step ${at} ` +
    `(light: low, dark: high, on a log scale); orange: the path of training since, red: where w is now. Other weights move too, so the surface drifts as training goes on.`;
}

function draw() {
  const Eall = history.length ? history[history.length - 1].E : errorAll(w);
  const N = D.X.length, perEpoch = Math.ceil(N / batchSize());
  $("readout").textContent = `step ${steps}, epoch ${Math.floor(steps / perEpoch)}; E(w) = ${short(Eall, 9)} over ${N} pattern${N === 1 ? "" : "s"}`;
  if (!anim) $("phase").textContent = `${D.note}. ${SPEC.layers.map(L => L.size).join("-")} network, ${SPEC.n_params} weights; ` +
    `${C.rule} with learning rate ${C.lr}${C.rule === "gd" ? "" : `, batches of ${batchSize()}`}${C.weight_decay ? `, weight decay ${C.weight_decay}` : ""}` +
    `${NET.canonical ? "" : ". Sum-of-squares on logistic outputs is not the canonical pair (PRML 5.2 pairs logistic outputs with the cross-entropy, so that \u03b4_k = y_k \u2212 t_k): here \u03b4_k = (y_k \u2212 t_k) y_k (1 \u2212 y_k)"}.`;
  if (!w.every(Number.isFinite)) return;   // diverged: the pictures stay at the last finite weights drawn
  drawDiagram(); drawOutput(); drawInspector(); drawNudges(); drawCurve(); drawSurface();
}

// ---- forward / backward, one layer at a time ----
function animate() {
  pause();
  const phases = [];
  SPEC.order.forEach(j => phases.push({kind: "forward", layer: j, text: `Forward: each unit of ${j} sums its inputs, a_j = \u03a3_i w_ji z_i + w_j0, and applies h: z_j = h(a_j) (PRML 5.48, 5.49).`,
                                      show: (l, u, t) => l === j ? `a=${short(t.a[l][u])} z=${short(t.z[l][u])}` : null}));
  phases.push({kind: "backward", layer: "y", units: ["y"], text: NET.canonical ? "Output deltas: \u03b4_k = y_k \u2212 t_k (PRML 5.54)." : "Output deltas: \u03b4_k = (y_k \u2212 t_k) h'(a_k) for the sum-of-squares error on logistic outputs.",
               show: (l, u, t) => l === "y" ? `\u03b4=${short(t.delta.y[u])}` : null});
  [...SPEC.order].reverse().slice(1).forEach(j => {
    const next = SPEC.order[SPEC.order.indexOf(j) + 1];
    phases.push({kind: "backward", layer: next, units: [j], text: `Backward: each unit of ${j} gathers the deltas of ${next} along these edges, \u03b4_j = h'(a_j) \u03a3_k w_kj \u03b4_k (PRML 5.56).`,
                 show: (l, u, t) => l === j ? `\u03b4=${short(t.delta[l][u])}` : null});
  });
  phases.push({kind: "forward", layer: null, units: [], text: "Derivatives: \u2202E_n/\u2202w_ji = \u03b4_j z_i (PRML 5.53) for every weight; pick one in the list to see it, and its check by central differences.", show: () => null});
  let k = 0;
  const next = () => {
    if (k >= phases.length) { anim = null; draw(); return; }
    const p = phases[k++];
    anim = {kind: p.kind, units: p.units || [p.layer], edges: p.layer ? {layer: p.layer, kind: p.kind} : null, show: p.show};
    $("phase").textContent = `Pattern ${current}, ${k} of ${phases.length}. ${p.text}`;
    drawDiagram();
    anim.timer = setTimeout(next, 900);
  };
  next();
}

// ---- wiring ----
function init() {
  for (const name of Object.keys(PRESETS)) { const o = document.createElement("option"); o.value = name; o.textContent = name; $("preset").appendChild(o); }
  for (const name of Object.keys(SETS)) { const o = document.createElement("option"); o.value = name; o.textContent = name; $("data").appendChild(o); }
  $("preset").addEventListener("change", () => { try { pause(); load($("preset").value); $("status").textContent = ""; } catch (e) { $("status").textContent = e.message; } });
  for (const id of ["data", "hidden-sizes", "hidden", "output", "rule", "lr", "batch-size", "weight-decay", "momentum", "seed"]) $(id).addEventListener("change", applyControls);
  $("play").addEventListener("click", () => playing ? pause() : play());
  $("paste-use").addEventListener("click", usePasted);
  $("one-step").addEventListener("click", () => { pause(); window.deltaprop.step(1); });
  $("one-pattern").addEventListener("click", () => { current = (current + 1) % D.X.length; $("pattern").value = current; draw(); animate(); });
  $("animate").addEventListener("click", animate);
  $("reset").addEventListener("click", () => { pause(); start({...C}); showOptions(); draw(); writeHash(); });
  $("pattern").addEventListener("change", () => { const n = Number($("pattern").value); if (Number.isInteger(n) && n >= 0 && n < D.X.length) { current = n; draw(); } else $("status").textContent = `pattern: a whole number from 0 to ${D.X.length - 1}`; });
  $("unit-select").addEventListener("change", () => { selected.unit = $("unit-select").value; draw(); });
  $("weight-select").addEventListener("change", () => { selected.weight = Number($("weight-select").value); draw(); });
  $("surface-draw").addEventListener("click", () => { surface.i = Number($("surface-i").value); surface.j = Number($("surface-j").value); computeSurface(); drawSurface(); });
  $("diagram").addEventListener("click", ev => {
    const t = ev.target;
    if (t.dataset.unit) { selected.unit = t.dataset.unit; $("unit-select").value = t.dataset.unit; }
    else if (t.dataset.w !== undefined) { selected.weight = Number(t.dataset.w); $("weight-select").value = t.dataset.w; }
    else return;
    draw();
  });
  installTooltip($("tooltip"));
  window.addEventListener("resize", () => draw());
  let fromHash = null;
  try { fromHash = readHash(); } catch (e) { $("status").textContent = e.message; }
  try {
    if (fromHash) { start(fromHash.o, {step: fromHash.step}); showOptions(); draw(); }
    else load(P.start);
  } catch (e) { $("status").textContent = e.message; load(P.start); }
}
init();
