"""Evaluation with the robot clinician (``medrl evaluate``): Dice-vs-clicks curves of refinement methods.

Modules, in the order data flows through them: :mod:`~medrl.evaluation.settings` (what a run is asked
to do), :mod:`~medrl.evaluation.cases` (a dataset entry on the working grid), :mod:`~medrl.evaluation.starts`
(its starting mask), :mod:`~medrl.evaluation.methods` (the ``Method`` interface, the ``initial`` baseline,
medrl's agents), :mod:`~medrl.evaluation.protocol` (the robot-clinician protocol; Dice, HD95, NSD in mm from
:mod:`medrl.data.mask_metrics`), :mod:`~medrl.evaluation.curves` (NoC, AUC), :mod:`~medrl.evaluation.summary`
(means and 95% intervals), :mod:`~medrl.evaluation.reports` and :mod:`~medrl.evaluation.plot` (files and
table), :mod:`~medrl.evaluation.run` (``run_evaluation``) and :mod:`~medrl.evaluation.command` (the CLI hook).
"""
