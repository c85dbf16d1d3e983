"""The engine uses only the array namespace of its inputs: array_api_strict refuses anything else."""

import array_api_strict as xps
import numpy as np
from hypothesis import given

from networks import problems


@given(problems())
def test_forward_error_and_gradient_on_array_api_strict(problem):
    net, w, X, T = problem
    sw, sX, sT = (xps.asarray(v) for v in (w, X, T))
    Y = net.forward(sw, sX)
    E = net.error(sw, sX, sT)
    E2, g = net.error_and_gradient(sw, sX, sT)
    G = net.pattern_gradients(sw, sX, sT)
    assert all(type(v) is type(sw) for v in (Y, E, g, G))
    E_np, g_np = net.error_and_gradient(w, X, T)
    np.testing.assert_allclose(np.from_dlpack(Y), net.forward(w, X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(float(E), E_np, rtol=1e-12)
    np.testing.assert_allclose(float(E2), E_np, rtol=1e-12)
    np.testing.assert_allclose(np.from_dlpack(g), g_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.from_dlpack(G), net.pattern_gradients(w, X, T), rtol=1e-10, atol=1e-12)
