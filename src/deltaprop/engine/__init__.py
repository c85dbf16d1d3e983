"""The engine: a network's topology and the layout of w, the tables of activations and output
kinds, forward propagation and backpropagation (the reference), the trace, and input checks.

Everything here uses only the array namespace of its inputs, so NumPy, PyTorch and CuPy
arrays work alike; nothing here imports a layer above it.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .network import Block, Connection, Layer, Network, mlp
from .outputs import OUTPUT_ACTIVATIONS, OUTPUT_KINDS, OutputKind
from .trace import Trace

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "Block", "Connection", "Layer", "Network", "mlp",
           "OUTPUT_ACTIVATIONS", "OUTPUT_KINDS", "OutputKind", "Trace"]
