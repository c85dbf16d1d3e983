"""The Prior value: groups that are views of w or columns of a connection (one alpha per input: automatic
relevance determination), and what every part reads of it."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.numerics.prior import Prior, group_size, is_group


def test_a_column_is_the_weights_one_unit_sends_to_a_layer():
    net = dp.mlp([3, 4, 2])
    w = np.arange(net.n_params, dtype=float)
    prior = Prior.of(net, {"W[h1<-x][:, 1]": 2.0, "W[y<-h1][:, 3]": 5.0, "b[y]": 7.0})
    v = net.unpack(w)
    assert prior.sizes() == {"W[h1<-x][:, 1]": 4, "W[y<-h1][:, 3]": 2, "b[y]": 2}
    assert prior.squares(w) == pytest.approx({"W[h1<-x][:, 1]": float(v["W[h1<-x]"][:, 1] @ v["W[h1<-x]"][:, 1]),
                                              "W[y<-h1][:, 3]": float(v["W[y<-h1]"][:, 3] @ v["W[y<-h1]"][:, 3]),
                                              "b[y]": float(v["b[y]"] @ v["b[y]"])})
    d = net.unpack(prior.diagonal())
    expected = {name: np.zeros_like(value) for name, value in v.items()}
    expected["W[h1<-x]"][:, 1], expected["W[y<-h1]"][:, 3], expected["b[y]"][:] = 2.0, 5.0, 7.0
    for name in v:
        np.testing.assert_array_equal(d[name], expected[name])
    assert prior.flat() == net.n_params - 8
    assert prior.penalty(w) == pytest.approx(0.5 * np.sum(prior.diagonal() * w * w))


def test_one_alpha_per_input_splits_only_the_connections_from_the_input_layer_and_joins_again():
    net = dp.mlp([3, 4, 1])
    relevance = Prior.initial(net, relevance=True)
    assert list(relevance.alphas) == ["W[h1<-x][:, 0]", "W[h1<-x][:, 1]", "W[h1<-x][:, 2]", "b[h1]", "W[y<-h1]", "b[y]"]
    np.testing.assert_array_equal(relevance.diagonal(), Prior.initial(net).diagonal())  # the fan-in alphas, split
    joined = relevance.with_alphas({**relevance.alphas, "W[h1<-x][:, 2]": 9.0}).blocks(net)
    assert joined.alphas == {"W[h1<-x]": 3.0, "b[h1]": 3.0, "W[y<-h1]": 4.0, "b[y]": 4.0}  # the first column's alpha
    assert joined.slices == Prior.initial(net).slices
    one = dp.mlp([1, 4, 1])
    assert Prior.initial(one, relevance=True).alphas == Prior.initial(one).alphas  # one input: nothing to split


def test_a_prior_names_groups_that_exist_and_not_a_connection_beside_its_own_column():
    net = dp.mlp([3, 4, 1])
    assert is_group(net, "W[h1<-x]") and is_group(net, "W[h1<-x][:, 2]") and group_size(net, "W[h1<-x][:, 2]") == 4
    for name in ("W[h1<-x][:, 3]", "W[h1<-x][:, 01]", "W[h1<-x][:, -1]", "b[h1][:, 0]", "W[h1<-x][0]", 3):
        assert not is_group(net, name)
    with pytest.raises(ValueError, match=r"alpha names 'W\[h1<-x\]\[:, 3\]', which is not a group of this network's "
                                         r"weights; the groups are W\[h1<-x\], b\[h1\], W\[y<-h1\], b\[y\], and a "
                                         r"connection's column, e.g. 'W\[h1<-x\]\[:, 0\]'"):
        Prior.of(net, {"W[h1<-x][:, 3]": 1.0})
    with pytest.raises(ValueError, match=r"names 'W\[h1<-x\]\[:, 0\]' and its whole connection 'W\[h1<-x\]'; give "
                                         r"one or the other"):
        Prior.of(net, {"W[h1<-x]": 1.0, "W[h1<-x][:, 0]": 2.0})
    given = Prior.of(net, {"b[y]": 1.0, "W[h1<-x][:, 2]": 2.0, "W[h1<-x][:, 0]": 3.0})
    assert list(given.alphas) == ["W[h1<-x][:, 0]", "W[h1<-x][:, 2]", "b[y]"]  # in the order they start in w
    assert Prior.of(net, given) is given
