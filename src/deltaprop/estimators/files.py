"""Reading an estimator back from its model file: which kinds may be read, and every check of what the file
holds before it becomes a fitted estimator (``load``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io import MEMBER, NETWORK, ModelFile, ModelFileError
from ..numerics.curvature import STRUCTURES
from ..numerics.laplace import Committee, restored
from ..numerics.prior import Prior, column, group_size, is_group
from ..optimize import METHODS
from .base import MAX_MEMBERS, _number, _positive
from .classifier import NetworkClassifier
from .mixture import MixtureDensityRegressor
from .regressor import NetworkRegressor


ESTIMATORS = {"NetworkRegressor": NetworkRegressor, "NetworkClassifier": NetworkClassifier,
              "MixtureDensityRegressor": MixtureDensityRegressor}


ROUNDING = 1e-9  # files written before gamma_g was clipped may hold W_g - alpha_g Tr_g(A^-1) = -4e-16


HISTORY_KEYS = ("epoch", "error", "validation_error", "grad_norm", "seconds")


def _metadata_problem(cls, net, params: dict, info: dict, training: dict) -> str:
    """What is wrong with an estimator's metadata as read from its file, naming the field; "" if nothing.
    The one place that says what deltaprop writes there (``_NetworkEstimator.save``)."""
    expected = set(cls().get_params())
    if set(params) != expected:
        missing, extra = sorted(expected - set(params)), sorted(set(params) - expected)
        return f"params {'lacks ' + repr(missing[0]) if missing else 'has the unknown entry ' + repr(extra[0])}"
    if not (isinstance(info.get("n_features_in"), int) and info["n_features_in"] == net.D):
        return f"estimator.n_features_in is {info.get('n_features_in')!r}; the network has {net.D} inputs"
    names = info.get("feature_names")
    if names is not None and not (isinstance(names, list) and len(names) == net.D and all(isinstance(n, str) for n in names)):
        return f"estimator.feature_names must be null or {net.D} strings"
    output = net.layers[net.output].activation.name
    problem = cls._fitted_problem(net, params, info)  # what the estimator's own _save_fitted writes
    if problem:
        return problem
    if "weight_decay" in info and not (info["weight_decay"] == "evidence" or
                                       (_number(info["weight_decay"]) and info["weight_decay"] >= 0)):
        return f"estimator.weight_decay must be \"evidence\" or a number >= 0; got {info['weight_decay']!r}"
    evidence = info.get("evidence")
    if evidence is not None:
        problem = _evidence_problem(net, evidence, output == "linear")
        if problem:
            return f"estimator.evidence.{problem}"
    history = training.get("history")
    if not (isinstance(history, dict) and set(history) == set(HISTORY_KEYS)
            and all(isinstance(v, list) and all(_number(x) for x in v) for v in history.values())
            and len({len(v) for v in history.values()}) == 1 and len(history["epoch"]) >= 1
            and all(isinstance(e, int) for e in history["epoch"])):
        return f"training.history must hold {', '.join(HISTORY_KEYS)} as lists of numbers of one length"
    for key, check, what in (("restart_errors", lambda v: isinstance(v, list) and v and all(_number(x) for x in v),
                              "a list of numbers"),
                             ("n_iter", lambda v: isinstance(v, int) and v >= 0, "a whole number"),
                             ("snapshot_epochs", lambda v: isinstance(v, list) and all(isinstance(e, int) for e in v),
                              "a list of epochs"),
                             ("method", lambda v: v in METHODS, f"one of {', '.join(METHODS)}"),
                             ("stop_reason", lambda v: isinstance(v, str), "text"),
                             ("error", _number, "a number"), ("penalty", _number, "a number"),
                             ("restarts", lambda v: isinstance(v, int) and v >= 1, "a whole number >= 1"),
                             ("best_restart", lambda v: isinstance(v, int) and 0 <= v < len(training.get(
                                 "restart_errors") or []), "the place of a restart in training.restart_errors")):
        if key not in training or not check(training[key]):
            return f"training.{key} must be {what}; got {training.get(key, 'nothing')!r}"
    return ""


def _evidence_problem(net, e: Any, regression: bool, member: bool = False) -> str:
    """What is wrong with the evidence summary of a file (``_NetworkEstimator.evidence_``, or one of its
    ``members``); "" if nothing."""
    keys = {"alpha", "beta", "gamma", "gamma_groups", "log_evidence", "cycles", "converged", "hessian", "error", "N"}
    optional = {"notes"} if member else {"notes", "members", "candidates"}
    if not isinstance(e, dict) or not keys <= set(e) <= keys | optional:
        return f"must hold {', '.join(sorted(keys))} (and {', '.join(sorted(optional))})"
    if not (isinstance(e.get("notes", []), list) and all(isinstance(n, str) for n in e.get("notes", []))):
        return "notes must be a list of text"
    groups = [b.name for b in net.blocks]
    for key in ("alpha", "gamma_groups"):
        if not (isinstance(e[key], dict) and all(is_group(net, g) for g in e[key])
                and all(_number(v) for v in e[key].values())):
            return (f"{key} must map groups of the network's weights ({', '.join(groups)}, or a connection's column "
                    f"such as {column(net.connections[0].name, 0)!r}) to numbers")
    if not all(_positive(v) for v in e["alpha"].values()):
        return "alpha must be positive"
    try:
        Prior.of(net, e["alpha"])
    except ValueError as error:  # a connection and one of its columns both named
        return str(error)
    if not (_positive(e["beta"]) if regression else e["beta"] is None):
        return "beta must be a positive number (regression) or null (classification)"
    sizes = {g: group_size(net, g) for g in e["gamma_groups"]}
    for g, v in e["gamma_groups"].items():  # 0 <= gamma_g <= W_g (PRML 5.179, per group)
        if not (_number(v) and not isinstance(v, str) and -ROUNDING <= v <= sizes[g] + ROUNDING):
            return f"gamma_groups[{g!r}] is {v!r}; a group's well-determined parameters lie in [0, {sizes[g]}]"
    gamma_ok = (_number(e["gamma"]) and not isinstance(e["gamma"], str)
                and -ROUNDING <= e["gamma"] <= net.n_params + ROUNDING)
    for key, ok in (("gamma", gamma_ok), ("log_evidence", _number(e["log_evidence"])),
                    ("error", _number(e["error"])), ("cycles", isinstance(e["cycles"], int) and e["cycles"] >= 0),
                    ("N", isinstance(e["N"], int) and e["N"] >= 1), ("converged", isinstance(e["converged"], bool)),
                    ("hessian", e["hessian"] in ("outer_product", *STRUCTURES))):
        if not ok:
            return f"{key} is {e[key]!r}"
    for r, row in enumerate(e.get("candidates", [])):
        if not (isinstance(row, dict) and set(row) == {"hidden", "log_evidence", "log_symmetry", "active", "score"}
                and isinstance(row["hidden"], list) and all(isinstance(m, int) and m >= 1 for m in row["hidden"])
                and isinstance(row["active"], list) and all(_number(m) for m in row["active"])
                and all(_number(row[k]) for k in ("log_evidence", "log_symmetry", "score"))):
            return f"candidates[{r}] must hold hidden, log_evidence, log_symmetry, active and score"
    members = e.get("members", [])
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        return f"members must be a list of at most {MAX_MEMBERS} summaries"
    for r, m in enumerate(members, 1):
        problem = _evidence_problem(net, m, regression, member=True)
        if problem:
            return f"members[{r - 1}].{problem}"
    return ""


def from_model_file(f: ModelFile):
    """The fitted estimator that the model file ``f`` holds; its metadata is checked before anything is built."""
    if f.kind == NETWORK:
        raise ModelFileError(f"{f.path} holds a bare network, not an estimator: load it with dp.load_network")
    cls, net = ESTIMATORS[f.kind], f.network
    params, info, training = f.read_json("params", dict), f.read_json("estimator", dict), f.read_json("training", dict)
    if f.version < 5 and "prior" in cls().get_params() and "prior" not in params:  # fitted before it was one
        params["prior"] = "groups" if cls is NetworkRegressor else None
    problem = _metadata_problem(cls, net, params, info, training)
    if problem:
        f.fail(problem)
    params["hidden"] = tuple(params["hidden"]) if isinstance(params["hidden"], list) else params["hidden"]
    est = cls(**params)
    sizes = [net.layers[n].size for n in list(net.layers)[1:-1]]
    try:
        est._validate_params()
        candidates = est._candidates() if hasattr(est, "_candidates") else None
        hidden = est._hidden_sizes() if candidates is None else sizes
    except (ValueError, TypeError) as exc:
        f.fail(f"params: {exc}")
    if candidates is not None and sizes not in candidates:
        f.fail(f"params.hidden compares {candidates}; the network's hidden layers have {sizes} units, none of them")
    if sizes != hidden:
        f.fail(f"params.hidden is {params['hidden']!r}; the network's hidden layers have "
               f"{[net.layers[n].size for n in list(net.layers)[1:-1]]} units")
    est.network_, est.w_, est.n_features_in_ = net, f.w, info["n_features_in"]
    if info.get("feature_names"):
        est.feature_names_in_ = np.array(info["feature_names"], dtype=object)
    est.x_mean_, est.x_scale_ = f.vector("x_mean", net.D), f.vector("x_scale", net.D)
    est._load_fitted(f, info)
    if "weight_decay" in info:
        est.weight_decay_ = info["weight_decay"]
    else:  # written before the evidence: None meant the fixed default
        est.weight_decay_ = est._fixed_weight_decay if est.weight_decay is None else float(est.weight_decay)
    est.posterior_, est.evidence_ = None, info.get("evidence")
    est.committee_ = None
    stored = [k for k in f.tensors if k.startswith(("posterior", "member"))]
    if est.evidence_ is not None:
        summaries = [est.evidence_] + est.evidence_.get("members", [])
        prefixes = [""] + [f"member{r}:" for r in range(1, len(summaries))]
        strays = [k for k in stored if MEMBER.match(k) and not 1 <= int(k[6 : MEMBER.match(k).end() - 1]) < len(summaries)]
        if strays:
            f.fail(f"the file holds {strays[0]}, but estimator.evidence has {len(summaries) - 1} members beside the first")
        members = []
        for prefix, e in zip(prefixes, summaries):
            if prefix and f"{prefix}w" not in f.tensors:
                f.fail(f"estimator.evidence.members names a start whose tensor {prefix}w is missing")
            members.append(_posterior_from_file(f, net, f.tensors[f"{prefix}w"] if prefix else est.w_, e, prefix))
        est.posterior_ = members[0]
        est.committee_ = Committee.of(members, est.committee)
        if est.posterior_.beta is not None:  # beta_ (target units) is the beta the error bars use (network units)
            implied = est.posterior_.beta / np.asarray(est._output_scale(), dtype=float) ** 2
            if not np.allclose(np.atleast_1d(est.beta_), implied, rtol=1e-9, atol=0.0):
                f.fail(f"estimator.beta is {est.beta_!r}, but the posterior's beta {est.posterior_.beta!r} in the "
                       f"targets' units is {implied.tolist()}: the error bars and beta_ would disagree")
    elif stored:
        f.fail(f"the file holds {stored[0]} but no estimator.evidence")
    est._evidence_attributes()
    est.history_ = {k: np.asarray(v, dtype=int if k == "epoch" else float) for k, v in training.pop("history").items()}
    est.restart_errors_ = np.asarray(training.pop("restart_errors"), dtype=float)
    est.n_iter_ = training.pop("n_iter")
    epochs = np.asarray(training.pop("snapshot_epochs"), dtype=int)
    snapshots = f.tensors.get("snapshots", np.zeros((0, net.n_params)))
    if snapshots.shape != (len(epochs), net.n_params):
        f.fail(f"{snapshots.shape[0]} snapshots of weights for {len(epochs)} epochs")
    est.snapshots_ = {"epoch": epochs, "w": snapshots}
    est.training_ = training
    return est


def _posterior_from_file(f: ModelFile, net, w: np.ndarray, e: dict, member: str = ""):
    """The Laplace posterior kept in a model file: its structure's curvature factors (``posterior:NAME:FACTOR``
    tensors, each start but the first's behind ``member{r}:``), or, in files of format 3, the precision A
    itself (``posterior_precision``)."""
    name = {"outer_product": "ggn"}.get(e["hessian"], e["hessian"])
    prefix = f"{member}posterior:{name}:"
    factors = {k[len(prefix):]: v for k, v in f.tensors.items() if k.startswith(prefix)}
    strays = [k for k in f.tensors if k.startswith(f"{member}posterior") and not k.startswith(prefix)
              and not (k == "posterior_precision" and name in ("exact", "ggn"))]
    if strays:
        f.fail(f"the tensor {strays[0]} is not a factor of the {name!r} posterior that estimator.evidence names")
    if "posterior_precision" in f.tensors and not member:
        A = f.tensors["posterior_precision"]
        factors = {"H": (A - np.diag(Prior.of(net, e["alpha"]).diagonal())) / (1.0 if e["beta"] is None else e["beta"])}
    try:
        return restored(net, w, e["alpha"], e["beta"], name, factors, error=e["error"], N=e["N"], gamma=e["gamma"],
                        gamma_groups=e["gamma_groups"], log_evidence=e["log_evidence"], notes=tuple(e.get("notes", ())))
    except KeyError as exc:
        f.fail(f"estimator.evidence is given but the tensor {prefix}{exc.args[0]} is missing")
    except ValueError as exc:
        f.fail(f"the tensors of the {name!r} posterior do not make a precision: {exc}")


def model_file(path) -> ModelFile:
    """The model file at ``path``, checked, holding a bare network or one of the ``ESTIMATORS``."""
    return ModelFile(path, tuple(ESTIMATORS))


def load(path):
    """Load the fitted NetworkRegressor, NetworkClassifier or MixtureDensityRegressor saved in ``path``."""
    return from_model_file(model_file(path))
