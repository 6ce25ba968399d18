"""Shipped pretrained weights (package data); the code is :mod:`microdl.models.pretrained`.

Kept so that ``from microdl.pretrained import resolve_model_path`` keeps working.
"""

from microdl.models.pretrained import ALIASES, SHIPPED, resolve_model_path, shipped_info

__all__ = ["ALIASES", "SHIPPED", "resolve_model_path", "shipped_info"]
