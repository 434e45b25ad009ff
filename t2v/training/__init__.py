"""Training: one Accelerate trainer, one recipe per family."""
from .trainer import Trainer

__all__ = ["Trainer"]
