"""A batch of 12 tasks on a server that answers each call after 0.3 s: local workers and Ray.

    .venv/bin/python bench/batch.py [--tasks 12] [--delay 0.3] [--repeat 2] [--ray-workers 4]

Each task has a one-step plan (the engineer's script saves a file, the judge approves: two
model calls). ``plancontrol.batch`` runs them into a new folder with 1, 2 and 4 local workers
and with the Ray engine (a local Ray instance started and stopped by each batch), in turns,
``--repeat`` times each. Reports the median wall seconds, each as a ratio to one local worker
measured in this run, Ray's start-up alone (``ray.init`` then ``ray.shutdown``), and Ray's
overhead per task against the local engine with as many workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import plancontrol
from plancontrol.app.batch import ModelOptions
from plancontrol.core.answers import Code, Verdict
from plancontrol.testing import OpenAITestServer, Slow, role_of

PLAN = {"sub_tasks": [{"sub_task": "Save the number", "sub_task_agent": "engineer"}]}


def answer(delay: float) -> Any:
    """Every call answered after ``delay`` seconds: a script that saves a file, an approval."""

    def reply(body: dict[str, Any]) -> Any:
        if role_of(body) == "engineer":
            return Slow(delay, Code("open('out.txt', 'w').write('1')"))
        return Slow(delay, Verdict("success", "saved"))

    return reply


def timed(lab: Path, into: str, options: ModelOptions, workers: int, engine: str) -> float:
    """Wall seconds of one batch into ``lab/into``; every task must finish."""
    start = time.perf_counter()
    summary = plancontrol.batch(
        lab / "tasks.jsonl", lab / into, workers=workers, options=options, engine=engine
    ).unwrap()
    took = time.perf_counter() - start
    assert summary.ok, summary
    assert all(r.action == "run" for r in summary.rows), summary
    return took


def ray_start_up(workers: int) -> float:
    """Seconds to start a local Ray instance as the engine does, and stop it."""
    import logging

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    ray.shutdown()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ray-workers", type=int, default=4)
    args = parser.parse_args()
    kinds = [("local", 1), ("local", 2), ("local", 4), ("ray", args.ray_workers)]
    walls: dict[tuple[str, int], list[float]] = {kind: [] for kind in kinds}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, OpenAITestServer(answer(args.delay)) as server:
        lab = Path(tmp)
        (lab / "plan.json").write_text(json.dumps(PLAN))
        lines = [{"task": f"Task {n}: save 1", "id": f"t{n:02d}", "plan": "plan.json"}
                 for n in range(args.tasks)]  # fmt: skip
        (lab / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in lines))
        options = ModelOptions(model="m", base_url=server.base_url, max_retries=0)
        for turn in range(args.repeat):
            for engine, workers in kinds:
                into = f"{engine}-{workers}-{turn}"
                walls[(engine, workers)].append(timed(lab, into, options, workers, engine))
        calls = len(server.log)
        start_up = statistics.median(ray_start_up(args.ray_workers) for _ in range(args.repeat))
    load = max(load, os.getloadavg()[0])
    print(f"{args.tasks} tasks, 2 calls each answered after {args.delay} s ({calls} calls in all),"
          f" {os.cpu_count()} CPUs, load up to {load:.1f}, median of {args.repeat}")  # fmt: skip
    print("| engine | workers | wall seconds | against 1 local worker |")
    print("|---|---|---|---|")
    medians = {kind: statistics.median(seconds) for kind, seconds in walls.items()}
    one = medians[("local", 1)]
    for (engine, workers), wall in medians.items():
        print(f"| {engine} | {workers} | {wall:.2f} | {wall / one:.2f} |")
    local = medians.get(("local", args.ray_workers), one)
    ray_wall = medians[("ray", args.ray_workers)]
    per_task = (ray_wall - local) / args.tasks
    print(f"\nRay start-up alone (init + shutdown): {start_up:.2f} s")
    print(f"Ray's overhead per task against local with {args.ray_workers} workers: "
          f"{per_task:.2f} s ({(ray_wall - local - start_up) / args.tasks:.2f} s without "
          "its start-up)")  # fmt: skip


if __name__ == "__main__":
    main()
