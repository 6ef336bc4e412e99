"""fwtranslate: translate model source code between Keras and PyTorch, and prove it."""
from .api import Result, port_weights, translate_file, translate_source
from .findings import Finding

__all__ = ["Result", "Finding", "translate_source", "translate_file", "port_weights"]
__version__ = "0.1.0"
