"""Every ``medrl ...`` command in the README's and docs/'s fenced code blocks parses against the real CLI.

Commands are taken from fenced blocks without a language or marked bash/sh/shell/console (not python,
yaml, json or text); lines ending in ``\\`` are joined, comment lines are skipped, and a line is split
at ``&&``, ``||``, ``;`` and ``|`` so that commands inside a chain count too. Then:

- argparse subcommands (``medrl predict``, ``evaluate``, ``inspect``, ``demo``, ``finetune``) run through
  :func:`medrl.cli.main` with its handler replaced, so exactly its parsing (including the LightningCLI
  overrides ``medrl finetune`` passes on) decides; nothing runs and no file is read;
- LightningCLI subcommands (``medrl fit``, ``validate``, ``test``): every ``--config`` file exists and
  every ``--key`` starts with one of LightningCLI's top-level groups; then LightningCLI itself parses
  the command with ``--print_config`` (nothing is trained or instantiated). ``medrl finetune``'s
  overrides and ``--config`` files are parsed the same way over ``configs/refiner_voxel.yaml`` (the
  agents' module it fine-tunes).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

from medrl import cli

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
SEPARATORS = {"&&", "||", ";", "|"}
LIGHTNING_KEYS = {"trainer", "model", "data", "ckpt_path", "seed_everything", "config", "print_config"}
FINETUNE_MODEL_CONFIG = "configs/refiner_voxel.yaml"
FENCE = re.compile(r"^\s*```(\S*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_lines(text: str) -> list[str]:
    """Lines of the shell-like fenced blocks of ``text``, continuation lines joined, comment lines dropped."""
    lines, block, language = [], None, ""
    for line in text.splitlines():
        fence = FENCE.match(line)
        if fence:
            if block is None:
                block, language = [], fence.group(1).lower()
            else:
                if language in SHELL_LANGUAGES:
                    lines += _joined(block)
                block = None
            continue
        if block is not None:
            block.append(line)
    return lines


def _joined(block: list[str]) -> list[str]:
    joined, pending = [], ""
    for line in block:
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    if pending:
        joined.append(pending)
    return joined


def medrl_commands(line: str) -> list[list[str]]:
    """The ``medrl`` commands of one shell line, each as its argument list (``medrl`` left out)."""
    tokens = shlex.split(line, comments=True)
    commands, segment = [], []
    for token in tokens + [";"]:
        if token in SEPARATORS:
            while segment and ASSIGNMENT.match(segment[0]):  # VAR=value medrl ...
                segment.pop(0)
            if segment and segment[0] == "medrl":
                commands.append(segment[1:])
            segment = []
        else:
            segment.append(token)
    return commands


def collect() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for line in shell_lines(page.read_text(encoding="utf-8")):
            found += [(page.relative_to(REPO).as_posix(), argv) for argv in medrl_commands(line)]
    return found


COMMANDS = collect()
ARGPARSE = [(page, argv) for page, argv in COMMANDS if argv and argv[0] not in cli.LIGHTNING_SUBCOMMANDS]
LIGHTNING = [(page, argv) for page, argv in COMMANDS if argv and argv[0] in cli.LIGHTNING_SUBCOMMANDS]


def _id(case) -> str:
    page, argv = case
    return f"{page}: medrl {' '.join(argv)}"[:150]


def parse_with_main(argv: list[str], monkeypatch, capsys):
    """What :func:`medrl.cli.main` parses from ``argv``, with the subcommand's handler left unrun."""
    seen = {}

    def handler_not_run(handler, args):
        seen["args"] = args
        return 0

    monkeypatch.setattr(cli, "run", handler_not_run)
    try:
        status = cli.main(argv)
    except SystemExit as stop:
        pytest.fail(f"medrl {shlex.join(argv)}: exit {stop.code}: {capsys.readouterr().err.strip()[-600:]}")
    assert status == 0 and "args" in seen
    return seen["args"]


def lightning_parses(argv: list[str], monkeypatch) -> None:
    """LightningCLI (as ``medrl fit|validate|test`` builds it) parses ``argv`` with ``--print_config``."""
    from pytorch_lightning.cli import LightningCLI

    from medrl.training.lightning_cli import cli_kwargs

    monkeypatch.setattr(sys, "argv", ["medrl"])  # pytest's own arguments are not the command's
    out, err = io.StringIO(), io.StringIO()
    code = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            LightningCLI(args=[*argv, *(() if "--print_config" in argv else ("--print_config",))], **cli_kwargs())
        except SystemExit as stop:
            code = stop.code
    assert code in (0, None), f"medrl {shlex.join(argv)}: LightningCLI exit {code}: {err.getvalue().strip()[-800:]}"
    assert out.getvalue().strip(), f"medrl {shlex.join(argv)}: LightningCLI printed no config"


def lightning_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """(``--config`` files, the other ``--keys``) of a LightningCLI argument list."""
    configs, keys = [], []
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        key, _, value = token[2:].partition("=")
        if key == "config":
            configs.append(value or argv[i + 1])
        else:
            keys.append(key)
    return configs, keys


def test_the_docs_hold_the_commands_this_test_checks():
    pages = {page for page, _ in COMMANDS}
    for name in ("README.md", "docs/training.md", "docs/predicting.md", "docs/reviewing.md", "docs/evaluating.md",
                 "docs/rewards.md", "docs/formats.md"):
        assert name in pages, f"no medrl command found in {name}"
    subcommands = {argv[0] for _, argv in COMMANDS if argv}
    assert {"demo", "predict", "inspect", "evaluate", "finetune", "fit", "validate", "test"} <= subcommands
    assert ["demo", "--output", "medrl_demo"] in [argv for page, argv in COMMANDS if page == "README.md"]  # the main command


def test_extraction_joins_continuations_and_skips_comments_and_other_languages():
    text = ("```\n# a comment\nmedrl predict --checkpoint a.ckpt \\\n    --input b --output c   # trailing\n"
            "X=1 medrl demo && python -m pytest\n```\n```python\nmedrl = 1\n```\n```text\nmedrl: error: x\n```\n")
    found = [argv for line in shell_lines(text) for argv in medrl_commands(line)]
    assert found == [["predict", "--checkpoint", "a.ckpt", "--input", "b", "--output", "c"], ["demo"]]


@pytest.mark.parametrize("page, argv", ARGPARSE, ids=[_id(c) for c in ARGPARSE])
def test_argparse_command_parses(page, argv, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    args = parse_with_main(argv, monkeypatch, capsys)
    assert args.command == argv[0]
    if argv[0] == "finetune":  # what it passes on to LightningCLI must be LightningCLI's too
        configs = list(args.config or ())
        for config in configs:
            assert (REPO / config).is_file(), f"{page}: --config {config} does not exist"
        lightning_parses(["fit", "--config", FINETUNE_MODEL_CONFIG, *[a for c in configs for a in ("--config", c)],
                          *args.overrides], monkeypatch)


@pytest.mark.parametrize("page, argv", LIGHTNING, ids=[_id(c) for c in LIGHTNING])
def test_lightning_command_parses(page, argv, monkeypatch):
    configs, keys = lightning_options(argv[1:])
    assert configs, f"{page}: medrl {argv[0]} without --config"
    for config in configs:
        assert (REPO / config).is_file(), f"{page}: --config {config} does not exist"
    for key in keys:
        assert key.split(".")[0] in LIGHTNING_KEYS, f"{page}: --{key} is no LightningCLI option"
    monkeypatch.chdir(REPO)
    lightning_parses(argv, monkeypatch)
