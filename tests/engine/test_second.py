"""Second derivatives (PRML 5.3.4, 5.4): the input Jacobian, the weight Jacobian, H v by the R-operator and
the exact Hessian, against PyTorch's automatic differentiation and central differences, on random
architectures (skip connections, masks, every activation and output kind)."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import deltaprop as dp
from networks import near_relu_kink, problems, reference, torch_ops

FEW = settings(max_examples=25, deadline=None)


def _torch(net, X, T):
    return lambda v: reference(torch_ops(), net, v, X, T)


@FEW
@given(problems(max_N=12))
def test_hessian_and_hessian_vector_products_agree_with_torch(problem):
    net, w, X, T = problem
    w_t = torch.tensor(w, dtype=torch.float64)
    H_ref = torch.autograd.functional.hessian(lambda v: _torch(net, X, T)(v)[1], w_t, vectorize=True).numpy()
    H = net.hessian(w, X, T)
    scale = max(1.0, np.abs(H_ref).max())
    np.testing.assert_allclose(H, H_ref, rtol=1e-10, atol=1e-10 * scale)
    v = np.random.default_rng(0).standard_normal(net.n_params)
    _, Hv_ref = torch.autograd.functional.hvp(lambda u: _torch(net, X, T)(u)[1], w_t, torch.as_tensor(v))
    np.testing.assert_allclose(net.hessian_vector_product(w, X, T, v), Hv_ref.numpy(), rtol=1e-10,
                               atol=1e-10 * max(1.0, np.abs(Hv_ref.numpy()).max()))


@FEW
@given(problems(max_N=12))
def test_jacobians_agree_with_torch(problem):
    net, w, X, T = problem
    w_t, X_t = torch.tensor(w, dtype=torch.float64), torch.tensor(X, dtype=torch.float64)
    J_ref = torch.autograd.functional.jacobian(lambda x: _torch(net, x, T)(w_t)[0], X_t, vectorize=True).numpy()
    J = net.jacobian(w, X)  # (N, K, D): each output only depends on its own pattern
    N = X.shape[0]
    np.testing.assert_allclose(J, J_ref[np.arange(N), :, np.arange(N), :], rtol=1e-10, atol=1e-12)
    G_ref = torch.autograd.functional.jacobian(lambda v: _torch(net, X, T)(v)[0], w_t, vectorize=True).numpy()
    np.testing.assert_allclose(net.weight_jacobian(w, X), G_ref, rtol=1e-10, atol=1e-12)
    B_ref = torch.autograd.functional.jacobian(lambda v: _torch(net, X, T)(v)[2][net.output], w_t,
                                               vectorize=True).numpy()
    np.testing.assert_allclose(net.weight_jacobian(w, X, activations=True), B_ref, rtol=1e-10, atol=1e-12)


@FEW
@given(problems(max_N=12))
def test_the_hessian_agrees_with_central_differences_of_the_gradient(problem):
    net, w, X, T = problem
    assume(not near_relu_kink(net, w, X))
    check = dp.hessian_check(net, w, X, T)
    assert check.max_relative_difference < 1e-5, check.name


def test_absent_weights_have_zero_second_derivatives_and_their_entries_of_v_are_ignored():
    mask = np.array([[True, False], [False, True], [True, True]])
    net = dp.Network({"x": 2, "h": (3, "tanh"), "y": (2, "linear")}, [("x", "h", mask), ("h", "y"), ("x", "y")])
    rng = np.random.default_rng(0)
    w, X, T = net.init(seed=0) + 0.1, rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    absent = np.zeros(net.n_params, bool)
    b = net.block("W[h<-x]")
    absent[b.offset:b.offset + b.size] = ~mask.ravel()
    H = net.hessian(w, X, T)
    assert not H[absent].any() and not H[:, absent].any()
    v = rng.standard_normal(net.n_params)
    u = v.copy()
    u[absent] = 1e6
    np.testing.assert_array_equal(net.hessian_vector_product(w, X, T, u), net.hessian_vector_product(w, X, T, v))


def test_bad_input_to_the_second_order_passes_is_refused_by_name():
    from deltaprop.examples import seed_example

    net, X, T = seed_example(0)
    w = net.init(seed=0)
    with pytest.raises(ValueError, match="v must be a 1-D array of length n_params = 10 for this network; got shape \\(9,\\)"):
        net.hessian_vector_product(w, X, T, np.ones(9))
    with pytest.raises(ValueError, match="v holds a non-finite value \\(nan\\) at index 3"):
        net.hessian_vector_product(w, X, T, np.where(np.arange(10) == 3, np.nan, 1.0))
    with pytest.raises(ValueError, match="X must be a 2-D array of shape \\(N, D=1\\)"):
        net.jacobian(w, np.ones((3, 2)))
    big = dp.mlp([100, 60, 1])
    with pytest.raises(ValueError, match="6121 parameters: its dense Hessian .*Use hessian_vector_product"):
        big.hessian(big.init(seed=0), np.zeros((2, 100)), np.zeros((2, 1)))


OUTPUTS = [("linear", 2), ("logistic", 2), ("softmax", 3)]


def _data(net, rng, N=9):
    kind = net.layers[net.output].activation.name
    T = np.eye(net.K)[rng.integers(0, net.K, N)] if kind == "softmax" else rng.random((N, net.K))
    return rng.standard_normal((N, net.D)), T


@pytest.mark.parametrize("output, K", OUTPUTS)
def test_with_no_hidden_layer_the_approximations_are_exact(output, K):
    """The outputs' activations are linear in w: the outer product is the Hessian, and so is its diagonal."""
    rng = np.random.default_rng(1)
    net = dp.mlp([3, K], output=output)
    w = net.init(seed=0) + 0.2
    X, T = _data(net, rng)
    H = net.hessian(w, X, T)
    np.testing.assert_allclose(net.outer_product_hessian(w, X, T), H, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(net.diagonal_hessian(w, X, T), np.diag(H), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("hidden", ["linear", "tanh", "logistic", "softplus"])
@pytest.mark.parametrize("output", ["linear", "logistic"])
def test_the_diagonal_approximation_is_exact_on_a_chain_of_single_units(hidden, output):
    """Its only neglect is the cross terms between units of a layer (PRML 5.81): a chain of one-unit layers
    has none, so there it must equal the exact diagonal."""
    rng = np.random.default_rng(2)
    net = dp.mlp([3, 1, 1, 1], hidden=hidden, output=output)
    w = net.init(seed=1) + 0.3
    X, T = _data(net, rng)
    np.testing.assert_allclose(net.diagonal_hessian(w, X, T), np.diag(net.hessian(w, X, T)), rtol=1e-10, atol=1e-12)
    wide = dp.mlp([3, 4, 3, 1], hidden=hidden, output=output)  # h1 feeds 3 units: cross terms, neglected
    w = wide.init(seed=1) + 0.3
    assert not np.allclose(wide.diagonal_hessian(w, X, T), np.diag(wide.hessian(w, X, T)), rtol=1e-6)


@pytest.mark.parametrize("output, K", OUTPUTS)
def test_the_outer_product_approximation_is_gauss_newton_from_torchs_jacobian(output, K):
    rng = np.random.default_rng(3)
    net = dp.Network({"x": 2, "h": (4, "tanh"), "y": (K, output)}, [("x", "h"), ("h", "y"), ("x", "y")])
    w = net.init(seed=2) + 0.1
    X, T = _data(net, rng)
    w_t = torch.tensor(w, dtype=torch.float64)
    B = torch.autograd.functional.jacobian(lambda v: _torch(net, X, T)(v)[2][net.output], w_t).numpy()  # (N, K, W)
    y = net.forward(w, X)
    M = {"linear": lambda yn: np.eye(K), "logistic": lambda yn: np.diag(yn * (1 - yn)),
         "softmax": lambda yn: np.diag(yn) - np.outer(yn, yn)}[output]
    expected = sum(B[n].T @ M(y[n]) @ B[n] for n in range(len(X)))
    np.testing.assert_allclose(net.outer_product_hessian(w, X, T), expected, rtol=1e-10, atol=1e-12)


def test_the_sequential_inverse_is_the_inverse_of_alpha_plus_the_outer_product():
    from deltaprop.engine.second import inverse_outer_product_hessian

    rng = np.random.default_rng(4)
    net = dp.mlp([3, 4, 2])
    w = net.init(seed=1)
    X, T = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    M = inverse_outer_product_hessian(net, w, X, 0.5)
    np.testing.assert_allclose(M, np.linalg.inv(0.5 * np.eye(net.n_params) + net.outer_product_hessian(w, X, T)),
                               rtol=1e-9, atol=1e-12)


def test_the_public_sequential_inverse_checks_its_arguments():
    rng = np.random.default_rng(5)
    net = dp.mlp([2, 3, 1])
    w, X = net.init(seed=0), rng.standard_normal((4, 2))
    M = dp.inverse_outer_product_hessian(net, w, X, 2.0)
    np.testing.assert_allclose(M, np.linalg.inv(2.0 * np.eye(net.n_params) + net.outer_product_hessian(w, X, X[:, :1])),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="alpha \\(the inverse starts from I / alpha\\) must lie in \\(0.0, inf\\]; got 0.0"):
        dp.inverse_outer_product_hessian(net, w, X, 0)
    with pytest.raises(ValueError, match="for linear \\(sum-of-squares\\) outputs; this network's are logistic"):
        dp.inverse_outer_product_hessian(dp.mlp([2, 3, 1], output="logistic"), w, X, 1.0)
    with pytest.raises(ValueError, match="X must be a 2-D array of shape \\(N, D=2\\)"):
        dp.inverse_outer_product_hessian(net, w, X[:, :1], 1.0)


@FEW
@given(problems(max_N=10))
def test_the_outer_product_on_random_architectures_is_gauss_newton_from_torchs_jacobian(problem):
    net, w, X, T = problem
    w_t = torch.tensor(w, dtype=torch.float64)
    B = torch.autograd.functional.jacobian(lambda v: _torch(net, X, T)(v)[2][net.output], w_t, vectorize=True).numpy()
    y = net.forward(w, X)
    kind = net.layers[net.output].activation.name
    M = {"linear": lambda yn: np.eye(net.K), "logistic": lambda yn: np.diag(yn * (1 - yn)),
         "softmax": lambda yn: np.diag(yn) - np.outer(yn, yn)}[kind]
    expected = sum(B[n].T @ M(y[n]) @ B[n] for n in range(len(X)))
    np.testing.assert_allclose(net.outer_product_hessian(w, X, T), expected, rtol=1e-10,
                               atol=1e-10 * max(1.0, np.abs(expected).max()))
    if kind == "linear":
        from deltaprop.engine.second import inverse_outer_product_hessian

        alpha = 0.7
        np.testing.assert_allclose(inverse_outer_product_hessian(net, w, X, alpha),
                                   np.linalg.inv(alpha * np.eye(net.n_params) + expected), rtol=1e-8, atol=1e-10)


@FEW
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from(["linear", "logistic"]), st.integers(0, 2**32 - 1))
def test_with_no_hidden_layer_the_diagonal_is_the_central_difference_diagonal(D, K, output, seed):
    rng = np.random.default_rng(seed)
    net = dp.mlp([D, K], output=output)
    w = net.init(seed=rng) + 0.3 * rng.standard_normal(net.n_params)
    X, T = _data(net, rng)
    diagonal = net.diagonal_hessian(w, X, T)
    np.testing.assert_allclose(diagonal, np.diag(net.hessian(w, X, T)), rtol=1e-10, atol=1e-12)
    check = dp.hessian_check(net, w, X, T)  # the exact H, itself against central differences of the gradient
    assert check.max_relative_difference < 1e-6
    np.testing.assert_allclose(diagonal, np.diag(check.numerical), rtol=1e-5, atol=1e-6)
