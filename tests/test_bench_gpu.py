"""benchmarks/bench_gpu.py runs as it is; here on the CPU, with its flag and tiny sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.training.cli_run import environment

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_gpu_benchmark_prints_its_table_on_the_cpu():
    command = [sys.executable, "bench_gpu.py", "--device", "cpu", "--sizes", "32", "--repeats", "1", "--batch", "1",
               "--patch", "16", "--interactions", "1", "--window", "16", "--threads", "1"]
    result = subprocess.run(command, cwd=BENCHMARKS, env=environment(), capture_output=True, encoding="utf-8",
                            errors="replace", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith(("click on", "A2C update"))]
    assert len(rows) == 4 and sum(" bf16-mixed " in row for row in rows) == 2  # a click and an update at each precision
    assert all("patches/s" in row for row in rows if row.startswith("A2C"))
