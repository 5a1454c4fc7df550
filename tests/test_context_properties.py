"""Properties of the context: exact JSON round trips, clear decode failures, immutability."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from msgspec.structs import replace
from pyrsistent import pmap
from returns.result import Failure, Result, Success
from strategies import contexts, plans, settings

from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.context import Context, StepOutcome, Value, decode_context, encode_context
from plancontrol.core.phase import Halt
from plancontrol.core.phases.control import run_steps
from plancontrol.core.phases.finalize import finalize
from plancontrol.core.phases.planning import approve_plan, draft_plan, review_plan
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, run_pipeline
from plancontrol.core.plan import Plan, Review
from plancontrol.core.ports import Effects
from plancontrol.core.settings import SUPPORT_ROLES, Settings
from plancontrol.testing import ScriptedApprover, scripted_effects
from plancontrol.testing.doubles import Scripted

PREFIX = "not a plancontrol context"


@hsettings(max_examples=200, deadline=None)
@given(contexts())
def test_context_round_trips_through_json_exactly(ctx: Context) -> None:
    encoded = encode_context(ctx)
    decoded = decode_context(encoded).unwrap()

    assert decoded == ctx
    assert encode_context(decoded) == encoded


def test_context_json_sorts_variable_keys() -> None:
    values: dict[str, Value] = {"b": 1, "a": (2.5, "x", None, True)}
    ctx = Context(task="t", variables=pmap(values))

    assert encode_context(ctx).endswith(b'"variables":{"a":[2.5,"x",null,true],"b":1}}')


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", f"{PREFIX}: Input data was truncated"),
        (b"nope", f"{PREFIX}: JSON is malformed: invalid character (byte 4)"),
        (b"\xff\xfe", f"{PREFIX}: JSON is malformed: invalid character (byte 0)"),
        (b"[1, 2]", f"{PREFIX}: Expected `object`, got `array`"),
        (b'"task"', f"{PREFIX}: Expected `object`, got `str`"),
        (b"{}", f"{PREFIX}: Object missing required field `task`"),
        (b'{"task": 1}', f"{PREFIX}: Expected `str`, got `int` - at `$.task`"),
        (b'{"task": "t", "extra": 1}', f"{PREFIX}: Object contains unknown field `extra`"),
        (
            b'{"task": "t", "variables": null}',
            f"{PREFIX}: Expected `object`, got `null` - at `$.variables`",
        ),
        (
            b'{"task": "t", "settings": {"max_plan_steps": 0}}',
            f"{PREFIX}: settings.max_plan_steps must be at least 1, got 0; "
            "set it to 1 or more - at `$.settings`",
        ),
        (
            b'{"task": "t", "outcomes": [{"step": 1, "agent": "a", "status": "done"}]}',
            f"{PREFIX}: Invalid enum value 'done' - at `$.outcomes[0].status`",
        ),
    ],
)
def test_decode_rejects_garbage_with_a_message(data: bytes, message: str) -> None:
    assert decode_context(data) == Failure(message)


@pytest.mark.parametrize(
    "data",
    [
        b'{"task": "t", "variables": {"a": {"b": 1}}}',
        b'{"task": "t", "variables": {"a": [[1]]}}',
        b'{"task": "t", "variables": {"a": 1e400}}',
        b'{"task": "t", "variables": {"a": NaN}}',
        b'{"task": "t", "plan": {"steps": []}}',
        b'{"task": "t", "settings": {"roles": []}}',
    ],
)
def test_decode_rejects_bad_nested_values_with_a_message(data: bytes) -> None:
    result = decode_context(data)

    assert isinstance(result, Failure)
    assert result.failure().startswith(f"{PREFIX}: ")


@hsettings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_decode_rejects_random_bytes_with_a_message(data: bytes) -> None:
    result = decode_context(data)

    assert isinstance(result, Failure)
    assert result.failure().startswith(f"{PREFIX}: ")


@hsettings(max_examples=100, deadline=None)
@given(settings())
def test_generated_names_are_of_the_kinds_the_strategies_promise(chosen: Settings) -> None:
    # the strategies draw names as a first character and a tail, not from a regex (faster)
    assert 1 <= len(chosen.roles) <= 5
    assert len(set(chosen.role_names)) == len(chosen.role_names)
    for name in (role.name for role in chosen.roles):
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,11}", name), name
        assert name not in SUPPORT_ROLES
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,19}", chosen.researcher_filename)


@hsettings(max_examples=50, deadline=None)
@given(contexts())
def test_contexts_are_frozen(ctx: Context) -> None:
    with pytest.raises(AttributeError):
        ctx.task = "another task"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ctx.settings.max_plan_steps = 99  # type: ignore[misc]
    variables: Any = ctx.variables  # what a careless caller might try, unchecked
    with pytest.raises(TypeError):
        variables["new"] = 1
    with pytest.raises(TypeError):
        del variables["new"]
    for mutator in ("__setitem__", "__delitem__", "clear", "pop", "popitem", "setdefault"):
        assert not hasattr(ctx.variables, mutator), mutator
    grown = replace(ctx, variables=ctx.variables.set("new", ("x",)))
    assert (grown.variables["new"], "new" in ctx.variables) == (("x",), False)
    assert decode_context(encode_context(grown)).unwrap().variables["new"] == ("x",)


# A script generous enough for any context the strategies build: the run may still stop
# (restart_at_step, round or cost budgets), but it never runs out of replies by surprise.
def _generous_replies(ctx: Context, plan: Plan) -> dict[str, list[Scripted]]:
    replies: dict[str, list[Scripted]] = {
        "planner": [plan] * 40,
        "plan_reviewer": [Review(("keep it short",))] * 10,
        "engineer": [Code("print('ok')")] * 20,
        "judge": [Verdict("success", "it printed ok")] * 20,
        "installer": [Install(("numpy",))] * 5,
        "researcher": ["# Report\nall good"] * 10,
    }
    for role in ctx.settings.roles:
        if role.kind == "text":
            replies.setdefault(role.name, [f"{role.name} says hello"] * 10)
    return replies


def _effects(ctx: Context, plan: Plan) -> Effects:
    return scripted_effects(_generous_replies(ctx, plan), approver=ScriptedApprover())


@st.composite
def _context_and_plan(draw: st.DrawFn) -> tuple[Context, Plan]:
    ctx = draw(contexts())
    return ctx, draw(plans(ctx.settings))


@hsettings(max_examples=50, deadline=None)
@given(_context_and_plan())
def test_every_phase_gives_the_same_result_from_the_same_context(
    case: tuple[Context, Plan],
) -> None:
    # A phase is a function of its context and its effects' answers: run twice from the same
    # values it returns the same bytes, whatever ran in between (no state kept aside, no
    # input changed under the next caller).
    ctx, plan = case
    fresh = replace(ctx, plan=None, drafts=(), reviews=(), outcomes=(), usage=())
    planned = replace(ctx, plan=plan)

    def results() -> list[bytes]:
        runs = [
            run_pipeline(PLANNING_AND_CONTROL, ctx, _effects(ctx, plan)),
            run_pipeline(PLANNING_AND_CONTROL, fresh, _effects(ctx, plan)),
            *(
                phase(planned, _effects(ctx, plan))
                for phase in (draft_plan, review_plan, approve_plan, run_steps, finalize)
            ),
            draft_plan(fresh, _effects(ctx, plan)),
            finalize(fresh, _effects(ctx, plan)),
        ]
        return [_encoded(run) for run in runs]

    first = results()
    assert results() == first


def _encoded(result: Result[Context, Halt]) -> bytes:
    """The context a phase returned, or the one its halt carries, with what stopped it."""
    match result:
        case Success(ctx):
            return b"ok " + encode_context(ctx)
        case Failure(halt):
            return repr(halt.error).encode() + b" " + encode_context(halt.context)
    raise AssertionError(result)


def test_a_whole_run_keeps_task_and_variables_and_settles_a_failed_step() -> None:
    plan = msgspec.json.decode(
        b'{"sub_tasks": [{"sub_task": "Fit", "sub_task_agent": "engineer"},'
        b' {"sub_task": "Report", "sub_task_agent": "researcher"}]}',
        type=Plan,
    )
    ctx = Context(
        task="Fit a line",
        outcomes=(StepOutcome(step=1, agent="engineer", status="failed", error="boom"),),
        variables=pmap({"seed": 7}),
    )
    replies: dict[str, Any] = {
        "planner": [plan, plan],
        "plan_reviewer": [Review(("fine",))],
        "engineer": [Code("print(1)")],
        "judge": [Verdict("success", "fitted")],
        "researcher": ["# Report"],
    }

    result = run_pipeline(PLANNING_AND_CONTROL, ctx, scripted_effects(replies))

    assert isinstance(result, Success)
    done = result.unwrap()
    assert (done.task, dict(done.variables)) == ("Fit a line", {"seed": 7})
    assert [(o.step, o.status, o.error) for o in done.outcomes] == [
        (1, "completed", ""),
        (2, "completed", ""),
    ]
    # the same context, run again, gives the same bytes: the first run left nothing behind
    again = run_pipeline(PLANNING_AND_CONTROL, ctx, scripted_effects(replies)).unwrap()
    assert encode_context(again) == encode_context(done)
