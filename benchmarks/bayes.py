"""The Bayesian default against its peers: fit seconds, test RMSE and test log-likelihood on the UCI sets, and
what a default fit costs as the network grows.

    python benchmarks/bayes.py DATA_DIR [--splits K] [--only boston,...] [--structures] [--out benchmarks/BAYES.md]
    python benchmarks/bayes.py --sizes [--out benchmarks/BAYES-sizes.md]

UCI rows, each split of each data set (DATA_DIR as ../shared/data/uci), every model fitted on the training rows
and scored on the test rows in the original units:

- deltaprop: ``NetworkRegressor()``, every default (20 tanh units, the evidence with one alpha per input, hessian="auto",
  3 restarts);
  LL under the Laplace predictive distribution N(t | y(x), 1/beta + g^T A^-1 g) (PRML 5.172-5.173);
- deltaprop default, n_jobs=-1: the same fit (bit for bit) with its three starts on threads, one per core;
- deltaprop plain fit: ``NetworkRegressor(weight_decay=1.0)``, every other default the same; LL under beta_ML;
- scikit-learn: ``make_pipeline(StandardScaler(), MLPRegressor())`` as its users write it, every default (100
  relu units, adam, 200 epochs), targets as given (``TransformedTargetRegressor`` is not the default); LL under
  N(t | y(x), its training mean squared error);
- with ``--structures``: ``NetworkRegressor(hessian=...)`` for each curvature structure;
- laplace-torch, where it imports: the same 20-tanh-unit network trained to its MAP in PyTorch (L-BFGS to 1000
  iterations, 1/2 sum of squares plus 1/2 ||w||^2 on standardised data: the plain fit's objective), then
  ``Laplace(model, "regression", subset_of_weights="all", hessian_structure="kron")`` with its prior precision
  and noise sigma both tuned by the marginal likelihood (300 Adam steps, as its README does for regression:
  ``optimize_prior_precision(method="marglik")`` alone leaves sigma at 1 and its LL 0.5-2.6 nats worse).

laplace-torch is not in the ``bench`` extra: it pulls torchvision, which fails to import beside ``torch==2.13.0``
("operator torchvision::nms does not exist") and with it laplace-torch's torchmetrics, and alone it pulls a newer
torch. ``pip install "torch==2.13.0" laplace-torch && pip uninstall -y torchvision`` leaves laplace-torch 0.3
working on torch 2.13.0 (how BAYES.md's row was made).

Seconds: the median fit over splits; RMSE and LL: mean +- standard error over splits. Each row of a split runs
after the others of that split, one process, so that all share the machine alike.

``--sizes``: the default ``NetworkRegressor(hidden=(50, 50))`` on 2,000 x 10 synthetic rows and
``NetworkClassifier(hidden=(100,))`` on 10,000 rows of 784 inputs and 10 classes, each beside the plain fit of
the same estimator (``weight_decay=1.0``): seconds and peak memory, each fit in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import deltaprop as dp

STRUCTURES = ("exact", "ggn", "kron", "diag", "last_layer")


def read_ints(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=int, ndmin=1)


def gaussian_ll(t: np.ndarray, y: np.ndarray, variance: np.ndarray) -> float:
    """Mean log N(t | y, variance) per test point."""
    return float(np.mean(-0.5 * np.log(2 * np.pi * variance) - 0.5 * (t - y) ** 2 / variance))


def deltaprop_row(est):
    def fit_and_score(X, t, Xt, tt):
        est.fit(X, t)
        y, std = est.predict(Xt, return_std=True)
        return y, std**2
    return fit_and_score


def sklearn_row():
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit_and_score(X, t, Xt, tt):
        model = make_pipeline(StandardScaler(), MLPRegressor()).fit(X, t)
        mse = float(np.mean((model.predict(X) - t) ** 2))
        return model.predict(Xt), np.full(len(Xt), mse)
    return fit_and_score


def laplace_torch_row():
    """laplace-torch's Kronecker-factored Laplace with its marginal-likelihood prior precision, or None."""
    try:
        import torch
        from laplace import Laplace
    except ImportError:
        return None

    def fit_and_score(X, t, Xt, tt):
        torch.manual_seed(0)
        mx, sx, mt, st = X.mean(0), X.std(0) + 1e-12, t.mean(), t.std()
        x = torch.as_tensor((X - mx) / sx, dtype=torch.float64)
        y = torch.as_tensor(((t - mt) / st)[:, None], dtype=torch.float64)
        model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 20), torch.nn.Tanh(),
                                    torch.nn.Linear(20, 1)).double()
        opt = torch.optim.LBFGS(model.parameters(), max_iter=1000, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = 0.5 * ((model(x) - y) ** 2).sum() + 0.5 * sum((p**2).sum() for p in model.parameters())
            loss.backward()
            return loss
        opt.step(closure)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=256)
        la = Laplace(model, "regression", subset_of_weights="all", hessian_structure="kron")
        la.fit(loader)
        # the prior precision and the noise by the marginal likelihood, as laplace-torch's README does for regression
        log_prior, log_sigma = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        hyper = torch.optim.Adam([log_prior, log_sigma], lr=0.1)
        for _ in range(300):
            hyper.zero_grad()
            (-la.log_marginal_likelihood(log_prior.exp(), log_sigma.exp())).backward()
            hyper.step()
        xt = torch.as_tensor((Xt - mx) / sx, dtype=torch.float64)
        mean, var = la(xt, pred_type="glm")
        sigma2 = la.sigma_noise.item() ** 2
        return (mean.detach().numpy()[:, 0] * st + mt,
                (var.detach().numpy()[:, 0, 0] + sigma2) * st**2)
    return fit_and_score


def uci(args) -> str:
    warnings.simplefilter("ignore")  # scikit-learn's default stops at 200 epochs and says so on every split
    rows = {"deltaprop (default: the evidence)": lambda: deltaprop_row(dp.NetworkRegressor()),
            "deltaprop default, n_jobs=-1 (the starts on threads)": lambda: deltaprop_row(dp.NetworkRegressor(n_jobs=-1)),
            "deltaprop plain fit (weight_decay=1)": lambda: deltaprop_row(dp.NetworkRegressor(weight_decay=1.0)),
            "scikit-learn MLPRegressor (defaults)": sklearn_row}
    if args.structures:
        rows.update({f"deltaprop hessian={s!r}": (lambda s=s: deltaprop_row(dp.NetworkRegressor(hessian=s)))
                     for s in STRUCTURES})
    if laplace_torch_row() is not None:
        rows["laplace-torch kron, marglik"] = laplace_torch_row
    folders = sorted(p for p in args.data_dir.iterdir() if (p / "data.txt").exists())
    if args.only:
        folders = [p for p in folders if p.name in args.only.split(",")]
    dp.NetworkRegressor(restarts=1, max_iter=5).fit(np.random.rand(20, 2), np.random.rand(20))  # compile once
    lines, start = [], time.perf_counter()
    header = ("| data set | model | fit seconds (median) | x scikit-learn's | test RMSE | test LL |\n"
              "|---|---|---|---|---|---|")
    for folder in folders:
        data = np.loadtxt(folder / "data.txt")
        features, target = read_ints(folder / "index_features.txt"), int(read_ints(folder / "index_target.txt")[0])
        X, t = data[:, features], data[:, target]
        K = min(int(read_ints(folder / "n_splits.txt")[0]), args.splits or 10**9)
        found = {name: [] for name in rows}
        for k in range(K):
            train, test = read_ints(folder / f"index_train_{k}.txt"), read_ints(folder / f"index_test_{k}.txt")
            for name, make in rows.items():
                fit_and_score = make()
                began = time.perf_counter()
                y, variance = fit_and_score(X[train], t[train], X[test], t[test])
                seconds = time.perf_counter() - began
                found[name].append((seconds, float(np.sqrt(np.mean((y - t[test]) ** 2))),
                                    gaussian_ll(t[test], y, variance)))
        base = np.median([r[0] for r in found["scikit-learn MLPRegressor (defaults)"]])
        for name, results in found.items():
            s, rmse, ll = (np.array(c) for c in zip(*results))
            se = lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")  # noqa: E731
            lines.append(f"| {folder.name} ({K} splits) | {name} | {np.median(s):.3f} | {np.median(s) / base:.2f} | "
                         f"{rmse.mean():.3f} +- {se(rmse):.3f} | {ll.mean():.3f} +- {se(ll):.3f} |")
            print(lines[-1], flush=True)
    note = (f"\nRan in {time.perf_counter() - start:.0f} s on {platform.machine()} ({platform.python_implementation()} "
            f"{platform.python_version()}), deltaprop {dp.__version__}; 'x scikit-learn's' is the median fit's seconds "
            f"over scikit-learn's median fit on the same data set.\n")
    return header + "\n" + "\n".join(lines) + "\n" + note


SIZE_CASES = {
    "regressor": "NetworkRegressor(hidden=(50, 50)) on 2,000 x 10 (3,151 weights)",
    "classifier": "NetworkClassifier(hidden=(100,)) on 10,000 x 784, 10 classes (79,510 weights)",
    "rows": "NetworkRegressor() on 7,373 x 8, kin8nm-like (201 weights)",
}


def size_case(case: str, plain: bool, peer: bool = False) -> dict:
    """One fit of a size case, in this process: seconds, peak memory, and what the evidence chose; ``peer``:
    scikit-learn's default network on the same data instead (``make_pipeline(StandardScaler(), MLP...())``)."""
    import resource

    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    options = {"weight_decay": 1.0} if plain else {}
    if case == "regressor":
        X = rng.standard_normal((2000, 10))
        y = np.sin(X[:, 0]) * X[:, 1] + np.tanh(X[:, 2:5].sum(1)) + 0.1 * rng.standard_normal(2000)
        est = dp.NetworkRegressor(hidden=(50, 50), random_state=0, **options)
    elif case == "rows":
        from run import kin8nm_like

        X, T = kin8nm_like(7373)
        y = T[:, 0]
        est = dp.NetworkRegressor(random_state=0, **options)
    else:
        centres = rng.standard_normal((10, 784))
        labels = rng.integers(0, 10, 10000)
        X = centres[labels] + 3.0 * rng.standard_normal((10000, 784))
        y = labels
        est = dp.NetworkClassifier(hidden=(100,), random_state=0, **options)
    if peer:
        est = make_pipeline(StandardScaler(), MLPClassifier(random_state=0) if case == "classifier"
                            else MLPRegressor(random_state=0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        began = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - began
    out = {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "warnings": [str(w.message) for w in caught]}
    if not peer and est.evidence_ is not None:
        out.update(hessian=est.evidence_["hessian"], cycles=est.evidence_["cycles"], gamma=est.evidence_["gamma"],
                   error_bars=bool(np.all(np.isfinite(est.predict_proba(X[:5]) if case == "classifier"
                                                      else est.predict(X[:5], return_std=True)[1]))))
    return out


def sizes() -> str:
    lines = ["| case | default fit seconds | plain fit seconds | ratio | scikit-learn's default fit seconds | default "
             "peak MB | plain peak MB | structure, cycles | error bars | warnings |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case, title in SIZE_CASES.items():
        got = {}
        for kind in ("default", "plain", "peer"):
            run = subprocess.run([sys.executable, __file__, "--size-case", case] + ([f"--{kind}"] if kind != "default"
                                                                                    else []),
                                 capture_output=True, text=True, check=True)
            got[kind] = json.loads(run.stdout.strip().splitlines()[-1])
        d, p, s = got["default"], got["plain"], got["peer"]
        lines.append(f"| {title} | {d['seconds']:.1f} | {p['seconds']:.1f} | {d['seconds'] / p['seconds']:.2f} | "
                     f"{s['seconds']:.1f} | {d['peak_mb']:.0f} | {p['peak_mb']:.0f} | {d.get('hessian')}, "
                     f"{d.get('cycles')} | {'yes' if d.get('error_bars') else 'no'} | "
                     f"{'; '.join(d['warnings']) or 'none'} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + (f"\n\nEach fit in a process of its own (peak: its maximum resident set, imports "
                               f"included), on {platform.machine()}, deltaprop {dp.__version__}.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, nargs="?")
    parser.add_argument("--splits", type=int, default=None, help="the first K splits of each data set (default: all)")
    parser.add_argument("--only", default=None, help="comma-separated data set names (default: all)")
    parser.add_argument("--structures", action="store_true", help="a row for each curvature structure too")
    parser.add_argument("--sizes", action="store_true", help="the size table instead of the UCI one")
    parser.add_argument("--size-case", choices=tuple(SIZE_CASES), help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = parser.parse_args()
    if args.size_case:
        print(json.dumps(size_case(args.size_case, args.plain, args.peer)))
        return
    if args.sizes:
        text = sizes()
    else:
        if args.data_dir is None or not args.data_dir.is_dir():
            parser.error(f"DATA_DIR {args.data_dir} is not a folder of data sets such as ../shared/data/uci")
        text = uci(args)
    print(text)
    if args.out:
        command = "python benchmarks/bayes.py " + " ".join(sys.argv[1:])
        args.out.write_text(f"# The Bayesian default against its peers\n\n`{command}`\n\n{text}")


if __name__ == "__main__":
    main()
