"""One registry helper for every named thing: models, presets, shipped weights.

A :class:`Registry` maps names to objects (factories, preset dataclasses, file
names) and keeps a metadata dict beside each entry (the paper, its parameter
count, the input contract...). Every lookup of a name in microdl goes through
one of these, so every unknown name gives the same one-line error listing the
known names.

Examples
--------
>>> presets = Registry("preset")
>>> presets.add("smoke", {"n": 2}, description="a few seconds")
>>> presets.get("SMOKE")
{'n': 2}
>>> presets.metadata("smoke")["description"]
'a few seconds'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from microdl.exceptions import InvalidParameterError, UnknownNameError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Named objects with metadata.

    Parameters
    ----------
    kind
        What the names name, used in error messages (``"model"``, ``"preset"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def add(self, name: str, obj: T, **metadata: Any) -> T:
        """Register ``obj`` under ``name`` (lower case) with ``metadata``; return ``obj``.

        Raises
        ------
        InvalidParameterError
            If ``name`` is already taken by another object.
        """
        if not isinstance(name, str) or not name or name != name.lower():
            raise InvalidParameterError(f"{self.kind} names must be non-empty lower-case strings, got {name!r}")
        if name in self._items and self._items[name] is not obj:
            raise InvalidParameterError(f"{self.kind} name {name!r} is already registered")
        self._items[name] = obj
        self._meta[name] = dict(metadata)
        return obj

    def register(self, name: str, **metadata: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorator(obj: T) -> T:
            return self.add(name, obj, **metadata)

        return decorator

    def _key(self, name: str) -> str:
        key = str(name).lower()
        if key not in self._items:
            raise UnknownNameError(f"{self.kind} must be one of {self.names()}, got {name!r}")
        return key

    def get(self, name: str) -> T:
        """The object registered as ``name`` (case-insensitive).

        Raises
        ------
        UnknownNameError
            Listing the known names.
        """
        return self._items[self._key(name)]

    def metadata(self, name: str) -> dict[str, Any]:
        """A copy of the metadata of ``name``."""
        return dict(self._meta[self._key(name)])

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
