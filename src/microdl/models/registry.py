"""A small model registry in the style of timm: named presets built by factories.

Factories are plain functions decorated with :func:`register_model`, which also
records metadata (the paper, its printed parameter count, the input contract).
They take typed keyword arguments (no ``**kwargs``) and return an
:class:`torch.nn.Module`. :func:`create_model` looks a name up, calls the factory
and records the name and configuration on the model (attributes ``model_name``
and ``model_cfg``) so the model can be saved and rebuilt without pickling classes.

Examples
--------
>>> from microdl.models import create_model, list_models, model_info
>>> "zhang2019-gnd" in list_models()
True
>>> model = create_model("zhang2019-gnd", dropout=0.5)
>>> model.model_name
'zhang2019-gnd'
>>> model_info("zhang2019-gnd")["paper_parameters"]
343434
"""

from __future__ import annotations

import inspect
import re
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from microdl._registry import Registry
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import atomic_write

__all__ = [
    "MODELS",
    "register_model",
    "create_model",
    "list_models",
    "model_factory",
    "model_info",
    "save_model",
    "load_model",
]

_F = TypeVar("_F", bound=Callable[..., nn.Module])

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
"""Every registered model factory, with metadata ``paper``, ``paper_parameters``, ``input``."""


def register_model(name: str, *, paper: str | None = None, paper_parameters: int | None = None,
                   input: str | None = None) -> Callable[[_F], _F]:  # noqa: A002  (the contract's name)
    """Register a model factory under ``name`` with its metadata.

    Parameters
    ----------
    name
        Registry name, lower case with dashes (e.g. ``"zhang2019-gnd"``).
    paper
        Citation of the source paper (``None`` for microdl's own models).
    paper_parameters
        Trainable parameter count printed in the paper, for comparison.
    input
        The input contract, e.g. ``"(n, 3, 7, 7) m^-2"``.

    Returns
    -------
    decorator
        Returns the factory unchanged.

    Raises
    ------
    InvalidParameterError
        If ``name`` is already registered to another factory.
    """

    def decorator(factory: _F) -> _F:
        # first docstring line, Sphinx roles (:class:`X`) as plain names
        doc = (inspect.getdoc(factory) or "").strip().splitlines()
        summary = [re.sub(r":\w+:`~?([^`]+)`", r"\1", line) for line in doc]
        return MODELS.add(name, factory, paper=paper, paper_parameters=paper_parameters, input=input,
                          summary=summary[0] if summary else "")

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()


def model_factory(name: str) -> Callable[..., nn.Module]:
    """Return the factory registered as ``name``.

    Raises
    ------
    UnknownNameError
        If ``name`` is not registered; the message lists the known names.
    """
    return MODELS.get(name)


def model_info(name: str) -> dict[str, Any]:
    """Metadata of ``name``: ``paper``, ``paper_parameters``, ``input``, ``summary``."""
    return MODELS.metadata(name)


def create_model(name: str, **cfg: Any) -> nn.Module:
    """Build the registered model ``name`` with configuration ``cfg``.

    Parameters
    ----------
    name
        A name from :func:`list_models`.
    **cfg
        Keyword arguments of the factory; unknown keys are an error (they are
        checked against the factory signature, never silently dropped).

    Returns
    -------
    torch.nn.Module
        The model, with ``model_name`` (str) and ``model_cfg`` (dict) attributes.

    Raises
    ------
    UnknownNameError
        If ``name`` is not registered.
    InvalidParameterError
        If ``cfg`` holds a key the factory does not accept.
    """
    factory = model_factory(name)
    params = inspect.signature(factory).parameters
    unknown = sorted(set(cfg) - set(params))
    if unknown:
        raise InvalidParameterError(
            f"model {name!r} accepts options {sorted(params)}, got unknown {unknown}"
        )
    model = factory(**cfg)
    model.model_name = name
    model.model_cfg = dict(cfg)
    return model


EXPORT_FORMAT = "microdl.model/1"


def save_model(model: nn.Module, path: str | os.PathLike, *, extra: dict | None = None) -> Path:
    """Save a registry model as a small, Lightning-free file.

    The file is a ``torch.save`` dict with ``format``, ``model_name``,
    ``model_cfg`` (factory keyword arguments), ``state_dict`` (on the CPU) and
    ``extra`` (JSON-like metadata, e.g. the scaling). It loads with
    ``torch.load(..., weights_only=True)`` and :func:`load_model`.

    Parameters
    ----------
    model
        A model made by :func:`create_model` (it carries ``model_name`` and
        ``model_cfg``).
    path
        Output file; written atomically (:mod:`microdl.io._atomic`).
    extra
        Additional metadata stored verbatim.

    Raises
    ------
    InvalidParameterError
        If ``model`` was not made by :func:`create_model`.
    """
    name = getattr(model, "model_name", None)
    if name is None:
        raise InvalidParameterError(
            "model must come from microdl.models.create_model (no model_name attribute)"
        )
    blob = {
        "format": EXPORT_FORMAT,
        "model_name": name,
        "model_cfg": dict(getattr(model, "model_cfg", {})),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(blob, tmp))


def load_model(
    path: str | os.PathLike, device: str | torch.device | None = None,
    complete_cfg: Callable[[str, dict, dict], dict] | None = None,
) -> tuple[nn.Module, dict]:
    """Load a file written by :func:`save_model`.

    Parameters
    ----------
    path
        File written by :func:`save_model`.
    device
        Target device; ``None`` or ``"auto"`` picks one with
        :func:`microdl._device.auto_device`.
    complete_cfg
        ``(model_name, model_cfg, extra) -> model_cfg``: fills in options an older file did not
        store (their defaults may have changed since), before the model is built.

    Returns
    -------
    model, extra
        The model in evaluation mode on ``device`` and the stored metadata.

    Raises
    ------
    DataFileError
        If the file is missing or not a microdl model export.
    """
    from microdl._device import auto_device

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"model file {str(path)!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise DataFileError(f"model file {str(path)!r} is not a torch file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != EXPORT_FORMAT:
        raise DataFileError(
            f"model file {str(path)!r} must hold format {EXPORT_FORMAT!r}, "
            f"got {blob.get('format') if isinstance(blob, dict) else type(blob).__name__!r}"
        )
    cfg = dict(blob["model_cfg"])
    if complete_cfg is not None:
        cfg = complete_cfg(blob["model_name"], cfg, dict(blob.get("extra", {})))
    model = create_model(blob["model_name"], **cfg)
    model.load_state_dict(blob["state_dict"])
    model.to(auto_device(device)).eval()
    return model, dict(blob.get("extra", {}))
