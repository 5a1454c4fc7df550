"""CMBAgent's deep_research parameters, as plancontrol's flags and config keys: each value
reaches the run's settings or the request the agent receives; an unreachable restart step is
refused before any model call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scripts import OK, plancontrol, review

from plancontrol import Plan, Step, decode_context
from plancontrol.app.cmbagent import unreachable_in_new_run
from plancontrol.app.config import load_config
from plancontrol.core.answers import Code
from plancontrol.core.errors import RestartOutOfRange
from plancontrol.core.restart import unreachable_restart
from plancontrol.core.settings import Settings, load_settings

THREE = Plan(
    (
        Step("Compute the first 20 primes", "engineer", ("save to primes.txt",)),
        Step("Report on the primes", "researcher", ("cite primes.txt",)),
        Step("Relate the primes to the CMB", "camb_context", ("one paragraph",)),
    )
)

CAMB_ROLE = (
    "[[settings.roles]]\n"
    'name = "camb_context"\n'
    'description = "knows the CAMB code and its parameters"\n'
)


def test_a_restart_beyond_max_plan_steps_is_refused_before_a_plan_exists() -> None:
    refused = unreachable_restart(Settings(restart_at_step=4, max_plan_steps=3))
    assert refused == RestartOutOfRange(
        step=4,
        n_steps=3,
        detail="a plan has at most 3 step(s) (max_plan_steps); pick a step from 1 to 3",
    )


def test_a_restart_beyond_a_given_plan_is_refused_whatever_max_plan_steps_allows() -> None:
    refused = unreachable_restart(Settings(restart_at_step=4, max_plan_steps=10), THREE)
    assert refused is not None
    assert refused.message == (
        "cannot restart at step 4: the plan has 3 step(s); pick a step from 1 to 3"
    )


def test_a_restart_after_settled_steps_is_reachable_and_0_always_is() -> None:
    assert unreachable_restart(Settings(restart_at_step=3), THREE, settled=(1, 2)) is None
    assert unreachable_restart(Settings(restart_at_step=0, max_plan_steps=1)) is None
    assert unreachable_in_new_run(Settings(restart_at_step=1)) is None
    late = unreachable_in_new_run(Settings(restart_at_step=2), THREE)
    assert late is not None
    assert late.message == (
        "cannot restart at step 2: step 1 has not completed; restart at step 1; to run a "
        "recorded run again from step 2, resume it: `resume(run_dir=RUN, from_step=2)`"
    )


CONFIG = f"""\
[run]
model = "gpt-4o-mini"

[roles]
planner = "gpt-4o"
plan_reviewer = "o3-mini"
engineer = "gpt-4.1"
researcher = "claude-sonnet-4"
idea_maker = "gemini-2.5-flash"
idea_hater = "gpt-4o"
camb_context = "gpt-4.1-mini"

[settings]
max_rounds_planning = 20
max_rounds_control = 40
max_plan_steps = 5
n_plan_reviews = 2
plan_instructions = "Keep it short."
engineer_instructions = "Use numpy."
researcher_instructions = "Cite every file."
hardware_constraints = "One CPU core."
max_n_attempts = 4
restart_at_step = 1
researcher_filename = "report.md"

{CAMB_ROLE}"""


def test_every_deep_research_parameter_has_a_config_key(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text(CONFIG)
    config = load_config(tmp_path / "plancontrol.toml", {}, {}).unwrap()
    assert config.run["model"] == "gpt-4o-mini"  # default_llm_model
    assert dict(config.role_models) == {
        "planner": "gpt-4o",
        "plan_reviewer": "o3-mini",
        "engineer": "gpt-4.1",
        "researcher": "claude-sonnet-4",
        "idea_maker": "gemini-2.5-flash",
        "idea_hater": "gpt-4o",
        "camb_context": "gpt-4.1-mini",
    }
    settings = load_settings(config.settings).unwrap()
    assert settings.role_names[-1] == "camb_context"
    chosen = {
        name: getattr(settings, name)
        for name in (
            "max_rounds_planning",
            "max_rounds_control",
            "max_plan_steps",
            "n_plan_reviews",
            "plan_instructions",
            "engineer_instructions",
            "researcher_instructions",
            "hardware_constraints",
            "max_n_attempts",
            "restart_at_step",
            "researcher_filename",
        )
    }
    assert chosen == {
        "max_rounds_planning": 20,
        "max_rounds_control": 40,
        "max_plan_steps": 5,
        "n_plan_reviews": 2,
        "plan_instructions": "Keep it short.",
        "engineer_instructions": "Use numpy.",
        "researcher_instructions": "Cite every file.",
        "hardware_constraints": "One CPU core.",
        "max_n_attempts": 4,
        "restart_at_step": 1,
        "researcher_filename": "report.md",
    }


def _system(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"])


@pytest.mark.slow
def test_every_deep_research_parameter_has_a_run_flag_that_reaches_the_run(
    tmp_path: Path,
) -> None:
    from plancontrol.testing import OpenAITestServer

    (tmp_path / "plancontrol.toml").write_text(CAMB_ROLE)  # the roster: a role of one's own
    replies = {
        "planner": [THREE, THREE],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("open('primes.txt', 'w').write('2 3 5')\nprint('saved')")],
        "judge": [OK],
        "researcher": ["# Report\nThree primes, in primes.txt."],
        "camb_context": ["The primes do not enter CAMB."],
    }
    models = {
        "planner": "planner-model",
        "plan_reviewer": "reviewer-model",
        "engineer": "engineer-model",
        "researcher": "researcher-model",
        "camb_context": "camb-model",
    }
    with OpenAITestServer(replies) as server:
        done = plancontrol(
            "run",
            "Compute primes and relate them to the CMB",
            "--base-url",
            server.base_url,
            "--model",
            "default-model",
            *(f"--role-model={role}={model}" for role, model in models.items()),
            "--role-model=idea_maker=maker-model",
            "--role-model=idea_hater=hater-model",
            "--run-dir",
            "work_dir",
            "--max-plan-steps",
            "3",
            "--n-plan-reviews",
            "1",
            "--max-n-attempts",
            "2",
            "--max-rounds-planning",
            "20",
            "--max-rounds-control",
            "30",
            "--plan-instructions",
            "Give camb_context the last step.",
            "--engineer-instructions",
            "Use only the standard library.",
            "--researcher-instructions",
            "Cite primes.txt by name.",
            "--hardware-constraints",
            "One CPU core, no GPU.",
            "--researcher-filename",
            "primes_report.md",
            cwd=tmp_path,
        )
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "work_dir"
    settings = decode_context((run / "context.json").read_bytes()).unwrap().settings
    assert (settings.max_plan_steps, settings.n_plan_reviews, settings.max_n_attempts) == (3, 1, 2)
    assert (settings.max_rounds_planning, settings.max_rounds_control) == (20, 30)
    assert settings.plan_instructions == "Give camb_context the last step."
    assert settings.engineer_instructions == "Use only the standard library."
    assert settings.researcher_instructions == "Cite primes.txt by name."
    assert settings.hardware_constraints == "One CPU core, no GPU."
    assert settings.researcher_filename == "primes_report.md"
    assert settings.default_model == "default-model"
    assert {r: settings.model_for(r) for r in (*models, "idea_maker", "idea_hater", "judge")} == {
        **models,
        "idea_maker": "maker-model",
        "idea_hater": "hater-model",
        "judge": "default-model",
    }
    asked = {(e.key, e.body["model"]) for e in log}
    assert asked == {*models.items(), ("judge", "default-model")}
    by_role = {e.key: _system(e.body) for e in log}
    for role in ("planner", "plan_reviewer"):
        assert "Give camb_context the last step." in by_role[role]
        assert "One CPU core, no GPU." in by_role[role]
    assert "Use only the standard library." in by_role["engineer"]
    assert "One CPU core, no GPU." in by_role["engineer"]
    assert "Cite primes.txt by name." in by_role["researcher"]
    assert "Use only the standard library." not in by_role["researcher"]
    report = run / "reports" / "step_2_primes_report.md"
    assert report.read_text() == "# Report\nThree primes, in primes.txt."


@pytest.mark.slow
def test_a_restart_step_from_the_config_that_no_plan_can_reach_is_refused_before_planning(
    tmp_path: Path,
) -> None:
    from plancontrol.testing import OpenAITestServer

    (tmp_path / "plancontrol.toml").write_text("[settings]\nrestart_at_step = 4\n")
    with OpenAITestServer({"planner": [THREE]}) as server:
        done = plancontrol(
            "run", "t", "--base-url", server.base_url, "--model", "m", "--run-dir", "run",
            cwd=tmp_path,
        )  # fmt: skip
        asked = len(server.log)
    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: cannot restart at step 4: a plan has at most 3 step(s) (max_plan_steps); "
        "pick a step from 1 to 3; to run a recorded run again from step 4, resume it: "
        "`plancontrol resume RUN --from-step 4`\n"
    )
    assert asked == 0
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_api_refuses_an_unreachable_restart_step_before_any_model_call(
    tmp_path: Path,
) -> None:
    import plancontrol
    from plancontrol.testing import OpenAITestServer

    with OpenAITestServer({"planner": [THREE]}) as server:
        stopped = plancontrol.run(
            "t",
            tmp_path / "run",
            model="m",
            base_url=server.base_url,
            settings={"restart_at_step": 3, "max_plan_steps": 2},
            env={},
        )
        asked = len(server.log)
    refused = stopped.failure()
    assert refused.where == "settings.restart_at_step"
    assert refused.message == (
        "cannot restart at step 3: a plan has at most 2 step(s) (max_plan_steps); pick a step "
        "from 1 to 2; to run a recorded run again from step 3, resume it: "
        "`resume(run_dir=RUN, from_step=3)`"
    )
    assert asked == 0
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_resume_goes_on_with_new_engineer_instructions_and_rounds(tmp_path: Path) -> None:
    from scripts import fix

    from plancontrol.testing import OpenAITestServer

    plan = Plan((Step("Compute the first 20 primes", "engineer", ("save to primes.txt",)),))
    first = {
        "planner": [plan],
        "engineer": [Code("raise SystemExit(3)")],
        "judge": [fix("do not exit")],
    }
    with OpenAITestServer(first) as server:
        failed = plancontrol(
            "run", "t", "--base-url", server.base_url, "--model", "m", "--run-dir", "run",
            "--reviews", "0", "--attempts", "1", cwd=tmp_path,
        )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    again = {"engineer": [Code("print(2)")], "judge": [OK]}
    with OpenAITestServer(again) as server:
        done = plancontrol(
            "resume", "run", "--base-url", server.base_url,
            "--engineer-instructions", "Print, never exit.", "--max-rounds-control", "9",
            cwd=tmp_path,
        )  # fmt: skip
        engineer = [e for e in server.log if e.key == "engineer"]
    assert done.returncode == 0, done.stderr
    assert len(engineer) == 1
    assert "Print, never exit." in _system(engineer[0].body)
    settings = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap().settings
    assert (settings.engineer_instructions, settings.max_rounds_control) == (
        "Print, never exit.",
        9,
    )
