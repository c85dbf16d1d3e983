"""An interactive, self-contained HTML page of backpropagation in action."""

from .page import explain_html

__all__ = ["explain_html"]
