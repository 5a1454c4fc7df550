"""Small builders for scripted runs shared by the tests."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plancontrol import Plan, Review, Step
from plancontrol.core.answers import Code, Verdict

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


def plancontrol(
    *args: str, cwd: Path, key: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would from a script: a subprocess whose input is not a terminal
    (``/dev/null``), with no provider key but ``key``, and the variables in ``env`` besides."""
    env = {**{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}, **(env or {})}
    if key:
        env["OPENAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "plancontrol", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
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


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A process on a pseudo-terminal: read what it shows (colours stripped), type answers."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, close_fds=True
        )
        os.close(slave)
        self.master = master
        self.raw = ""
        self.at = 0

    @property
    def seen(self) -> str:
        """What the terminal showed since the last text expected."""
        return ANSI.sub("", self.raw)[self.at :]

    def expect(self, text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process ended and closed the terminal
                    chunk = b""
                assert chunk, f"the process ended before {text!r}:\n{self.seen}"
                self.raw += chunk.decode(errors="replace")
        self.at += self.seen.index(text) + len(text)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def wait(self) -> int:
        """Read what is left until the process ends; its exit status."""
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.raw += chunk.decode(errors="replace")
            elif self.proc.poll() is not None:
                break
        os.close(self.master)
        return self.proc.wait(timeout=60)
