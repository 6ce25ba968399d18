"""Training: one generic runner (:mod:`microdl.train.runner`), losses, and tasks per capability."""

from microdl.train.losses import LossParts, MultitaskLoss, multitask_loss

__all__ = ["LossParts", "MultitaskLoss", "multitask_loss"]
