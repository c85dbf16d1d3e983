"""Building networks, the layout of w, and the errors for bad specifications."""

import numpy as np
import pytest

import deltaprop as dp


def skip_net(mask=None):
    conns = [("x", "h"), ("h", "y"), ("x", "y") if mask is None else ("x", "y", mask)]
    return dp.Network({"x": 2, "h": (3, "tanh"), "y": (1, "linear")}, conns)


def test_mlp_layers_and_parameter_count():
    net = dp.mlp([4, 5, 6, 2], hidden="relu", output="softmax")
    assert list(net.layers) == ["x", "h1", "h2", "y"]
    assert [l.activation and l.activation.name for l in net.layers.values()] == [None, "relu", "relu", "softmax"]
    assert net.D == 4 and net.K == 2
    assert net.n_params == 4 * 5 + 5 + 5 * 6 + 6 + 6 * 2 + 2
    assert net.param_names == ["W[h1<-x]", "b[h1]", "W[h2<-h1]", "b[h2]", "W[y<-h2]", "b[y]"]


def test_unpack_gives_zero_copy_views_and_pack_inverts_it():
    net = skip_net()
    w = np.arange(net.n_params, dtype=float)
    views = net.unpack(w)
    assert views["W[h<-x]"].shape == (3, 2) and views["W[y<-x]"].shape == (1, 2) and views["b[h]"].shape == (3,)
    assert all(np.shares_memory(v, w) for v in views.values())
    views["W[h<-x]"][2, 1] = -1.0
    assert w[5] == -1.0  # row-major: (j, i) = (2, 1) is entry 2*2 + 1
    np.testing.assert_array_equal(net.pack(views), w)


def test_pack_refuses_missing_views_wrong_shapes_and_nonzero_absent_weights():
    mask = np.array([[True, False]])
    net = skip_net(mask)
    views = net.unpack(net.init(seed=0))
    with pytest.raises(ValueError, match="missing: b\\[y\\]"):
        net.pack({k: v for k, v in views.items() if k != "b[y]"})
    with pytest.raises(ValueError, match="has shape \\(2, 3\\); expected \\(3, 2\\)"):
        net.pack({**views, "W[h<-x]": views["W[h<-x]"].T})
    bad = {k: v.copy() for k, v in views.items()}
    bad["W[y<-x]"][0, 1] = 1.0
    with pytest.raises(ValueError, match="nonzero where its mask is False"):
        net.pack(bad)


def test_init_is_seeded_with_variance_one_over_fan_in_and_zero_biases():
    net = dp.mlp([400, 300, 1])
    w = net.init(seed=7)
    np.testing.assert_array_equal(w, net.init(seed=7))
    assert not np.array_equal(w, net.init(seed=8))
    assert w.dtype == np.float64 and w.shape == (net.n_params,)
    v = net.unpack(w)
    assert np.all(v["b[h1]"] == 0) and np.all(v["b[y]"] == 0)
    assert abs(v["W[h1<-x]"].var() - 1 / 400) < 0.03 / 400  # 120000 draws
    assert abs(v["W[h1<-x]"].mean()) < 0.01 / 20


def test_init_counts_fan_in_over_every_incoming_connection_and_mask():
    mask = np.array([[True, False]] * 200)
    net = dp.Network(
        {"x": 2, "h": (200, "tanh"), "y": (1, "linear")}, [("x", "h", mask), ("h", "y")]
    )
    v = net.unpack(net.init(seed=1))
    W = v["W[h<-x]"]
    assert np.all(W[:, 1] == 0)
    assert abs(W[:, 0].var() - 1.0) < 0.25  # fan-in 1: one present weight per unit
    skip = skip_net()
    sv = skip.unpack(skip.init(seed=2))
    assert np.all(sv["W[y<-x]"] != 0)  # y's fan-in is 3 + 2 = 5


def test_param_name():
    net = skip_net()
    assert net.param_name(0) == "W[h<-x][0, 0]"
    assert net.param_name(5) == "W[h<-x][2, 1]"
    assert net.param_name(6) == "b[h][0]"
    assert net.param_name(net.n_params - 1) == "b[y][0]"
    with pytest.raises(IndexError, match="out of range"):
        net.param_name(net.n_params)


def test_several_inputs_into_one_layer_and_skip_connections():
    net = dp.Network(
        {"x": 2, "a": (3, "tanh"), "b": (2, "logistic"), "c": (4, "softplus"), "y": (2, "linear")},
        [("x", "a"), ("x", "b"), ("a", "c"), ("b", "c"), ("x", "c"), ("c", "y"), ("a", "y")],
    )
    assert [c.name for c in net.incoming["c"]] == ["W[c<-a]", "W[c<-b]", "W[c<-x]"]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 2))
    w = net.init(seed=0)
    check = dp.gradient_check(net, w, X, rng.standard_normal((5, 2)))
    assert check.max_relative_difference < 1e-6


LAYERS = {"x": 2, "h": (3, "tanh"), "y": (1, "linear")}


@pytest.mark.parametrize(
    "layers, connections, message",
    [
        ({"x": 2, "h": (3, "tanh"), "g": (3, "tanh"), "y": (1, "linear")},
         [("x", "h"), ("h", "g"), ("g", "h"), ("g", "y")], "cycle: h -> g -> h"),
        (LAYERS, [("x", "h"), ("h", "h"), ("h", "y")], "cycle: h -> h"),
        ({"x": 2, "g": (3, "tanh"), "h": (3, "tanh"), "y": (1, "linear")},
         [("x", "h"), ("h", "g"), ("g", "y")], "topological order: 'h' feeds 'g' but is listed after it"),
        (LAYERS, [("x", "h"), ("h", "z")], "unknown destination layer 'z'"),
        (LAYERS, [("q", "h"), ("h", "y")], "unknown source layer 'q'"),
        ({"x": 2, "h": (3, "tanh"), "g": (3, "tanh"), "y": (1, "linear")},
         [("x", "h"), ("h", "y")], "\\['g'\\] are not on a path from the input layer 'x' to the output layer 'y'"),
        ({"x": 2, "h": (3, "tanh"), "g": (3, "tanh"), "y": (1, "linear")},
         [("x", "h"), ("x", "g"), ("h", "y")], "\\['g'\\] are not on a path"),
        (LAYERS, [("x", "h", np.ones((2, 3), bool)), ("h", "y")], "mask has shape \\(2, 3\\); expected \\(size_dst, size_src\\) = \\(3, 2\\)"),
        (LAYERS, [("x", "h", np.ones((3, 2))), ("h", "y")], "mask must be a boolean array; got dtype float64"),
        (LAYERS, [("x", "h"), ("x", "h"), ("h", "y")], "given twice"),
        (LAYERS, [("x", "h"), ("h", "y"), ("y", "x")], "nothing may feed the input layer 'x'"),
        (LAYERS, [("x",)], "a connection is \\(src, dst\\) or \\(src, dst, mask\\)"),
        ({"x": 2, "h": (3, "softmax"), "y": (1, "linear")}, [("x", "h"), ("h", "y")], "allowed only on the output layer"),
        ({"x": 2, "h": (3, "tanh"), "y": (1, "tanh")}, [("x", "h"), ("h", "y")], "canonical error"),
        ({"x": 2, "y": (1, "softmax")}, [("x", "y")], "at least 2 units"),
        ({"x": 2, "h": (3, "sigmoidal"), "y": (1, "linear")}, [("x", "h"), ("h", "y")], "unknown activation 'sigmoidal'"),
        ({"x": 2, "h": (0, "tanh"), "y": (1, "linear")}, [("x", "h"), ("h", "y")], "size must be a positive integer; got 0"),
        ({"x": 2.5, "y": (1, "linear")}, [("x", "y")], "size must be a positive integer; got 2.5"),
        ({"x": 2, "h": 3, "y": (1, "linear")}, [("x", "h"), ("h", "y")], "must be \\(size, activation\\)"),
        ({"x": (2, "linear"), "y": (1, "linear")}, [("x", "y")], "given by its size alone"),
        ({"x": 2}, [], "needs an input and an output layer"),
        ({"x": 2, "h[1]": (3, "tanh"), "y": (1, "linear")}, [("x", "h[1]"), ("h[1]", "y")], "layer names"),
    ],
)
def test_bad_specifications_are_refused_with_a_clear_error(layers, connections, message):
    with pytest.raises(ValueError, match=message):
        dp.Network(layers, connections)


def test_mlp_needs_two_sizes():
    with pytest.raises(ValueError, match="at least an input and an output size"):
        dp.mlp([3])
