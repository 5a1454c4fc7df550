"""The workload the benchmarks share: `plancontrol run` of N researcher steps on the test server."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from plancontrol import Plan, Step
from plancontrol.servers.scripted import OpenAITestServer

CLI = (sys.executable, "-m", "plancontrol")


def short_note(i: int) -> str:
    """A one-line report."""
    return f"# Note {i}\nDone."


def long_note(i: int) -> str:
    """A report of about 1.3 kB: a first paragraph (what the summary carries) and findings."""
    first = f"# Note {i}: " + "the measured values agree with the expected ones " * 4
    return first.strip() + "\n\n" + "A line of findings about the data and its errors. " * 24


def replies(steps: int, note: Callable[[int], str]) -> dict[str, list[object]]:
    """A plan of ``steps`` researcher steps, and each step's report."""
    plan = Plan(tuple(Step(f"Write note {i}", "researcher") for i in range(1, steps + 1)))
    return {"planner": [plan], "researcher": [note(i) for i in range(1, steps + 1)]}


def run_argv(
    folder: Path, steps: int, base_url: str, prefix: Sequence[str] = CLI
) -> list[str]:
    """``plancontrol run`` of the workload on the server at ``base_url``, into ``folder``."""
    return [
        *prefix,
        *("run", f"Write {steps} notes", "--base-url", base_url, "--model", "m"),
        *("--reviews", "0", "--max-steps", str(steps), "--run-dir", str(folder), "-q"),
    ]


def record(folder: Path, steps: int, note: Callable[[int], str] = short_note) -> float:
    """Record the workload in ``folder``; the run's wall time in seconds."""
    with OpenAITestServer(replies(steps, note)) as server:
        start = time.perf_counter()
        subprocess.run(
            run_argv(folder, steps, server.base_url), check=True, stdout=subprocess.DEVNULL
        )
        return time.perf_counter() - start


def replay_seconds(folder: Path, repeat: int) -> float:
    """Median seconds of ``repeat`` in-process replays, after one untimed (imports, caches);
    each must be identical to the recording."""
    from plancontrol.recording.replay import replay_run

    replay_run(folder).unwrap()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        outcome = replay_run(folder).unwrap()
        times.append(time.perf_counter() - start)
        assert outcome.identical, outcome.difference
    return statistics.median(times)
