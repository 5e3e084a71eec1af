"""shipyard: one self-hosted platform for running AI in production."""

__version__ = "0.1.0"
__all__ = ["__version__"]
