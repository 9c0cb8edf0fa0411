"""Progress within one scan: the stages of a prediction in order, the segmenter's windows and the agents'
tiles counted to their totals, and `medrl predict` showing them."""

from __future__ import annotations

import pytest
import torch

from medrl.env.clicks import Click
from medrl.inference.progress import sliding_window_count
from medrl.inference.refiner import Refiner
from medrl.models.segmenter_net import segment_probability
from tests.conftest import save_nifti
from tests.inference.checkpoints import untrained_checkpoint
from tests.inference.scenes import two_blob_scene


@pytest.mark.parametrize("shape", [(16, 16, 16), (40, 23, 17), (70, 16, 33)])
def test_the_window_count_is_the_number_of_batches_monai_runs(shape):
    calls = []
    net = torch.nn.Conv3d(1, 2, 1)
    segment_probability(net, torch.zeros(1, 1, *shape), (16, 16, 16), sw_batch_size=4, on_windows=lambda: calls.append(1))
    assert len(calls) == sliding_window_count(shape, (16, 16, 16), 0.25, 4)


def test_a_prediction_reports_its_stages_in_order_with_parts_counted(tmp_path):
    refiner = Refiner.from_checkpoint(untrained_checkpoint(tmp_path), tile_edge=24)
    scan = save_nifti(two_blob_scene().image * 200.0, torch.eye(4).numpy(), tmp_path / "scan.nii.gz")
    seen = []
    refiner.predict(scan, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages == ["reading", "segmenting (windows)", "refining (tiles)", "writing back to the scan's grid"]
    for stage in ("segmenting (windows)", "refining (tiles)"):
        last = [(done, total) for s, done, total in seen if s == stage][-1]
        assert last[0] == last[1] > 1  # every window and tile counted, several of each


def test_medrl_predict_shows_the_stages_of_a_scan(tmp_path, capsys):
    from medrl.cli import main

    scan = save_nifti(two_blob_scene().image * 200.0, torch.eye(4).numpy(), tmp_path / "scan.nii.gz")
    assert main(["predict", "--checkpoint", str(untrained_checkpoint(tmp_path)), "--input", str(scan),
                 "--output", str(tmp_path / "out")]) == 0
    shown = capsys.readouterr().out  # Lightning's bar over the scans, with the scan's stage after it
    assert "scan=segmenting (windows)" in shown and "scan=refining (tiles)" in shown


def test_a_stage_line_says_what_is_done_and_how_long_is_left():
    from medrl.inference.progress import StageReport

    assert StageReport.line("refining (tiles)", 3, 12, elapsed=10.0) == "refining (tiles) 3/12, 30 s left"
    assert StageReport.line("refining (tiles)", 0, 12, elapsed=0.0) == "refining (tiles) 0/12"
    assert StageReport.line("reading", 0, 1, elapsed=5.0) == "reading"
    shown = []
    report = StageReport(shown.append, every=3600)
    for done in range(5):
        report("segmenting (windows)", done, 4)
    assert len(shown) == 2 and shown[-1] == "segmenting (windows) 4/4"  # the first line, then the stage's end


def test_agents_with_an_action_zone_run_nothing_without_a_click(tmp_path):
    import dataclasses

    refiner = Refiner.from_checkpoint(untrained_checkpoint(tmp_path))
    refiner.env_config = dataclasses.replace(refiner.env_config, act_within_mm=10.0)
    case = refiner.prepare(save_nifti(two_blob_scene().image * 200.0, torch.eye(4).numpy(), tmp_path / "scan.nii.gz"))
    start = torch.from_numpy(two_blob_scene().initial)[None, None].float()
    calls = []
    refiner.policy.register_forward_hook(lambda *args: calls.append(1))
    p = refiner.refine(case, start)
    assert torch.equal(p >= 0.5, start >= 0.5) and calls == []  # the zone is empty: the same mask, no forward pass
    refiner.refine(case, start, [Click((36, 20, 16), positive=True)])
    assert calls  # with a click the policy runs
