"""The Laplace approximation and the evidence (PRML 5.7) against Bayesian linear regression, where they are
exact (PRML 3.3-3.5), and against PyTorch's Hessian and Jacobian on a network with a hidden layer."""

import math

import numpy as np
import pytest
import torch

import deltaprop as dp
from networks import reference, torch_ops


def linear_problem(N=40, D=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    T = X @ rng.standard_normal((D, 1)) + 0.3 + 0.2 * rng.standard_normal((N, 1))
    return dp.mlp([D, 1]), X, T


def bayesian_linear_regression(Phi, t, alpha, beta):
    """m_N, S_N^-1, the log evidence and gamma (PRML 3.53-3.54, 3.86, 3.91), straight from the book."""
    M, N = Phi.shape[1], Phi.shape[0]
    A = alpha * np.eye(M) + beta * Phi.T @ Phi
    m = beta * np.linalg.solve(A, Phi.T @ t)
    E = beta / 2 * np.sum((t - Phi @ m) ** 2) + alpha / 2 * np.sum(m**2)
    log_evidence = M / 2 * np.log(alpha) + N / 2 * np.log(beta) - E - 0.5 * np.linalg.slogdet(A)[1] - N / 2 * np.log(2 * np.pi)
    lam = np.linalg.eigvalsh(beta * Phi.T @ Phi)
    return m, A, log_evidence, np.sum(lam / (alpha + lam))


def test_with_a_proper_prior_the_linear_network_is_bayesian_linear_regression():
    net, X, T = linear_problem()
    alpha, beta = 0.5, 20.0
    Phi = np.hstack([X, np.ones((len(X), 1))])  # [W, b]: w's layout for dp.mlp([3, 1])
    m, A, log_evidence, gamma = bayesian_linear_regression(Phi, T, alpha, beta)
    w = m[:, 0]
    post = dp.laplace(net, w, X, T, alpha={"W[y<-x]": alpha, "b[y]": alpha}, beta=beta)
    assert post.proper and post.hessian == "exact" and len(post.notes) == 1
    assert post.notes[0].startswith("hessian 'auto' took 'exact': the dense Hessian's N W^2 + W^3 = 7e+02 is within")
    np.testing.assert_allclose(post.A, A, rtol=1e-10)
    assert post.log_evidence == pytest.approx(log_evidence, rel=1e-10)
    assert post.gamma == pytest.approx(gamma, rel=1e-10)
    Xs = np.random.default_rng(1).standard_normal((5, 3)) * 3
    Phis = np.hstack([Xs, np.ones((5, 1))])
    mean, var = post.predictive(Xs)
    np.testing.assert_allclose(mean[:, 0], Phis @ m[:, 0], rtol=1e-10)
    np.testing.assert_allclose(var[:, 0], 1 / beta + np.einsum("ni,ij,nj->n", Phis, np.linalg.inv(A), Phis), rtol=1e-10)


def test_a_flat_prior_on_the_biases_is_regression_on_centred_data():
    net, X, T = linear_problem(seed=2)
    alpha, beta = 2.0, 10.0
    Xc, Tc = X - X.mean(0), T - T.mean(0)
    m, A, _, gamma = bayesian_linear_regression(Xc, Tc, alpha, beta)
    w = net.pack({"W[y<-x]": m.T, "b[y]": T.mean(0) - X.mean(0) @ m})
    post = dp.laplace(net, w, X, T, alpha=alpha, beta=beta)  # one alpha for the weights, the bias flat
    assert not post.proper and set(post.alpha) == {"W[y<-x]"}
    assert post.gamma_groups["W[y<-x]"] == pytest.approx(gamma, rel=1e-10)
    assert post.gamma == pytest.approx(gamma + 1, rel=1e-10)  # the bias: always well determined


def _torch_hessian_and_jacobian(net, w, X, T):
    w_t = torch.tensor(w, dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda v: reference(torch_ops(), net, v, X, T)[1], w_t).numpy()
    G = torch.autograd.functional.jacobian(lambda v: reference(torch_ops(), net, v, X, T)[0], w_t).numpy()
    return H, G


def test_a_hidden_layer_network_against_pytorchs_hessian_and_5_175():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (30, 1))
    T = np.sin(np.pi * X) + 0.1 * rng.standard_normal((30, 1))
    net = dp.mlp([1, 4, 1])
    beta = 80.0
    alpha = {"W[h1<-x]": 0.05, "b[h1]": 0.02, "W[y<-h1]": 0.1, "b[y]": 0.01}  # a proper prior, one alpha per group
    decay = {g: a / beta for g, a in alpha.items()}
    w = dp.train(net, X, T, weight_decay=decay, restarts=3, seed=0, tol=1e-15).w  # the mode of the posterior
    post = dp.laplace(net, w, X, T, alpha=alpha, beta=beta)
    assert post.proper and post.hessian == "exact"
    H, G = _torch_hessian_and_jacobian(net, w, X, T)
    prior = np.zeros(net.n_params)
    for g, a in alpha.items():
        b = net.block(g)
        prior[b.offset:b.offset + b.size] = a
    A = np.diag(prior) + beta * H
    np.testing.assert_allclose(post.A, A, rtol=1e-9, atol=1e-9)
    Xs = np.linspace(-3, 3, 7)[:, None]
    _, Gs = _torch_hessian_and_jacobian(net, w, Xs, np.zeros((7, 1)))
    g = Gs[:, 0, :]
    _, var = post.predictive(Xs)
    np.testing.assert_allclose(var[:, 0], 1 / beta + np.einsum("ni,ij,nj->n", g, np.linalg.inv(A), g), rtol=1e-8)
    assert var[0, 0] > var[3, 0] and var[-1, 0] > var[3, 0]  # wider away from the data in (-1, 1)
    E_D = 0.5 * np.sum((net.forward(w, X) - T) ** 2)
    direct = (-beta * E_D - 0.5 * np.sum(prior * w**2) - 0.5 * np.linalg.slogdet(A)[1]
              + 0.5 * np.sum(np.log(prior)) + 30 / 2 * np.log(beta) - 30 / 2 * np.log(2 * np.pi))  # PRML 5.175
    assert post.log_evidence == pytest.approx(direct, rel=1e-10)
    diag_inv = np.diag(np.linalg.inv(A))
    assert post.gamma == pytest.approx(np.sum(1 - prior * diag_inv), rel=1e-10)
    for name, a in alpha.items():
        b = net.block(name)
        assert post.gamma_groups[name] == pytest.approx(b.size - a * diag_inv[b.offset:b.offset + b.size].sum())


def test_an_indefinite_exact_hessian_falls_back_to_the_outer_product_and_says_so():
    rng = np.random.default_rng(4)
    net = dp.mlp([1, 5, 1])
    X = rng.uniform(-1, 1, (20, 1))
    T = np.sin(3 * X)
    w = net.init(seed=0) * 3  # far from any minimum
    assert np.linalg.eigvalsh(net.hessian(w, X, T)).min() < -1.0
    post = dp.laplace(net, w, X, T, alpha=1e-3, beta=1.0)
    assert post.hessian == "ggn" and "not positive definite" in post.notes[1]
    np.testing.assert_allclose(post.A - np.diag(np.diag(post.A)), (net.outer_product_hessian(w, X, T)
                               - np.diag(np.diag(net.outer_product_hessian(w, X, T)))), rtol=1e-12, atol=1e-12)


def test_bad_input_is_named():
    net, X, T = linear_problem()
    w = net.init(seed=0)
    for alpha, beta, error, message in (
        (0.0, 1.0, ValueError, "alpha must be a positive, finite number"),
        (1.0, -2.0, ValueError, "beta must be a positive, finite number"),
        ({"W[h<-x]": 1.0}, 1.0, ValueError, "alpha names 'W\\[h<-x\\]', which is not a group of this network's weights; "
                                            "the groups are W\\[y<-x\\], b\\[y\\]"),
        ("lots", 1.0, TypeError, "alpha must be a positive number"),
        (1.0, None, ValueError, "beta, the noise precision, is needed"),
    ):
        with pytest.raises(error, match=message):
            dp.laplace(net, w, X, T, alpha, beta)
    clf = dp.mlp([3, 2], output="softmax")
    with pytest.raises(ValueError, match="beta applies to linear \\(regression\\) outputs; this network's are softmax"):
        dp.laplace(clf, clf.init(seed=0), X, np.eye(2)[np.zeros(40, int)], 1.0, 1.0)
    big = dp.mlp([10, 500, 1])
    with pytest.raises(ValueError, match="has 6001 parameters, more than 5000: use hessian='kron'"):
        dp.laplace(big, big.init(seed=0), np.ones((2, 10)), np.ones((2, 1)), 1.0, 1.0, hessian="exact")
    with pytest.raises(ValueError, match="unknown hessian 'diagonal'; expected one of 'auto', 'exact', 'ggn', 'kron', "
                                         "'diag', 'last_layer'"):
        dp.laplace(net, w, X, T, 1.0, 1.0, hessian="diagonal")
    assert math.isfinite(dp.laplace(net, w, X, T, 1.0, 1.0).log_evidence)


def test_moderated_probabilities_are_the_sigmoid_averaged_over_the_gaussian_of_a():
    from scipy.integrate import quad
    from scipy.special import expit

    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 2))
    T = (X[:, :1] - X[:, 1:] + 0.7 * rng.standard_normal((40, 1)) > 0).astype(float)
    net = dp.mlp([2, 3, 1], output="logistic")
    alpha = {b.name: 0.5 for b in net.blocks}
    w = dp.train(net, X, T, weight_decay=alpha, restarts=2, seed=0, tol=1e-14).w
    post = dp.laplace(net, w, X, T, alpha=alpha)
    Xs = np.array([[0.0, 0.0], [3.0, -3.0], [-6.0, 1.0], [10.0, 10.0]])
    # s^2 = b^T A^-1 b from PyTorch's Jacobian of a and Hessian of the cross-entropy
    w_t = torch.tensor(w, dtype=torch.float64)
    B = torch.autograd.functional.jacobian(lambda v: reference(torch_ops(), net, v, Xs, np.zeros((4, 1)))[2]["y"],
                                           w_t).numpy()[:, 0, :]
    H = torch.autograd.functional.hessian(lambda v: reference(torch_ops(), net, v, X, T)[1], w_t).numpy()
    A = H + 0.5 * np.eye(net.n_params)
    s2 = np.einsum("ni,ij,nj->n", B, np.linalg.inv(A), B)
    np.testing.assert_allclose(post.weight_variance(Xs)[:, 0], s2, rtol=1e-8)
    a = reference(torch_ops(), net, w_t, Xs, np.zeros((4, 1)))[2]["y"].numpy()[:, 0]
    integral = [quad(lambda u: expit(u) * np.exp(-(u - m) ** 2 / (2 * v)) / np.sqrt(2 * np.pi * v), m - 12 * np.sqrt(v),
                     m + 12 * np.sqrt(v))[0] for m, v in zip(a, s2)]
    p = post.moderated_probabilities(Xs)[:, 0]
    np.testing.assert_allclose(p, integral, atol=0.02)  # the probit approximation's own error is below 0.02
    assert np.all(np.abs(p - 0.5) <= np.abs(expit(a) - 0.5) + 1e-15)  # moderated: pulled towards 1/2


def test_moderated_softmax_probabilities_sum_to_one():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 2))
    T = np.eye(3)[rng.integers(0, 3, 30)]
    net = dp.mlp([2, 3, 3], output="softmax")
    w = dp.train(net, X, T, weight_decay={b.name: 1.0 for b in net.blocks}, seed=0).w
    post = dp.laplace(net, w, X, T, alpha={b.name: 1.0 for b in net.blocks})
    p = post.moderated_probabilities(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="predictive is for regression"):
        post.predictive(X)


def test_a_committee_is_the_mixture_of_its_members_predictive_distributions():
    """Issue 26, item 3: the mean, variance and log density of sum_r pi_r N(t | y_r, sigma_r^2), computed here
    straight from the members, for each kind of weights."""
    from scipy.stats import norm

    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, (30, 1))
    T = np.sin(np.pi * X) + 0.2 * rng.standard_normal((30, 1))
    found = dp.train_evidence(dp.mlp([1, 3, 1]), X, T, restarts=3, seed=0)
    members = [m.posterior for m in found.members]
    assert len(members) == 3 and found.posterior is members[0]
    assert all(a.log_evidence >= b.log_evidence for a, b in zip(members, members[1:]))  # most evidence first
    Xs, Ts = np.linspace(-2, 2, 9)[:, None], np.sin(np.pi * np.linspace(-2, 2, 9))[:, None]
    ys = np.array([m.predictive(Xs)[0][:, 0] for m in members])
    vs = np.array([m.predictive(Xs)[1][:, 0] for m in members])
    evidence = np.array([m.log_evidence for m in members])
    for kind, pi in (("uniform", np.full(3, 1 / 3)), ("evidence", np.exp(evidence) / np.exp(evidence).sum()),
                     ("best", np.array([1.0, 0.0, 0.0]))):
        c = dp.Committee.of(members, kind)
        np.testing.assert_allclose(c.weights, pi, rtol=1e-10, atol=1e-300)
        mean, var = c.predictive(Xs)
        np.testing.assert_allclose(mean[:, 0], pi @ ys, rtol=1e-12)
        np.testing.assert_allclose(var[:, 0], pi @ (vs + ys**2) - (pi @ ys) ** 2, rtol=1e-9)
        density = pi @ norm.pdf(Ts[:, 0], ys, np.sqrt(vs))
        np.testing.assert_allclose(c.log_density(Xs, Ts), np.log(density), rtol=1e-10)
    with pytest.raises(ValueError, match="unknown committee 'mean'; expected one of 'uniform', 'evidence', 'best'"):
        dp.Committee.of(members, "mean")
