"""UniSandbox: does what a unified multimodal model understands inform what it generates?

Importing this package is cheap: it imports neither torch nor transformers.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
