"""The playground page, in a real browser (Debian's Chromium driven by Playwright): training in the page
follows the Python engine, Mazur's worked example comes out in exact arithmetic, every number it shows
equals Network.trace, its address holds its state, a 100-unit layer stays legible, and nothing leaves
the page. Screenshots go to test-artifacts/playground/ (not committed; docs/img/playground.png is one)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deltaprop as dp
from deltaprop.numerics.prior import Prior
from deltaprop.optimize.rules import make_optimizer
from deltaprop.training.objective import Objective
from deltaprop.viz import PRESETS, playground_html

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "playground"
DELTAPROP = str(Path(sys.executable).parent / "deltaprop")

# Matt Mazur, "A Step by Step Backpropagation Example" (2015): the total error his post prints before
# training, after the first update and after 10,000; and the same updates in exact float64 arithmetic,
# which the page shows (his intermediate values were rounded to 8 or 9 digits before they were reused).
# Each to the decimals the post prints: 9, 9 and 10.
MAZUR_POST = ("0.298371109", "0.291027924", "0.0000351085")
MAZUR_EXACT = ("0.298371109", "0.291027774", "0.0000351019")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("playground") / "playground.html"
    path.write_text(playground_html(), encoding="utf-8")
    return path


class View:
    """The page opened from a file URL (with an optional hash), its console errors and requests recorded."""

    def __init__(self, browser, path: Path, hash_: str = "", width: int = 1300):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": width, "height": 1000})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        self.page.goto(self.url + hash_)

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def load(self, state):
        return self.js("s => window.deltaprop.load(s)", state)

    def state(self):
        return self.js("() => window.deltaprop.state()")

    def step(self, n):
        return self.js("n => window.deltaprop.step(n)", n)

    def check_clean(self):
        assert self.errors == [] and self.requests == []
        assert self.page.locator("#status").text_content() == ""

    def close(self):
        self.page.close()


@pytest.fixture
def view(browser, page_file):
    v = View(browser, page_file)
    yield v
    v.check_clean()
    v.close()


def test_mazurs_example_in_exact_arithmetic(view):
    view.load("mazur")
    s = view.state()
    assert s["layers"] == [2, 2, 2] and s["hidden"] == ["logistic"] and s["output"] == "logistic"
    assert s["error"] == "sum-of-squares" and s["rule"] == "gd" and s["lr"] == 0.5
    assert s["w"] == [0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.60]
    assert s["fixed"] == [4, 5, 10, 11]  # his biases are not updated
    errors = [s["E"]]
    view.step(1)
    errors.append(view.state()["E"])
    view.step(9999)
    final = view.state()
    errors.append(final["E"])
    printed = [f"{errors[0]:.9f}", f"{errors[1]:.9f}", f"{errors[2]:.10f}"]
    assert printed == list(MAZUR_EXACT)
    assert printed[1] != MAZUR_POST[1] and printed[2] != MAZUR_POST[2]  # the post's rounding, not ours
    assert final["w"][4:6] == [0.35, 0.35] and final["w"][10:] == [0.60, 0.60] and final["step"] == 10000
    note = view.page.locator("#phase").text_content()
    assert "0.291027924" in note and "0.291027774" in note and "not the canonical pair" in note


def python_run(s, page_orders, steps):
    """The Python engine's weights after ``steps`` updates of the page's rule from the page's w0, taking the
    page's batches (its permutation of each epoch) through deltaprop.optimize.rules and training.Objective."""
    net = dp.mlp(s["layers"], hidden=s["hidden"][0], output=s["output"])
    X, T = np.array(s["X"], dtype=float), np.array(s["T"], dtype=float)
    N = len(X)
    prior = Prior.of(net, s["weight_decay"], allow_zero=True)
    objective = Objective(net, X, T, prior)
    method = s["rule"]
    batch = N if method == "gd" else s["batch_size"]
    optimizer = make_optimizer(method, N, s["lr"], batch, momentum=s["momentum"], nesterov=False)

    class PageOrder:  # the rng the rules draw each epoch's permutation from: the page's
        epoch = 0

        def permutation(self, n):
            order = np.array(page_orders(self.epoch))
            self.epoch += 1
            return order

    w = np.array(s["w"], dtype=float)
    state = optimizer.start(objective.fun, w)
    per_epoch = -(-N // batch)
    assert steps % per_epoch == 0
    rng = PageOrder()
    for _ in range(steps // per_epoch):
        w, state = optimizer.epoch(objective.fun, w, state, rng)
    return w


@pytest.mark.parametrize("rule, batch_size, steps", [("gd", 200, 30), ("sgd", 1, 400), ("momentum", 10, 40), ("adam", 7, 58)])
def test_each_rule_takes_the_python_engines_steps(view, rule, batch_size, steps):
    view.load({"preset": "xor", "rule": rule, "batch_size": batch_size, "lr": 0.05, "weight_decay": 0.3,
               "momentum": 0.8, "seed": 3, "layers": [2, 5, 1]})
    s0 = view.state()
    assert s0["step"] == 0 and s0["layers"] == [2, 5, 1] and len(s0["X"]) == 200
    view.step(steps)
    page_w = np.array(view.state()["w"])
    orders = lambda epoch: view.js("e => window.deltaprop.orderOf(e)", epoch)
    if rule == "sgd":  # on-line: one pattern a step, in the page's order
        assert s0["batch"] == [orders(0)[0]]
    w = python_run(s0, orders, steps)
    assert not np.allclose(w, s0["w"], rtol=1e-3)  # the weights moved
    np.testing.assert_allclose(page_w, w, rtol=1e-12, atol=1e-12 * np.abs(w).max())


def test_the_nudges_of_a_batch_sum_to_minus_its_gradient(view):
    view.load({"preset": "digits", "batch_size": 16})
    view.step(3)
    s = view.state()
    nudges = np.array(view.js("() => window.deltaprop.nudges()"))
    rows = s["batch"]
    assert nudges.shape == (16, len(s["w"])) and rows == view.js("e => window.deltaprop.orderOf(e)", 0)[48:64]
    net = dp.mlp(s["layers"], hidden="tanh", output="softmax")
    X, T, w = np.array(s["X"]), np.array(s["T"], dtype=float), np.array(s["w"])
    E, g = net.error_and_gradient(w, X[rows], T[rows])
    np.testing.assert_allclose(nudges.sum(axis=0), -g, rtol=1e-10, atol=1e-12 * np.abs(g).max())
    for n, row in zip(rows[:3], nudges):  # each row is one pattern's -dE_n/dw
        np.testing.assert_allclose(row, -net.error_and_gradient(w, X[[n]], T[[n]])[1], rtol=1e-10, atol=1e-14)
    # the page's E and g over all the data are the Python engine's
    E_all, g_all = net.error_and_gradient(w, X, T)
    assert s["E"] == pytest.approx(float(E_all), rel=1e-12)
    np.testing.assert_allclose(s["g"], g_all, rtol=1e-9, atol=1e-12 * np.abs(g_all).max())


@pytest.mark.parametrize("preset, pattern", [("seed", 7), ("xor", 3), ("digits", 11), ("mazur", 0)])
def test_every_number_of_a_pattern_is_the_traces(view, preset, pattern):
    view.load(preset)
    view.step(5)
    view.page.fill("#pattern", str(pattern))
    view.page.dispatch_event("#pattern", "change")
    s = view.state()
    p = s["pattern"]
    assert p["index"] == pattern
    if preset == "mazur":  # sum-of-squares on logistic outputs is no output kind of the engine: check by hand
        a1 = np.array(s["w"][:4]).reshape(2, 2) @ s["X"][0] + s["w"][4:6]
        z1 = 1 / (1 + np.exp(-a1))
        a2 = np.array(s["w"][6:10]).reshape(2, 2) @ z1 + s["w"][10:]
        y = 1 / (1 + np.exp(-a2))
        d2 = (y - s["T"][0]) * y * (1 - y)
        d1 = z1 * (1 - z1) * (np.array(s["w"][6:10]).reshape(2, 2).T @ d2)
        for got, want in [(p["a"]["h1"], a1), (p["z"]["y"], y), (p["delta"]["y"], d2), (p["delta"]["h1"], d1)]:
            np.testing.assert_allclose(got, want, rtol=1e-13)
        return
    net = dp.mlp(s["layers"], hidden=s["hidden"][0], output=s["output"])
    trace = net.trace(np.array(s["w"]), np.array(s["X"])[[pattern]], np.array(s["T"], dtype=float)[[pattern]])
    for name in trace.a:
        np.testing.assert_allclose(p["a"][name], trace.a[name].ravel(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(p["delta"][name], trace.delta[name].ravel(), rtol=1e-10, atol=1e-15)
    for name in trace.z:
        np.testing.assert_allclose(p["z"][name], trace.z[name].ravel(), rtol=1e-12, atol=1e-15)
    # and what the inspector prints for the selected unit is the same number
    shown = view.page.locator('#inspector td[data-q="z"]').first.text_content()
    assert float(shown) == pytest.approx(p["z"]["h1"][0], rel=1e-5)  # the unit selected first: h1_1


def test_the_gradient_check_agrees_with_backpropagation(view):
    view.load("seed")
    view.step(10)
    view.page.select_option("#weight-select", "4")
    g = float(view.page.locator('#inspector td[data-q="g"]').text_content())
    cd = float(view.page.locator('#inspector td[data-q="cd"]').text_content())
    assert g == pytest.approx(view.state()["g"][4], rel=1e-7) and cd == pytest.approx(g, rel=1e-6)


def test_the_address_holds_the_state(browser, page_file, view):
    view.load({"preset": "figure-5.3", "data": "figure-5.3 |x|", "layers": [1, 6, 1], "hidden": ["logistic"],
               "rule": "momentum", "lr": 0.02, "batch_size": 10, "weight_decay": 0.1, "seed": 5})
    view.step(37)
    here = view.state()
    hash_ = view.js("() => location.hash")
    assert "step=37" in hash_ and "data=figure-5.3" in hash_
    other = View(browser, page_file, hash_)
    there = other.state()
    for key in ("preset", "data", "layers", "hidden", "output", "error", "rule", "lr", "batch_size", "weight_decay",
                "momentum", "seed", "step", "w", "E"):
        assert there[key] == here[key], key
    other.check_clean()
    other.close()


def test_the_controls_train_and_reset(view):
    view.load("xor")
    E0 = view.state()["E"]
    view.page.click("#one-step")
    assert view.state()["step"] == 1
    view.page.click("#play")
    view.page.wait_for_function("() => window.deltaprop.state().step > 50")
    view.page.click("#play")
    s = view.state()
    assert s["E"] < E0
    view.page.fill("#lr", "-1")
    view.page.dispatch_event("#lr", "change")
    assert "learning rate" in view.page.locator("#status").text_content()
    assert view.state()["lr"] == s["lr"]  # the bad value changed nothing
    view.page.fill("#lr", "0.03")
    view.page.dispatch_event("#lr", "change")
    view.page.click("#reset")
    assert view.state()["step"] == 0 and view.state()["E"] == pytest.approx(E0)
    view.page.click("#animate")
    view.page.wait_for_function("() => document.getElementById('phase').textContent.includes('Forward')")


def overlaps(boxes):
    pairs = []
    for k, (x, y, w, h) in enumerate(boxes):
        for (x2, y2, w2, h2) in boxes[k + 1:]:
            if x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h:
                pairs.append(((x, y, w, h), (x2, y2, w2, h2)))
    return pairs


@pytest.mark.parametrize("width", [1300, 420])
def test_a_layer_of_100_units_draws_without_overlapping_labels(browser, page_file, width):
    v = View(browser, page_file, width=width)
    v.load({"preset": "seed", "layers": [1, 100, 20, 1]})
    texts = v.js("""() => [...document.querySelectorAll('#diagram text')].map(t => { const b = t.getBBox(); return [b.x, b.y, b.width, b.height]; })""")
    circles = v.js("""() => [...document.querySelectorAll('#diagram circle')].map(c => { const b = c.getBBox(); return [b.x, b.y, b.width, b.height]; })""")
    assert len(circles) == 1 + 100 + 20 + 1 and texts
    assert overlaps(texts) == [] and overlaps(circles) == []
    v.page.select_option("#unit-select", "h2:0")  # its 100 incoming weights: 40 bars a row in the nudges
    labels = v.js("""() => [...document.querySelectorAll('#nudges text')].map(t => { const b = t.getBBox(); return [b.x, b.y, b.width, b.height]; })""")
    assert len(labels) > 13 and overlaps(labels) == []
    svg_width = v.js("() => document.getElementById('diagram').getBoundingClientRect().width")
    assert svg_width <= width
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(ARTIFACTS / f"wide-layer-{width}.png"), full_page=True)
    v.check_clean()
    v.close()


def test_every_preset_opens_trains_and_draws(view):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for preset in PRESETS:
        s = view.load(preset)
        view.step(20)
        assert view.state()["E"] < s["E"] or preset == "mazur" and view.state()["E"] <= s["E"]
        assert view.page.locator("#curve text.tick").count() >= 4  # an axis with ticks
        view.page.screenshot(path=str(ARTIFACTS / f"{preset}.png"), full_page=True)
    view.load({"preset": "xor"})
    view.step(300)
    view.page.screenshot(path=str(ARTIFACTS / "xor-trained.png"), full_page=False)


def test_the_cli_writes_a_page_of_your_data(browser, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (60, 2))
    df = pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "y": X[:, 0] * X[:, 1], "label": np.where(X[:, 0] > 0, "right", "left")})
    df.to_csv(tmp_path / "mine.csv", index=False)
    out = tmp_path / "p.html"
    run = subprocess.run([DELTAPROP, "playground", str(tmp_path / "mine.csv"), "-t", "y", "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "column 'label', row 1 (line 2) holds 'right', not a number" in run.stderr  # every other column is an input: numbers only
    df.drop(columns="label").to_csv(tmp_path / "mine.csv", index=False)
    run = subprocess.run([DELTAPROP, "playground", str(tmp_path / "mine.csv"), "-t", "y", "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "wrote" in run.stdout and out.exists()
    v = View(browser, out)
    s = v.state()
    assert s["preset"] == "data" and s["data"] == "mine.csv" and s["layers"] == [2, 8, 1] and len(s["X"]) == 60
    assert np.allclose(np.mean(s["X"], axis=0), 0, atol=1e-12) and np.allclose(np.std(s["X"], axis=0), 1)  # standardised
    v.step(50)
    assert v.state()["E"] < s["E"]
    v.check_clean()
    v.close()
    df.assign(label=np.where(X[:, 0] > 0, "right", "left")).drop(columns="y").to_csv(tmp_path / "c.csv", index=False)
    run = subprocess.run([DELTAPROP, "playground", str(tmp_path / "c.csv"), "-t", "label", "--classify", "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0
    v = View(browser, out)
    s = v.state()
    assert s["output"] == "logistic" and s["error"] == "cross-entropy" and sorted({t[0] for t in s["T"]}) == [0, 1]
    v.check_clean()
    v.close()


@pytest.mark.parametrize("args, code, words", [
    (["--preset", "nope"], 2, "'nope' is not one of mazur"),
    (["-t", "y"], 2, "needs DATA"),
    (["DATA"], 2, "target column"),
    (["DATA", "-t", "nope"], 1, "no column 'nope'"),
    (["-o", "missing/p.html"], 1, "there is no folder"),
])
def test_the_cli_refuses_bad_input_in_one_line(tmp_path, args, code, words):
    pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, 0.1]}).to_csv(tmp_path / "d.csv", index=False)
    args = [str(tmp_path / "d.csv") if a == "DATA" else str(tmp_path / a) if a.startswith("missing") else a for a in args]
    run = subprocess.run([DELTAPROP, "playground", *args], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == code and words in run.stderr and "Traceback" not in run.stderr


def test_state_loads_back_as_it_was(view):
    for preset in ("mazur", "xor"):
        view.load(preset)
        view.step(13)
        before = view.state()
        view.load("seed")
        after = view.load(before)
        for key in ("preset", "data", "layers", "w", "fixed", "step", "E", "g", "batch", "X", "T"):
            assert after[key] == before[key], (preset, key)
    given = {"preset": "seed", "X": [[0.0], [0.5], [1.0]], "T": [[1.0], [0.0], [1.0]], "layers": [1, 2, 1], "w": [0.1, -0.2, 0, 0, 1, -1, 0]}
    s = view.load(given)
    assert s["data"] == "given to load()" and s["X"] == given["X"] and s["w"] == given["w"]


def test_a_pasted_table_trains_and_a_bad_one_is_named(view):
    view.load("seed")
    view.page.click("#paste-box summary")
    view.page.fill("#paste", "a,b,y\n1,2,3\n2,x,4\n")
    view.page.fill("#paste-target", "y")
    view.page.click("#paste-use")
    assert view.page.locator("#status").text_content() == 'pasted table: column "b", line 3: "x" is not a finite number'
    assert view.state()["data"] == "seed"  # nothing lost
    view.page.fill("#paste", "a,b,y\n1,2,3\n2,4\n")
    view.page.click("#paste-use")
    assert view.page.locator("#status").text_content() == "pasted table: line 3 has 2 fields, the header 3"
    rows = "\n".join(f"{u:.3f},{v:.3f},{'in' if u * u + v * v < 0.5 else 'out'}" for u, v in np.random.default_rng(1).uniform(-1, 1, (80, 2)))
    view.page.fill("#paste", "u,v,where\n" + rows)
    view.page.fill("#paste-target", "where")
    view.page.check("#paste-classes")
    view.page.click("#paste-use")
    s = view.state()
    assert view.page.locator("#status").text_content() == ""
    assert s["data"] == "pasted" and s["layers"] == [2, 8, 1] and s["output"] == "logistic" and len(s["X"]) == 80
    view.step(40)
    assert view.state()["E"] < s["E"]


@pytest.mark.parametrize("hash_, words", [
    ("#preset=nope", 'unknown preset "nope"'),
    ("#preset=xor&lr=abc", "the address: lr=abc is not a number"),
    ("#preset=xor&step=-5", "step: a whole number from 0; got -5"),
    ("#preset=xor&step=2.5", "step: a whole number from 0; got 2.5"),
    ("#preset=digits&step=1000000", "step: 1000000 steps of 32 patterns are more than this page replays"),
    ("#preset=xor&hidden_sizes=0", "hidden units: each layer 1 to 100 units; got 0"),
    ("#preset=xor&hidden=foo", 'hidden activations: "foo" is not one of tanh'),
    ("#preset=xor&data=nothere", 'unknown data "nothere"'),
    ("#preset=xor&output=softmax&error=cross-entropy", "softmax needs two or more classes"),
])
def test_a_bad_address_is_named_and_the_page_opens_its_first_preset(browser, page_file, hash_, words):
    v = View(browser, page_file, hash_)
    assert words in v.page.locator("#status").text_content()
    assert v.state()["preset"] == "seed" and v.errors == [] and v.requests == []
    v.close()


def test_a_bad_load_changes_nothing(view):
    before = view.load({"preset": "xor", "seed": 4})
    for bad, words in [({"batch_size": 0}, "batch size"), ({"seed": 1.5}, "seed"), ({"layers": [2, 1000, 1]}, "1 to 100 units"),
                       ({"w": [1, 2]}, "w: 17 numbers"), ({"fixed": [99]}, "fixed: 99"), ({"step": -1}, "step")]:
        with pytest.raises(Exception, match=words):
            view.load({"preset": "xor", **bad})
        assert view.state()["w"] == before["w"] and view.state()["seed"] == 4


def test_divergence_stops_training_and_says_so(browser, page_file):
    v = View(browser, page_file)
    v.load({"preset": "seed", "lr": 1e8})
    v.step(500)
    assert "diverged at step" in v.page.locator("#status").text_content() and v.state()["step"] < 500
    assert v.errors == [] and v.requests == []
    v.page.fill("#lr", "0.1")
    v.page.dispatch_event("#lr", "change")  # a new option starts again from w0
    assert v.page.locator("#status").text_content() == "" and np.isfinite(v.state()["E"])
    v.close()


def test_open_hands_the_page_to_the_browser(tmp_path):
    import os

    marker = tmp_path / "opened.txt"
    env = {**os.environ, "BROWSER": f"{sys.executable} -c \"import sys; open(r'{marker}', 'w').write(sys.argv[1])\" %s"}
    run = subprocess.run([DELTAPROP, "playground", "--preset", "xor", "--open", "-o", str(tmp_path / "p.html")],
                         capture_output=True, text=True, env=env, timeout=60)
    import time

    for _ in range(100):  # the browser command may run after deltaprop has exited
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.1)
    assert run.returncode == 0 and marker.read_text() == (tmp_path / "p.html").resolve().as_uri()
