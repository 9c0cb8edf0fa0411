"""The refinement environment: state, actions, reward with clinician override, robot clicks, regions.

Never imports ``medrl.agents``, ``medrl.training`` or ``medrl.inference`` (data flows one way).
"""
