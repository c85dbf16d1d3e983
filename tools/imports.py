"""The import graph of the deltaprop package, read from its source (an AST walk; nothing is imported).

    python tools/imports.py [-v] [SRC]   # -v lists every arrow; SRC defaults to src/deltaprop

Every ``import`` and ``from ... import`` of a deltaprop module counts, those inside
functions too (lazy imports are arrows all the same); those under ``if TYPE_CHECKING:``
do not, since they never run. Prints the modules, the arrows, the arrows that run
upward in the layers of DESIGN.md (``LAYERS``), the arrows between the two packages
of layer 1, and the cycles. ``tests/test_layout.py`` runs it and wants no upward
arrow and no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# DESIGN.md's layers, by the first part of the module's name inside the package.
LAYERS = {
    "files": 0, "fixed_order": 0,
    "engine": 1, "optimize": 1,
    "fast": 2,
    "numerics": 3,
    "training": 4,
    "io": 5, "tables": 5,
    "estimators": 6, "plots": 6, "viz": 6, "examples": 6, "demo": 6,
    "cli": 7, "__init__": 7, "__main__": 7,
}
# The flat modules of the layout before the folders (commit 6981a07), so that the same count reads both.
FLAT = {"network": 1, "backprop": 1, "errors": 1, "activations": 1, "validation": 1, "tracing": 1,
        "compiled": 2, "buffered": 2, "likelihood": 3, "derivatives": 3, "training": 4, "loops": 4}


def modules(src: Path) -> dict[str, Path]:
    """Dotted names inside the package (``engine.backprop``, ``__init__``) to their files."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for branch in node.orelse for n in _imports(ast.Module(body=[branch], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def arrows(src: Path) -> set[tuple[str, str]]:
    """(importer, imported) pairs between modules of the package."""
    known = modules(src)
    edges = set()
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        if name == "__init__":
            package = []
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name[len("deltaprop."):] for a in node.names if a.name.startswith("deltaprop.")]
            elif node.level == 0:
                if node.module and node.module.startswith("deltaprop"):
                    base = node.module[len("deltaprop."):] if node.module != "deltaprop" else ""
                    targets = [f"{base}.{a.name}".strip(".") for a in node.names]
            else:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}".strip(".") for a in node.names]
            for target in targets:
                while target and target not in known:  # `from .x import name`: the module is x
                    target = target.rpartition(".")[0]
                target = target or "__init__"
                if target != name:
                    edges.add((name, target))
    return edges


def layer(module: str) -> int:
    head = module.split(".")[0]
    return LAYERS[head] if head in LAYERS else FLAT[head]


def cycles(nodes, edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def report(src: Path) -> dict:
    nodes = set(modules(src))
    edges = arrows(src)
    top = {"__init__", "__main__"}
    upward = sorted((a, b) for a, b in edges if a not in top and b not in top and layer(b) > layer(a))
    sideways = sorted((a, b) for a, b in edges if {a.split(".")[0], b.split(".")[0]} == {"engine", "optimize"})
    return {"modules": len(nodes), "arrows": len(edges), "upward": upward, "sideways": sideways,
            "cycles": cycles(nodes, edges - {(a, b) for a, b in edges if b == "__init__"}),
            "edges": sorted(edges)}


def main(argv: list[str]) -> int:
    paths = [a for a in argv[1:] if not a.startswith("-")]
    src = Path(paths[0]) if paths else Path(__file__).resolve().parents[1] / "src" / "deltaprop"
    r = report(src)
    print(f"modules {r['modules']}, arrows {r['arrows']}, upward {len(r['upward'])}, "
          f"engine<->optimize {len(r['sideways'])}, cycles {len(r['cycles'])}")
    for a, b in r["upward"]:
        print(f"  upward: {a} -> {b}")
    for a, b in r["sideways"]:
        print(f"  sideways: {a} -> {b}")
    for c in r["cycles"]:
        print("  cycle: " + " <-> ".join(c))
    if "-v" in argv:
        for a, b in r["edges"]:
            print(f"  {a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
