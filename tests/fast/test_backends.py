"""Every backend of deltaprop.fast gives the reference engine's E and gradient, and the choice among
them follows the whitelist."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import fast
from deltaprop.engine import backprop

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]
OUTPUTS = ["linear", "logistic", "softmax"]


def random_layered(rng, hidden, output):
    """A random chain D - M1 - ... - K (1 to 3 hidden layers, small enough for the compiled backend)."""
    sizes = [int(rng.integers(1, 5))] + [int(rng.integers(1, 9)) for _ in range(rng.integers(1, 4))]
    sizes.append(int(rng.integers(2 if output == "softmax" else 1, 5)))
    return dp.mlp(sizes, hidden=hidden, output=output)


def problem(net, rng, N, dtype):
    X = rng.standard_normal((N, net.D))
    kind = net.layers[net.output].activation.name
    T = {"linear": lambda: rng.standard_normal((N, net.K)), "logistic": lambda: rng.random((N, net.K)),
         "softmax": lambda: np.eye(net.K)[rng.integers(0, net.K, N)]}[kind]()
    w = net.init(seed=rng) + 0.2 * rng.standard_normal(net.n_params)  # nonzero biases, relu on both sides
    return w.astype(dtype), X.astype(dtype), T.astype(dtype)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("backend", fast.BACKENDS)
def test_every_backend_gives_the_reference_engines_error_gradient_and_h_v(backend, hidden, output, dtype, rtol):
    rng = np.random.default_rng([HIDDEN.index(hidden), OUTPUTS.index(output)])
    for N in (1, 3, 37):  # one pattern, fewer than the column kernel takes, and an odd batch for its padding
        net = random_layered(rng, hidden, output)
        w, X, T = problem(net, rng, N, dtype)
        ev = fast.evaluator(net, X, T, backend)
        assert ev.backend == backend
        w64, X64, T64 = (a.astype(np.float64) for a in (w, X, T))
        for rows in (None, rng.permutation(N)[: max(1, N // 2)]):
            sub = slice(None) if rows is None else rows
            E_ref, g_ref = backprop.error_and_gradient(net, w64, X64[sub], T64[sub])
            E, g = ev.error_and_gradient(w, rows)
            assert g.dtype == dtype and g.shape == (net.n_params,)
            assert E == pytest.approx(float(E_ref), rel=rtol, abs=rtol)
            np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=rtol * max(1.0, np.abs(g_ref).max()))
            assert ev.error(w, rows) == E  # error alone is the same evaluation: the same bits
            if rows is None:
                v = rng.standard_normal(net.n_params).astype(dtype)
                Hv_ref = net.hessian_vector_product(w64, X64, T64, v.astype(np.float64))
                Hv = ev.hessian_vector_product(w, v)
                assert Hv.dtype == dtype
                np.testing.assert_allclose(Hv, Hv_ref, rtol=10 * rtol, atol=10 * rtol * max(1.0, np.abs(Hv_ref).max()))
            if hasattr(ev, "pattern_gradients"):
                G = ev.pattern_gradients(w, rows)
                np.testing.assert_allclose(G, backprop.pattern_gradients(net, w64, X64[sub], T64[sub]),
                                           rtol=rtol, atol=rtol * max(1.0, np.abs(g_ref).max()))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_the_buffered_backend_gives_a_mixture_density_networks_error_and_gradient(hidden, dtype, rtol):
    """PRML 5.153-5.157 by ``kernels.mixture_output_deltas`` against the engine's mixture output, for M of 1 to 4
    components over L of 1 to 3 dimensions, on one pattern, on rows picked, and in more than one chunk; H v it
    refuses as the engine does."""
    from deltaprop.fast import buffered

    rng = np.random.default_rng(HIDDEN.index(hidden))
    for N, M, L in ((1, 1, 1), (37, 3, 1), (2 * buffered.CHUNK + 5, 2, 3), (50, 4, 2)):
        sizes = [int(rng.integers(1, 4))] + [int(rng.integers(1, 7)) for _ in range(rng.integers(1, 3))]
        net = dp.mlp(sizes + [L], hidden=hidden, output="mdn", components=M)  # (L + 2) M output units
        w = (net.init(seed=rng) + 0.3 * rng.standard_normal(net.n_params)).astype(dtype)
        X, T = rng.standard_normal((N, net.D)).astype(dtype), rng.standard_normal((N, L)).astype(dtype)
        ev = fast.evaluator(net, X, T)
        assert ev.backend == "buffered"
        w64, X64, T64 = (a.astype(np.float64) for a in (w, X, T))
        for rows in (None, rng.permutation(N)[: max(1, N // 2)]):
            sub = slice(None) if rows is None else rows
            E_ref, g_ref = backprop.error_and_gradient(net, w64, X64[sub], T64[sub])
            E, g = ev.error_and_gradient(w, rows)
            assert g.dtype == dtype and E == pytest.approx(float(E_ref), rel=10 * rtol, abs=rtol)
            np.testing.assert_allclose(g, g_ref, rtol=10 * rtol, atol=10 * rtol * max(1.0, np.abs(g_ref).max()))
            assert ev.error(w, rows) == E
        with pytest.raises(ValueError, match="whose second derivatives are not implemented"):  # as the engine says
            ev.hessian_vector_product(w, w)


def test_a_target_beyond_every_component_has_density_0_on_the_buffered_backend_as_on_the_engine():
    net = dp.mlp([1, 3, 1], output="mdn", components=2)
    w, X, T = net.init(seed=0), np.zeros((2, 1)), np.array([[0.0], [1e200]])
    E, g = fast.evaluator(net, X, T, "buffered").error_and_gradient(w)
    with np.errstate(over="ignore"):
        assert E == float(net.error(w, X, T)) == np.inf


def test_the_choice_follows_what_each_backend_takes():
    rng = np.random.default_rng(0)
    X, T = rng.standard_normal((20, 2)), rng.standard_normal((20, 1))
    small, wide = dp.mlp([2, 8, 1]), dp.mlp([2, 40, 30, 1])
    skip = dp.Network({"x": 2, "h": (3, "tanh"), "y": (1, "linear")}, [("x", "h"), ("h", "y"), ("x", "y")])
    masked = dp.Network({"x": 2, "h": (3, "tanh"), "y": (1, "linear")},
                        [("x", "h", np.array([[True, False], [True, True], [False, True]])), ("h", "y")])
    assert fast.choose(small, X, T) == "compiled"
    assert fast.choose(small, X.astype(np.float32), T.astype(np.float32)) == "compiled"
    assert fast.choose(wide, X, T) == "buffered"
    assert fast.choose(skip, X, T) == fast.choose(masked, X, T) == "reference"
    assert fast.choose(small, X.astype(np.float32), T) == "reference"  # two dtypes: no fast backend
    assert fast.choose(small, X.tolist(), T.tolist()) == "reference"  # not NumPy arrays
    torch = pytest.importorskip("torch")
    assert fast.choose(small, torch.as_tensor(X), torch.as_tensor(T)) == "reference"
    with pytest.raises(ValueError, match="the 'compiled' backend does not take this problem: it needs a layered network"):
        fast.evaluator(skip, X, T, "compiled")
    with pytest.raises(ValueError, match="the 'buffered' backend does not take this problem"):
        fast.evaluator(masked, X, T, "buffered")
    with pytest.raises(ValueError, match="unknown backend 'gpu'; expected one of compiled, buffered, reference"):
        fast.evaluator(small, X, T, "gpu")


def test_the_kernels_refuse_a_code_that_the_tables_do_not_define():
    from deltaprop.fast import kernels

    assert kernels.TANH == dp.ACTIVATIONS["tanh"].code and kernels.CROSS_ENTROPY == 2
    kernels.check_codes(np.array([a.code for a in dp.ACTIVATIONS.values() if not a.output_only]), 0)
    with pytest.raises(ValueError, match="hidden activation code"):
        kernels.check_codes(np.array([1, 17]), 0)
    with pytest.raises(ValueError, match="hidden activation code"):
        kernels.check_codes(np.array([dp.ACTIVATIONS["softmax"].code]), 0)  # output-only
    with pytest.raises(ValueError, match="output code"):
        kernels.check_codes(np.array([1]), 3)
    A = np.zeros((2, 3))
    with pytest.raises(ValueError, match="output code"):
        kernels.output_deltas(9, A, A, A.copy(), np.zeros(3))
    with pytest.raises(ValueError, match="hidden activation code"):
        kernels.times_h_prime_and_sum(9, A, A, A.copy(), np.zeros(3))


def test_the_kernels_tanh_is_within_3_ulp_of_numpys_everywhere():
    from deltaprop.fast import kernels as compiled

    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-25, 25, 100001), 3 * rng.standard_normal(100000),
                        np.geomspace(1e-300, 1.0, 2000), np.nextafter(1.0, [0.0, 2.0]), [19.0, 19.1, 20.0, 1e300, 5e-324]])
    x = np.concatenate([x, -x])
    ours, ref = compiled.tanh(x), np.tanh(x)
    ulps = np.abs(ours - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert ulps.max() <= 3, x[np.argmax(ulps)]
    assert np.all(np.abs(ours) <= 1.0) and np.all(np.sign(ours) == np.sign(ref))
    special = compiled.tanh(np.array([np.inf, -np.inf, np.nan, 0.0]))
    assert special[0] == 1.0 and special[1] == -1.0 and np.isnan(special[2]) and special[3] == 0.0


def test_small_layers_go_to_the_compiled_loops_at_any_number_of_rows():
    """Loops win on small layers whatever the rows: more rows than a part are shared among the cores."""
    from deltaprop.fast.kernels import PART_ROWS

    rng = np.random.default_rng(0)
    X, T = rng.standard_normal((2 * PART_ROWS + 1, 8)), rng.standard_normal((2 * PART_ROWS + 1, 1))
    net = dp.mlp([8, 50, 1])
    assert fast.choose(net, X, T) == "compiled" and fast.evaluator(net, X, T).backend == "compiled"
    with pytest.warns(Warning, match="limit of 2 iterations"):
        lbfgs = dp.train(net, X, T, method="lbfgs", epochs=2, seed=0)
    assert lbfgs.engine == "compiled" and lbfgs.loop == "fused"
    sgd = dp.train(net, X, T, method="sgd", batch_size=32, epochs=1, seed=0)
    assert sgd.engine == "compiled" and sgd.loop == "fused"
