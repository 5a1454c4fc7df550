"""The sibling workflows: a given plan (CMBAgent's control), one agent, planning only, yours."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scripts import OK, PRIMES, happy_replies, plancontrol, review

from plancontrol.core.answers import Code
from plancontrol.core.context import decode_context
from plancontrol.core.plan_files import parse_plan_file
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts the CLI and a server

PLANS = sorted((Path(__file__).parent / "plan_files").glob("*.json"))
TESTS = str(Path(__file__).parent)


def _replies_for(agents: list[str]) -> dict[str, list[Any]]:
    n_code = agents.count("engineer")
    replies: dict[str, list[Any]] = {
        "engineer": [Code(f"print({k})") for k in range(n_code)],
        "judge": [OK] * n_code,
    }
    for agent in set(agents) - {"engineer"}:
        replies[agent] = [f"# {agent} {k}\nDone." for k in range(agents.count(agent))]
    return replies


def _context(run: Path) -> Any:
    return decode_context((run / "context.json").read_bytes()).unwrap()


@pytest.mark.parametrize("plan_file", PLANS, ids=lambda p: p.name[:40])
def test_each_cmbagent_plan_file_runs_with_no_planner_and_replays(
    plan_file: Path, tmp_path: Path
) -> None:
    plan = parse_plan_file(plan_file.read_bytes()).unwrap()
    agents = [s.agent for s in plan.steps]
    with OpenAITestServer(_replies_for(agents)) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model", "--run-dir", "run")
        done = plancontrol(
            "run", "Carry out the plan", "--plan", str(plan_file), *argv, "-q", cwd=tmp_path
        )
        asked = [exchange.key for exchange in server.log]
    assert done.returncode == 0, done.stderr
    assert {"planner", "plan_reviewer"}.isdisjoint(asked)
    ctx = _context(tmp_path / "run")
    assert ctx.plan == plan
    assert ctx.completed_steps == tuple(range(1, plan.n_steps + 1))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [p["name"] for p in manifest["pipeline"]] == ["control", "finalize"]
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr


def test_one_shot_does_a_1000_character_task_as_one_step_and_replays(tmp_path: Path) -> None:
    task = ("Compute the primes below 100 and print how many there are. " * 20)[:1000]
    with OpenAITestServer({"engineer": [Code("print(25)")], "judge": [OK]}) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model", "--run-dir", "run")
        done = plancontrol("run", task, "--one-shot", "engineer", *argv, "-q", cwd=tmp_path)
        asked = [exchange.key for exchange in server.log]
    assert done.returncode == 0, done.stderr
    assert asked == ["engineer", "judge"]
    ctx = _context(tmp_path / "run")
    assert len(ctx.task) == 1000
    assert [(s.sub_task, s.agent) for s in ctx.plan.steps] == [(task, "engineer")]
    assert ctx.completed_steps == (1,)
    assert plancontrol("replay", "run", "-q", cwd=tmp_path).returncode == 0


def test_planning_only_writes_the_plan_and_runs_no_step(tmp_path: Path) -> None:
    replies = {"planner": [PRIMES, PRIMES], "plan_reviewer": [review("fine")]}
    with OpenAITestServer(replies) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model", "--run-dir", "run")
        done = plancontrol("run", "Primes", "--planning-only", *argv, "-q", cwd=tmp_path)
        asked = [exchange.key for exchange in server.log]
    assert done.returncode == 0, done.stderr
    assert asked == ["planner", "plan_reviewer", "planner"]
    run = tmp_path / "run"
    assert parse_plan_file((run / "plan.json").read_bytes()).unwrap() == PRIMES
    assert _context(run).outcomes == ()
    snapshots = sorted(p.stem for p in (run / "sessions" / "01" / "snapshots").glob("*.json"))
    assert snapshots == ["approve", "plan", "review"]
    assert plancontrol("replay", "run", "-q", cwd=tmp_path).returncode == 0


def test_workflow_flags_that_exclude_each_other_are_refused_in_one_line(tmp_path: Path) -> None:
    plan = PLANS[0]
    done = plancontrol("run", "t", "--plan", str(plan), "--planning-only", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "plancontrol: --plan and --planning-only exclude each other; give one"
    )
    unknown = plancontrol("run", "t", "--one-shot", "astronaut", "--model", "local", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "plancontrol: invalid plan at $.sub_tasks[0].sub_task_agent: 'astronaut' is not in the "
        "roster; use one of: engineer, researcher, idea_maker, idea_hater"
    ]
    assert list(tmp_path.glob("runs/*")) == []  # no run folder was made


def test_your_pipeline_is_recorded_by_reference_and_rebuilt_for_replay(tmp_path: Path) -> None:
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with OpenAITestServer(happy_replies()) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model", "--run-dir", "run")
        done = plancontrol(
            "run", "Primes", "--pipeline", "flows.mine:PIPELINE", *argv, "-q", cwd=tmp_path, env=env
        )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [p["name"] for p in manifest["pipeline"]] == [
        "plan",
        "review",
        "count_steps",
        "approve",
        "control",
        "finalize",
    ]
    assert manifest["pipeline"][2]["run"] == "flows.mine:count_steps"
    assert _context(tmp_path / "run").variables["n_steps"] == 2
    assert plancontrol("replay", "run", "-q", cwd=tmp_path, env=env).returncode == 0
    moved = plancontrol("replay", "run", "-q", cwd=tmp_path)  # flows is not importable here
    assert moved.returncode == 2
    assert moved.stderr.strip().splitlines() == [
        "plancontrol: phase 'count_steps' cannot be rebuilt: cannot import "
        "flows.mine:count_steps (No module named 'flows'); make that module importable here "
        "(install it, or add its folder to PYTHONPATH), or name the pipeline's new home with "
        "--pipeline"
    ]
    wrong = plancontrol(
        "replay", "run", "--pipeline", "plancontrol:PLANNING_AND_CONTROL", "-q", cwd=tmp_path
    )
    assert wrong.returncode == 2
    assert "was recorded with plan, review, count_steps, approve, control, finalize" in wrong.stderr


def test_a_run_of_a_given_plan_resumes_and_forks_from_its_first_step(tmp_path: Path) -> None:
    plan = PLANS[1]  # one engineer step
    replies = {
        "engineer": [Code("print(1)"), Code("print(2)"), Code("print(3)")],
        "judge": [OK] * 3,
    }
    with OpenAITestServer(replies) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model")
        done = plancontrol(
            "run", "t", "--plan", str(plan), *argv, "--run-dir", "run", "-q", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        again = plancontrol("resume", "run", "--from-step", "1", "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        forked = plancontrol("fork", "run", "--from-step", "1", "--into", "b", "-q", cwd=tmp_path)
        assert forked.returncode == 0, forked.stderr
        asked = [exchange.key for exchange in server.log]
    assert asked == ["engineer", "judge"] * 3  # never a planner
    for folder in ("run", "b"):
        ctx = _context(tmp_path / folder)
        assert ctx.plan == parse_plan_file(plan.read_bytes()).unwrap()
        assert ctx.completed_steps == (1,)
        assert plancontrol("replay", folder, "-q", cwd=tmp_path).returncode == 0
    sessions = json.loads((tmp_path / "run" / "sessions" / "02" / "session.json").read_text())
    assert (sessions["command"], sessions["starts_after"]) == ("resume", None)


def test_runs_dir_in_the_config_is_where_a_run_without_run_dir_goes(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text('[run]\nruns_dir = "lab/out"\n')
    replies = {"engineer": [Code("print(1)")], "judge": [OK]}
    with OpenAITestServer(replies) as server:
        argv = ("--base-url", server.base_url, "--model", "test-model")
        done = plancontrol("run", "t", "--one-shot", "engineer", *argv, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (made,) = (tmp_path / "lab" / "out").iterdir()
    assert made.name.startswith("run-")
    assert done.stdout.strip() == str(Path("lab/out") / made.name)
    assert not (tmp_path / "runs").exists()
