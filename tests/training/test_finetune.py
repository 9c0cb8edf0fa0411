"""``medrl finetune``: agents start from a checkpoint, learn from a feedback store's reviews, and a new
checkpoint is written beside the old one, which stays as it was."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys

import pytest
import torch
import yaml

from medrl.cli import main
from medrl.feedback.store import SCHEMA, FeedbackStore, file_sha256
from medrl.inference.refiner import Refiner
from medrl.models.checkpoint import read_checkpoint
from medrl.training.finetune import base_config, run_folder
from tests.inference.checkpoints import untrained_checkpoint
from tests.training.cli_run import kill_once_checkpointed
from tests.training.review_store import review_store

QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


@pytest.fixture
def start(tmp_path):
    (tmp_path / "ckpt").mkdir()
    return untrained_checkpoint(tmp_path / "ckpt"), review_store(tmp_path)[0]


def _policy(path) -> dict:
    return {k: v for k, v in read_checkpoint(path)["state_dict"].items() if k.startswith("policy.")}


def test_finetune_writes_a_new_checkpoint_and_keeps_the_old(start, tmp_path, capsys):
    checkpoint, store = start
    before = file_sha256(checkpoint)
    output = tmp_path / "tuned.ckpt"
    assert main(["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(output),
                 "--steps", "3", *QUIET]) == 0
    assert f"written to {output}" in capsys.readouterr().out
    assert file_sha256(checkpoint) == before  # the old checkpoint is kept as it was
    tuned, old = read_checkpoint(output), read_checkpoint(checkpoint)
    assert tuned["global_step"] == 3
    assert tuned["medrl"]["policy"]["architecture"] == old["medrl"]["policy"]["architecture"]
    assert tuned["medrl"]["preprocessing"]["intensity"] == "ct"  # the checkpoint's preprocessing travels on
    changed = [name for name, weight in _policy(output).items() if not torch.equal(weight, _policy(checkpoint)[name])]
    assert changed  # the agents learned something from the corrections
    segmenter = {k: v for k, v in tuned["state_dict"].items() if k.startswith("segmenter.")}
    assert segmenter and all(torch.equal(v, old["state_dict"][k]) for k, v in segmenter.items())  # frozen, carried
    assert Refiner.from_checkpoint(output).policy is not None
    base = yaml.safe_load((run_folder(output) / "finetune_base.yaml").read_text(encoding="utf-8"))
    a2c = base["model"]["init_args"]["a2c"]
    warm_start = max(0, old["hyper_parameters"]["a2c"]["warm_start_updates"] - old.get("global_step", 0))
    assert base["data"]["feedback"] == str(store.resolve()) and a2c["warm_start_updates"] == warm_start and a2c["anchor_weight"] > 0
    reference = {k[len("reference."):]: v for k, v in tuned["state_dict"].items() if k.startswith("reference.")}
    assert reference and all(torch.equal(v, _policy(checkpoint)["policy." + k]) for k, v in reference.items())
    assert list(run_folder(output).rglob("config.yaml"))  # Lightning's resolved config is kept


def test_finetune_refuses_to_overwrite_and_to_resume_nothing(start, tmp_path, capsys):
    checkpoint, store = start
    common = ["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store)]
    assert main([*common, "--output", str(checkpoint)]) == 2
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert main([*common, "--output", str(tmp_path / "x.ckpt"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main([*common, "--output", str(tmp_path / "x.pt")]) == 2
    assert "must end in .ckpt" in capsys.readouterr().err
    assert main(["finetune", "--checkpoint", str(checkpoint), "--feedback", str(tmp_path)]) == 2
    assert "not a feedback store" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--bogus=1"])


def test_a_finetuning_run_resumes_from_its_last_checkpoint(start, tmp_path):
    checkpoint, store = start
    output = tmp_path / "tuned.ckpt"
    every_step = "--trainer.callbacks.init_args.every_n_train_steps=1"
    common = ["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(output), every_step, *QUIET]
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "4", "--resume", "--overwrite"]) == 0
    assert read_checkpoint(output)["global_step"] == 4


def test_finetune_under_ddp_on_two_cpu_processes(start, tmp_path):
    """Lightning relaunches the command for rank 1; one checkpoint is written, by rank 0."""
    import sys

    from tests.training.cli_run import environment

    checkpoint, store = start
    output = tmp_path / "tuned.ckpt"
    command = [sys.executable, "-m", "medrl.cli", "finetune", "--checkpoint", str(checkpoint), "--feedback", str(store),
               "--output", str(output), "--steps", "4", "--trainer.accelerator=cpu", "--trainer.devices=2",
               "--trainer.strategy=ddp", *QUIET]
    result = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True, encoding="utf-8", errors="replace",
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log and log.count("medrl finetune: agents written to") == 1
    assert read_checkpoint(output)["global_step"] == 4
    assert not [p for p in tmp_path.iterdir() if ".medrl-tmp-" in p.name]  # no temporary file left behind


def test_the_anchor_is_on_when_the_reviews_are_the_only_data(start, tmp_path):
    from medrl.training.finetune import ANCHOR_WITHOUT_DATASET, base_config

    checkpoint, store = start
    alone = base_config(checkpoint, store, None, tmp_path / "run")
    mixed = base_config(checkpoint, store, "data/dataset.json", tmp_path / "run")
    assert alone["model"]["init_args"]["a2c"]["anchor_weight"] == ANCHOR_WITHOUT_DATASET > 0
    assert mixed["model"]["init_args"]["a2c"]["anchor_weight"] == 0.0 and mixed["data"]["dataset"] == "data/dataset.json"
    assert alone["model"]["init_args"]["policy_channels"] == [4, 8]  # the checkpoint's architecture, as plain lists


def test_task_reward_tuning_keeps_the_better_of_start_and_best_by_a_validation_metric(start, tmp_path, capsys):
    from medrl.data.synthetic import write_synthetic_dataset
    from tests.training.cli_run import REPO

    checkpoint, _ = start
    dataset = write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=1, n_test=0, seed=0)
    output = tmp_path / "tuned.ckpt"
    argv = ["finetune", "--checkpoint", str(checkpoint), "--data", str(dataset), "--output", str(output),
            "--config", str(REPO / "configs" / "tune_surface_gain.yaml"), "--select-by", "val/nsd", "--steps", "4",
            "--trainer.val_check_interval=2", "--model.init_args.val_interactions=1", "--data.batch_size=1", *QUIET]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "val/nsd starting agents 0." in printed and "best tuned 0." in printed
    tuned = read_checkpoint(output)
    assert tuned["hyper_parameters"]["env"]["reward"]["surface_gain"] == 2.0  # the recipe's reward was trained with
    kept_start = "starting agents were better" in printed
    same_as_start = all(torch.equal(v, _policy(checkpoint)[k]) for k, v in _policy(output).items())
    assert same_as_start == kept_start  # the written agents are the ones the verdict names


def test_which_agents_are_kept():
    from medrl.training.finetune import FinetuneResult, _start_is_better

    assert _start_is_better(FinetuneResult(output=None, start_score=0.8, best_score=0.7), "max")
    assert not _start_is_better(FinetuneResult(output=None, start_score=0.7, best_score=0.8), "max")
    assert _start_is_better(FinetuneResult(output=None, start_score=3.0, best_score=4.0), "min")  # HD95: lower wins
    assert _start_is_better(FinetuneResult(output=None, start_score=0.5, best_score=None), "max")  # nothing tuned


def test_finetune_needs_reviews_or_a_dataset(start, tmp_path, capsys):
    checkpoint, store = start
    assert main(["finetune", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "x.ckpt")]) == 2
    assert "--feedback" in capsys.readouterr().err
    assert main(["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--select-by", "val/nsd"]) == 2
    assert "needs a labelled dataset" in capsys.readouterr().err


def test_finetune_trains_on_verdicts_when_asked(tmp_path, capsys):
    import csv

    from tests.training.review_store import verdict_store

    (tmp_path / "ckpt").mkdir()
    checkpoint = untrained_checkpoint(tmp_path / "ckpt")
    store, _ = verdict_store(tmp_path)  # verdicts only: no review, no label
    output = tmp_path / "tuned.ckpt"
    common = ["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(output), "--steps", "3",
              "--trainer.log_every_n_steps=1", *QUIET]
    assert main(common) == 2
    assert "holds no review to train on" in capsys.readouterr().err  # verdicts are read only when asked for
    assert main([*common, "--data.feedback_verdicts=true"]) == 0
    assert read_checkpoint(output)["global_step"] == 3
    changed = [name for name, weight in _policy(output).items() if not torch.equal(weight, _policy(checkpoint)[name])]
    assert changed
    (metrics,) = run_folder(output).rglob("metrics.csv")
    rewards = [float(row["train/reward"]) for row in csv.DictReader(metrics.open()) if row.get("train/reward")]
    assert len(rewards) == 3 and all(r != 0 for r in rewards)  # the verdicts' reward reached the agents


def test_a_finetuned_checkpoint_says_which_reviews_and_which_base_made_it(start, tmp_path, capsys):
    checkpoint, store = start
    first, second = tmp_path / "day1.ckpt", tmp_path / "day2.ckpt"
    assert main(["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(first),
                 "--steps", "2", *QUIET]) == 0
    assert main(["finetune", "--checkpoint", str(first), "--feedback", str(store), "--output", str(second),
                 "--steps", "1", *QUIET]) == 0
    provenance = read_checkpoint(second)["medrl"]["provenance"]
    reviews = [r.review_uid for r in FeedbackStore(store).reviews()]
    assert provenance["optimizer_steps"] == 1
    assert provenance["data"]["feedback"]["store"] == str(store.resolve())
    assert provenance["data"]["feedback"]["reviews"] == reviews and provenance["data"]["feedback"]["verdicts"] == []
    assert provenance["base"]["path"] == str(first.resolve()) and provenance["base"]["sha256"] == file_sha256(first)
    grandparent = provenance["base"]["provenance"]  # day 1's own record, as day 1's file holds it
    assert grandparent == read_checkpoint(first)["medrl"]["provenance"] and grandparent["optimizer_steps"] == 2
    assert grandparent["base"]["sha256"] == file_sha256(checkpoint)
    capsys.readouterr()
    assert main(["inspect", str(second)]) == 0
    shown = capsys.readouterr().out
    assert f"started from {first.resolve()}" in shown and f"started from {checkpoint.resolve()}" in shown
    assert shown.count(f"feedback store {store.resolve()}: 2 reviews, 0 verdicts") == 2
    assert main(["inspect", "--json", str(second)]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"] == provenance


def test_inspect_refuses_a_file_that_is_no_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.ckpt").write_text("not weights")
    assert main(["inspect", str(tmp_path / "notes.ckpt")]) == 2
    assert "not a medrl checkpoint, or corrupt" in capsys.readouterr().err


def test_a_finetuning_run_killed_with_sigkill_resumes_and_trains_each_step_once(start, tmp_path):
    checkpoint, store = start
    output = tmp_path / "tuned.ckpt"
    every_2_steps = "--trainer.callbacks.init_args.every_n_train_steps=2"
    common = ["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(output), every_2_steps,
              "--trainer.log_every_n_steps=1", *QUIET]
    killed_at = kill_once_checkpointed([sys.executable, "-m", "medrl.cli", *common, "--steps", "1000"], tmp_path,
                                       run_folder(output) / "checkpoints" / "last.ckpt", step=4)
    assert killed_at >= 4 and not output.exists(), "the run never wrote a checkpoint, or finished"
    assert main([*common, "--steps", str(killed_at + 3), "--resume"]) == 0
    assert read_checkpoint(output)["global_step"] == killed_at + 3
    logs = sorted(run_folder(output).rglob("metrics.csv"))
    resumed = [int(row["step"]) for row in csv.DictReader(logs[-1].open()) if row.get("train/reward")]
    assert resumed == [killed_at, killed_at + 1, killed_at + 2]  # from the last checkpoint on, each step once


def test_a_store_written_by_the_previous_medrl_still_opens_and_trains(start, tmp_path):
    checkpoint, store = start
    database = store / "feedback.sqlite"
    current = sqlite3.connect(database)
    columns = ("review_uid, scan_path, scan_sha256, reviewer, created_utc, clicks_ras_json, checkpoint, accepted_path, "
               "before_path, after_path, corrections_path")
    rows = current.execute(f"SELECT {columns} FROM reviews ORDER BY id").fetchall()
    current.close()
    database.unlink()
    old = sqlite3.connect(database)
    old.executescript(SCHEMA)  # the tables as the previous medrl wrote them: no structure, no session column
    old.executemany(f"INSERT INTO reviews ({columns}) VALUES ({', '.join('?' * 11)})", rows)
    old.commit()
    old.close()
    reviews = FeedbackStore(store).reviews()  # opening it adds the new columns, empty
    assert len(reviews) == 2 and all(r.session_id is None and r.structure is None for r in reviews)
    output = tmp_path / "tuned.ckpt"
    assert main(["finetune", "--checkpoint", str(checkpoint), "--feedback", str(store), "--output", str(output),
                 "--steps", "2", *QUIET]) == 0
    assert read_checkpoint(output)["medrl"]["provenance"]["data"]["feedback"]["reviews"] == [r.review_uid for r in reviews]


def test_finetuning_keeps_the_tasks_the_agents_were_trained_on(start, tmp_path):
    checkpoint, store = start
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved["datamodule_hyper_parameters"] = {"tasks": "labels", "min_task_voxels": 50, "union_task": True,
                                            "perturbation_dice": (0.5, 0.95), "batch_size": 9}
    recipe = tmp_path / "recipe.ckpt"
    torch.save(saved, recipe)
    data = base_config(recipe, store, "brains.json", tmp_path / "run")["data"]
    assert data["tasks"] == "labels" and data["min_task_voxels"] == 50 and data["perturbation_dice"] == [0.5, 0.95]
    assert data["batch_size"] == 4  # not a task setting: fine-tuning's own default
    assert "tasks" not in base_config(checkpoint, store, None, tmp_path / "run2")["data"]  # none saved: the DataModule's default


@pytest.mark.parametrize("warm_start, trained, remaining", [(1_000_000, 2500, 997_500), (200, 700, 0), (0, 50, 0)])
def test_finetuning_goes_on_with_the_learning_rule_the_agents_had(start, tmp_path, warm_start, trained, remaining):
    checkpoint, store = start
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved["hyper_parameters"]["a2c"] = {**saved["hyper_parameters"].get("a2c", {}), "warm_start_updates": warm_start}
    saved["global_step"] = trained
    torch.save(saved, tmp_path / "agents.ckpt")
    a2c = base_config(tmp_path / "agents.ckpt", store, None, tmp_path / "run")["model"]["init_args"]["a2c"]
    assert a2c["warm_start_updates"] == remaining  # still cloning where the run never ended its warm start
