"""Small builders for scripted runs shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plancontrol import Plan, Review, Step
from plancontrol.replies import Code, Verdict

PRIMES = Plan(
    (
        Step("Compute the first 20 primes and save them", "engineer", ("save to primes.txt",)),
        Step("Write a short report on the primes", "researcher", ("cite primes.txt",)),
    )
)

OK = Verdict("success", "the primes were computed and saved")


def fix(suggestion: str) -> Verdict:
    return Verdict("fix", "the output is wrong", suggestion)


def review(*recommendations: str) -> Review:
    return Review(recommendations)


def engineer_plan(n: int) -> Plan:
    return Plan(
        tuple(Step(f"Task number {i}", "engineer", (f"point {i}",)) for i in range(1, n + 1))
    )


def happy_replies(plan: Plan = PRIMES, reviews: int = 1) -> dict[str, list[Any]]:
    """Replies for a run where every step succeeds on its first attempt."""
    engineers = [s for s in plan.steps if s.agent == "engineer"]
    texts = [s for s in plan.steps if s.agent != "engineer"]
    return {
        "planner": [plan] * (reviews + 1),
        "plan_reviewer": [review(f"recommendation {i}") for i in range(1, reviews + 1)],
        "engineer": [Code(f"print({i})") for i in range(len(engineers))],
        "judge": [OK] * len(engineers),
        "researcher": [f"# Report {i}\nAll fine." for i in range(len(texts))],
        "idea_maker": ["- idea"] * len(texts),
        "idea_hater": ["- critique"] * len(texts),
    }


def contents(requests: Iterable[Any]) -> list[str]:
    """The last user message of each request."""
    return [r.messages[-1].content for r in requests]


def plancontrol(*args: str, cwd: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: a subprocess with no provider key but ``key``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    if key:
        env["OPENAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "plancontrol", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def run_against(
    base_url: str, *extra: str, cwd: Path, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``plancontrol run "Compute primes"`` on the server at ``base_url`` into ``cwd/run``."""
    return plancontrol(
        "run",
        "Compute primes",
        "--base-url",
        base_url,
        "--model",
        "test-model",
        "--run-dir",
        "run",
        *extra,
        cwd=cwd,
        key=key,
    )
