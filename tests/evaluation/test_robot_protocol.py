"""The robot-clinician protocol with any method: clicks on the method's own errors, metrics per interaction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrl.evaluation.cases import EvaluationCase
from medrl.evaluation.methods import KeepInitial, Method
from medrl.evaluation.protocol import play_robot_protocol
from tests.evaluation.helpers import FixClickedComponent

SPACING = (1.0, 1.0, 2.0)


def _case() -> tuple[EvaluationCase, torch.Tensor]:
    """Truth: a big box and a small box; the starting mask has the big box only, plus a false-positive
    bar far from both. Errors: the missed small box (8 voxels) and the bar (3 voxels)."""
    label = np.zeros((16, 12, 8), np.uint8)
    label[2:7, 2:7, 2:5] = 1            # 75 voxels, kept
    label[10:12, 8:10, 4:6] = 1         # 8 voxels, missed
    initial = label.copy()
    initial[10:12, 8:10, 4:6] = 0
    initial[14, 1:4, 7] = 1             # 3 false-positive voxels
    return EvaluationCase("boxes", "boxes.nii.gz", {}, label, SPACING), torch.from_numpy(initial).float()


def test_kept_initial_mask_gets_the_same_click_and_the_same_metrics_each_time():
    case, initial = _case()
    records = play_robot_protocol(KeepInitial(), case, initial, interactions=3, seed=0)
    assert [r.interaction for r in records] == [0, 1, 2, 3] and [r.clicks for r in records] == [0, 1, 2, 3]
    assert records[0].new_clicks == ()
    expected_dice = 2 * 75 / (78 + 83)
    assert all(r.dice == pytest.approx(expected_dice) for r in records)
    assert len({(r.dice, r.hd95_mm, r.nsd) for r in records}) == 1
    # the largest error component is the missed box: a positive click inside it, every time
    for record in records[1:]:
        (click,) = record.new_clicks
        assert click.positive and case.label[click.index] == 1 and initial[click.index] == 0


def test_a_method_that_fixes_what_is_clicked_is_perfect_after_two_interactions_then_gets_no_clicks():
    case, initial = _case()
    method = FixClickedComponent()
    assert isinstance(method, Method)  # the Method protocol is all a new method needs
    records = play_robot_protocol(method, case, initial, interactions=4, seed=0)
    first, second = records[1].new_clicks[0], records[2].new_clicks[0]
    assert first.positive and not second.positive  # the larger error first (8 missed voxels), then the bar (3)
    assert [r.dice for r in records[2:]] == [1.0, 1.0, 1.0]
    assert (records[-1].hd95_mm, records[-1].nsd) == (0.0, 1.0)
    assert [r.new_clicks for r in records[3:]] == [(), ()] and records[-1].clicks == 2  # nothing left to click
    after_first = 2 * 83 / (86 + 83)  # the missed box filled, the 3 false-positive voxels still there
    assert records[1].dice == pytest.approx(after_first)


def test_several_clicks_per_interaction_take_the_largest_components():
    case, initial = _case()
    records = play_robot_protocol(FixClickedComponent(), case, initial, interactions=1, clicks_per_interaction=2)
    assert [c.positive for c in records[1].new_clicks] == [True, False] and records[1].dice == 1.0


def test_every_method_meets_the_same_robot_on_the_same_start():
    case, initial = _case()
    kept = play_robot_protocol(KeepInitial(), case, initial, interactions=1, seed=7)
    fixed = play_robot_protocol(FixClickedComponent(), case, initial, interactions=1, seed=7)
    assert (kept[0].dice, kept[0].hd95_mm, kept[0].nsd) == (fixed[0].dice, fixed[0].hd95_mm, fixed[0].nsd)
    assert kept[1].new_clicks == fixed[1].new_clicks


def test_a_method_returning_the_wrong_shape_is_named():
    class Broken(KeepInitial):
        name = "broken"

        def interact(self, case, probability, previous_clicks, new_clicks):
            return probability[:-1]

    case, initial = _case()
    with pytest.raises(ValueError, match="'broken' returned shape"):
        play_robot_protocol(Broken(), case, initial, interactions=1)


def test_a_method_returning_values_outside_the_unit_range_is_named():
    class Logits(KeepInitial):
        name = "logits"

        def interact(self, case, probability, previous_clicks, new_clicks):
            return probability * 4 - 2

    case, initial = _case()
    with pytest.raises(ValueError, match="'logits' returned values in"):
        play_robot_protocol(Logits(), case, initial, interactions=1)
