"""The compiled fast path: whole epochs of gd, sgd, momentum and adam in one Numba call.

For a layered network (``mlp``: each layer fed by the one before, no masks)
the Python engine pays its per-call overheads (namespace lookups, views,
dictionaries) at every step; here the forward pass, backpropagation
(PRML 5.53-5.56), the step rule and the per-epoch bookkeeping run as compiled
code, the matrix products through BLAS. ``dp.train`` chooses this path by
itself where it applies (see ``applies``) and gives the same result as the
Python engine to rounding; the tests check both agree to 1e-10.

Numba compiles once per dtype and caches the machine code on disk
(``cache=True``), so the compile time (seconds) is paid once per machine.
"""

from __future__ import annotations

import math

import numpy as np

try:
    import numba as nb
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the engine importable without it
    nb = None

ACTIVATION_CODES = {"linear": 0, "tanh": 1, "logistic": 2, "relu": 3, "softplus": 4}
OUTPUT_CODES = {"linear": 0, "logistic": 1, "softmax": 2}
METHOD_CODES = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}
SMALL_WIDTH = 16  # up to this many units in every layer, scalar loops beat matrix products (measured)


def applies(net, config, has_validation: bool, callbacks, checkpoint, resume) -> bool:
    """True where the fast path gives what the Python loop gives: a layered network, a step rule,
    and nothing that needs Python between epochs (validation, callbacks, checkpoints, snapshots)."""
    if nb is None or config.method not in METHOD_CODES or has_validation or callbacks or checkpoint or resume:
        return False
    if config.snapshots or config.early_stopping:
        return False
    return layered(net)


def layered(net) -> bool:
    """A chain of layers, each fed by the one before, with no masks: the networks the kernels know."""
    names = list(net.layers)
    chain = [(c.src, c.dst) for c in net.connections] == list(zip(names[:-1], names[1:]))
    return chain and all(c.mask is None for c in net.connections)


def kernel_spec(net) -> tuple:
    """What the kernels need of a layered network: layer sizes, hidden activation codes, output code, small or not."""
    names = list(net.layers)
    sizes = np.array([net.layers[n].size for n in names], dtype=np.int64)
    acts = np.array([ACTIVATION_CODES[net.layers[n].activation.name] for n in names[1:-1]], dtype=np.int64)
    return sizes, acts, OUTPUT_CODES[net.layers[net.output].activation.name], bool(sizes.max() <= SMALL_WIDTH)


def evaluator(net, X, T, weight_decay, decay_mask):
    """A compiled ``w -> (E, E + penalty, gradient)`` on all of (X, T), or None where the kernels do not apply."""
    if nb is None or not layered(net) or X.dtype != np.float64 or T.dtype != np.float64:
        return None
    sizes, acts, out, small = kernel_spec(net)
    units = int(sizes.sum())
    a, z, d = np.empty(units), np.empty(units), np.empty(units)
    rows = np.arange(X.shape[0])
    X, T = np.ascontiguousarray(X), np.ascontiguousarray(T)

    def evaluate(w):
        g = np.empty(net.n_params)
        E, objective = _eval(small, np.ascontiguousarray(w, dtype=np.float64), X, T, rows, sizes, acts, out,
                             float(weight_decay), decay_mask, 1.0, g, a, z, d)
        return float(E), float(objective), g

    return evaluate


if nb is not None:

    @nb.njit(cache=True)
    def _h(code, a):
        if code == 0:
            return a.copy()
        if code == 1:
            return np.tanh(a)
        if code == 2:
            e = np.exp(-np.abs(a))
            return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        if code == 3:
            return np.where(a > 0, a, 0.0 * a)
        return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))

    @nb.njit(cache=True)
    def _dh(code, a, z):
        if code == 0:
            return np.ones_like(a)
        if code == 1:
            return 1.0 - z * z  # PRML 5.60
        if code == 2:
            return z * (1.0 - z)
        if code == 3:
            return np.where(a > 0, 1.0 + 0.0 * a, 0.0 * a)
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    @nb.njit(cache=True)
    def _evaluate(w, X, T, sizes, acts, out, lam, decay, share, g):
        """E (data term) and E + share * lam/2 |w|^2; g receives the gradient of the latter (PRML 5.53-5.57)."""
        L = len(sizes) - 1
        zs = [X]
        As = [X]
        off = 0
        offsets = np.zeros(L + 1, dtype=np.int64)
        for l in range(1, L + 1):
            n, m = sizes[l], sizes[l - 1]
            offsets[l - 1] = off
            W = w[off : off + n * m].reshape(n, m)
            b = w[off + n * m : off + n * m + n]
            off += n * m + n
            a = np.dot(zs[l - 1], W.T) + b
            As.append(a)
            if l < L:
                zs.append(_h(acts[l - 1], a))
        a = As[L]
        if out == 0:
            y = a
            r = a - T
            E = 0.5 * np.sum(r * r)
        elif out == 1:
            e = np.exp(-np.abs(a))
            y = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            E = np.sum(np.maximum(a, 0.0) + np.log1p(e) - T * a)
        else:
            mx = np.empty((a.shape[0], 1), dtype=a.dtype)
            for n_ in range(a.shape[0]):
                mx[n_, 0] = np.max(a[n_])
            ex = np.exp(a - mx)
            s = np.empty_like(mx)
            for n_ in range(a.shape[0]):
                s[n_, 0] = np.sum(ex[n_])
            y = ex / s
            E = np.sum(T * (mx + np.log(s) - a))
        delta = y - T  # PRML 5.54
        for l in range(L, 0, -1):
            n, m = sizes[l], sizes[l - 1]
            o = offsets[l - 1]
            W = w[o : o + n * m].reshape(n, m)
            g[o : o + n * m] = np.dot(delta.T, zs[l - 1]).ravel()  # PRML 5.53
            g[o + n * m : o + n * m + n] = delta.sum(axis=0)
            if l > 1:
                delta = _dh(acts[l - 2], As[l - 1], zs[l - 1]) * np.dot(delta, W)  # PRML 5.56
        objective = E
        if lam != 0.0:
            v = w * decay
            objective = E + share * 0.5 * lam * np.sum(v * v)
            g += (share * lam) * v
        return E, objective

    @nb.njit(cache=True, inline="always")
    def _h1(code, a):
        if code == 0:
            return a
        if code == 1:
            return math.tanh(a)
        if code == 2:
            e = math.exp(-abs(a))
            return 1.0 / (1.0 + e) if a >= 0 else e / (1.0 + e)
        if code == 3:
            return a if a > 0 else 0.0
        return max(a, 0.0) + math.log1p(math.exp(-abs(a)))

    @nb.njit(cache=True, inline="always")
    def _dh1(code, a, z):
        if code == 0:
            return 1.0
        if code == 1:
            return 1.0 - z * z  # PRML 5.60
        if code == 2:
            return z * (1.0 - z)
        if code == 3:
            return 1.0 if a > 0 else 0.0
        e = math.exp(-abs(a))
        return 1.0 / (1.0 + e) if a >= 0 else e / (1.0 + e)

    @nb.njit(cache=True)
    def _evaluate_small(w, X, T, rows, sizes, acts, out, lam, decay, share, g, a, z, d):
        """As _evaluate, one pattern at a time in scalar loops: no allocation, no BLAS call.

        ``a``, ``z`` and ``d`` are work vectors holding every layer's units side by side.
        For small layers this is several times faster than matrix products.
        """
        L = len(sizes) - 1
        unit = np.zeros(L + 2, dtype=np.int64)  # first unit of layer l in a, z, d
        woff = np.zeros(L + 1, dtype=np.int64)  # first weight of layer l in w
        for l in range(1, L + 1):
            unit[l] = unit[l - 1] + sizes[l - 1]
            woff[l] = woff[l - 1] + (sizes[l - 1] * sizes[l - 2] + sizes[l - 1] if l > 1 else 0)
        unit[L + 1] = unit[L] + sizes[L]
        g[:] = 0.0
        E = 0.0
        K = sizes[L]
        for r in range(rows.size):
            n = rows[r]
            for i in range(sizes[0]):
                z[i] = X[n, i]
            for l in range(1, L + 1):  # a_j = sum_i w_ji z_i + w_j0 (PRML 5.48), z_j = h(a_j) (5.49)
                m, o, u0, u1 = sizes[l - 1], woff[l], unit[l - 1], unit[l]
                for j in range(sizes[l]):
                    s = w[o + sizes[l] * m + j]
                    for i in range(m):
                        s += w[o + j * m + i] * z[u0 + i]
                    a[u1 + j] = s
                    if l < L:
                        z[u1 + j] = _h1(acts[l - 1], s)
            u = unit[L]
            if out == 0:
                for k in range(K):
                    z[u + k] = a[u + k]
                    E += 0.5 * (a[u + k] - T[n, k]) ** 2
            elif out == 1:
                for k in range(K):
                    ak = a[u + k]
                    z[u + k] = _h1(2, ak)
                    E += max(ak, 0.0) + math.log1p(math.exp(-abs(ak))) - T[n, k] * ak
            else:
                mx = a[u]
                for k in range(1, K):
                    mx = max(mx, a[u + k])
                tot = 0.0
                for k in range(K):
                    z[u + k] = math.exp(a[u + k] - mx)
                    tot += z[u + k]
                lse = mx + math.log(tot)
                for k in range(K):
                    z[u + k] /= tot
                    E += T[n, k] * (lse - a[u + k])
            for k in range(K):
                d[u + k] = z[u + k] - T[n, k]  # PRML 5.54
            for l in range(L, 0, -1):
                m, o, u0, u1 = sizes[l - 1], woff[l], unit[l - 1], unit[l]
                for j in range(sizes[l]):
                    dj = d[u1 + j]
                    g[o + sizes[l] * m + j] += dj
                    for i in range(m):
                        g[o + j * m + i] += dj * z[u0 + i]  # PRML 5.53
                if l > 1:
                    for i in range(m):
                        s = 0.0
                        for j in range(sizes[l]):
                            s += w[o + j * m + i] * d[u1 + j]
                        d[u0 + i] = _dh1(acts[l - 2], a[u0 + i], z[u0 + i]) * s  # PRML 5.56
        objective = E
        if lam != 0.0:
            reg = 0.0
            for i in range(w.size):
                v = w[i] * decay[i]
                reg += v * v
                g[i] += share * lam * v
            objective = E + share * 0.5 * lam * reg
        return E, objective

    @nb.njit(cache=True)
    def _eval(small, w, X, T, rows, sizes, acts, out, lam, decay, share, g, a, z, d):
        if small:
            return _evaluate_small(w, X, T, rows, sizes, acts, out, lam, decay, share, g, a, z, d)
        if rows.size == X.shape[0]:
            return _evaluate(w, X, T, sizes, acts, out, lam, decay, share, g)
        return _evaluate(w, X[rows], T[rows], sizes, acts, out, lam, decay, share, g)

    @nb.njit(cache=True)
    def run_epochs(w, X, T, sizes, acts, out, method, lr, mu, nesterov, beta1, beta2, eps, lam, decay, batch,
                   perms, v, m, t, tol, prev, best_w, best, E_hist, obj_hist, gn_hist, small):
        """Run up to len(perms) epochs from w (updated in place). Row e of the histories is epoch e + 1.

        Returns (epochs done, adam step count, previous objective, best objective, stop code):
        stop code 0 ran them all, 1 converged (tol), 2 diverged.
        """
        N = X.shape[0]
        P = w.size
        g = np.empty(P, dtype=w.dtype)
        gf = np.empty(P, dtype=w.dtype)
        units = np.sum(sizes)
        a, z, d = np.empty(units, dtype=w.dtype), np.empty(units, dtype=w.dtype), np.empty(units, dtype=w.dtype)
        everyone = np.arange(N)
        full = batch >= N
        if full:  # the gradient for the first step; later ones are the previous epoch's final evaluation
            _eval(small, w, X, T, everyone, sizes, acts, out, lam, decay, 1.0, gf, a, z, d)
        for e in range(perms.shape[0]):
            nb_ = 1 if full else (N + batch - 1) // batch
            for k in range(nb_):
                if full:
                    g[:] = gf
                    n = N
                else:
                    idx = perms[e, k * batch : min(N, (k + 1) * batch)]
                    n = idx.size
                    _eval(small, w, X, T, idx, sizes, acts, out, lam, decay, n / N, g, a, z, d)
                gm = g / n
                if method == 0:
                    w -= lr * gm
                elif method == 1:
                    for i in range(P):
                        v[i] = mu * v[i] - lr * gm[i]
                        w[i] += mu * v[i] - lr * gm[i] if nesterov else v[i]
                else:
                    t += 1
                    c1, c2 = 1.0 - beta1**t, 1.0 - beta2**t
                    for i in range(P):
                        m[i] = beta1 * m[i] + (1.0 - beta1) * gm[i]
                        v[i] = beta2 * v[i] + (1.0 - beta2) * gm[i] * gm[i]
                        w[i] -= lr * (m[i] / c1) / (math.sqrt(v[i] / c2) + eps)
            E, objective = _eval(small, w, X, T, everyone, sizes, acts, out, lam, decay, 1.0, gf, a, z, d)
            E_hist[e], obj_hist[e], gn_hist[e] = E, objective, math.sqrt(np.sum(gf * gf))
            if not math.isfinite(objective):
                return e + 1, t, prev, best, 2
            if objective < best:
                best = objective
                best_w[:] = w
            if tol > 0.0 and abs(prev - objective) / max(abs(prev), 1e-300) < tol:
                return e + 1, t, objective, best, 1
            prev = objective
        return perms.shape[0], t, prev, best, 0
