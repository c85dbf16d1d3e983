"""The UCI regression benchmark: deltaprop's NetworkRegressor under the published protocol.

    python benchmarks/uci.py DATA_DIR [--splits K] [--out benchmarks/UCI.md]
    python benchmarks/uci.py DATA_DIR --weight-decay evidence [--out benchmarks/UCI-evidence.md]   # the defaults

DATA_DIR holds one folder per data set in the layout of Hernandez-Lobato and
Adams (2015) and Gal and Ghahramani (2016) (see ../shared/data/uci/README.md):
data.txt, index_features.txt, index_target.txt, n_hidden.txt and the
index_train_k / index_test_k split files. For each split: standardise on the
training rows (the estimator does, with the training statistics only); choose
the weight decay by K-fold cross-validation on the training rows (``--folds 1``:
on their last 20%, as the reference code did), the one whose networks predict
the held-out rows with the least squared error; retrain on all training rows
with it; report the test RMSE and the mean test log-likelihood per point under
N(t | y, 1/beta), beta = 1/(mean squared held-out residual), both in the
original units. Mean +- standard error over the splits, beside the
published figures of PBP and MC dropout.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import joblib
import numpy as np

import deltaprop as dp

PUBLISHED = {  # test RMSE and LL: PBP (Hernandez-Lobato and Adams 2015), MC dropout (Gal and Ghahramani 2016)
    "bostonHousing": ((3.01, -2.57), (2.97, -2.46)),
    "concrete": ((5.67, -3.16), (5.23, -3.04)),
    "energy": ((1.80, -2.04), (1.66, -1.99)),
    "yacht": ((1.02, -1.63), (1.11, -1.55)),
}
DEEP_ENSEMBLES = {  # Lakshminarayanan, Pritzel and Blundell (2017), Table 1: test RMSE and LL
    "bostonHousing": (3.28, -2.41), "concrete": (6.03, -3.06), "energy": (2.09, -1.38), "yacht": (1.58, -1.18),
}
WEIGHT_DECAYS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def read_ints(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=int, ndmin=1)


def log_likelihood(est, X, t, beta=None) -> float:
    """Mean log N(t | y(x), 1/beta) per test point, in the original units (PRML 5.16); beta_ML by default."""
    beta = est.beta_ if beta is None else beta
    y = est.predict(X)
    return float(np.mean(0.5 * np.log(beta / (2 * np.pi)) - 0.5 * beta * (t - y) ** 2))


def regressor(n_hidden: int, weight_decay, seed: int, restarts: int) -> dp.NetworkRegressor:
    return dp.NetworkRegressor(hidden=(n_hidden,), weight_decay=weight_decay, method="lbfgs", max_iter=2000,
                               restarts=restarts, random_state=seed)


def validation_parts(train: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) pairs: the last 20% of the training rows if folds == 1, else K contiguous folds.

    Contiguous in the order of the split file, which the published splits list shuffled, so the folds are random.
    """
    if folds == 1:
        cut = int(round(0.8 * len(train)))
        return [(train[:cut], train[cut:])]
    parts = np.array_split(train, folds)
    return [(np.concatenate(parts[:i] + parts[i + 1:]), parts[i]) for i in range(folds)]


def validation_residuals(X, t, parts, n_hidden: int, weight_decay: float, seed: int, restarts: int) -> np.ndarray:
    """Residuals t - y on every validation row, each predicted by a network fitted without it."""
    return np.concatenate([t[val] - regressor(n_hidden, weight_decay, seed, restarts).fit(X[fit], t[fit]).predict(X[val])
                           for fit, val in parts])


def run_split(folder: Path, data: np.ndarray, k: int, restarts: int, folds: int, jobs: int) -> dict:
    features, target = read_ints(folder / "index_features.txt"), int(read_ints(folder / "index_target.txt")[0])
    n_hidden = int(read_ints(folder / "n_hidden.txt")[0])
    train, test = read_ints(folder / f"index_train_{k}.txt"), read_ints(folder / f"index_test_{k}.txt")
    X, t = data[:, features], data[:, target]
    parts = validation_parts(train, folds)
    residuals = joblib.Parallel(n_jobs=jobs)(
        joblib.delayed(validation_residuals)(X, t, parts, n_hidden, lam, k, restarts) for lam in WEIGHT_DECAYS)
    held_out_beta = {lam: 1.0 / np.mean(r ** 2) for lam, r in zip(WEIGHT_DECAYS, residuals)}
    best = max(held_out_beta, key=held_out_beta.get)  # the validation LL at beta = 1/mse rises with beta
    est = regressor(n_hidden, best, k, restarts).fit(X[train], t[train])
    rmse = float(np.sqrt(np.mean((est.predict(X[test]) - t[test]) ** 2)))
    return {"rmse": rmse, "ll": log_likelihood(est, X[test], t[test], held_out_beta[best]),
            "ll_ml": log_likelihood(est, X[test], t[test]), "weight_decay": best}


def run_split_evidence(folder: Path, data: np.ndarray, k: int) -> dict:
    """One split with every default of NetworkRegressor (the evidence, hessian="auto", a committee of three starts):
    alpha and beta from the training rows alone, nothing held out; LL under the committee's mixture of Laplace
    predictive distributions (PRML 5.172-5.173), in the original units."""
    features, target = read_ints(folder / "index_features.txt"), int(read_ints(folder / "index_target.txt")[0])
    train, test = read_ints(folder / f"index_train_{k}.txt"), read_ints(folder / f"index_test_{k}.txt")
    X, t = data[:, features], data[:, target]
    start = time.perf_counter()
    est = dp.NetworkRegressor(random_state=k).fit(X[train], t[train])
    seconds = time.perf_counter() - start
    rmse = float(np.sqrt(np.mean((est.predict(X[test]) - t[test]) ** 2)))
    return {"rmse": rmse, "ll": -est.negative_log_likelihood(X[test], t[test]), "seconds": seconds,
            "gamma": est.evidence_["gamma"], "converged": est.evidence_["converged"]}


def main_evidence(args, folders) -> None:
    import warnings

    rows, start = [], time.perf_counter()
    for folder in folders:
        data = np.loadtxt(folder / "data.txt")
        n_splits = int(read_ints(folder / "n_splits.txt")[0]) if (folder / "n_splits.txt").exists() else 20
        K = min(n_splits, args.splits or n_splits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the evidence's convergence warnings: counted in the table instead
            results = joblib.Parallel(n_jobs=args.jobs)(
                joblib.delayed(run_split_evidence)(folder, data, k) for k in range(K))
        rmse, ll = np.array([r["rmse"] for r in results]), np.array([r["ll"] for r in results])
        se = lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")  # noqa: E731
        (pbp_rmse, pbp_ll), (do_rmse, do_ll) = PUBLISHED.get(folder.name, ((np.nan, np.nan), (np.nan, np.nan)))
        de_rmse, de_ll = DEEP_ENSEMBLES.get(folder.name, (np.nan, np.nan))
        rows.append(f"| {folder.name} | {len(data)} | {K} | {rmse.mean():.2f} +- {se(rmse):.2f} | {pbp_rmse} | {do_rmse} "
                    f"| {de_rmse} | {ll.mean():.2f} +- {se(ll):.2f} | {pbp_ll} | {do_ll} | {de_ll} "
                    f"| {np.mean([r['gamma'] for r in results]):.0f} | {sum(r['converged'] for r in results)}/{K} "
                    f"| {np.median([r['seconds'] for r in results]):.2f} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "| data set | N | splits | deltaprop RMSE | PBP RMSE | dropout RMSE | ensembles RMSE | deltaprop LL | PBP LL "
        "| dropout LL | ensembles LL | mean gamma | settled | fit seconds (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    note = (f"\nNetworkRegressor() with every default: 20 tanh units, alpha per group of weights (the first layer's one per "
            f"input: automatic relevance determination) and beta by the evidence from the training rows alone (PRML "
            f"5.7; no cross-validation, nothing held out), the Hessian's structure by hessian='auto' (the dense "
            f"Gauss-Newton matrix on these four), three starts each with its own cycles (the second settling one alpha "
            f"per layer before it splits the first layer's per input), predicting as their uniform committee. LL: mean "
            f"test log-density per point under the committee's mixture of Laplace predictive distributions (PRML "
            f"5.172-5.173), in the original units. PBP: Hernandez-Lobato and Adams (2015); dropout: Gal and Ghahramani "
            f"(2016); ensembles: Lakshminarayanan et al. (2017), Table 1. 'settled': splits whose kept start's "
            f"hyperparameters moved by under a tenth of their posterior standard deviations in its last cycle. Mean "
            f"+- standard error over splits. Ran in "
            f"{time.perf_counter() - start:.0f} s ({args.jobs} job{'s' if args.jobs != 1 else ''}) on "
            f"{platform.machine()} with {platform.python_implementation()} {platform.python_version()}, deltaprop "
            f"{dp.__version__}.\n")
    print(note)
    if args.out:
        args.out.write_text(f"# UCI regression benchmark: the defaults (the evidence)\n\n`python benchmarks/uci.py "
                            f"../shared/data/uci --weight-decay evidence --jobs {args.jobs} --out {args.out}`\n\n"
                            + table + "\n" + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--splits", type=int, default=None, help="use the first K splits (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--only", default=None, help="comma-separated data set names to run (default: all)")
    parser.add_argument("--restarts", type=int, default=1, help="random restarts per fit (default 1)")
    parser.add_argument("--folds", type=int, default=5,
                        help="cross-validation folds of the training rows (default 5; 1: their last 20%%)")
    parser.add_argument("--jobs", type=int, default=1, help="fits in parallel (joblib)")
    parser.add_argument("--weight-decay", default="cv", choices=("cv", "evidence"),
                        help="cv: chosen by cross-validation from a grid (default); evidence: by the evidence (PRML 5.7)")
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        raise SystemExit(f"{args.data_dir} is not a folder; expected one folder per data set, as in ../shared/data/uci")
    if args.folds < 1 or args.jobs == 0:
        raise SystemExit(f"--folds must be at least 1 and --jobs not 0 (got {args.folds} and {args.jobs})")
    folders = sorted(p for p in args.data_dir.iterdir() if (p / "data.txt").exists())
    if args.only:
        folders = [p for p in folders if p.name in args.only.split(",")]
    if not folders:
        raise SystemExit(f"{args.data_dir} holds no data set folders (each with a data.txt)")
    if args.weight_decay == "evidence":
        return main_evidence(args, folders)
    rows = []
    start = time.perf_counter()
    for folder in folders:
        data = np.loadtxt(folder / "data.txt")
        n_splits = int(read_ints(folder / "n_splits.txt")[0]) if (folder / "n_splits.txt").exists() else 20
        K = min(n_splits, args.splits or n_splits)
        results = [run_split(folder, data, k, args.restarts, args.folds, args.jobs) for k in range(K)]
        rmse, ll = np.array([r["rmse"] for r in results]), np.array([r["ll"] for r in results])
        ll_ml = np.array([r["ll_ml"] for r in results])
        se = lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")  # noqa: E731
        (pbp_rmse, pbp_ll), (do_rmse, do_ll) = PUBLISHED.get(folder.name, ((np.nan, np.nan), (np.nan, np.nan)))
        lams = ", ".join(f"{lam:g}: {sum(r['weight_decay'] == lam for r in results)}" for lam in WEIGHT_DECAYS)
        rows.append(f"| {folder.name} | {len(data)} | {K} | {rmse.mean():.2f} +- {se(rmse):.2f} | {pbp_rmse} | {do_rmse} "
                    f"| {ll.mean():.2f} +- {se(ll):.2f} | {pbp_ll} | {do_ll} | {ll_ml.mean():.2f} +- {se(ll_ml):.2f} | {lams} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "| data set | N | splits | deltaprop RMSE | PBP RMSE | dropout RMSE | deltaprop LL | PBP LL | dropout LL | LL with training beta_ML | weight decay chosen (count) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    held_out = ("the squared error on the last 20% of the training rows" if args.folds == 1 else
                f"the squared error of {args.folds}-fold cross-validation on the training rows (each row predicted by the network "
                f"fitted without its fold)")
    note = (f"\nNetworkRegressor(hidden=(n_hidden,), method='lbfgs', max_iter=2000, restarts={args.restarts}), weight decay chosen per split "
            f"from {WEIGHT_DECAYS} by {held_out}, then refitted on all of them. LL: mean test log N(t | y, 1/beta) per point, beta = 1/(mean squared "
            f"residual) on the held-out rows of the chosen weight decay's fits (beta_ML on held-out rows; beta_ML on the training rows, PRML 5.15, is "
            f"optimistic after fitting, and its LL is the next column). "
            f"Mean +- standard error over splits. Ran in {time.perf_counter() - start:.0f} s on "
            f"{platform.machine()} with {platform.python_implementation()} {platform.python_version()}, "
            f"deltaprop {dp.__version__}.\n")
    print(note)
    if args.out:
        args.out.write_text(f"# UCI regression benchmark\n\n`python benchmarks/uci.py ../shared/data/uci --restarts {args.restarts} "
                            f"--folds {args.folds} --jobs {args.jobs} --out benchmarks/UCI.md`\n\n"
                            + table + "\n" + note)


if __name__ == "__main__":
    main()
