"""Replaying many runs at once: `plancontrol replay DIR --workers N` on 8 copies, 1 and 2 workers.

    .venv/bin/python bench/replay_many.py [--copies 8] [--repeat 3]

Copies cassettes/primes-test-server into a batch-like folder, then times the whole command
(a new process: imports, worker start-up and every replay) with 1 and with 2 workers, in
turns, ``--repeat`` times each; reports the medians and their ratio, measured in this run,
and the sum of the seconds the runs' replays took (from --json), start-up left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "cassettes" / "primes-test-server"


def timed(batch: Path, workers: int) -> tuple[float, float]:
    """Wall seconds of `plancontrol replay BATCH --workers N --json` (all must be identical)
    and the sum of the seconds each run's replay took inside it."""
    command = [sys.executable, "-m", "plancontrol", "replay", str(batch), "--json"]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--workers", str(workers)],
        check=False,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    return took, sum(run["seconds"] for run in json.loads(done.stdout)["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch"
        for n in range(args.copies):
            shutil.copytree(RUN, batch / f"run-{n:02d}")
        for _ in range(args.repeat):
            for workers, measured in times.items():
                measured.append(timed(batch, workers))
    print(f"{args.copies} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| workers | wall seconds (median) | replays' own seconds, summed (median) |")
    print("|---|---|---|")
    medians = {}
    for workers, measured in times.items():
        medians[workers] = statistics.median(wall for wall, _ in measured)
        summed = statistics.median(own for _, own in measured)
        print(f"| {workers} | {medians[workers]:.2f} | {summed:.2f} |")
    one, two = medians[1], medians[2]
    print(f"\n2 workers over 1: {two / one:.2f} of the time ({one / two:.2f}x as fast)")


if __name__ == "__main__":
    main()
