"""The agents' reward, in one place: every part has the interface ``part(p_prev, p_next, target, valid, ...)`` and
returns a (B, 1, D, H, W) float32 map, per voxel.

- :mod:`~medrl.env.rewards.target`: the reward's target — the label where known, overridden wherever a clinician
  corrected a voxel (clicks, brush strokes, reviews), with the voxel weights;
- :mod:`~medrl.env.rewards.ce_gain`: the relative cross-entropy gain χ(p_prev) − χ(p_next) (the default reward,
  docs/design.md) and the optional BS-IRIS boundary weighting;
- :mod:`~medrl.env.rewards.task`: task rewards, the Dice gain and the surface (NSD) gain;
- :mod:`~medrl.env.rewards.verdict`: the clinician's accept/reject of a refinement, given back to its actions;
- :mod:`~medrl.env.rewards.mixture`: :class:`~medrl.env.rewards.mixture.RewardConfig` (the weights the config
  chooses) and :func:`~medrl.env.rewards.mixture.step_reward`, the reward of one environment step, which
  :meth:`medrl.env.environment.RefinementEnv.step` calls.
"""
