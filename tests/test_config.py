"""Settings from a TOML file, then PLANCONTROL_* variables, then flags, each value traced."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from returns.result import Failure
from scripts import plancontrol

from plancontrol.app.config import example_config, load_config
from plancontrol.core.settings import DEFAULT_ROLES, Role, load_settings

FILE = """\
[run]
model = "gpt-4o"
timeout = 60

[roles]
planner = "o3"

[settings]
max_plan_steps = 5
n_plan_reviews = 2
"""


def test_flags_override_variables_which_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plancontrol.toml"
    path.write_text(FILE)
    env = {"PLANCONTROL_MAX_PLAN_STEPS": "6", "PLANCONTROL_TIMEOUT": "30", "HOME": "/x"}
    flags = {"n_plan_reviews": 3, "model": None, "role_models": (("engineer", "o4"),)}
    config = load_config(path, env, flags).unwrap()
    assert config.run["model"] == "gpt-4o"
    assert config.run["timeout"] == 30
    assert config.settings == {"max_plan_steps": 6, "n_plan_reviews": 3}
    assert config.role_models == (("planner", "o3"), ("engineer", "o4"))
    assert config.sources == {
        "model": f"{path} [run]",
        "timeout": "$PLANCONTROL_TIMEOUT",
        "roles.planner": f"{path} [roles]",
        "max_plan_steps": "$PLANCONTROL_MAX_PLAN_STEPS",
        "n_plan_reviews": "--n-plan-reviews",
        "roles.engineer": "--role-model",
    }
    rows = {option: (value, source) for option, value, source in config.rows()}
    assert rows["code_timeout"] == ("600.0", "default")
    assert rows["max_plan_steps"] == ("6", "$PLANCONTROL_MAX_PLAN_STEPS")


def test_without_a_file_the_defaults_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {}, {}).unwrap()
    assert (config.run["model"], config.run["code_timeout"], config.settings) == (None, 600.0, {})


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[run]\nmodle = 1\n", {}, "[run] has no option 'modle'; see `plancontrol init`"),
        ("[model]\nx = 1\n", {}, "unknown table [model]; the tables are [run], [settings]"),
        ("[run\n", {}, "is not valid TOML: "),
        ("[settings]\nmax_plan_steps = 0\n", {}, "settings.max_plan_steps must be at least 1"),
        ("", {"PLANCONTROL_TIMEOUT": "soon"}, "timeout from $PLANCONTROL_TIMEOUT must be a number"),
        ('[run]\nstructured = "xml"\n', {}, "must be json_schema, json_object or prompt"),
        ("", {"PLANCONTROL_APPROVAL": "maybe"}, "choose one of: none, after_planning"),
    ],
)
def test_a_wrong_file_or_value_is_one_line_naming_it(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "plancontrol.toml"
    path.write_text(text)
    result = load_config(path, env, {})
    assert isinstance(result, Failure)
    assert message in result.failure().message
    assert "\n" not in result.failure().message


def test_the_example_config_is_valid_toml_and_names_every_option() -> None:
    text = example_config()
    assert tomllib.loads(text) == {"run": {}, "roles": {}, "settings": {}}  # all commented out
    for option in ("model", "base_url", "code_timeout", "max_plan_steps", "approval_timeout"):
        assert f"# {option} =" in text


@pytest.mark.slow
def test_init_writes_the_example_once_and_run_reads_it(tmp_path: Path) -> None:
    done = plancontrol("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plancontrol.toml").read_text() == example_config()
    again = plancontrol("init", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == (
        "plancontrol: plancontrol.toml already exists; edit it, or give another path\n"
    )
    (tmp_path / "plancontrol.toml").write_text(FILE)
    shown = plancontrol("run", "t", "--show-config", "--max-steps", "4", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows = {
        line[:24].strip(): tuple(part.strip() for part in line[24:].rsplit("  from ", 1))
        for line in shown.stdout.splitlines()
    }
    assert rows["max_plan_steps"] == ("4", "--max-steps")
    assert rows["model"] == ("gpt-4o", "plancontrol.toml [run]")
    assert rows["code_timeout"] == ("600.0", "default")
    assert rows["roles.planner"] == ("support role, model o3", "plancontrol.toml [roles]")
    assert not (tmp_path / "runs").exists()  # --show-config runs nothing


@pytest.mark.slow
def test_json_summary_is_one_document_on_stdout(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", "--json", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["status"], document["error"], document["run_dir"]) == (
        "completed",
        None,
        "run",
    )
    report = document["report"]
    assert [o["status"] for o in report["outcomes"]] == ["completed", "completed"]
    assert report["total"]["calls"] == 8
    assert report["total"]["cost_usd"] == 0.0


CRITIC = """\
[roles]
planner = "o3"

[[settings.roles]]
name = "critic"
description = "finds the weak points"

[[settings.roles]]
name = "researcher"
description = "writes the report as a script"
kind = "code"
"""


def test_a_settings_roles_entry_adds_a_role_and_one_named_like_a_default_replaces_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plancontrol.toml"
    path.write_text(CRITIC)
    config = load_config(path, {}, {}).unwrap()
    settings = load_settings(config.settings).unwrap()
    assert settings.role_names == ("engineer", "researcher", "idea_maker", "idea_hater", "critic")
    assert settings.roles[1] == Role("researcher", "writes the report as a script", "code")
    assert settings.roles[0] == DEFAULT_ROLES[0]
    assert settings.roles[4] == Role("critic", "finds the weak points")


@pytest.mark.slow
def test_show_config_lists_the_roster_with_each_role_model_and_kind(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text(CRITIC)
    shown = plancontrol("run", "t", "--show-config", "--model", "gpt-4o", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    roster = [
        (line[:24].strip(), *(part.strip() for part in line[24:].rsplit("  from ", 1)))
        for line in shown.stdout.splitlines()
        if line.startswith("roles.")
    ]
    here = "plancontrol.toml [[settings.roles]]"
    assert roster == [
        ("roles.planner", "support role, model o3", "plancontrol.toml [roles]"),
        ("roles.plan_reviewer", "support role, model gpt-4o", "default"),
        ("roles.judge", "support role, model gpt-4o", "default"),
        ("roles.installer", "support role, model gpt-4o", "default"),
        ("roles.engineer", "code role, model gpt-4o", "default"),
        ("roles.researcher", "code role, model gpt-4o", here),
        ("roles.idea_maker", "text role, model gpt-4o", "default"),
        ("roles.idea_hater", "text role, model gpt-4o", "default"),
        ("roles.critic", "text role, model gpt-4o", here),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[settings.roles]]\ndescription = "no name"\n',
            '[[settings.roles]] number 1 has no name; give each role a name = "..."',
        ),
        ("[settings]\nroles = 3\n", "settings.roles must be [[settings.roles]] tables"),
        (
            '[[settings.roles]]\nname = "judge"\ndescription = "d"\n',
            "settings.roles includes judge, which plancontrol runs itself",
        ),
    ],
)
def test_a_wrong_settings_roles_entry_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plancontrol.toml"
    path.write_text(text)
    result = load_config(path, {}, {})
    assert isinstance(result, Failure)
    assert message in result.failure().message
    assert "\n" not in result.failure().message


SETTING_LINE = re.compile(r"^# (\[\[[\w.]+\]\]|\w+ = .*)$")


def test_the_example_config_is_valid_toml_with_every_setting_line_uncommented(
    tmp_path: Path,
) -> None:
    lines = example_config().splitlines()
    uncommented = [line[2:] if SETTING_LINE.match(line) else line for line in lines]
    assert sum(a != b for a, b in zip(lines, uncommented, strict=True)) == 38
    data = tomllib.loads("\n".join(uncommented))
    assert data["run"]["model"] == "local"
    assert data["settings"]["approval_timeout"] == 300
    assert data["settings"]["max_cost_usd"] == 1.0
    path = tmp_path / "plancontrol.toml"
    path.write_text("\n".join(uncommented))
    config = load_config(path, {}, {}).unwrap()
    settings = load_settings(config.settings).unwrap()
    assert settings.role_names[-1] == "critic"
    assert (settings.max_cost_usd, settings.approval_timeout) == (1.0, 300)
    assert config.role_models == (("planner", "gpt-4o"), ("engineer", "o3"))
