"""The ``deltaprop`` command."""

from __future__ import annotations

import numpy as np
import typer
from rich.console import Console

from rich.table import Table

from .derivatives import gradient_check
from .network import mlp
from .optimize import METHODS
from .training import train

app = typer.Typer(
    help="Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Feed-forward neural networks trained by error backpropagation (Bishop, PRML chapter 5)."""


#: The four functions of PRML Figure 5.3. The figure's caption prints sin(x), nearly a
#: straight line on (-1, 1); the figure itself shows sin(pi x), used here.
FIGURE_5_3 = {
    "x^2": lambda x: x**2,
    "sin(pi x)": lambda x: np.sin(np.pi * x),
    "|x|": np.abs,
    "H(x)": lambda x: np.heaviside(x, 0.5),
}


def seed_example(seed: int = 0, N: int = 50, target: str = "sin(pi x)"):
    """The seed's simple example: N points x uniform in (-1, 1), t = f(x), a 1-3-1 tanh network.

    ``target`` names one of the functions of PRML Figure 5.3 (``FIGURE_5_3``).
    Returns ``(net, X, T)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(N, 1))
    return mlp([1, 3, 1], hidden="tanh", output="linear"), X, FIGURE_5_3[target](X)


def _console() -> Console:
    """A console that wraps nothing and, off a terminal, is wide enough for the tables."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=120)
    return console


@app.command()
def demo(
    seed: int = typer.Option(0, help="Seed of the data, the initial weights and the restarts."),
    restarts: int = typer.Option(10, min=1, help="Random restarts per function."),
    method: str = typer.Option("lbfgs", help=f"Optimiser: one of {', '.join(METHODS)}."),
    pattern: int = typer.Option(0, help="Which of the 50 patterns to trace, 0 to 49."),
) -> None:
    """Run the seed's example: a 1-3-1 tanh network, its backpropagation traced, then trained on PRML Figure 5.3's functions."""
    if not 0 <= pattern < 50:
        raise typer.BadParameter(f"pattern must be 0 to 49; got {pattern}", param_hint="--pattern")
    if method not in METHODS:
        raise typer.BadParameter(f"unknown method {method!r}; expected one of {', '.join(METHODS)}", param_hint="--method")
    out = _console()
    net, X, T = seed_example(seed)
    w = net.init(seed=seed)
    E, g = net.error_and_gradient(w, X, T)
    check = gradient_check(net, w, X, T)

    out.print("[bold]The seed's simple example[/bold] (PRML 5.3.2): D = 1 input, M = 3 tanh hidden units, K = 1 linear output")
    out.print(f"data: N = {X.shape[0]} inputs x uniform in (-1, 1); seed {seed}")
    out.print(f"network: {net!r}", markup=False)
    out.print()
    out.print("[bold]Backpropagation[/bold] at the initial weights (N(0, 1/fan-in), biases 0), targets t = sin(pi x):")
    out.print(f"E(w) = 1/2 sum_n (y(x_n, w) - t_n)^2 = {float(E):.6g}")
    out.print(
        f"backpropagation vs central differences (PRML 5.69): largest relative difference "
        f"{check.max_relative_difference:.2e} at {check.name}",
        markup=False,
    )
    out.print(f"Trace of pattern n = {pattern}: x = {X[pattern, 0]:.6g}, t = {T[pattern, 0]:.6g}")
    out.print(str(net.trace(w, X[pattern], T[pattern])), markup=False)
    out.print()

    out.print(f"[bold]Training[/bold] ({method}, best of {restarts} restarts) on the functions of PRML Figure 5.3:")
    table = Table("f(x)", "E(w)", "RMSE", "beta_ML", "min E", "median E", "max E", "stop",
                  title=f"best of {restarts} restarts; min, median and max of their minima")
    for name in FIGURE_5_3:
        net, X, T = seed_example(seed, target=name)
        result = train(net, X, T, method=method, restarts=restarts, seed=seed, progress=False)
        minima = result.restart_errors
        rmse = np.sqrt(2.0 * result.error / X.shape[0])
        table.add_row(name, f"{result.error:.3g}", f"{rmse:.3g}", f"{result.beta:.3g}", f"{minima.min():.3g}",
                      f"{np.median(minima):.3g}", f"{minima.max():.3g}", result.stop_reason)
    out.print(table)
    out.print("RMSE = sqrt(2 E / N); beta_ML = N / (2 E) (PRML 5.15). The spread of the restarts' minima shows "
              "the many minima of E(w); H(x) is the Heaviside step.")
