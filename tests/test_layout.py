"""The package's layout: imports run only downward through the layers of DESIGN.md, with no cycle;
`import deltaprop` does not import Numba, and the engine works where Numba is absent."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import imports  # noqa: E402


def test_imports_run_only_downward_and_form_no_cycle():
    report = imports.report(ROOT / "src" / "deltaprop")
    assert report["modules"] > 30 and report["arrows"] > 50  # the walk found the package
    assert report["upward"] == [] and report["sideways"] == [] and report["cycles"] == []


def test_the_walk_sees_an_upward_arrow_a_lazy_one_and_a_cycle(tmp_path):
    """The check above can fail: a planted upward import inside a function, and a cycle, are found."""
    src = tmp_path / "deltaprop"
    for name, text in {"__init__.py": "", "engine/__init__.py": "", "engine/a.py": "def f():\n    from ..training import t\n",
                       "training/__init__.py": "", "training/t.py": "from ..engine import a\n",
                       "fast/__init__.py": "", "fast/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                            "    from ..training import t\n"}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    report = imports.report(src)
    assert report["upward"] == [("engine.a", "training.t")]
    assert report["cycles"] == [["engine.a", "training.t"]]
    assert ("fast.x", "training.t") not in report["edges"]  # TYPE_CHECKING imports never run


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_deltaprop_does_not_import_numba_nor_the_kernels():
    out = _python("import sys, deltaprop\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numba' or m.endswith('kernels')))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_numba_the_reference_engine_trains_and_says_so_once():
    blocked = ("import sys, warnings\n"
               "sys.modules['numba'] = None  # as if Numba were not installed: importing it raises ImportError\n"
               "import numpy as np, deltaprop as dp\n"
               "from deltaprop.examples import seed_example\n"
               "net, X, T = seed_example(0)\n"
               "with warnings.catch_warnings(record=True) as caught:\n"
               "    warnings.simplefilter('always')\n"
               "    a = dp.train(net, X, T, method='sgd', epochs=5, seed=0)\n"
               "    b = dp.train(net, X, T, method='adam', epochs=5, seed=0)\n"
               "    c = dp.train(dp.mlp([1, 40, 30, 1]), X, T, method='scg', epochs=5, seed=0)\n"
               "notices = [w for w in caught if w.category is dp.fast.BackendNotice]\n"
               "print(a.engine, a.loop, b.engine, c.engine, len(notices))\n"
               "print(notices[0].message)\n"
               "print(a.history['error'][-1] < a.history['error'][0], b.history['error'][-1] < b.history['error'][0])\n")
    out = _python(blocked)
    assert out.returncode == 0, out.stderr
    engines, message, learnt = out.stdout.strip().splitlines()
    assert engines == "reference steps reference reference 1"
    assert message.startswith("Numba is not installed: deltaprop runs the reference engine")
    assert learnt == "True True"  # the step rules' NumPy form trains
