"""Framework overhead per LLM call: plancontrol's ask path against bare ``ag2.Agent.ask()``.

Both sides talk to the same test server, run in a separate process so that it does not
compete with the client for the GIL, each on one event loop and one HTTP client, creating a
fresh ``ag2.Agent`` per call (as plancontrol does). Rounds alternate between the two so that
drift on the machine hits both alike. Prints a Markdown table; the ratio is plancontrol's
median time per call over the baseline's.

    .venv/bin/python bench/overhead.py [--calls 50] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from ag2 import Agent
from ag2.config import OpenAIConfig

from plancontrol import Context, Message, Request
from plancontrol.ag2_agents import Ag2Agents
from plancontrol.calls import ask
from plancontrol.models import Route
from plancontrol.testing import scripted_effects

SYSTEM = "You are the researcher: you write short reports. Reply in Markdown."
PROMPT = "Summarise the first 20 primes in one sentence."


def bare_ag2(base_url: str, calls: int) -> float:
    """Seconds per call of ``Agent.ask()`` with nothing around it."""

    async def go() -> float:
        async with httpx2.AsyncClient() as http:
            config = OpenAIConfig(
                model="m",
                base_url=base_url,
                api_key="k",
                max_retries=0,
                temperature=0.0,
                http_client=http,
            )
            start = time.perf_counter()
            for _ in range(calls):
                reply = await Agent("researcher", prompt=SYSTEM, config=config).ask(PROMPT)
                assert reply.body
            return (time.perf_counter() - start) / calls

    return asyncio.run(go())


def through_plancontrol(base_url: str, calls: int) -> float:
    """Seconds per call of plancontrol's path: request, adapter, usage row, events."""
    request = Request(
        role="researcher",
        model="m",
        phase="control",
        step=1,
        attempt=1,
        system=SYSTEM,
        messages=(Message("user", PROMPT),),
    )
    with Ag2Agents(Route(base_url=base_url, max_retries=0)) as agents:
        fx = scripted_effects(agents=agents)
        ctx = Context(task="bench")
        start = time.perf_counter()
        for _ in range(calls):
            ctx, reply = ask(ctx, fx, request).unwrap()
            assert reply.text
        return (time.perf_counter() - start) / calls


SERVE = """
import sys
from plancontrol.testing import OpenAITestServer
keep_alive = sys.argv[1] == "keep-alive"
with OpenAITestServer(lambda body: "Twenty primes.", keep_alive=keep_alive) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def server_process(connections: str = "keep-alive") -> Iterator[str]:
    """The test server in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, connections],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.communicate("", timeout=10)


def adapter_in_one_coroutine(base_url: str, calls: int) -> float:
    """Seconds per call of the adapter's async path awaited back to back in one coroutine:
    what the adapter itself costs, without the step back to synchronous code per call."""
    request = Request(
        role="researcher",
        model="m",
        phase="control",
        step=1,
        attempt=1,
        system=SYSTEM,
        messages=(Message("user", PROMPT),),
    )
    with Ag2Agents(Route(base_url=base_url, max_retries=0)) as agents:
        route = agents.route("m")

        async def go() -> float:
            start = time.perf_counter()
            for _ in range(calls):
                text, *_ = await agents._ask(request, route)
                assert text
            return (time.perf_counter() - start) / calls

        return agents.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--connections",
        choices=("keep-alive", "close"),
        default="keep-alive",
        help="whether the server keeps connections open, as providers do",
    )
    args = parser.parse_args()
    with server_process(args.connections) as url:
        bare_ag2(url, 20)  # warm up imports and connections
        through_plancontrol(url, 20)
        base: list[float] = []
        ours: list[float] = []
        inner: list[float] = []
        for index in range(args.rounds):  # alternate which side goes first
            if index % 2:
                ours.append(through_plancontrol(url, args.calls))
                base.append(bare_ag2(url, args.calls))
            else:
                base.append(bare_ag2(url, args.calls))
                ours.append(through_plancontrol(url, args.calls))
            inner.append(adapter_in_one_coroutine(url, args.calls))
    b, o, i = statistics.median(base), statistics.median(ours), statistics.median(inner)
    paired = statistics.median(x / y for x, y in zip(ours, base, strict=True))
    print(f"calls per round: {args.calls}, rounds: {args.rounds}, connections: {args.connections}")
    print("| path | median ms per call | min | max |")
    print("|---|---|---|---|")
    print(
        f"| bare ag2 Agent.ask() | {b * 1e3:.3f} | {min(base) * 1e3:.3f} | {max(base) * 1e3:.3f} |"
    )
    print(f"| plancontrol ask | {o * 1e3:.3f} | {min(ours) * 1e3:.3f} | {max(ours) * 1e3:.3f} |")
    print(
        f"| adapter awaited in one coroutine | {i * 1e3:.3f} | {min(inner) * 1e3:.3f} | "
        f"{max(inner) * 1e3:.3f} |"
    )
    print(f"\nratio plancontrol / bare ag2: {o / b:.3f} (median of per-round ratios {paired:.3f})")
    print(f"ratio adapter in one coroutine / bare ag2: {i / b:.3f}")


if __name__ == "__main__":
    main()
