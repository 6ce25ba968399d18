"""Training systems (Lightning), losses and callbacks."""

from microdl.train.losses import LossParts, MultitaskLoss, multitask_loss

__all__ = ["LossParts", "MultitaskLoss", "multitask_loss"]
