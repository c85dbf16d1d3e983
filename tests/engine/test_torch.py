"""PyTorch as a second automatic-differentiation oracle, and as an array namespace the engine runs on."""

import numpy as np
import torch
from hypothesis import given

from networks import problems, reference, torch_ops


@given(problems())
def test_gradient_agrees_with_torch_autograd(problem):
    net, w, X, T = problem
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    y_ref, E_ref, _ = reference(torch_ops(), net, w_t, X, T)
    E_ref.backward()
    g_ref = w_t.grad.numpy()

    E, g = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(E, E_ref.item(), rtol=1e-10)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(g_ref).max()))


@given(problems())
def test_engine_runs_on_torch_tensors(problem):
    net, w, X, T = problem
    tw, tX, tT = (torch.as_tensor(v) for v in (w, X, T))
    Y = net.forward(tw, tX)
    E, g = net.error_and_gradient(tw, tX, tT)
    G = net.pattern_gradients(tw, tX, tT)
    assert isinstance(Y, torch.Tensor) and isinstance(g, torch.Tensor) and isinstance(G, torch.Tensor)
    E_np, g_np = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(Y.numpy(), net.forward(w, X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(E.item(), E_np, rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), g_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(G.numpy(), net.pattern_gradients(w, X, T), rtol=1e-10, atol=1e-12)


def test_unpack_of_a_torch_vector_gives_views():
    import deltaprop as dp

    net = dp.mlp([2, 3, 1])
    w = torch.zeros(net.n_params, dtype=torch.float64)
    net.unpack(w)["W[h1<-x]"][1, 0] = 7.0
    assert w[net.block("W[h1<-x]").offset + 2].item() == 7.0
