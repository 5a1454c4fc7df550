"""The embedded llama.cpp server takes every reply schema, and runs engineer and text steps."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace

from plancontrol import Context, Plan, Review, Role, Settings, Step
from plancontrol.app.api import replay
from plancontrol.app.routing import ModelChoice, plan_models
from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.asking import ask_typed
from plancontrol.core.errors import AttemptsExhausted
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, phases_after
from plancontrol.core.ports import Execution
from plancontrol.core.prompts import (
    engineer_request,
    installer_request,
    judge_request,
    planner_request,
    reviewer_request,
    text_step_request,
)
from plancontrol.handlers.ag2_agents import Ag2Agents
from plancontrol.handlers.local import ApproveAll, DiscardEvents, Uninterrupted
from plancontrol.handlers.routes import Route
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.message_store import read_cassette
from plancontrol.recording.record import Handlers, record_session
from plancontrol.runs.folder import write_manifest
from plancontrol.runs.journal import Ran, read_journal
from plancontrol.servers.embedded import LOCAL_INSTALL_HINT, LocalModelServer, local_model_available
from plancontrol.testing import scripted_effects

pytestmark = [
    pytest.mark.slow,  # every test here starts the llama.cpp server
    pytest.mark.timeout(1800),  # a CPU model; one request may take 900 s on a loaded machine
    pytest.mark.skipif(not local_model_available(), reason=LOCAL_INSTALL_HINT),
]

COUNTER = Role(
    "counter",
    "counts things exactly",
    reply_schema='{"type": "object", "properties": {"count": {"type": "integer"}}}',
)
"""The registered role of docs/models.md, with its reply schema."""

TITLER = Role(
    "titler",
    "names a result",
    reply_schema=json.dumps(
        {
            "type": "object",
            "properties": {"title": {"type": "string", "maxLength": 2000}},
            "required": ["title"],
        }
    ),
)
"""A registered role whose schema bounds a string beyond what llama.cpp compiles."""


@pytest.fixture
def server() -> Iterator[LocalModelServer]:
    with LocalModelServer() as running:
        yield running


def local_route(server: LocalModelServer) -> Route:
    """The route ``--model local`` uses (json_object mode, seed 0, its reply cap), on
    ``server``, with a long timeout."""
    route = plan_models(ModelChoice(model="local"), {}, True, "").unwrap().default
    assert route.structured == "json_object"
    # a loaded machine may take minutes for a reply; the replies are the same however slow
    return replace(route, base_url=server.base_url, timeout=900.0)


def listed_models(server: LocalModelServer) -> list[str]:
    """The models the server lists: an HTTP request that succeeds only while it is up."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{server.base_url}/models", timeout=30) as reply:
        return [entry["id"] for entry in json.loads(reply.read())["data"]]


def test_every_reply_schema_comes_back_decoded_and_the_server_lives(
    server: LocalModelServer,
) -> None:
    settings = Settings(
        default_model=server.model_name,
        roles=(*Settings().roles, COUNTER, TITLER),
        max_reply_retries=0,  # the first reply must decode
    )
    plan = Plan((Step("Print 7", "engineer"), Step("Count the primes below 10", "counter")))
    ctx = Context(task="Print the number 7", settings=settings, plan=plan)
    ran = Execution(exit_code=1, stderr="ModuleNotFoundError: No module named 'numpy'")
    verdict = Verdict("install", "numpy is missing", packages=("numpy",))
    asked: list[tuple[Any, Any]] = [
        (planner_request(ctx, 1), Plan),
        (reviewer_request(ctx, plan, 1), Review),
        (engineer_request(ctx, 1, 1, ""), Code),
        (judge_request(ctx, 1, 1, "import numpy", ran), Verdict),
        (installer_request(ctx, 1, 1, verdict), Install),
    ]
    for role in (COUNTER, TITLER):
        request = text_step_request(ctx, 2, role.name)
        asked.append((replace(request, schema_name=role.name, schema=role.schema), dict[str, Any]))
    replies: list[Any] = []
    with Ag2Agents(local_route(server), {}) as agents:
        fx = scripted_effects(agents=agents)
        for request, typ in asked:
            _, reply = ask_typed(ctx, fx, request, typ).unwrap()
            assert listed_models(server) == [server.model_name], request.role
            replies.append(reply)
    plan_reply, review, code, judged, install, counted, titled = replies
    assert isinstance(plan_reply, Plan)
    assert 1 <= plan_reply.n_steps <= settings.max_plan_steps
    assert {step.agent for step in plan_reply.steps} <= set(settings.role_names)
    assert isinstance(review, Review)
    assert isinstance(code, Code)
    assert isinstance(judged, Verdict)
    assert isinstance(install, Install)
    assert isinstance(counted, dict)
    assert isinstance(titled, dict)
    assert isinstance(titled["title"], str)


def fixed_plan_run(folder: Path, server: LocalModelServer, plan: Plan, settings: Settings) -> Any:
    """Record a run of ``plan`` in ``folder`` on ``server``, as ``plancontrol run`` records
    one, the plan given instead of drafted: the session starts after ``approve``, from a
    context that holds the plan (``start.json``), so that ``plancontrol replay`` replays it."""
    route = local_route(server)
    task = "Print the number 7"
    write_manifest(folder, task, settings, route, ())
    handlers = Handlers(
        events=DiscardEvents(), approver=ApproveAll(), signals=Uninterrupted(), code_timeout=60
    )
    with Ag2Agents(route, {}) as agents:
        return record_session(
            folder,
            phases_after(PLANNING_AND_CONTROL, "approve"),
            Context(task=task, settings=settings, plan=plan),
            agents,
            handlers,
            Scrubber(()),
            command="run",
            starts_after="approve",
        )


def test_a_plan_with_a_researcher_and_an_engineer_step_runs_on_the_embedded_model(
    tmp_path: Path, server: LocalModelServer
) -> None:
    folder = tmp_path / "run"
    plan = Plan(
        (
            Step("Say in one sentence why 7 is a prime number", "researcher"),
            Step("Print the number 7 with one line of Python", "engineer"),
        )
    )
    settings = Settings(default_model=server.model_name, max_n_attempts=1)
    result = fixed_plan_run(folder, server, plan, settings)

    # SmolLM2 at temperature 0, seed 0: the same replies every time
    halt = result.failure()
    assert isinstance(halt.error, AttemptsExhausted)
    assert (halt.error.step, halt.error.attempts) == (2, 1)
    ctx = halt.context
    assert [(o.step, o.agent, o.status, o.code_status) for o in ctx.outcomes] == [
        (1, "researcher", "completed", "not_run"),
        (2, "engineer", "failed", "failed"),
    ]
    assert ctx.outcomes[0].summary == "7 is a prime number."
    assert [(u.role, u.step) for u in ctx.usage] == [
        ("researcher", 1),
        ("engineer", 2),
        ("judge", 2),
        ("installer", 2),
    ]
    # the script was written and run, its exit code journaled
    script = (folder / "work" / "codebase" / "step_2.py").read_text()
    assert script.startswith("print(7)")
    entries = read_journal(folder / "sessions" / "01" / "journal.jsonl").unwrap()
    [ran] = [entry for entry in entries if isinstance(entry, Ran)]
    assert (ran.step, ran.attempt, ran.filename) == (2, 1, "codebase/step_2.py")
    assert ran.result is not None
    assert ran.result.exit_code == 1
    assert "SyntaxError" in ran.result.stderr
    # the judge answered with a verdict that decodes: install, then the installer answered
    cassette = read_cassette(folder / "sessions" / "01" / "cassettes" / "step-02.json")
    answers = [
        i["response"]["body"]["json"]["choices"][0]["message"]["content"]
        for i in cassette["interactions"]
    ]
    judged = msgspec.json.decode(answers[1], type=Verdict)
    assert judged.decision == "install"
    assert msgspec.json.decode(answers[2], type=Install).packages != ()
    # the server is still up
    assert listed_models(server) == [server.model_name]
    # the run replays offline, identically
    replayed = replay(folder).unwrap()
    assert replayed.identical
    assert [label for label, _ in replayed.snapshots] == ["step-01", "step-02"]
