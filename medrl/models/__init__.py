"""The networks and the checkpoint format, below training, inference and evaluation.

- :mod:`medrl.models.checkpoint`: what a medrl checkpoint holds (:class:`~medrl.models.checkpoint.Checkpoint`,
  typed) and how it is read (weights only) and written;
- :mod:`medrl.models.segmenter_net`: the initial segmenter's UNet and its sliding-window probability / labels;
- :mod:`medrl.models.click_net`: the supervised click network's UNet, its input encoding and one interaction.

The agents' policy/value network lives with the RL algorithm (:mod:`medrl.agents.policy`). Nothing here imports
Lightning, so :class:`medrl.inference.refiner.Refiner` loads a checkpoint without it.
"""
