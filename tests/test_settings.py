"""Settings validation and the error messages users see."""

from __future__ import annotations

import msgspec
import pytest

from plancontrol import (
    AttemptsExhausted,
    BudgetExceeded,
    Cancelled,
    ExecutionFailure,
    InvalidReply,
    InvalidSettings,
    ModelFailure,
    PlanRejected,
    RestartOutOfRange,
    Role,
    RoundsExhausted,
    Settings,
    load_settings,
)
from plancontrol.core.errors import Error


def test_defaults_match_cmbagent() -> None:
    s = Settings()
    assert (s.max_rounds_planning, s.max_rounds_control, s.max_plan_steps) == (50, 100, 3)
    assert (s.n_plan_reviews, s.max_n_attempts, s.restart_at_step) == (1, 3, 0)
    assert s.researcher_filename == "researcher_output.md"
    assert s.role_names == ("engineer", "researcher", "idea_maker", "idea_hater")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"max_plan_steps": 0},
            "settings.max_plan_steps must be at least 1, got 0; set it to 1 or more",
        ),
        (
            {"n_plan_reviews": -1},
            "settings.n_plan_reviews must be at least 0, got -1; set it to 0 or more",
        ),
        ({"max_n_attempts": "3"}, "Expected `int`, got `str` - at `$.max_n_attempts`"),
        ({"max_plan_step": 3}, "Object contains unknown field `max_plan_step`"),
        ({"roles": []}, "settings.roles is empty; list at least one role a plan may use"),
        (
            {"roles": [{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]},
            "settings.roles names a twice; give each role once",
        ),
        (
            {"roles": [{"name": "judge", "description": "x"}]},
            "settings.roles includes judge, which plancontrol runs itself; "
            "remove it from the roster",
        ),
        (
            {"roles": [{"name": "a", "description": "x", "kind": "video"}]},
            "Invalid enum value 'video' - at `$.roles[0].kind`; choose one of: code, text",
        ),
        (
            {"role_models": [{"role": "painter", "model": "m"}]},
            "settings.role_models sets a model for unknown role 'painter'; known roles: engineer, "
            "idea_hater, idea_maker, installer, judge, plan_reviewer, planner, researcher",
        ),
        (
            {"researcher_filename": "../x.md"},
            "settings.researcher_filename must be a plain file name, got '../x.md'; use something "
            "like 'report.md'",
        ),
        (
            {"roles": [{"name": "a", "description": "x", "reply_schema": "{nope"}]},
            "settings.roles: the reply_schema of 'a' is not JSON (JSON is malformed: object keys "
            "must be strings (byte 1)); fix it",
        ),
        (
            {"roles": [{"name": "a", "description": "x", "reply_schema": '{"type": "array"}'}]},
            "settings.roles: the reply_schema of 'a' must describe a JSON object "
            '({"type": "object", ...})',
        ),
        (
            {"roles": [{"name": "a", "description": "x", "kind": "code", "reply_schema": "{}"}]},
            "settings.roles: 'a' runs code; only text roles take a reply_schema",
        ),
        (
            {"max_cost_usd": 0},
            "settings.max_cost_usd must be a positive number, got 0.0; or leave it unset",
        ),
        (
            {"approval": "sometimes"},
            "Invalid enum value 'sometimes' - at `$.approval`; choose one of: none, "
            "after_planning, before_each_step, on_error",
        ),
    ],
)
def test_bad_settings_are_one_clear_error(data: dict[str, object], message: str) -> None:
    assert load_settings(data).failure() == InvalidSettings(detail=message)


def test_good_settings_load() -> None:
    s = load_settings(
        {"max_plan_steps": 8, "roles": [{"name": "coder", "description": "codes", "kind": "code"}]}
    ).unwrap()
    assert s.max_plan_steps == 8
    assert s.role("coder") == Role("coder", "codes", "code")
    assert s.role("engineer") is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_cost_budget_must_be_a_finite_positive_number(value: float) -> None:
    with pytest.raises(ValueError, match="max_cost_usd must be a positive number"):
        Settings(max_cost_usd=value)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ValueError, match="max_plan_steps must be at least 1"):
        Settings(max_plan_steps=0)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            InvalidReply(role="judge", step=2, path="$.decision", detail="Expected `str`", asked=3),
            "judge (step 2) replied 3 time(s) without matching its schema; last problem at "
            "$.decision: Expected `str`; raise max_reply_retries or use a model that follows JSON "
            "schemas",
        ),
        (PlanRejected(reason="no"), "plan rejected: no"),
        (
            AttemptsExhausted(step=2, attempts=3, last_problem="wrong output"),
            "step 2 failed after 3 attempt(s); last problem: wrong output; raise max_n_attempts or "
            "resume at step 2 with new instructions",
        ),
        (
            RoundsExhausted(phase="control", step=1, limit=100),
            "step 1 was cut off after 100 model call(s); raise max_rounds_control",
        ),
        (
            Cancelled(step=0),
            "cancelled during planning: cancelled by request; resume to continue from there",
        ),
        (
            ModelFailure(role="planner", step=0, detail="HTTP 429"),
            "model call for planner (planning) failed: HTTP 429",
        ),
        (
            ExecutionFailure(step=3, detail="no python"),
            "could not execute the code of step 3: no python",
        ),
        (
            BudgetExceeded(limit_usd=1.0, spent_usd=1.25, step=2),
            "cost budget exceeded during step 2: spent $1.2500 of $1.0000; raise max_cost_usd to "
            "continue",
        ),
        (
            RestartOutOfRange(step=4, n_steps=3, detail="pick 1 to 3"),
            "cannot restart at step 4: pick 1 to 3",
        ),
    ],
)
def test_error_messages_say_where_what_and_how_to_fix(error: Error, message: str) -> None:
    assert error.message == message


def test_errors_round_trip_as_tagged_json() -> None:
    error: Error = AttemptsExhausted(step=2, attempts=3, last_problem="x")
    data = msgspec.json.encode(error)
    assert b'"type":"AttemptsExhausted"' in data
    assert msgspec.json.decode(data, type=Error) == error
