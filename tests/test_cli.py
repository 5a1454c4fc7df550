"""The command line, run as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plancontrol import decode_context


def plancontrol(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plancontrol", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_runs_offline_and_leaves_a_run_folder(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    primes = (run / "primes.txt").read_text().split()
    assert primes[:5] == ["2", "3", "5", "7", "11"]
    assert len(primes) == 20
    assert "step 1 completed" in done.stderr
    assert "attempt 2: script ran, exit code 0" in done.stderr
    assert "Cost by role" in done.stdout
    report = (run / "reports" / "step_2_researcher_output.md").read_text()
    assert "found 20 primes; the largest is 71" in report
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    assert ctx.outcomes[0].attempts == 2
    assert "| 1 | engineer | completed | succeeded | 2 |" in (run / "report.md").read_text()


def test_demo_refuses_a_folder_that_holds_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "context.json").write_text("recorded")
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: run folder run already exists and is not empty; choose another --run-dir "
        "or remove it\n"
    )
    assert [p.name for p in run.iterdir()] == ["context.json"]
    assert (run / "context.json").read_text() == "recorded"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    done = plancontrol("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "demo" in done.stdout
    assert "version" in done.stdout
