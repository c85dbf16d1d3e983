"""The prior over w: one Gaussian precision alpha_g per named group of weights (PRML 5.5.1, 5.7.1).

p(w) = prod_g N(w_g | 0, alpha_g^-1 I), the groups being the views of w as ``net.unpack`` names them
(``"W[h1<-x]"``, ``"b[h1]"``), or a column of a connection's weights, those one unit sends to a layer
(``"W[h1<-x][:, 3]"``: input 3's, one alpha per input being automatic relevance determination, MacKay 1994);
a view in no group has a flat prior (alpha 0). One ``Prior`` value is
built once and used by every part that needs it: the objective's weight decay
E + sum_g alpha_g/2 ||w_g||^2 (PRML 5.112 with lambda_g = alpha_g, or alpha_g/beta where the error is
beta E_D), the fused loop's penalty (``diagonal``), the Laplace approximation's A = diag(alpha) + beta H
(5.166) and the evidence's re-estimation alpha_g = gamma_g / ||w_g||^2 (5.178).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import numpy as np

Alpha = Union[float, Mapping[str, float], "Prior"]


@dataclass(frozen=True)
class Prior:
    """A precision alpha_g for each named group of w; groups not named have a flat prior.

    Attributes
    ----------
    alphas : dict
        Group name -> alpha_g > 0, in the order the groups lie in w.
    slices : dict
        Group name -> the slice of w it covers (with a step for a column).
    n_params : int
        The length of w.
    """

    alphas: dict
    slices: dict
    n_params: int

    @classmethod
    def of(cls, net, alpha: Alpha, *, name: str = "alpha", allow_zero: bool = False) -> "Prior":
        """A prior from one number (every connection's weights, the biases flat: the weight decay of
        PRML 5.112), a mapping from group names to precisions (the groups it leaves out flat), or a
        ``Prior`` (returned as it is). ``allow_zero``: a precision of 0 is accepted and leaves its group
        flat (a weight decay of 0)."""
        if isinstance(alpha, Prior):
            if alpha.n_params != net.n_params or not all(is_group(net, g) for g in alpha.alphas):
                raise ValueError(f"{name} is a Prior of another network (its groups are {', '.join(alpha.alphas)})")
            return alpha
        if isinstance(alpha, Mapping):
            unknown = [k for k in alpha if not is_group(net, k)]
            if unknown:
                raise ValueError(f"{name} names {unknown[0]!r}, which is not a group of this network's weights; "
                                 f"the groups are {', '.join(b.name for b in net.blocks)}, and a connection's "
                                 f"column, e.g. {column(net.connections[0].name, 0)!r}")
            given = {k: precision(f"{name}[{k!r}]", v, allow_zero) for k, v in alpha.items()}
        else:
            a = precision(name, alpha, allow_zero)
            given = {c.name: a for c in net.connections}
        whole = [g for g in given if "[:, " in g and block_of(g) in given]
        if whole:
            raise ValueError(f"{name} names {whole[0]!r} and its whole connection {block_of(whole[0])!r}; "
                             f"give one or the other")
        alphas = {g: given[g] for g in sorted(given, key=lambda g: _slice(net, g).start) if given[g] > 0}
        return cls(alphas, {g: _slice(net, g) for g in alphas}, net.n_params)

    @classmethod
    def initial(cls, net, shared: bool = False, relevance: bool = False) -> "Prior":
        """The precision of the distribution ``net.init`` draws each group from: its units' fan-in (a bias
        group takes its layer's), every group proper. ``shared``: one alpha for all of w, 1 / the mean of
        those variances weighted by the groups' sizes. ``relevance``: each connection from the input layer
        split into one group per input (``columns``), each with its connection's alpha."""
        fan_in: dict = {}
        for c in net.connections:
            fan_in[c.dst] = fan_in.get(c.dst, 0) + net.layers[c.src].size
        alphas = {}
        for b in net.blocks:
            dst = b.name[b.name.index("[") + 1 : b.name.index("<-") if "<-" in b.name else -1]
            alphas[b.name] = float(max(fan_in.get(dst, 1), 1))
        if shared:
            one = net.n_params / sum(b.size / alphas[b.name] for b in net.blocks)
            alphas = {g: one for g in alphas}
        prior = cls(alphas, {g: _slice(net, g) for g in alphas}, net.n_params)
        return prior.columns(net) if relevance else prior

    def columns(self, net) -> "Prior":
        """Each group of a connection from the input layer split into one group per input, ``"W[h1<-x][:, i]"``
        (the weights input i sends to h1), each with its connection's alpha: one alpha per input and layer it
        feeds (automatic relevance determination, MacKay 1994; Neal 1996). With one input there is nothing to split."""
        alphas = {}
        for g, a in self.alphas.items():
            c = next((c for c in net.connections if c.name == g), None)
            if c is None or c.src != net.input or net.layers[c.src].size == 1:
                alphas[g] = a
            else:
                alphas.update({column(g, i): a for i in range(net.layers[c.src].size)})
        return Prior(alphas, {g: _slice(net, g) for g in alphas}, self.n_params)

    def blocks(self, net) -> "Prior":
        """The columns of each connection joined again into one group, with its first column's alpha: the
        groups of PRML 5.5.1 that ``columns`` splits."""
        alphas: dict = {}
        for g, a in self.alphas.items():
            alphas.setdefault(block_of(g), a)
        return Prior(alphas, {g: _slice(net, g) for g in alphas}, self.n_params)

    def with_alphas(self, alphas: Mapping[str, float]) -> "Prior":
        """The same groups with new precisions."""
        return Prior({g: float(alphas[g]) for g in self.alphas}, self.slices, self.n_params)

    def scaled(self, factor: float) -> "Prior":
        """Every alpha_g times ``factor``: alpha_g / beta is the weight decay of beta E_D's minimiser."""
        return Prior({g: a * factor for g, a in self.alphas.items()}, self.slices, self.n_params)

    def diagonal(self, dtype=np.float64) -> np.ndarray:
        """The precision of each entry of w, (n_params,): alpha of its group, 0 where the prior is flat."""
        d = np.zeros(self.n_params, dtype=dtype)
        for g, a in self.alphas.items():
            d[self.slices[g]] = a
        return d

    def sizes(self) -> dict:
        """W_g, the number of entries of each group."""
        return {g: len(range(self.n_params)[s]) for g, s in self.slices.items()}

    def squares(self, w: np.ndarray) -> dict:
        """||w_g||^2 for each group."""
        return {g: float(w[s] @ w[s]) for g, s in self.slices.items()}

    def penalty(self, w: np.ndarray) -> float:
        """sum_g alpha_g/2 ||w_g||^2 (PRML 5.112, 5.162)."""
        return 0.5 * sum(a * q for a, q in zip(self.alphas.values(), self.squares(w).values()))

    def flat(self) -> int:
        """The number of entries of w with a flat prior."""
        return self.n_params - sum(self.sizes().values())

    def log_normaliser(self) -> float:
        """sum_g W_g/2 ln alpha_g: ln of the prior's normalisation up to the (2 pi) factors that cancel in the
        evidence (PRML 5.175), and + flat/2 ln 2 pi for the Gaussian integral over each flat direction."""
        return (sum(0.5 * n * math.log(self.alphas[g]) for g, n in self.sizes().items())
                + 0.5 * self.flat() * math.log(2 * math.pi))

    def __bool__(self) -> bool:
        return bool(self.alphas)


def column(name: str, i: int) -> str:
    """The name of column i of connection ``name``: the weights unit i of its source sends on."""
    return f"{name}[:, {i}]"


def block_of(group: str) -> str:
    """The view of w a group lies in: the group itself, or the connection a column belongs to."""
    return group.split("[:, ")[0]


def column_of(group: str) -> Optional[int]:
    """i of a column's name ``"W[h1<-x][:, i]"`` (i written as ``column`` writes it), None for any other name."""
    i = group[len(block_of(group)):]
    if not (i.startswith("[:, ") and i.endswith("]") and i[4:-1].isdigit() and str(int(i[4:-1])) == i[4:-1]):
        return None
    return int(i[4:-1])


def group_size(net, name: str) -> int:
    """W_g of group ``name`` (``is_group``)."""
    return len(range(net.n_params)[_slice(net, name)])


def is_group(net, name: Any) -> bool:
    """Whether a prior may name ``name``: a view of w, or a column of a connection's weights."""
    if not isinstance(name, str):
        return False
    b = next((b for b in net.blocks if b.name == block_of(name)), None)
    if b is None or name == b.name:
        return b is not None
    i = column_of(name)
    return "<-" in b.name and i is not None and i < b.shape[1]


def _slice(net, name: str) -> slice:
    b = net.block(block_of(name))
    if name == b.name:
        return slice(b.offset, b.offset + b.size)
    F = b.shape[1]  # column i of the row-major (m, F) matrix
    return slice(b.offset + column_of(name), b.offset + b.size, F)


def precision(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a precision: a positive (or, with ``allow_zero``, non-negative) finite number, else an error naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a {'number >= 0' if allow_zero else 'positive number'}; got {value!r}")
    value = float(value)
    if not ((value >= 0 if allow_zero else value > 0) and math.isfinite(value)):
        what = "a finite number >= 0" if allow_zero else "a positive, finite number (a precision)"
        raise ValueError(f"{name} must be {what}; got {value}")
    return value
