"""Snapshot encode + decode time against pickle for the same context (goal: at least 2x faster).

    .venv/bin/python bench/snapshot.py [--rounds 40]

The contexts are what a 3-step and a 30-step run end with: a plan, every step's outcome with
a summary, one usage row per model call, a timing row per step and some shared variables.
Each is encoded and decoded with plancontrol's snapshot format (msgspec JSON, schema-versioned)
and with pickle (highest protocol), in rounds of 50 calls; the medians are compared, in one
process.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from collections.abc import Callable

from pyrsistent import pmap

from plancontrol import Context, Plan, Step
from plancontrol.core.context import StepOutcome, TimingRow, UsageRow
from plancontrol.runs.snapshots import decode_snapshot, encode_snapshot


def context(steps: int) -> Context:
    """A context as a finished run of ``steps`` steps leaves it."""
    plan = Plan(
        tuple(
            Step(f"Task number {i}: fit the model to part {i}", "engineer", ("point a", "point b"))
            for i in range(1, steps + 1)
        )
    )
    outcomes = tuple(
        StepOutcome(
            step=i,
            agent="engineer",
            status="completed",
            code_status="succeeded",
            attempts=2,
            summary=f"Step {i} fitted the model; chi2 = {i * 1.5:.2f}. " * 8,
            files=(f"codebase/step_{i}.py", f"data/part_{i}.csv"),
        )
        for i in range(1, steps + 1)
    )
    usage = tuple(
        UsageRow(
            role=role,
            model="gpt-4o",
            phase="control",
            step=i,
            attempt=1,
            prompt_tokens=1500 + i,
            completion_tokens=300,
            cost_usd=0.0067,
        )
        for i in range(1, steps + 1)
        for role in ("engineer", "judge", "engineer", "judge")
    )
    timings = tuple(
        TimingRow(phase="control", step=i, started=1.7e9 + i, ended=1.7e9 + i + 0.5)
        for i in range(1, steps + 1)
    )
    variables = pmap({f"var_{i}": i * 0.5 for i in range(20)})
    return Context(
        task="Fit the model to every part of the data set and report",
        plan=plan,
        drafts=(plan,),
        outcomes=outcomes,
        usage=usage,
        timings=timings,
        variables=variables,
    )


def median_seconds(fn: Callable[[], object], rounds: int, calls: int = 50) -> float:
    """Median over ``rounds`` of the mean time of ``calls`` back-to-back calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    for steps in (3, 30):
        measure(context(steps), steps, args.rounds)


def measure(ctx: Context, steps: int, rounds: int) -> None:
    """Print both timings for ``ctx`` and their ratio."""

    def snapshot() -> Context:
        return decode_snapshot(encode_snapshot("step-30", ctx)).unwrap()[1]

    def pickled() -> Context:
        loaded: Context = pickle.loads(pickle.dumps(ctx, protocol=pickle.HIGHEST_PROTOCOL))
        return loaded

    assert snapshot() == ctx  # both round-trip exactly (and are warmed up)
    assert pickled() == ctx
    ours = median_seconds(snapshot, rounds)
    theirs = median_seconds(pickled, rounds)
    size = len(encode_snapshot("step-30", ctx))
    pickle_size = len(pickle.dumps(ctx, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"context of a {steps}-step run ({rounds} rounds of 50 calls, median):")
    print(f"  snapshot encode+decode: {ours * 1e6:7.1f} us  ({size} bytes)")
    print(f"  pickle dumps+loads:     {theirs * 1e6:7.1f} us  ({pickle_size} bytes)")
    print(f"  pickle / snapshot: {theirs / ours:.2f}x (goal: at least 2x)")


if __name__ == "__main__":
    main()
