"""Device auto-detection: use a GPU when one is present, else the CPU."""

from __future__ import annotations

import torch


def auto_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`, choosing one if ``None`` or ``"auto"``.

    CUDA is preferred, then Apple's MPS, then the CPU.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)
