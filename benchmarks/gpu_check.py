"""The engine on accelerator arrays gives NumPy's E and gradient: PyTorch tensors and CuPy arrays on a device.

    python benchmarks/gpu_check.py [--device cuda]

For every hidden activation and output kind, on a layered network and on one
with a skip-layer connection and a mask, E(w) and dE/dw are computed by the
same engine code (``deltaprop.engine.backprop``, which uses only the array namespace
of its inputs) on NumPy arrays and on each library's arrays on ``device``, in
float64 (agreement to 1e-10 relative) and float32 (1e-4). PyTorch is checked
on any device (``--device cpu`` runs here); CuPy only where it is installed
and a CUDA device is present. Prints one line per case and exits 1 if any
disagrees; a missing library is reported, never faked.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np

import deltaprop as dp

HIDDEN = ["linear", "tanh", "logistic", "relu", "softplus"]
OUTPUTS = [("linear", 2), ("logistic", 3), ("softmax", 4)]
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def networks(hidden: str, output: str, K: int):
    yield "layered 3-16-8-K", dp.mlp([3, 16, 8, K], hidden=hidden, output=output)
    mask = np.random.default_rng(0).random((8, 16)) < 0.7
    yield "skip + mask", dp.Network({"x": 3, "h1": (16, hidden), "h2": (8, hidden), "y": (K, output)},
                                    [("x", "h1"), ("h1", "h2", mask), ("h2", "y"), ("x", "y")])


def libraries(device: str):
    """(name, to_device(numpy array) -> array, to_numpy(array) -> numpy array) for each library here."""
    if importlib.util.find_spec("torch") is None:
        print("PyTorch: not installed")
    else:
        import torch

        yield "PyTorch", lambda a: torch.as_tensor(a, device=device), lambda a: a.detach().cpu().numpy()
    if importlib.util.find_spec("cupy") is None:
        print("CuPy: not installed")
    elif not device.startswith("cuda"):
        print(f"CuPy: skipped on device {device!r} (CUDA only)")
    else:
        import cupy

        yield "CuPy", cupy.asarray, cupy.asnumpy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the PyTorch device (cuda, cuda:1, cpu); CuPy uses CUDA")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    failures = checked = 0
    for lib, to_device, to_numpy in libraries(args.device):
        for hidden in HIDDEN:
            for output, K in OUTPUTS:
                for label, net in networks(hidden, output, K):
                    X = rng.standard_normal((64, 3))
                    T = rng.random((64, K))
                    T /= T.sum(axis=1, keepdims=True)  # probabilities: fit for every output kind
                    w = net.init(seed=1) + 0.05
                    for dtype, tol in TOLERANCE.items():
                        E, g = net.error_and_gradient(*(a.astype(dtype) for a in (w, X, T)))
                        E_d, g_d = net.error_and_gradient(*(to_device(a.astype(dtype)) for a in (w, X, T)))
                        E_d, g_d = float(to_numpy(E_d)), to_numpy(g_d)
                        scale = max(np.abs(g).max(), 1e-30)
                        worst = max(abs(E_d - E) / abs(E), np.abs(g_d - g).max() / scale)
                        ok = g_d.dtype == dtype and worst <= tol
                        failures += not ok
                        checked += 1
                        print(f"{lib:8s} {args.device:7s} {np.dtype(dtype).name:8s} {label:17s} {hidden:9s} {output:9s} "
                              f"max relative difference {worst:.2e} {'ok' if ok else 'DISAGREES'}")
    print(f"{checked} cases, {failures} disagree")
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
