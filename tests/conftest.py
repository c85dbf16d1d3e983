import os

from hypothesis import HealthCheck, settings

# Every run draws the same examples, so that a green run here is a green run in CI (whose command sets no
# variable); HYPOTHESIS_EXPLORE=1 draws new ones, to look for failures.
settings.register_profile(
    "explore", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fixed", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("explore" if os.environ.get("HYPOTHESIS_EXPLORE") else "fixed")

# The helpers beside this file (networks.py) are importable from the tests in every folder.
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, for the pages' tests (test_page.py, test_playground.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()
