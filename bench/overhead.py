"""Framework overhead per LLM call: plancontrol's ask path against bare ``ag2.Agent.ask()``.

Every path talks to the same test server, run in a separate process so that it does not
compete with the client for the GIL, through one HTTP client of its own (so one kept-alive
connection), creating a fresh ``ag2.Agent`` per call (as plancontrol does); the paths
compared send the same request body, one HTTP round trip per call.

- plain: ``plancontrol.core.asking.ask`` (request, ag2 adapter on its loop thread, usage row,
  events; called from synchronous code, as every phase calls it) against
  ``await Agent(...).ask(prompt)`` on the caller's event loop.
- structured: ``plancontrol.core.asking.ask_typed(..., Code)`` (schema, ``response_format``,
  msgspec validation) against ``Agent.ask`` with the same ``response_format`` in the body
  and the reply decoded into the same type by msgspec.
- ag2 from synchronous code: the bare call made the way plancontrol has to make it, on an
  event loop in a thread of its own, one hand-over per call. What plancontrol adds beyond
  this row is its own; this row against bare ag2 is the price of a synchronous core.

All paths stay open for the whole measurement and take turns in blocks of a few calls
(the order reversed every other turn), so that the load of other processes on the machine
hits them alike; plancontrol's context starts afresh each block, as short as a run's.
Every call is timed on its own. Ratio: the path's median time per call over its baseline's;
beside it the median, quartiles and range of the ratios of block medians, turn by turn.

    .venv/bin/python bench/overhead.py [--blocks 150] [--calls 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx2
import msgspec
from ag2 import Agent
from ag2.config import OpenAIConfig

from plancontrol import Context, Message, Request
from plancontrol.core.answers import Code
from plancontrol.core.asking import ask, ask_typed, schema_of
from plancontrol.core.ports import Effects
from plancontrol.handlers.ag2_agents import Ag2Agents
from plancontrol.handlers.routes import Route
from plancontrol.testing import scripted_effects

__all__ = ["main"]

SYSTEM = "You are the researcher: you write short reports. Reply in Markdown."
PROMPT = "Summarise the first 20 primes in one sentence."
REQUEST = Request(
    role="researcher",
    model="m",
    phase="control",
    step=1,
    attempt=1,
    system=SYSTEM,
    messages=(Message("user", PROMPT),),
)

Call = Callable[[], Awaitable[float]]
"""One call on a path; returns its duration in seconds."""


def _config(base_url: str, http: Any, typed: bool = False) -> OpenAIConfig:
    fmt = {"type": "json_schema", "json_schema": {"name": "Code", "schema": schema_of(Code)}}
    return OpenAIConfig(
        model="m",
        base_url=base_url,
        api_key="k",
        max_retries=0,
        temperature=0.0,
        http_client=http,
        extra_body={"response_format": fmt} if typed else None,
    )


def bare_ag2(base_url: str, http: httpx2.AsyncClient, typed: bool = False) -> Call:
    """``Agent.ask()`` with nothing around it (and, ``typed``, the ``response_format``
    plancontrol sends and a msgspec decode of the reply), awaited on the caller's loop."""
    config = _config(base_url, http, typed)

    async def call() -> float:
        start = time.perf_counter()
        reply = await Agent("researcher", prompt=SYSTEM, config=config).ask(PROMPT)
        if typed:
            msgspec.json.decode(reply.body or "", type=Code)
        seconds = time.perf_counter() - start
        assert reply.body
        return seconds

    return call


@contextmanager
def bare_ag2_from_sync(base_url: str) -> Iterator[Call]:
    """``Agent.ask()`` awaited from synchronous code on a loop in a thread of its own (run
    until a root task ends, as plancontrol's is), one hand-over per call."""
    loop = asyncio.new_event_loop()
    done = loop.create_future()

    async def hold() -> None:
        await done

    thread = threading.Thread(target=loop.run_until_complete, args=(hold(),), daemon=True)
    thread.start()

    async def client() -> httpx2.AsyncClient:
        return httpx2.AsyncClient()

    http = asyncio.run_coroutine_threadsafe(client(), loop).result()
    config = _config(base_url, http)

    async def one() -> str | None:
        return (await Agent("researcher", prompt=SYSTEM, config=config).ask(PROMPT)).body

    async def call() -> float:
        start = time.perf_counter()
        body = asyncio.run_coroutine_threadsafe(one(), loop).result()  # blocks, as sync code does
        seconds = time.perf_counter() - start
        assert body
        return seconds

    try:
        yield call
    finally:
        asyncio.run_coroutine_threadsafe(http.aclose(), loop).result()
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join()
        loop.close()


class Plancontrol:
    """plancontrol's paths on one ``Ag2Agents`` (one loop thread, one HTTP client), as a run."""

    def __init__(self, fx: Effects) -> None:
        self.fx = fx
        self.ctx = Context(task="bench")

    def fresh(self) -> None:
        """A new context, so that its usage ledger stays as short as a run's."""
        self.ctx = Context(task="bench")

    async def ask(self) -> float:
        """``calls.ask``: request, adapter, usage row, events."""
        start = time.perf_counter()
        self.ctx, reply = ask(self.ctx, self.fx, REQUEST).unwrap()
        seconds = time.perf_counter() - start
        assert reply.text
        return seconds

    async def ask_typed(self) -> float:
        """``calls.ask_typed``: the above plus schema, ``response_format`` and validation."""
        start = time.perf_counter()
        self.ctx, code = ask_typed(self.ctx, self.fx, REQUEST, Code).unwrap()
        seconds = time.perf_counter() - start
        assert code.code
        return seconds


SERVE = """
import sys
from plancontrol.testing import OpenAITestServer
keep_alive = sys.argv[1] == "keep-alive"
CODE = '{"code": "print(2)", "explanation": "Twenty primes."}'
with OpenAITestServer(
    lambda body: CODE if "response_format" in body else "Twenty primes.", keep_alive=keep_alive
) as server:
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


BARE = "bare ag2 Agent.ask()"
BARE_TYPED = "bare ag2, structured (same response_format, msgspec decode)"
BASELINES = {
    "plancontrol ask": BARE,
    "plancontrol ask_typed": BARE_TYPED,
    "bare ag2 from synchronous code (loop thread)": BARE,
}


async def measure(url: str, blocks: int, calls: int) -> dict[str, list[list[float]]]:
    """Per path, the durations of its calls, block by block."""
    async with httpx2.AsyncClient() as http:
        with ExitStack() as stack:
            agents = stack.enter_context(Ag2Agents(Route(base_url=url, max_retries=0)))
            ours = Plancontrol(scripted_effects(agents=agents))
            paths: dict[str, Call] = {
                BARE: bare_ag2(url, http),
                "plancontrol ask": ours.ask,
                BARE_TYPED: bare_ag2(url, http, typed=True),
                "plancontrol ask_typed": ours.ask_typed,
                "bare ag2 from synchronous code (loop thread)": stack.enter_context(
                    bare_ag2_from_sync(url)
                ),
            }
            for call in paths.values():  # warm up imports, caches, connections, the server
                for _ in range(20):
                    await call()
            times: dict[str, list[list[float]]] = {label: [] for label in paths}
            order = list(paths)
            for block in range(blocks):
                ours.fresh()
                for label in order if block % 2 == 0 else order[::-1]:
                    times[label].append([await paths[label]() for _ in range(calls)])
    return times


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=150, help="turns each path takes")
    parser.add_argument("--calls", type=int, default=10, help="calls per turn")
    parser.add_argument(
        "--connections",
        choices=("keep-alive", "close"),
        default="keep-alive",
        help="whether the server keeps connections open, as providers do",
    )
    args = parser.parse_args()
    with server_process(args.connections) as url:
        times = asyncio.run(measure(url, args.blocks, args.calls))
    print(f"blocks: {args.blocks} of {args.calls} calls per path, connections: {args.connections}")
    print("| path | median ms per call | p10 | p90 | ratio | block ratios: median [IQR] (range) |")
    print("|---|---|---|---|---|---|")
    for label, blocks in times.items():
        every = [t for block in blocks for t in block]
        cells = [statistics.median(every), _quantile(every, 0.1), _quantile(every, 0.9)]
        ratio, spread = "", ""
        base = BASELINES.get(label)
        if base is not None:
            theirs = [t for block in times[base] for t in block]
            ratio = f"{statistics.median(every) / statistics.median(theirs):.3f}"
            paired = [
                statistics.median(mine) / statistics.median(other)
                for mine, other in zip(blocks, times[base], strict=True)
            ]
            spread = (
                f"{statistics.median(paired):.3f} [{_quantile(paired, 0.25):.3f}, "
                f"{_quantile(paired, 0.75):.3f}] ({min(paired):.3f} to {max(paired):.3f})"
            )
        print(f"| {label} | {' | '.join(f'{x * 1e3:.3f}' for x in cells)} | {ratio} | {spread} |")


if __name__ == "__main__":
    main()
