"""Plans given to a run: every real CMBAgent plan file loads; a given plan is not held to
max_plan_steps; plan lines and tasks of any length are stored and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from plancontrol import Context, Plan, Settings, Step
from plancontrol.core.context import decode_context, encode_context
from plancontrol.core.phases.control import run_steps
from plancontrol.core.plan import check_plan, check_proposed
from plancontrol.core.plan_files import parse_plan_file
from plancontrol.testing import scripted_effects

FILES = Path(__file__).parent / "plan_files"
"""Copies of ../shared/cmbagent-plans (CMBAgent's plans/ and a fork's final_plan.json)."""

IDEAS = ["idea_maker", "idea_hater", "idea_maker", "idea_hater", "idea_maker", "idea_maker"]
MARKET = ["idea_maker", "idea_hater", "researcher", "engineer", "researcher"]
EXPECTED = {
    "plans__legacy__idea_plan.json": IDEAS,
    "plans__idea_plan@63c3bd0.json": IDEAS,
    "plans__legacy__jetengine_plan.json": ["engineer"] * 5 + ["researcher"],
    "plans__legacy__supernova_plan.json": ["engineer"] * 6 + ["researcher"],
    "MARS__cmbagent_workdir__denario_tasks__1e61d30a__idea_generation_output__planning__"
    "final_plan.json": IDEAS,
    "MARS__cmbagent_workdir__sessions__4c2717f2__tasks__task_1771407797997__planning__"
    "final_plan.json": ["engineer"],
    "MARS__cmbagent_workdir__sessions__508f6eb6__tasks__task_1771408210382__planning__"
    "final_plan.json": IDEAS,
    "MARS__cmbagent_workdir__sessions__5f4a03d3__tasks__task_1771408123932__planning__"
    "final_plan.json": MARKET,
    # the bare list of steps that fork saved beside it, without {"sub_tasks": ...}
    "MARS__cmbagent_workdir__sessions__5f4a03d3__tasks__task_1771408123932__planning__"
    "final_plan_approved.json": MARKET,
}


def test_the_fixtures_are_every_shared_plan_file() -> None:
    assert sorted(p.name for p in FILES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_cmbagent_plan_file_loads_with_its_steps_and_agents(name: str) -> None:
    plan = parse_plan_file((FILES / name).read_bytes(), name).unwrap()
    assert plan.n_steps == len(EXPECTED[name])
    assert [step.agent for step in plan.steps] == EXPECTED[name]
    assert all(step.sub_task and step.bullet_points for step in plan.steps)
    assert check_plan(plan, Settings()).unwrap() == plan  # default roster, max_plan_steps=3


def test_the_supernova_plan_keeps_its_text() -> None:
    plan = parse_plan_file((FILES / "plans__legacy__supernova_plan.json").read_bytes()).unwrap()
    assert plan.step(1).sub_task == "Download and preprocess the data."
    assert plan.step(1).bullet_points[0] == "Download the file from the provided URL."
    assert plan.step(7).agent == "researcher"


def test_the_bare_list_loads_as_the_wrapped_plan() -> None:
    stem = "MARS__cmbagent_workdir__sessions__5f4a03d3__tasks__task_1771408123932__planning__"
    wrapped = parse_plan_file((FILES / f"{stem}final_plan.json").read_bytes()).unwrap()
    bare = parse_plan_file((FILES / f"{stem}final_plan_approved.json").read_bytes()).unwrap()
    assert bare == wrapped


def test_plancontrols_own_plan_json_loads() -> None:
    root = Path(__file__).parents[1]
    plan = parse_plan_file((root / "cassettes/primes-test-server/plan.json").read_bytes()).unwrap()
    assert [step.agent for step in plan.steps] == ["engineer", "researcher"]


SHAPE = (
    'a plan file holds {"sub_tasks": [{"sub_task": "...", "sub_task_agent": "engineer", '
    '"bullet_points": ["..."]}]}'
)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "invalid plan at $ in p.json: the file is empty"),
        (b"{oops", "invalid plan at $ in p.json: not JSON (JSON is malformed: "),
        (b'"Fit"', "invalid plan at $ in p.json: Expected `object | array`, got `str`"),
        (b"{}", "invalid plan at $ in p.json: Object missing required field `sub_tasks`"),
        (b'{"sub_tasks": []}', "invalid plan at $.sub_tasks in p.json: the plan has no steps"),
        (b"[]", "invalid plan at $ in p.json: the plan has no steps"),
        (
            b'{"sub_tasks": [{"sub_task": "Fit", "sub_task_agent": 3}]}',
            "invalid plan at $.sub_tasks[0].sub_task_agent in p.json: Expected `str`, got `int`",
        ),
        (
            b'[{"sub_task": "Fit", "agent": "engineer"}]',
            "invalid plan at $[0] in p.json: Object contains unknown field `agent`",
        ),
    ],
)
def test_a_bad_plan_file_is_one_line_saying_where_and_the_shape(data: bytes, said: str) -> None:
    message = parse_plan_file(data, "p.json").failure().message
    assert message.startswith(said)
    assert message.endswith(SHAPE)
    assert "\n" not in message


def test_a_utf8_bom_is_read_past() -> None:
    data = b'\xef\xbb\xbf[{"sub_task": "Fit", "sub_task_agent": "engineer"}]'
    assert parse_plan_file(data).unwrap() == Plan((Step("Fit", "engineer"),))


# --- max_plan_steps bounds what the planner proposes, not a given plan -------------------

SEVEN = parse_plan_file((FILES / "plans__legacy__supernova_plan.json").read_bytes()).unwrap()


def test_max_plan_steps_bounds_a_proposed_plan_only() -> None:
    settings = Settings(max_plan_steps=3)
    refused = check_proposed(SEVEN, settings).failure()
    assert refused.message == (
        "invalid plan at $.sub_tasks: 7 steps exceed max_plan_steps=3; raise max_plan_steps "
        "or ask the planner for fewer steps"
    )
    assert check_plan(SEVEN, settings).unwrap() is SEVEN


def test_control_carries_out_a_given_plan_longer_than_max_plan_steps() -> None:
    plan = Plan(tuple(Step(f"Idea {n}", "idea_maker") for n in range(1, 5)))
    fx = scripted_effects({"idea_maker": [f"- idea {n}" for n in range(1, 5)]})
    start = Context(task="ideas", plan=plan, settings=Settings(max_plan_steps=3))
    ctx = run_steps(start, fx).unwrap()
    assert [(o.step, o.status) for o in ctx.outcomes] == [(n, "completed") for n in range(1, 5)]


# --- stored lines have no length bound -----------------------------------------------------


def test_a_1000_character_task_and_sub_task_round_trip_through_a_snapshot() -> None:
    task = "Compute " + "x" * 992
    line = "Fit the spectrum " + "y" * 983
    plan = Plan((Step(line, "engineer", (line,)),))
    ctx = Context(task=task, plan=plan, drafts=(plan,))
    assert (len(task), len(line)) == (1000, 1000)
    back = decode_context(encode_context(ctx)).unwrap()
    assert back == ctx
    assert back.plan is not None
    assert back.plan.step(1).sub_task == line
    loaded = parse_plan_file(
        b'{"sub_tasks": [{"sub_task": "' + line.encode() + b'", "sub_task_agent": "engineer"}]}'
    )
    assert loaded.unwrap().step(1).sub_task == line
