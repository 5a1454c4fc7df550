"""Shared variables reach the agents: ``{name}`` in instructions is filled in the requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts import OK, engineer_plan, plancontrol, review

from plancontrol.core.answers import Code
from plancontrol.core.plan import Plan, Step
from plancontrol.core.settings import Role, Settings
from plancontrol.core.variables import check_variables, fill, parse_sets, placeholders
from plancontrol.recording.message_store import read_cassette
from plancontrol.testing import OpenAITestServer

TEACHING = "Explain it to {audience}."


def test_fill_replaces_names_keeps_other_braces_and_undoubles() -> None:
    text = "To {audience} ({n} of them): {{audience}} is literal; JSON {'k': 1} stays"
    assert fill(text, {"audience": "students", "n": 3}) == (
        "To students (3 of them): {audience} is literal; JSON {'k': 1} stays"
    )
    assert fill("{a} and {b}", {"a": ("x", True)}) == "x, true and {b}"
    assert placeholders("{a}{{b}}{c.d}{a}") == ("a", "c.d")


def test_an_unfilled_placeholder_anywhere_a_person_wrote_is_refused_by_name() -> None:
    roles = (*Settings().roles, Role("camb_context", "text", "gives context", "Cite {source}."))
    plan = Plan((Step("Fit", "engineer", ("use {method}",)),))
    settings = Settings(roles=roles, hardware_constraints="{cores} cores")

    first = check_variables({}, settings, plan).failure().detail
    assert first.startswith("hardware_constraints name {cores} but no variable cores is set")
    only_role = check_variables({"cores": 4}, settings, plan).failure().detail
    assert only_role.startswith("the instructions of camb_context name {source}")
    only_plan = check_variables({"cores": 4, "source": "x"}, settings, plan).failure().detail
    assert only_plan.startswith("$.sub_tasks[0].bullet_points[0] name {method}")
    assert check_variables({"cores": 4, "source": "x", "method": "lsq"}, settings, plan)
    assert check_variables({}, Settings(plan_instructions="a {{literal}}")).unwrap() is None


def test_sets_split_settings_from_variables_and_refuse_a_bare_word() -> None:
    assert parse_sets(["a=1", "b=[1, 2]", "settings.n_plan_reviews=0"]).unwrap() == (
        {"n_plan_reviews": 0},
        {"a": 1, "b": (1, 2)},
    )
    assert "expects KEY=VALUE, got 'oops'" in parse_sets(["oops"]).failure().detail


def _engineer_prompts(run: Path, step: int, session: int = 1) -> list[str]:
    """The engineer's system prompts recorded for ``step`` in ``session`` of ``run``."""
    found = []
    for cassette in run.glob(f"sessions/{session:02d}/cassettes/step-{step:02d}.json"):
        for interaction in read_cassette(cassette)["interactions"]:
            body = interaction["request"]["body"]["json"]
            system = body["messages"][0]["content"]
            if system.startswith("You are the engineer"):
                found.append(system)
    return found


@pytest.mark.slow
def test_set_fills_the_engineer_instructions_and_a_fork_changes_them_from_its_step(
    tmp_path: Path,
) -> None:
    plan = engineer_plan(2)
    replies = {
        "planner": [plan, plan],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("print(1)"), Code("print(2)"), Code("print(3)")],
        "judge": [OK, OK, OK],
    }
    with OpenAITestServer(replies) as server:
        args = ("--base-url", server.base_url, "--model", "test-model", "-q")
        done = plancontrol(
            "run",
            "Teach primes",
            *args,
            "--run-dir",
            "run",
            "--set",
            "audience=students",
            "--set",
            f"settings.engineer_instructions={TEACHING}",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        engineer = [e for e in server.log if e.key == "engineer"]
        assert [
            ("Explain it to students." in e.body["messages"][0]["content"]) for e in engineer
        ] == [
            True,
            True,
        ]
        forked = plancontrol(
            "fork",
            "run",
            "--from-step",
            "2",
            "--into",
            "branch",
            "--set",
            "audience=teachers",
            "-q",
            cwd=tmp_path,
        )
        assert forked.returncode == 0, forked.stderr
    run, branch = tmp_path / "run", tmp_path / "branch"
    assert ["Explain it to students." in p for p in _engineer_prompts(run, 1)] == [True]
    assert ["Explain it to students." in p for p in _engineer_prompts(branch, 1)] == [True]
    assert ["Explain it to teachers." in p for p in _engineer_prompts(branch, 2, 2)] == [True]
    assert ["Explain it to students." in p for p in _engineer_prompts(run, 2)] == [True]
    for folder in ("run", "branch"):
        replayed = plancontrol("replay", folder, "-q", cwd=tmp_path)
        assert replayed.returncode == 0, replayed.stderr


@pytest.mark.slow
def test_an_unset_placeholder_is_refused_before_any_model_call(tmp_path: Path) -> None:
    with OpenAITestServer({}) as server:
        done = plancontrol(
            "run",
            "Teach primes",
            "--base-url",
            server.base_url,
            "--model",
            "test-model",
            "--set",
            f"settings.engineer_instructions={TEACHING}",
            cwd=tmp_path,
        )
        assert server.log == []
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "plancontrol: invalid settings: the instructions of engineer name {audience} but no "
        "variable audience is set; set it (audience=VALUE) or write {{audience}} for literal "
        "braces"
    ]
    assert list(tmp_path.glob("runs/*")) == []  # no run folder was made
