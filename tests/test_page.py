"""The interactive page, in a real browser (Debian's Chromium driven by Playwright).

Every a, z, delta and derivative the page shows must equal Network.trace to 6
significant digits; the slider must move the curve; the page must log no
error and make no network request. Screenshots of each step are saved under
test-artifacts/page/ (not committed).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deltaprop as dp
from deltaprop.viz import explain_html

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "page"
DELTAPROP = str(Path(sys.executable).parent / "deltaprop")


class Page:
    """A page opened from a file URL, with its console errors and network requests recorded."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1200, "height": 1300})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url) if r.url != self.url else None)
        self.page.goto(self.url)

    def cells(self, kind, layer, units):
        return [self.page.locator(f'td[data-kind="{kind}"][data-layer="{layer}"][data-unit="{u}"]').text_content()
                for u in units]

    def numbers(self, kind, layer, units):
        return np.array([float(v) for v in self.cells(kind, layer, units)])

    def check_clean(self):
        assert self.errors == [] and self.requests == []


def same(page_values, trace_values):
    trace_values = np.asarray(trace_values, dtype=float).ravel()
    np.testing.assert_allclose(page_values, trace_values, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(trace_values).max()))


def check_steps(view, net, w, xs, ts, shots=None):
    tr = net.trace(w, xs, ts)
    hidden = [j for j in net.incoming if j != net.output]
    for step in (1, 2, 3, 4):
        view.page.click(f"#step-{step}")
        if shots:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            view.page.screenshot(path=str(ARTIFACTS / f"{shots}-step{step}.png"), full_page=True)
        for name, layer in net.layers.items():
            units = range(layer.size)
            same(view.numbers("z", name, units), tr.z[name])
            if name != net.input:
                same(view.numbers("a", name, units), tr.a[name])
        out = range(net.K)
        if step == 1:
            assert set(view.cells("delta", net.output, out)) == {""} and set(view.cells("t", net.output, out)) == {""}
        else:
            same(view.numbers("delta", net.output, out), tr.delta[net.output])
            if net.layers[net.output].activation.components:  # a mixture's units are not one per target
                assert set(view.cells("t", net.output, out)) == {""}
            else:
                same(view.numbers("t", net.output, out), tr.t)
        for j in hidden:
            cells = view.cells("delta", j, range(net.layers[j].size))
            if step < 3:
                assert set(cells) == {""}
            else:
                same(np.array([float(v) for v in cells]), tr.delta[j])
        for c in net.connections:
            present = [(q, i) for q in range(c.mask.shape[0] if c.mask is not None else net.layers[c.dst].size)
                       for i in range(net.layers[c.src].size) if c.mask is None or c.mask[q, i]]
            units = [f"{q},{i}" for q, i in present]
            same(view.numbers("w", c.name, units), [tr.weights[c.name][q, i] for q, i in present])
            cells = view.cells("dw", c.name, units)
            if step < 4:
                assert set(cells) == {""}
            else:
                same(np.array([float(v) for v in cells]), [tr.derivatives[c.name][q, i] for q, i in present])
        for j in net.incoming:
            if step == 4:
                same(view.numbers("dw", f"b[{j}]", range(net.layers[j].size)), tr.derivatives[f"b[{j}]"])


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    d = tmp_path_factory.mktemp("page")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 50)
    pd.DataFrame({"x": x, "t": np.sin(np.pi * x)}).to_csv(d / "sin.csv", index=False)
    subprocess.run([DELTAPROP, "fit", d / "sin.csv", "--target", "t", "--hidden", "3", "--weight-decay", "0",
                    "--restarts", "2", "--snapshots", "20", "-o", d / "sin.safetensors"], check=True, capture_output=True)
    result = subprocess.run([DELTAPROP, "explain", d / "sin.safetensors", d / "sin.csv", "-o", d / "backprop.html"],
                            check=True, capture_output=True, text=True)
    assert "backprop.html" in result.stdout
    return d, dp.load(d / "sin.safetensors"), pd.read_csv(d / "sin.csv")


def test_the_four_steps_show_the_numbers_of_net_trace(browser, regression):
    d, est, df = regression
    view = Page(browser, d / "backprop.html")
    view.page.select_option("#pattern", "7")
    xs = (df[["x"]].to_numpy()[7] - est.x_mean_) / est.x_scale_
    ts = (df[["t"]].to_numpy()[7] - est.y_mean_) / est.y_scale_
    check_steps(view, est.network_, est.w_, xs, ts, shots="regression")
    view.check_clean()


def test_a_typed_pattern_is_traced_too(browser, regression):
    d, est, _ = regression
    view = Page(browser, d / "backprop.html")
    view.page.fill("#typed-x", "0.25")
    view.page.fill("#typed-t", "-0.4")
    view.page.click("#use-typed")
    xs = (np.array([0.25]) - est.x_mean_) / est.x_scale_
    ts = (np.array([-0.4]) - est.y_mean_) / est.y_scale_
    check_steps(view, est.network_, est.w_, xs, ts)
    view.page.fill("#typed-x", "1, 2")
    view.page.click("#use-typed")
    assert "x needs 1 numbers" in view.page.text_content("#typed-error")
    view.check_clean()


def test_the_slider_replays_training(browser, regression):
    d, est, _ = regression
    view = Page(browser, d / "backprop.html")
    final_curve = view.page.get_attribute("#fit-curve", "d")
    final_band = view.page.get_attribute("#fit-band", "d")
    view.page.eval_on_selector("#snapshot", "s => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    assert view.page.get_attribute("#fit-curve", "d") != final_curve
    assert view.page.get_attribute("#fit-band", "d") != final_band
    assert view.page.is_visible("#curve-marker")
    assert "epoch 0" in view.page.text_content("#snapshot-label")
    # the diagram and tables now show the first snapshot's weights
    w0 = est.snapshots_["w"][0]
    same(view.numbers("w", "W[h1<-x]", ["0,0", "1,0", "2,0"]), w0[:3])
    view.page.screenshot(path=str(ARTIFACTS / "regression-snapshot0.png"), full_page=True)
    view.check_clean()


def test_hovering_names_the_value_and_its_equation(browser, regression):
    d, _, _ = regression
    view = Page(browser, d / "backprop.html")
    view.page.click("#step-3")
    view.page.hover('circle[data-unit="h1:1"]')
    tip = view.page.text_content("#tooltip")
    assert "h1_2" in tip and "PRML 5.48" in tip and "PRML 5.56" in tip
    view.page.click("#step-4")
    view.page.hover('line[data-name="W[y<-h1]"][data-q="0"][data-i="2"]', force=True)
    tip = view.page.text_content("#tooltip")
    assert "w(y_1 <- h1_3)" in tip and "dE_n/dw_ji = delta_j z_i" in tip
    view.check_clean()


def test_classifier_and_masked_skip_network_pages(browser, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    y = np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    clf = dp.NetworkClassifier(hidden=(4,), restarts=1, random_state=0).fit(X, y)
    page = tmp_path / "clf.html"
    page.write_text(explain_html(clf.network_, clf.w_, X=X, T=y, x_scaler=(clf.x_mean_, clf.x_scale_),
                                 classes=clf.classes_, history=clf.history_))
    view = Page(browser, page)
    view.page.select_option("#pattern", "4")
    xs = (X[4] - clf.x_mean_) / clf.x_scale_
    ts = np.eye(3)[list(clf.classes_).index(y[4])]
    check_steps(view, clf.network_, clf.w_, xs, ts, shots="classifier")
    view.check_clean()

    mask = np.array([[True, False], [False, True], [True, True]])
    net = dp.Network({"x": 2, "h": (3, "softplus"), "g": (2, "logistic"), "y": (2, "logistic")},
                     [("x", "h", mask), ("h", "g"), ("g", "y"), ("x", "y")])
    w = net.init(seed=2) + 0.1
    Xn, Tn = rng.standard_normal((5, 2)), rng.integers(0, 2, (5, 2)).astype(float)
    page = tmp_path / "net.html"
    page.write_text(explain_html(net, w, X=Xn, T=Tn))
    view = Page(browser, page)
    view.page.select_option("#pattern", "2")
    check_steps(view, net, w, Xn[2], Tn[2], shots="masked-skip")
    assert "No snapshots" in view.page.text_content("#training")
    view.check_clean()


def test_the_page_is_self_contained(regression):
    d, _, _ = regression
    html = (d / "backprop.html").read_text()
    assert "<script src" not in html and "<link" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_hostile_names_are_shown_as_text_and_break_nothing(browser, tmp_path):
    """A column called `<!--<script>` once blanked the page (issue 17, item 11): every string of the data is
    embedded with <, > and & escaped, and shown as text."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 2))
    labels = np.array(["</script><b>bold</b>", "a&amp;b<!--"])
    y = labels[(X[:, 0] > 0).astype(int)]
    clf = dp.NetworkClassifier(hidden=(3,), restarts=1, random_state=0).fit(X, y)
    names = ["<!--<script>", "x</script>y"]
    page = tmp_path / "hostile.html"
    html = explain_html(clf.network_, clf.w_, X=X, T=y, x_scaler=(clf.x_mean_, clf.x_scale_), classes=clf.classes_,
                        feature_names=names, target_names=["<t>"], title="<!--<script>alert(1)</script>",
                        subtitle="& more </script>")
    assert "<!--<script>" not in html.split("<script id=\"model-data\"")[1].split("</script>")[0]
    page.write_text(html)
    view = Page(browser, page)
    assert view.page.text_content("#title") == "<!--<script>alert(1)</script>"
    assert view.page.text_content("#subtitle") == "& more </script>"
    options = view.page.locator("#pattern option").all_text_contents()
    assert any("</script><b>bold</b>" in o for o in options) and any("a&amp;b<!--" in o for o in options)
    view.page.select_option("#pattern", "3")
    xs = (X[3] - clf.x_mean_) / clf.x_scale_
    check_steps(view, clf.network_, clf.w_, xs, [float(list(clf.classes_).index(y[3]))], shots="hostile")
    view.check_clean()


@pytest.mark.parametrize("hidden", [20, 100])
def test_a_wide_layer_keeps_its_units_apart(browser, tmp_path, hidden):
    """20 to 100 hidden units (issue 17, item 13): the diagram grows so that no two units drawn overlap, and
    the units not drawn are counted."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (10, 2))
    net = dp.mlp([2, hidden, 1])
    page = tmp_path / "wide.html"
    page.write_text(explain_html(net, net.init(seed=0), X=X, T=np.sin(X[:, :1])))
    view = Page(browser, page)
    view.page.click("text=1. Forward propagation")
    circles = view.page.locator('circle[data-unit^="h1:"]')
    ys = sorted(float(circles.nth(i).get_attribute("cy")) for i in range(circles.count()))
    assert len(ys) == min(hidden, 24) and min(np.diff(ys)) >= 2 * 11 + 10  # radius 11, and room for the values
    more = view.page.locator("text.more")
    assert more.count() == (hidden > 24) and (hidden <= 24 or more.text_content() == f"({hidden - 24} more)")
    view.page.screenshot(path=str(ARTIFACTS / f"wide-{hidden}.png"))
    view.check_clean()


def test_a_model_trained_by_the_evidence_shows_its_laplace_band(browser, tmp_path):
    import json
    import re

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 40)
    pd.DataFrame({"x": x, "t": np.sin(np.pi * x) + 0.1 * rng.standard_normal(40)}).to_csv(tmp_path / "s.csv", index=False)
    subprocess.run([DELTAPROP, "fit", tmp_path / "s.csv", "--target", "t", "--hidden", "3", "--restarts", "2",
                    "-o", tmp_path / "s.safetensors"], check=True, capture_output=True)
    subprocess.run([DELTAPROP, "explain", tmp_path / "s.safetensors", tmp_path / "s.csv", "-o", tmp_path / "s.html"],
                   check=True, capture_output=True)
    est = dp.load(tmp_path / "s.safetensors")
    html = (tmp_path / "s.html").read_text()
    data = json.loads(re.search(r'<script id="model-data" type="application/json">(.*?)</script>', html,
                                flags=re.S).group(1))
    grid = x.min() + (x.max() - x.min()) * np.arange(200) / 199
    # the page traces the kept start's network w_: its own Laplace band, not the committee's
    _, variance = est.posterior_.predictive(est.network_inputs(grid[:, None]))
    np.testing.assert_allclose(data["laplace"]["half"], 2 * np.sqrt(variance[:, 0]) * est.y_scale_[0], rtol=1e-9)
    view = Page(browser, tmp_path / "s.html")
    tip = view.page.evaluate("hoverText.get(document.getElementById('fit-band'))")  # the curve covers its middle
    assert "the Laplace approximation (PRML 5.173)" in tip
    view.check_clean()


def test_a_mixture_density_network_page_shows_its_deltas(browser, tmp_path):
    """Issue 16: the page traces an MDN (PRML 5.6): mixture parameters forward, deltas 5.155-5.157 back."""
    from deltaprop.examples import inverse_problem

    X, T = inverse_problem(0, 200)
    pd.DataFrame({"x": X[:, 0], "t": T[:, 0]}).to_csv(tmp_path / "inverse.csv", index=False)
    subprocess.run([DELTAPROP, "fit", tmp_path / "inverse.csv", "--target", "t", "--hidden", "4", "--components", "2",
                    "--restarts", "1", "--epochs", "100", "-o", tmp_path / "mdn.safetensors"], check=True,
                   capture_output=True)
    subprocess.run([DELTAPROP, "explain", tmp_path / "mdn.safetensors", tmp_path / "inverse.csv", "-o",
                    tmp_path / "mdn.html"], check=True, capture_output=True)
    est = dp.load(tmp_path / "mdn.safetensors")
    view = Page(browser, tmp_path / "mdn.html")
    view.page.select_option("#pattern", "5")
    check_steps(view, est.network_, est.w_, est.network_inputs(X[5:6])[0], est.network_targets(T[5:6])[0],
                shots="mixture")
    view.page.hover('td[data-kind="delta"][data-layer="y"][data-unit="0"]')
    view.check_clean()
