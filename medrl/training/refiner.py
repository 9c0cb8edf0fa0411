"""Old name of :mod:`medrl.training.agents`: configs and checkpoints written before the rename name
``medrl.training.refiner.RefinerModule`` as their model's class; it is :class:`~medrl.training.agents.AgentsModule`."""

from medrl.training.agents import AgentsModule as RefinerModule

__all__ = ["RefinerModule"]
