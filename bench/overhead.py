"""Framework overhead per LLM call: plancontrol's ask path against bare ``ag2.Agent.ask()``.

Both sides talk to the same local test server, on one event loop and one HTTP client each,
and create a fresh ``ag2.Agent`` per call (as plancontrol does). Rounds alternate between the
two so that drift on the machine hits both alike. Prints a Markdown table; the ratio is
plancontrol's median time per call over the baseline's.

    .venv/bin/python bench/overhead.py [--calls 200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx2
from ag2 import Agent
from ag2.config import OpenAIConfig

from plancontrol import Context, Message, Request
from plancontrol.ag2_agents import Ag2Agents
from plancontrol.calls import ask
from plancontrol.models import Route
from plancontrol.testing import OpenAITestServer, scripted_effects

SYSTEM = "You are the researcher: you write short reports. Reply in Markdown."
PROMPT = "Summarise the first 20 primes in one sentence."


def bare_ag2(base_url: str, calls: int) -> float:
    """Seconds per call of ``Agent.ask()`` with nothing around it."""

    async def go() -> float:
        async with httpx2.AsyncClient() as http:
            config = OpenAIConfig(model="m", base_url=base_url, api_key="k", max_retries=0,
                                  temperature=0.0, http_client=http)
            start = time.perf_counter()
            for _ in range(calls):
                reply = await Agent("researcher", prompt=SYSTEM, config=config).ask(PROMPT)
                assert reply.body
            return (time.perf_counter() - start) / calls

    return asyncio.run(go())


def through_plancontrol(base_url: str, calls: int) -> float:
    """Seconds per call of plancontrol's path: request, adapter, usage row, events."""
    request = Request(role="researcher", model="m", phase="control", step=1, attempt=1,
                      system=SYSTEM, messages=(Message("user", PROMPT),))
    with Ag2Agents(Route(base_url=base_url, max_retries=0)) as agents:
        fx = scripted_effects(agents=agents)
        ctx = Context(task="bench")
        start = time.perf_counter()
        for _ in range(calls):
            ctx, reply = ask(ctx, fx, request).unwrap()
            assert reply.text
        return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with OpenAITestServer(lambda body: "Twenty primes, the largest 71.") as server:
        bare_ag2(server.base_url, 20)  # warm up imports and connections
        through_plancontrol(server.base_url, 20)
        base: list[float] = []
        ours: list[float] = []
        for _ in range(args.rounds):
            base.append(bare_ag2(server.base_url, args.calls))
            ours.append(through_plancontrol(server.base_url, args.calls))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"calls per round: {args.calls}, rounds: {args.rounds}")
    print("| path | median ms per call | min | max |")
    print("|---|---|---|---|")
    print(f"| bare ag2 Agent.ask() | {b * 1e3:.3f} | {min(base) * 1e3:.3f} | {max(base) * 1e3:.3f} |")
    print(f"| plancontrol ask | {o * 1e3:.3f} | {min(ours) * 1e3:.3f} | {max(ours) * 1e3:.3f} |")
    print(f"\nratio plancontrol / bare ag2: {o / b:.3f}")


if __name__ == "__main__":
    main()
