// deltaprop's network in JavaScript, shared by the explain page and the playground: the forward pass, the
// deltas and the error of one pattern, float64 as NumPy, in the equations and the order of
// deltaprop.engine.backprop (PRML 5.48-5.57). A network is described as deltaprop.viz.page writes it:
// layers, the order of the non-input layers, connections (offset and shape of each W[dst<-src] in the flat
// w, an optional mask), the biases' offsets, the output kind, and the mixture's components.

// ---- activations: h(a) and h'(a), through z where the book does ----
const H = {
  linear: a => a,
  tanh: a => Math.tanh(a),
  logistic: a => { const e = Math.exp(-Math.abs(a)); return a >= 0 ? 1 / (1 + e) : e / (1 + e); },
  relu: a => a > 0 ? a : 0,
  softplus: a => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a))),
};
const DH = {
  linear: (a, z) => 1,
  tanh: (a, z) => 1 - z * z,                 // PRML 5.60
  logistic: (a, z) => z * (1 - z),
  relu: (a, z) => a > 0 ? 1 : 0,
  softplus: (a, z) => H.logistic(a),
};
const EQ = {
  linear: "z = a", tanh: "z = tanh(a)  (PRML 5.59)", logistic: "z = 1/(1 + exp(-a))  (PRML 5.6)",
  relu: "z = max(0, a)", softplus: "z = ln(1 + exp(a))", softmax: "y_k = exp(a_k) / sum_j exp(a_j)  (PRML 5.25)",
};
function softmax(a) {
  const m = Math.max(...a), e = a.map(v => Math.exp(v - m)), s = e.reduce((p, q) => p + q, 0);
  return e.map(v => v / s);
}

// The network described by M. M.error, where given, names a non-canonical error for the output
// ("sum-of-squares" on logistic outputs, as in Mazur's example): its output deltas are then
// (y_k - t_k) h'(a_k), not y_k - t_k.
function deltapropNet(M) {
  const MIX = M.components || 0;
  const layerOf = Object.fromEntries(M.layers.map(l => [l.name, l]));
  const incoming = Object.fromEntries(M.order.map(j => [j, M.connections.filter(c => c.dst === j)]));
  const W = (w, c, q, i) => (c.mask && !c.mask[q][i]) ? 0 : w[c.offset + q * c.shape[1] + i];
  const B = (w, j, q) => w[M.biases[j].offset + q];
  const canonical = !M.error || M.error === canonicalError(M.output_kind, MIX);

  // ---- a mixture density output of MIX components (PRML 5.6): units [pi, sigma, mu] ----
  function mixtureParameters(a) {                  // PRML 5.150-5.152
    return [...softmax(a.slice(0, MIX)), ...a.slice(MIX, 2 * MIX).map(Math.exp), ...a.slice(2 * MIX)];
  }
  function mixtureTerms(a, t) {                    // ln pi_k N_k by log-softmax, q_k = ||t - mu_k||^2 / sigma_k^2
    const L = t.length, m = Math.max(...a.slice(0, MIX));
    const lse = m + Math.log(a.slice(0, MIX).reduce((s, v) => s + Math.exp(v - m), 0));
    const c = [], q = [];
    for (let k = 0; k < MIX; k++) {
      let r2 = 0;
      for (let l = 0; l < L; l++) r2 += (t[l] - a[2 * MIX + k * L + l]) ** 2;
      q.push(r2 * Math.exp(-2 * a[MIX + k]));
      c.push(a[k] - lse - L * a[MIX + k] - 0.5 * q[k] - 0.5 * L * Math.log(2 * Math.PI));
    }
    const cm = Math.max(...c), e = c.map(v => Math.exp(v - cm)), s = e.reduce((p, v) => p + v, 0);
    return {gamma: e.map(v => v / s), lnp: cm + Math.log(s), q};   // responsibilities (5.154), ln p(t|x)
  }
  function mixtureDeltas(a, y, t) {               // PRML 5.155-5.157
    const L = t.length, {gamma, q} = mixtureTerms(a, t), d = [];
    for (let k = 0; k < MIX; k++) d.push(y[k] - gamma[k]);
    for (let k = 0; k < MIX; k++) d.push(gamma[k] * (L - q[k]));
    for (let k = 0; k < MIX; k++) for (let l = 0; l < L; l++) d.push(gamma[k] * (y[2 * MIX + k * L + l] - t[l]) / y[MIX + k] ** 2);
    return d;
  }

  function forward(w, x) {                        // PRML 5.48, 5.49
    const a = {}, z = {[M.input]: x.slice()};
    for (const j of M.order) {
      const L = layerOf[j];
      a[j] = [];
      for (let q = 0; q < L.size; q++) {
        let s = B(w, j, q);
        for (const c of incoming[j]) for (let i = 0; i < c.shape[1]; i++) s += W(w, c, q, i) * z[c.src][i];
        a[j].push(s);
      }
      z[j] = L.activation === "softmax" ? softmax(a[j]) : MIX && j === M.output ? mixtureParameters(a[j]) : a[j].map(H[L.activation]);
    }
    return {a, z};
  }

  function outputDeltas(a, y, t) {
    if (MIX) return mixtureDeltas(a, y, t);
    if (canonical) return y.map((yk, k) => yk - t[k]);                                   // PRML 5.54
    return y.map((yk, k) => (yk - t[k]) * DH[layerOf[M.output].activation](a[k], yk));   // sum-of-squares on h(a)
  }

  // the deltas, and dE_n/dw: as arrays per block (dW[name][q][i], db[j][q]), or, with a flat array g, added
  // into g at w's offsets (what a sum over patterns wants, with nothing allocated per weight)
  function backward(w, a, z, t, g) {              // PRML 5.53-5.56
    const delta = {[M.output]: outputDeltas(a[M.output], z[M.output], t)};
    const sent = {};
    const dW = {}, db = {};
    for (const j of [...M.order].reverse()) {
      const L = layerOf[j];
      if (j !== M.output) delta[j] = a[j].map((aj, q) => DH[L.activation](aj, z[j][q]) * sent[j][q]);  // PRML 5.56
      for (const c of incoming[j]) {
        if (g) {
          const zi = z[c.src], n = c.shape[1];
          for (let q = 0; q < c.shape[0]; q++) {
            const dq = delta[j][q], row = c.offset + q * n;
            for (let i = 0; i < n; i++) if (!c.mask || c.mask[q][i]) g[row + i] += dq * zi[i];                       // PRML 5.53
          }
        } else {
          dW[c.name] = [];
          for (let q = 0; q < c.shape[0]; q++) {
            dW[c.name].push([]);
            for (let i = 0; i < c.shape[1]; i++) dW[c.name][q].push((c.mask && !c.mask[q][i]) ? 0 : delta[j][q] * z[c.src][i]);  // PRML 5.53
          }
        }
        if (c.src !== M.input) {
          sent[c.src] = sent[c.src] || new Array(layerOf[c.src].size).fill(0);
          for (let i = 0; i < c.shape[1]; i++) for (let q = 0; q < c.shape[0]; q++) sent[c.src][i] += W(w, c, q, i) * delta[j][q];
        }
      }
      if (g) for (let q = 0; q < delta[j].length; q++) g[M.biases[j].offset + q] += delta[j][q];
      else db[j] = delta[j].slice();
    }
    return {delta, dW, db};
  }

  function errorOf(y, t, preact) {               // E_n: PRML 5.11, 5.21, 5.24, 5.153
    if (MIX) return -mixtureTerms(preact, t).lnp;
    if (!canonical || M.output_kind === "linear") return 0.5 * y.reduce((s, v, k) => s + (v - t[k]) ** 2, 0);
    if (M.output_kind === "logistic") return preact.reduce((s, v, k) => s + H.softplus(v) - t[k] * v, 0);
    const m = Math.max(...preact), lse = m + Math.log(preact.reduce((s, v) => s + Math.exp(v - m), 0));
    return t.reduce((s, tk, k) => s + tk * (lse - preact[k]), 0);
  }

  // E_n and dE_n/dw of one pattern, flat in w's order (the bias gradients at their offsets); with ``into``,
  // dE_n/dw is added into that array instead
  function patternGradient(w, x, t, into) {
    const {a, z} = forward(w, x), g = into || new Array(w.length).fill(0), {delta} = backward(w, a, z, t, g);
    return {E: errorOf(z[M.output], t, a[M.output]), g, a, z, delta};
  }

  return {M, MIX, layerOf, incoming, W, B, forward, backward, errorOf, patternGradient, canonical};
}

// The error function PRML 5.2 pairs with each output activation, so that delta_k = y_k - t_k.
function canonicalError(outputKind, components) {
  if (components) return "mixture";
  return {linear: "sum-of-squares", logistic: "cross-entropy", softmax: "cross-entropy"}[outputKind];
}
