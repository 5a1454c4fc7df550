"""Bounds guard what a model is asked for, in the request schema; stored data carries none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from plancontrol import Context, Plan, Review, Step
from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.asking import ask_typed, schema_of
from plancontrol.core.context import decode_context, encode_context
from plancontrol.core.ports import Request
from plancontrol.core.prompts import plan_schema
from plancontrol.handlers.structured import GRAMMAR_BOUND_LIMIT, grammar_schema
from plancontrol.runs.snapshots import decode_snapshot, encode_snapshot
from plancontrol.testing import scripted_effects

LONG_TASK = "Fit the spectrum; " * 56  # 1008 characters
LONG_LINE = "use the measured noise, not an assumed one; " * 20  # 880 characters


def long_plan() -> Plan:
    bullets = tuple(f"{n}. {LONG_LINE}" for n in range(20))
    return Plan((Step(LONG_LINE, "engineer", bullets), Step("Report", "researcher")))


def bounds(schema: Any) -> Iterator[tuple[str, int]]:
    """Every ``maxLength``/``maxItems`` in ``schema``, and every ``{m,n}`` in its patterns."""
    if isinstance(schema, list):
        for item in schema:
            yield from bounds(item)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("maxLength", "maxItems"):
                yield key, value
            elif key == "pattern":
                for low, high in re.findall(r"\{(\d+),?(\d*)\}", value):
                    yield "pattern", int(high or low)
            else:
                yield from bounds(value)


SHIPPED = {
    "Plan": plan_schema(Context(task="t")),
    "Review": schema_of(Review),
    "Code": schema_of(Code),
    "Verdict": schema_of(Verdict),
    "Install": schema_of(Install),
}
"""Every reply schema the workflow sends, as the planner and ``ask_typed`` send them."""


def test_a_context_with_a_long_task_and_long_plan_lines_stores_and_loads() -> None:
    ctx = Context(task=LONG_TASK, plan=long_plan(), drafts=(long_plan(),))
    assert len(ctx.task) > 1000
    assert decode_context(encode_context(ctx)).unwrap() == ctx
    assert decode_snapshot(encode_snapshot("approve", ctx)).unwrap() == ("approve", ctx)


def test_a_plan_file_with_long_lines_and_many_bullets_decodes() -> None:
    plan = long_plan()
    data = msgspec.json.encode(plan)
    assert msgspec.json.decode(data, type=Plan) == plan
    assert len(plan.steps[0].sub_task) == 880
    assert len(plan.steps[0].bullet_points) == 20


def test_replies_longer_than_asked_decode() -> None:
    verdict = Verdict("fix", LONG_LINE, "x" * 3000, tuple(f"pkg{n}" for n in range(15)))
    assert msgspec.json.decode(msgspec.json.encode(verdict), type=Verdict) == verdict
    code = Code("print(1)", "y" * 3000)
    assert msgspec.json.decode(msgspec.json.encode(code), type=Code) == code
    review = Review(tuple(LONG_LINE for _ in range(30)))
    assert msgspec.json.decode(msgspec.json.encode(review), type=Review) == review


def test_the_request_schemas_ask_for_the_bounds() -> None:
    step = SHIPPED["Plan"]["$defs"]["Step"]["properties"]
    assert step["sub_task"] == {"type": "string", "maxLength": 400}
    assert step["bullet_points"]["maxItems"] == 12
    assert step["bullet_points"]["items"] == {"type": "string", "maxLength": 400}
    assert SHIPPED["Review"]["$defs"]["Review"]["properties"]["recommendations"]["maxItems"] == 12
    code = SHIPPED["Code"]["$defs"]["Code"]["properties"]
    assert code["code"] == {"type": "string"}  # code is never cut short
    assert code["explanation"]["maxLength"] == 500
    verdict = SHIPPED["Verdict"]["$defs"]["Verdict"]["properties"]
    assert verdict["reason"]["maxLength"] == 400
    assert verdict["fix_suggestion"]["maxLength"] == 500
    assert verdict["packages"]["maxItems"] == 10
    assert verdict["packages"]["items"]["maxLength"] == 100
    install = SHIPPED["Install"]["$defs"]["Install"]["properties"]["packages"]
    assert install == {key: verdict["packages"][key] for key in ("type", "items", "maxItems")}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_bound_a_shipped_schema_sends_compiles_on_llamacpp(name: str) -> None:
    sent = grammar_schema(SHIPPED[name])
    found = list(bounds(sent))
    assert found, "each schema bounds something"
    too_big = [(key, value) for key, value in found if value > GRAMMAR_BOUND_LIMIT]
    assert too_big == []
    assert GRAMMAR_BOUND_LIMIT <= 1000  # measured: llama.cpp refuses a string bound of 1001


def test_grammar_schema_unbounds_what_llamacpp_cannot_compile() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "kept": {"type": "string", "maxLength": GRAMMAR_BOUND_LIMIT},
            "long": {"type": "string", "maxLength": 2000},
            "odd": {"type": "string", "maxLength": "ten"},
            "many": {"type": "array", "items": {"type": "integer"}, "maxItems": 5000},
            "few": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        },
    }
    out = grammar_schema(schema)["properties"]
    assert out["kept"]["pattern"].endswith(f"{{0,{GRAMMAR_BOUND_LIMIT}}}$")
    assert out["long"]["pattern"].endswith(")*$")
    assert out["odd"]["pattern"].endswith(")*$")
    assert "maxLength" not in out["long"]
    assert "maxItems" not in out["many"]
    assert out["few"]["maxItems"] == 3
    assert schema["properties"]["long"] == {"type": "string", "maxLength": 2000}  # not changed


def test_a_reply_longer_than_the_asked_bound_is_taken_without_asking_again() -> None:
    long_verdict = Verdict("fix", LONG_LINE, "z" * 2500)
    fx = scripted_effects({"judge": [long_verdict]})
    request = Request(
        role="judge", model="m", phase="control", step=1, attempt=1, system="", messages=()
    )
    ctx, verdict = ask_typed(Context(task="t"), fx, request, Verdict).unwrap()
    assert verdict == long_verdict
    assert len(ctx.usage) == 1
