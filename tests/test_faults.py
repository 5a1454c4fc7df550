"""Faults injected through the test server into real ``plancontrol run`` processes.

Each fault ends in a retry that succeeds, or in a Failure whose one line names the cause
(exit status 1). A failed run then shows, replays offline exactly as recorded, and resumes
once the server answers again, asking nothing it had answered before and leaving every
file recorded before the resume byte for byte as it was.

The runs use the openai SDK's own retries (``max_retries=2``: a call is sent at most three
times, with its back-off sleeps in between), and ``--timeout`` for the per-call timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from scripts import OK, PRIMES, plancontrol, review, run_against

from plancontrol import Plan, Step, decode_context
from plancontrol.core.answers import Code
from plancontrol.core.asking import EMPTY_NOTE
from plancontrol.recording.message_store import read_cassette
from plancontrol.servers.replies import ServerReply
from plancontrol.testing import (
    Drop,
    Empty,
    Malformed,
    OpenAITestServer,
    Slow,
    Status,
    role_of,
)

pytestmark = pytest.mark.slow  # every test here starts a process or a server

SCRIPT = "open('primes.txt', 'w').write('2 3 5 7')\nprint('4 primes')"
REPORT = "# Report\nFour primes, in primes.txt."
TIMEOUT = ("--timeout", "1")
"""The per-call timeout of the runs that meet slow replies: small, yet far above the time
the test server takes to answer."""


class Script:
    """The test server's replies, per role and in order, as its reply function: each request
    is answered from its role's queue (a 500 once the queue is empty), and the time each
    request came in is kept, per role."""

    def __init__(self, replies: Mapping[str, Iterable[ServerReply]]) -> None:
        self.queues = {role: deque(answers) for role, answers in replies.items()}
        self.times: dict[str, list[float]] = {}

    def __call__(self, body: dict[str, Any]) -> ServerReply:
        role = role_of(body)
        self.times.setdefault(role, []).append(time.monotonic())
        queue = self.queues.get(role)
        return queue.popleft() if queue else Status(500, message=f"no reply left for {role}")

    @property
    def unused(self) -> dict[str, int]:
        return {role: len(queue) for role, queue in self.queues.items() if queue}


def replies(**changes: list[ServerReply]) -> dict[str, list[ServerReply]]:
    """A two-step run (an engineer step, then a researcher step) where all goes well, but
    for the roles in ``changes``."""
    base: dict[str, list[ServerReply]] = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(SCRIPT)],
        "judge": [OK],
        "researcher": [REPORT],
    }
    return {**base, **changes}


def asked(server: OpenAITestServer) -> Counter[str]:
    """Requests per role, whatever their answer."""
    return Counter(exchange.key for exchange in server.log)


def statuses(server: OpenAITestServer, role: str) -> list[int]:
    """The HTTP status of each of ``role``'s requests (0: the connection was dropped)."""
    return [exchange.status for exchange in server.log if exchange.key == role]


def session(run: Path, number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (run / "sessions" / f"{number:02d}" / "session.json").read_text()
    )
    return data


def digest_tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def completed_steps(run: Path) -> tuple[int, ...]:
    return decode_context((run / "context.json").read_bytes()).unwrap().completed_steps


def usage_roles(run: Path) -> Counter[str]:
    """Model calls in the run's ledger, per role."""
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    return Counter(row.role for row in ctx.usage)


def stopped_line(stderr: str) -> str:
    """Why the workflow stopped: said once (rich wraps it at 80 columns, so its lines are
    joined again, up to the hint that follows it)."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("workflow stopped: ")]
    assert len(starts) == 1, stderr
    said = []
    for line in lines[starts[0] :]:
        if said and line.startswith(("continue it with", "plancontrol: ")):
            break
        said.append(line)
    return words(" ".join(said)).removeprefix("workflow stopped: ")


def words(text: str) -> str:
    """``text`` with its line breaks (rich wraps at 80 columns) and runs of spaces as one."""
    return " ".join(text.split())


def replays_identically(cwd: Path) -> None:
    replayed = plancontrol("replay", "run", "-q", cwd=cwd)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith("replay identical to the recording (")


# --- faults the retries get past ------------------------------------------------------


def test_a_429_with_retry_after_is_retried_after_that_delay_and_the_run_succeeds(
    tmp_path: Path,
) -> None:
    limited = Status(429, retry_after=1.2, message="rate limit reached for requests")
    script = Script(replies(planner=[limited, PRIMES, PRIMES]))
    with OpenAITestServer(script) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path)
        planner = statuses(server, "planner")
    assert done.returncode == 0, done.stderr
    assert planner == [429, 200, 200]
    first, retry, _ = script.times["planner"]
    assert retry - first >= 1.2  # the SDK waited as told (its own first back-off is ≤ 0.5 s)
    run = tmp_path / "run"
    assert completed_steps(run) == (1, 2)
    assert usage_roles(run)["planner"] == 2  # the retry is the transport's: one call each
    cassette = read_cassette(run / "sessions" / "01" / "cassettes" / "plan.json")
    assert [i["response"]["status"]["code"] for i in cassette["interactions"]] == [429, 200]
    replays_identically(tmp_path)


RETRIED = [
    pytest.param(
        "researcher", [Status(500, message="try again"), REPORT], (), [500, 200], id="500"
    ),
    pytest.param("engineer", [Slow(3, Code(SCRIPT)), Code(SCRIPT)], TIMEOUT, [200, 200], id="slow"),
    pytest.param("judge", [Drop(), OK], (), [0, 200], id="dropped"),
]


@pytest.mark.parametrize(("role", "answers", "flags", "expected"), RETRIED)
def test_a_passing_fault_is_retried_and_the_run_succeeds_and_replays(
    tmp_path: Path,
    role: str,
    answers: list[ServerReply],
    flags: tuple[str, ...],
    expected: list[int],
) -> None:
    script = Script(replies(**{role: answers}))
    with OpenAITestServer(script) as server:
        done = run_against(server.base_url, *flags, "-q", cwd=tmp_path)
        seen = statuses(server, role)
    assert done.returncode == 0, done.stderr
    assert seen == expected  # the first answer did not reach the client, or was an error
    assert script.unused == {}
    run = tmp_path / "run"
    assert completed_steps(run) == (1, 2)
    assert (run / "work" / "primes.txt").read_text() == "2 3 5 7"
    assert usage_roles(run)[role] == 1
    replays_identically(tmp_path)


def test_a_reply_that_breaks_its_schema_is_asked_again_with_the_problem(tmp_path: Path) -> None:
    unsure = {"decision": "maybe", "reason": "the output looks odd"}
    with OpenAITestServer(Script(replies(judge=[unsure, OK]))) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path)
        judge = [e.body["messages"] for e in server.log if e.key == "judge"]
    assert done.returncode == 0, done.stderr
    assert len(judge) == 2
    assert judge[1][-2] == {
        "role": "assistant",
        "content": json.dumps(unsure, separators=(",", ":")),
    }
    assert judge[1][-1]["content"].startswith(
        "Your reply did not match the required JSON schema: Invalid enum value 'maybe' at "
        "$.decision."
    )
    assert completed_steps(tmp_path / "run") == (1, 2)
    replays_identically(tmp_path)


def test_an_empty_report_is_asked_again_and_the_second_reply_is_kept(tmp_path: Path) -> None:
    with OpenAITestServer(Script(replies(researcher=[Empty(), REPORT]))) as server:
        done = run_against(server.base_url, "-q", cwd=tmp_path)
        researcher = [
            e.body["messages"][-1]["content"] for e in server.log if e.key == "researcher"
        ]
    assert done.returncode == 0, done.stderr
    assert len(researcher) == 2
    assert researcher[1] == f"{researcher[0]}\n\n{EMPTY_NOTE}"
    run = tmp_path / "run"
    assert (run / "reports" / "step_2_researcher_output.md").read_text() == REPORT
    replays_identically(tmp_path)


# --- faults that stop the run, which then resumes -------------------------------------

UNKNOWN_AGENT = Plan((PRIMES.steps[0], Step("Paint the primes", "painter", ("in oils",))))
"""A plan that decodes but names an agent the roster does not have."""


FAILURES = [
    pytest.param(
        replies(researcher=[*[Status(500, message="upstream overloaded")] * 3, REPORT]),
        (),
        "model call for researcher (step 2) failed: InternalServerError (HTTP 500) from "
        "test-model: upstream overloaded",
        {"researcher": [500, 500, 500, 200]},
        {"researcher": 1},
        id="repeated 500s",
    ),
    pytest.param(
        replies(judge=[*[Slow(3, OK)] * 3, OK], engineer=[Code(SCRIPT)] * 2),
        TIMEOUT,
        "model call for judge (step 1) failed: APITimeoutError: Request timed out.",
        {"judge": [200, 200, 200, 200]},  # answered, but each of the first three too late
        {"engineer": 1, "judge": 1, "researcher": 1},
        id="slower than the timeout",
    ),
    pytest.param(
        replies(plan_reviewer=[*[Drop()] * 3, review("fine")]),
        (),
        "model call for plan_reviewer (planning) failed: APIConnectionError: Connection error.",
        {"plan_reviewer": [0, 0, 0, 200]},
        {"plan_reviewer": 1, "planner": 1, "engineer": 1, "judge": 1, "researcher": 1},
        id="dropped connections",
    ),
    pytest.param(
        replies(engineer=[Malformed(), Code(SCRIPT)]),
        (),
        "model call for engineer (step 1) failed: the server's reply was not JSON "
        "(JSONDecodeError: Expecting value: line 1 column 1 (char 0))",
        {"engineer": [200, 200]},  # a 200 whose body is not JSON: the SDK does not retry it
        {"engineer": 1, "judge": 1, "researcher": 1},
        id="malformed JSON",
    ),
    pytest.param(
        replies(judge=[*[{"decision": "success"}] * 3, OK], engineer=[Code(SCRIPT)] * 2),
        (),
        "judge (step 1) replied 3 time(s) without matching its schema; last problem at $: "
        "Object missing required field `reason`; raise max_reply_retries or use a model that "
        "follows JSON schemas",
        {"judge": [200, 200, 200, 200]},
        {"engineer": 1, "judge": 1, "researcher": 1},
        id="a Verdict missing a field",
    ),
    pytest.param(
        replies(planner=[PRIMES, UNKNOWN_AGENT, PRIMES], plan_reviewer=[review("fine")] * 2),
        (),
        "invalid plan at $.sub_tasks[1].sub_task_agent: 'painter' is not in the roster; use "
        "one of: engineer, researcher, idea_maker, idea_hater",
        {"planner": [200, 200, 200]},  # the first draft is not asked for again
        {"plan_reviewer": 1, "planner": 1, "engineer": 1, "judge": 1, "researcher": 1},
        id="a plan with an unknown agent",
    ),
    pytest.param(
        replies(researcher=[*[Empty()] * 3, REPORT]),
        (),
        "model call for researcher (step 2) failed: it replied with an empty message 3 "
        "time(s); raise max_reply_retries or use another model",
        {"researcher": [200, 200, 200, 200]},
        {"researcher": 1},
        id="empty replies",
    ),
]


@pytest.mark.parametrize(("script", "flags", "cause", "seen", "again"), FAILURES)
def test_a_fault_that_outlasts_the_retries_stops_the_run_which_then_resumes(
    tmp_path: Path,
    script: dict[str, list[ServerReply]],
    flags: tuple[str, ...],
    cause: str,
    seen: dict[str, list[int]],
    again: dict[str, int],
) -> None:
    run = tmp_path / "run"
    fixed = Script(script)  # the replies after the faults are the server, fixed
    with OpenAITestServer(fixed) as server:
        done = run_against(server.base_url, *flags, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert stopped_line(done.stderr) == cause
        assert (session(run, 1)["status"], session(run, 1)["message"]) == ("failed", cause)

        shown = plancontrol("show", "run", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert f"status: failed: {cause}" in words(shown.stdout)
        assert "sessions: 1 run (failed)" in shown.stdout
        replays_identically(tmp_path)  # the failure too is as recorded

        recorded = digest_tree(run / "sessions" / "01")
        before = asked(server)
        resumed = plancontrol("resume", "run", "-q", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        after = asked(server)
        for role, expected in seen.items():
            assert statuses(server, role) == expected, role
    assert after - before == Counter(again)  # finished work was not asked for again
    assert fixed.unused == {}
    assert digest_tree(run / "sessions" / "01") == recorded  # nothing recorded was changed
    assert session(run, 2)["status"] == "completed"
    assert completed_steps(run) == (1, 2)
    assert (run / "work" / "primes.txt").read_text() == "2 3 5 7"
    replays_identically(tmp_path)
