"""Activation functions h(a) with their first and second derivatives: the ONE table of them.

Each activation is a triple of functions of the array namespace ``xp``:
``h(xp, a)`` gives z = h(a), ``derivative(xp, a, z)`` gives h'(a) and
``second_derivative(xp, a, z)`` gives h''(a), using z where the book does
(tanh' = 1 - z^2, sigma' = z(1 - z)), so the backward pass reuses what the
forward pass stored. Each also has an integer ``code``: the compiled kernels
(``deltaprop.fast.kernels``) take their codes from this table and refuse any
other.

Softmax couples the units of a layer, so it has no elementwise h'(a); it is
allowed only on the output layer, where the canonical link makes
delta_k = y_k - t_k (PRML 5.18) and h' is never needed. So is the mixture density
output ``"mdn:M"`` (PRML 5.6), whose units give the M mixing coefficients, standard
deviations and means of a Gaussian mixture over the targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable, Optional

Array = Any


def linear(xp, a: Array) -> Array:
    """h(a) = a: the identity, for regression outputs (PRML 5.4)."""
    return a


def linear_derivative(xp, a: Array, z: Array) -> Array:
    """h'(a) = 1."""
    return xp.ones_like(a)


def tanh(xp, a: Array) -> Array:
    """h(a) = (e^a - e^-a) / (e^a + e^-a) (PRML 5.58, 5.59)."""
    return xp.tanh(a)


def tanh_derivative(xp, a: Array, z: Array) -> Array:
    """h'(a) = 1 - h(a)^2 = 1 - z^2 (PRML 5.60)."""
    return 1.0 - z * z


def linear_second_derivative(xp, a: Array, z: Array) -> Array:
    """h''(a) = 0."""
    return xp.zeros_like(a)


def tanh_second_derivative(xp, a: Array, z: Array) -> Array:
    """h''(a) = -2 z (1 - z^2), the derivative of 1 - z^2."""
    return -2.0 * z * (1.0 - z * z)


def logistic(xp, a: Array) -> Array:
    """sigma(a) = 1 / (1 + e^-a) (PRML 5.6), without overflow for any a.

    With e = exp(-|a|) <= 1, sigma(a) = 1/(1 + e) for a >= 0 and e/(1 + e)
    for a < 0: the same function, and exp never sees a large argument.
    """
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logistic_derivative(xp, a: Array, z: Array) -> Array:
    """sigma'(a) = sigma(a) (1 - sigma(a)) = z (1 - z) (PRML 4.88)."""
    return z * (1.0 - z)


def logistic_second_derivative(xp, a: Array, z: Array) -> Array:
    """sigma''(a) = z (1 - z) (1 - 2z)."""
    return z * (1.0 - z) * (1.0 - 2.0 * z)


def relu(xp, a: Array) -> Array:
    """h(a) = max(0, a), the rectified linear unit."""
    return xp.where(a > 0, a, xp.zeros_like(a))


def relu_derivative(xp, a: Array, z: Array) -> Array:
    """h'(a) = 1 for a > 0, else 0 (the value 0 is taken at the kink a = 0)."""
    return xp.astype(a > 0, a.dtype)


def relu_second_derivative(xp, a: Array, z: Array) -> Array:
    """h''(a) = 0 (away from the kink)."""
    return xp.zeros_like(a)


def softplus(xp, a: Array) -> Array:
    """h(a) = ln(1 + e^a), computed as logaddexp(0, a) so that it never overflows."""
    return xp.logaddexp(xp.zeros_like(a), a)


def softplus_derivative(xp, a: Array, z: Array) -> Array:
    """h'(a) = sigma(a), the logistic sigmoid."""
    return logistic(xp, a)


def softplus_second_derivative(xp, a: Array, z: Array) -> Array:
    """h''(a) = sigma(a) (1 - sigma(a))."""
    s = logistic(xp, a)
    return s * (1.0 - s)


def softmax(xp, a: Array) -> Array:
    """y_k = exp(a_k) / sum_j exp(a_j) over the units of a row (PRML 5.25).

    The row maximum is subtracted first; the result is unchanged and exp
    never overflows.
    """
    e = xp.exp(a - xp.max(a, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def mixture_split(xp, a: Array, M: int) -> tuple[Array, Array, Array]:
    """A mixture density network's output units cut into (a^pi (N, M), a^sigma (N, M), a^mu (N, M, L)):
    the M mixing units, the M log-standard-deviation units, then the means, component by component
    (PRML 5.149)."""
    L = a.shape[1] // M - 2
    return a[:, :M], a[:, M : 2 * M], xp.reshape(a[:, 2 * M :], (a.shape[0], M, L))


def mixture_parameters(xp, a: Array, M: int) -> Array:
    """The outputs of a mixture density network, [pi, sigma, mu]: the mixing coefficients by a softmax
    (PRML 5.150), the standard deviations by an exponential (5.151), the means as they are (5.152)."""
    a_pi, a_sigma, _ = mixture_split(xp, a, M)
    return xp.concat([softmax(xp, a_pi), xp.exp(a_sigma), a[:, 2 * M :]], axis=1)


MIXTURE = "mdn"  # the mixture density output's name; with its number of components M: "mdn:3"


@lru_cache(maxsize=None)
def mixture_activation(M: int) -> "Activation":
    """The output activation of a mixture density network of M components (PRML 5.6), named ``"mdn:M"``."""
    if isinstance(M, bool) or not isinstance(M, int) or M < 1:
        raise ValueError(f"a mixture density network needs components M >= 1 (an integer); got {M!r}")
    return Activation(f"{MIXTURE}:{M}", 6, partial(mixture_parameters, M=M), None, None, components=M)


@dataclass(frozen=True)
class Activation:
    """An activation function h with its derivatives.

    Attributes
    ----------
    name : str
        The name used in ``Network`` layer specifications.
    code : int
        Its number in the compiled kernels.
    h : callable
        ``h(xp, a) -> z``.
    derivative : callable or None
        ``derivative(xp, a, z) -> h'(a)``; None for softmax, which is
        output-only.
    second_derivative : callable or None
        ``second_derivative(xp, a, z) -> h''(a)``; None for softmax.
    """

    name: str
    code: int
    h: Callable[..., Array]
    derivative: Optional[Callable[..., Array]]
    second_derivative: Optional[Callable[..., Array]]
    components: Optional[int] = None  # M, for the mixture density output ("mdn:M")

    @property
    def output_only(self) -> bool:
        return self.derivative is None

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("linear", 0, linear, linear_derivative, linear_second_derivative),
        Activation("tanh", 1, tanh, tanh_derivative, tanh_second_derivative),
        Activation("logistic", 2, logistic, logistic_derivative, logistic_second_derivative),
        Activation("relu", 3, relu, relu_derivative, relu_second_derivative),
        Activation("softplus", 4, softplus, softplus_derivative, softplus_second_derivative),
        Activation("softmax", 5, softmax, None, None),
    )
}


def get_activation(name: str) -> Activation:
    """Return the activation called ``name``, or say which names exist."""
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name.startswith(MIXTURE + ":"):
        count = name[len(MIXTURE) + 1 :]
        if not (count.isascii() and count.isdigit()):
            raise ValueError(f"unknown activation {name!r}; a mixture density output is 'mdn:M', M its number of "
                             f"components, e.g. 'mdn:3'")
        return mixture_activation(int(count))
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of {known}, or 'mdn:M' (a mixture density "
                         f"output of M components)") from None
