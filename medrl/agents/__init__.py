"""The agents: shared policy/value network on a MONAI backbone, A2C losses, rollout and update.

May import ``medrl.env``; never ``medrl.training`` or ``medrl.inference``.
"""
