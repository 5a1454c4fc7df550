"""The offline demo's model: a scripted OpenAI-protocol server that reads its prompts."""

from __future__ import annotations

import re
from typing import Any

from plancontrol.core.answers import Code, Verdict
from plancontrol.core.plan import Plan, Review, Step
from plancontrol.servers.replies import ServerReply
from plancontrol.servers.scripted import OpenAITestServer, role_of

__all__ = ["DEMO_MODEL", "DEMO_TASK", "demo_server"]

DEMO_MODEL = "plancontrol-demo"
"""The model name the demo server answers to."""

DEMO_TASK = "Compute the first 20 prime numbers, save them to primes.txt and write a short report"

_PLAN = Plan(
    (
        Step(
            "Compute the first 20 prime numbers and save them to primes.txt",
            "engineer",
            ("use trial division", "write one prime per line", "print the primes"),
        ),
        Step(
            "Write a short report on the primes found",
            "researcher",
            ("state how many primes were found and the largest one",),
        ),
    )
)

# The first script has a bug (an off-by-one that misses the last prime) so the demo shows the
# judge catching it and the engineer fixing it on the second attempt.
_SCRIPT = """\
primes = []
n = 2
while len(primes) < {count}:
    if all(n % p for p in primes if p * p <= n):
        primes.append(n)
    n += 1
with open("primes.txt", "w") as out:
    out.write("\\n".join(map(str, primes)) + "\\n")
print(len(primes), "primes:", *primes)
"""


def _answer(body: dict[str, Any]) -> ServerReply:
    messages = body.get("messages") or [{}]
    asked = str(messages[-1].get("content") or "")
    match role_of(body):
        case "planner":
            return _PLAN
        case "plan_reviewer":
            return Review(("Keep two steps: one engineer step, then one report.",))
        case "engineer":
            count = 20 if "Your previous attempt" in asked else 19
            return Code(_SCRIPT.format(count=count), "trial division over earlier primes")
        case "judge":
            found = re.search(r"(\d+) primes:", asked)
            if "exit code 0" in asked and found and found.group(1) == "20":
                return Verdict("success", "20 primes computed and saved to primes.txt")
            return Verdict("fix", "the script did not produce 20 primes", "loop until 20 primes")
        case "researcher":
            printed = re.search(r"\d+ primes: ([\d ]+)", asked)
            primes = printed.group(1).split() if printed else []
            largest = primes[-1] if primes else "unknown"
            return (
                f"# Primes report\n\nThe engineer found {len(primes)} primes; the largest is "
                f"{largest}. They are saved one per line in primes.txt.\n"
            )
    return f"({role_of(body)} has nothing to add)"


def demo_server() -> OpenAITestServer:
    """The demo's model server (use it with ``with``): a fixed plan, a buggy then fixed
    script, a judge that reads the real execution output, and a report built from the
    previous step's output."""
    return OpenAITestServer(_answer)
