"""Replay against live time, and replay time for 3, 10 and 30-step runs (should be linear).

    .venv/bin/python bench/replay.py [--local] [--repeat 5]

Runs are recorded with `plancontrol run` against the test server (one researcher step per
plan step, so every step makes one model call) and, with --local, on the embedded model;
each is then replayed in this process with `replay_run`, several times, median reported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from notes import record, replay_seconds


def command(folder: Path) -> float:
    """Seconds ``plancontrol replay`` takes in a new process, imports included."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "plancontrol", "replay", str(folder), "-q"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--local", action="store_true", help="also the embedded model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for steps in (3, 10, 30):
            folder = Path(tmp) / f"run-{steps}"
            live = record(folder, steps)
            rows.append((steps, replay_seconds(folder, args.repeat), live, command(folder)))
        print("| steps | replay seconds (median) | seconds per step |")
        print("|---|---|---|")
        for steps, seconds, _, _ in rows:
            print(f"| {steps} | {seconds:.3f} | {seconds / steps:.4f} |")
        print(
            f"\n30-step over 3-step replay time: {rows[-1][1] / rows[0][1]:.2f} "
            "(linear would be 10)"
        )
        print("\n| test-server run | live `plancontrol run` | `plancontrol replay` | ratio |")
        print("|---|---|---|---|")
        for steps, _, live, replayed in rows:
            print(f"| {steps} steps | {live:.2f} s | {replayed:.2f} s | {replayed / live:.3f} |")
        if args.local:
            folder = Path(tmp) / "local"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "plancontrol",
                    "run",
                    "Compute the first 20 prime "
                    "numbers, save them to primes.txt and write a short report",
                    "--model",
                    "local",
                    "--run-dir",
                    str(folder),
                    "-q",
                ],
                check=False,
                stdout=subprocess.DEVNULL,
            )
            live = time.perf_counter() - start
            replayed = command(folder)
            print("\n| embedded-model run | seconds |\n|---|---|")
            print(f"| live `plancontrol run --model local` | {live:.2f} |")
            print(f"| `plancontrol replay` | {replayed:.2f} |")
            print(f"\nreplay / live: {replayed / live:.3f}")


if __name__ == "__main__":
    main()
