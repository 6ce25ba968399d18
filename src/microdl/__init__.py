"""microdl: deep learning for materials microstructure."""

__version__ = "0.1.0"
