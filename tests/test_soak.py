"""A 30-step soak against the test server: time, memory and prompt size per step stay flat.

The run is recorded in this process with the real handlers (``record_session``, ag2 over
HTTP to ``OpenAITestServer``, the run folder on disk), one researcher call per step. After
each step an event sink reads the memory Python has allocated (``tracemalloc``, after a
garbage collection) and the process's resident size; each step's wall time comes from the
context's timing rows. Flatness is asserted on medians and slopes, never on absolute times.
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import ag2  # noqa: F401  imported before tracing starts: imports are not the run's memory
import openai  # noqa: F401
import pytest

from plancontrol import Context, Plan, Step
from plancontrol.core.events import Event, StepComplete
from plancontrol.core.pipeline import PLANNING_AND_CONTROL
from plancontrol.core.settings import Settings
from plancontrol.handlers.ag2_agents import Ag2Agents
from plancontrol.handlers.local import ApproveAll, Uninterrupted
from plancontrol.handlers.routes import Route
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.record import Handlers, record_session
from plancontrol.recording.replay import replay_run
from plancontrol.runs.folder import write_manifest
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts a process or a server

STEPS = 30
PAGE = 4096
STATM = Path("/proc/self/statm")


def note(i: int) -> str:
    """Step ``i``'s report: a long first line (what older steps are carried by), then a body,
    about 1.4 kB in all, so that the carried summary reaches its budget mid-run."""
    first = f"# Note {i}: " + "the measured values agree with the expected ones " * 4
    return first.strip() + "\n\n" + "A line of findings about the data and its errors. " * 24


class Probe:
    """An event sink that, after each step, collects garbage and notes (step, bytes traced,
    resident bytes or 0 where /proc is missing)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int]] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, StepComplete):
            gc.collect()
            traced, _ = tracemalloc.get_traced_memory()
            resident = int(STATM.read_text().split()[1]) * PAGE if STATM.exists() else 0
            self.rows.append((event.step, traced, resident))


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def growth(values: list[int]) -> float:
    """The median growth from one step to the next."""
    return statistics.median(b - a for a, b in pairwise(values))


def test_thirty_steps_keep_time_memory_and_prompts_flat(tmp_path: Path, tracing: None) -> None:
    plan = Plan(tuple(Step(f"Write note {i}", "researcher") for i in range(1, STEPS + 1)))
    settings = Settings(default_model="test-model", n_plan_reviews=0, max_plan_steps=STEPS)
    replies = {"planner": [plan], "researcher": [note(i) for i in range(1, STEPS + 1)]}
    folder = tmp_path / "run"
    folder.mkdir()
    probe = Probe()
    with OpenAITestServer(replies) as server:
        route = Route(base_url=server.base_url, max_retries=0)
        write_manifest(folder, "Write 30 notes", settings, route, ())
        with Ag2Agents(route) as agents:
            result = record_session(
                folder,
                PLANNING_AND_CONTROL,
                Context(task="Write 30 notes", settings=settings),
                agents,
                Handlers(events=probe, approver=ApproveAll(), signals=Uninterrupted()),
                Scrubber(()),
            )
        assert server.unused == {}
    ctx = result.unwrap()
    assert ctx.completed_steps == tuple(range(1, STEPS + 1))
    assert [step for step, _, _ in probe.rows] == list(range(1, STEPS + 1))

    # time: the last ten steps take about as long as the first ten (medians, generous factor)
    seconds = {t.step: t.seconds for t in ctx.timings if t.phase == "control" and t.step}
    assert sorted(seconds) == list(range(1, STEPS + 1))
    first = statistics.median(seconds[n] for n in range(1, 11))
    last = statistics.median(seconds[n] for n in range(21, 31))
    assert last < 3 * first, (first, last)

    # memory: after the first ten steps, what Python holds grows by less than 32 KiB a step
    # (the median step's growth, which a one-off such as the interpreter's table of interned
    # strings doubling does not move). About 22 KiB is the step's own record: its outcome, the
    # request and reply in its cassette, and the test server's log of the exchange; keeping
    # each step's ag2 agent and reply alive as well measures about 50.
    traced = [nbytes for step, nbytes, _ in probe.rows if step > 10]
    assert growth(traced) < 32 * 1024, traced
    resident = [nbytes for step, _, nbytes in probe.rows if step > 10]
    if resident[0]:
        assert growth(resident) < 256 * 1024, resident

    # prompts: once the carried summary reaches its budget, the first request of each step
    # stays the same size
    prompt = {u.step: u.prompt_tokens for u in ctx.usage if u.role == "researcher"}
    assert prompt[2] < prompt[20]
    late = [prompt[n] for n in range(21, 31)]
    assert max(late) - min(late) <= 0.05 * min(late), late

    replayed = replay_run(folder).unwrap()
    assert replayed.identical, replayed.first_difference
