"""Self-contained HTML pages of backpropagation in action: ``explain_html`` traces a trained model,
``playground_html`` trains one live in the browser."""

from .page import explain_html
from .playground import PRESETS, playground_html

__all__ = ["PRESETS", "explain_html", "playground_html"]
