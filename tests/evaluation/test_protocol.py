"""The robot-clinician protocol and the demo's report: Dice per interaction, table and plot."""

from __future__ import annotations

import numpy as np

from medrl.demo import format_table, plot


def test_table_lists_cases_means_and_initial_kept():
    rows = [
        {"group": "synthetic", "case": "a", "orientation": "LPS", "start": "segmenter", "dice": [0.5, 0.6, 0.7]},
        {"group": "synthetic", "case": "b", "orientation": "RAS", "start": "segmenter", "dice": [0.7, 0.8, 0.9]},
    ]
    lines = format_table(rows, interactions=2).splitlines()
    assert lines[0].split()[-3:] == ["init", "1", "2"] or "click 2" in lines[0]
    mean_line = next(line for line in lines if line.startswith("mean synthetic (2)"))
    np.testing.assert_allclose([float(v) for v in mean_line.split()[-3:]], [0.6, 0.7, 0.8])
    kept_line = lines[lines.index(mean_line) + 1]
    np.testing.assert_allclose([float(v) for v in kept_line.split()[-3:]], [0.6, 0.6, 0.6])


def test_plot_writes_a_png(tmp_path):
    rows = [{"group": "synthetic", "case": "a", "orientation": "", "start": "s", "dice": [0.5, 0.6]}]
    path = plot(rows, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_help_states_the_real_defaults(capsys):
    """The CLI's help repeats DemoSettings' defaults by hand (to keep Lightning out of start-up): keep them equal."""
    import pytest

    from medrl.cli import main
    from medrl.demo import DemoSettings, demo_recipe

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults, recipe = DemoSettings(), demo_recipe()
    warm = defaults.agents_arguments(recipe)["a2c"]["warm_start_updates"]
    for phrase in (f"(default {defaults.segmenter_steps})", f"(default: medrl/configs/demo.yaml's, {defaults.agent_steps(recipe)})",
                   f"(default: medrl/configs/demo.yaml's, {warm})", f"(default {defaults.seed})"):
        assert phrase in text
