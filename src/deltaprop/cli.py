"""The ``deltaprop`` command."""

from __future__ import annotations

import numpy as np
import typer
from rich.console import Console

from .derivatives import gradient_check
from .likelihood import noise_precision
from .network import mlp

app = typer.Typer(
    help="Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5)."""


def seed_example(seed: int = 0, N: int = 50):
    """The seed's simple example: N points x uniform in (-1, 1), targets sin(pi x), a 1-3-1 tanh network.

    Returns ``(net, X, T)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(N, 1))
    return mlp([1, 3, 1], hidden="tanh", output="linear"), X, np.sin(np.pi * X)


@app.command()
def demo(
    seed: int = typer.Option(0, help="Seed of the data and of the initial weights."),
    pattern: int = typer.Option(0, help="Which of the 50 patterns to trace, 0 to 49."),
) -> None:
    """Run the seed's simple example: a 1-3-1 tanh network on sin(pi x), one backpropagation traced."""
    if not 0 <= pattern < 50:
        raise typer.BadParameter(f"pattern must be 0 to 49; got {pattern}", param_hint="--pattern")
    out = Console(highlight=False, soft_wrap=True)
    net, X, T = seed_example(seed)
    w = net.init(seed=seed)
    E, g = net.error_and_gradient(w, X, T)
    check = gradient_check(net, w, X, T)

    out.print("[bold]The seed's simple example[/bold] (PRML 5.3.2): D = 1 input, M = 3 tanh hidden units, K = 1 linear output")
    out.print(f"data: N = {X.shape[0]} inputs x uniform in (-1, 1), targets t = sin(pi x); seed {seed}")
    out.print(f"network: {net!r}", markup=False)
    out.print(f"weights w drawn from N(0, 1/fan-in), biases 0: {net.n_params} parameters")
    out.print(f"E(w) = 1/2 sum_n (y(x_n, w) - t_n)^2 = {float(E):.6g}")
    out.print(f"beta_ML at this w = {noise_precision(net, w, X, T):.6g}  (1/beta_ML = mean squared residual, PRML 5.15)")
    out.print(
        f"backpropagation vs central differences (PRML 5.69): largest relative difference "
        f"{check.max_relative_difference:.2e} at {check.name}",
        markup=False,
    )
    out.print(f"|dE/dw| = {float(np.linalg.norm(g)):.6g}")
    out.print()
    out.print(f"[bold]Trace of pattern n = {pattern}[/bold]: x = {X[pattern, 0]:.6g}, t = {T[pattern, 0]:.6g}")
    out.print(str(net.trace(w, X[pattern], T[pattern])), markup=False)
