"""Run-folder bytes per step at 3, 30 and 100 steps, by kind of record, and replay time.

    .venv/bin/python bench/storage.py [--steps 3 30 100] [--repeat 3]

Each run is `plancontrol run` against the test server, of one of two kinds: researcher
steps that make one model call each and reply with a report of about 1.3 kB (its first
paragraph is the summary that later steps are told), or engineer steps that each have a
script written (a real subprocess runs it) and judged, two model calls. The folder's bytes
are the sizes of its files, by kind: snapshots (and the objects they share), cassettes (and
the sessions' message tables), journal, report.html, context.json (the run's and each
session's), work (the steps' files) and the rest. Each run is then replayed
in this process with `replay_run`, ``--repeat`` times after one untimed replay, median given.

To measure another version's writer and reader, run this file with that version first on
the path: ``PYTHONPATH=/path/to/old/src .venv/bin/python bench/storage.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from notes import long_note, record, replay_seconds, run_argv

import plancontrol
from plancontrol import Plan, Step
from plancontrol.core.answers import Code, Verdict
from plancontrol.servers.scripted import OpenAITestServer

KINDS = ("snapshots", "cassettes", "journal", "report.html", "context.json", "work", "other")


def kind_of(path: Path) -> str:
    """The kind of record a file of a run folder is (its path relative to the folder)."""
    parts = path.parts
    if parts[0] == "work":
        return "work"
    if parts[0] == "sessions" and len(parts) > 2:
        if parts[2] in ("snapshots", "objects", "start.json"):
            return "snapshots"
        if parts[2] in ("cassettes", "requests", "messages.json"):
            return "cassettes"
        if parts[2] == "journal.jsonl":
            return "journal"
    return path.name if path.name in ("report.html", "context.json") else "other"


def sizes(folder: Path) -> Counter[str]:
    """The bytes of the files of the run in ``folder``, by kind."""
    found: Counter[str] = Counter()
    for path in folder.rglob("*"):
        if path.is_file():
            found[kind_of(path.relative_to(folder))] += path.stat().st_size
    return found


def record_engineer(folder: Path, steps: int) -> None:
    """Record ``steps`` engineer steps, each a script that writes a file and a verdict."""
    plan = Plan(
        tuple(Step(f"Compute the squares up to {i}", "engineer") for i in range(1, steps + 1))
    )
    scripts = [
        Code(f"squares = [n * n for n in range({i})]\nprint(len(squares), 'squares', sum(squares))")
        for i in range(1, steps + 1)
    ]
    verdicts = [Verdict("success", f"{i} squares printed") for i in range(1, steps + 1)]
    script = {"planner": [plan], "engineer": scripts, "judge": verdicts}
    with OpenAITestServer(script) as server:
        subprocess.run(
            run_argv(folder, steps, server.base_url), check=True, stdout=subprocess.DEVNULL
        )


def show(kind: str, rows: list[tuple[int, Counter[str], float]]) -> None:
    """The tables of one kind of run: bytes per step by kind of record, and replay time."""
    print(f"\n{kind} steps: bytes per step, by kind\n")
    print("| steps | total | " + " | ".join(KINDS) + " |")
    print("|---" * (len(KINDS) + 2) + "|")
    for steps, found, _ in rows:
        cells = " | ".join(f"{found[k] / steps:,.0f}" for k in KINDS)
        print(f"| {steps} | {sum(found.values()) / steps:,.0f} | {cells} |")
    first, last = rows[0], rows[-1]
    ratio = (sum(last[1].values()) / last[0]) / (sum(first[1].values()) / first[0])
    print(f"\n{last[0]}-step over {first[0]}-step bytes per step: {ratio:.2f}")
    print("\n| steps | folder bytes | replay seconds (median) | seconds per step |")
    print("|---|---|---|---|")
    for steps, found, seconds in rows:
        print(f"| {steps} | {sum(found.values()):,} | {seconds:.3f} | {seconds / steps:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 30, 100])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"plancontrol {plancontrol.__version__} from {Path(plancontrol.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("researcher", "engineer"):
            rows = []
            for steps in args.steps:
                folder = Path(tmp) / f"{kind}-{steps}"
                if kind == "researcher":
                    record(folder, steps, long_note)
                else:
                    record_engineer(folder, steps)
                rows.append((steps, sizes(folder), replay_seconds(folder, args.repeat)))
            show(kind, rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
