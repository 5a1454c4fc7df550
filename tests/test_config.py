"""Settings from a TOML file, then PLANCONTROL_* variables, then flags, each value traced."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from returns.result import Failure
from scripts import plancontrol

from plancontrol.config import example_config, load_config

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
    assert message in result.failure()
    assert "\n" not in result.failure()


def test_the_example_config_is_valid_toml_and_names_every_option() -> None:
    text = example_config()
    assert tomllib.loads(text) == {"run": {}, "roles": {}, "settings": {}}  # all commented out
    for option in ("model", "base_url", "code_timeout", "max_plan_steps", "approval_timeout"):
        assert f"# {option} =" in text


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
    assert rows["roles.planner"] == ("o3", "plancontrol.toml [roles]")
    assert not (tmp_path / "runs").exists()  # --show-config runs nothing


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
