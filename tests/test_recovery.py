"""Recovery that leads somewhere: resume and fork change what stopped the run (models,
servers, limits, settings), every run setting is recorded and restored, and what cannot run
is refused before any model is paid."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure, Success
from scripts import OK, PRIMES, fix, plancontrol, review

import plancontrol as library
from plancontrol import Problem, decode_context
from plancontrol.core.answers import Code
from plancontrol.servers.replies import Usage
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts a process or a server

SCRIPT = "open('primes.txt', 'w').write('2 3 5 7')\nprint('4 primes')"
FAILS = "raise SystemExit(3)"


def two_steps() -> dict[str, list[Any]]:
    """Replies for a run that plans, reviews once and does both steps of PRIMES."""
    return {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(SCRIPT)],
        "judge": [OK],
        "researcher": ["# Report\nFour primes."],
    }


def failing_run(base_url: str, cwd: Path, model: str = "m") -> subprocess.CompletedProcess[str]:
    """``plancontrol run`` into ``cwd/run`` with no review and one attempt a step, so that a
    step whose script fails stops it."""
    return plancontrol(
        "run", "Compute primes", "--base-url", base_url, "--model", model, "--reviews", "0",
        "--attempts", "1", "--run-dir", "run", "-q", cwd=cwd,
    )  # fmt: skip


def hinted(stderr: str) -> list[str]:
    """The command the "continue it with" line names, as arguments after `plancontrol`."""
    line = next(x for x in stderr.splitlines() if x.startswith("continue it with"))
    words = shlex.split(line.partition(":")[2])
    assert words[0] == "plancontrol", line
    return words[1:]


def session(run: Path, number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (run / "sessions" / f"{number:02d}" / "session.json").read_text()
    )
    return data


def started(run: Path, number: int) -> dict[str, Any]:
    """The settings session ``number`` started with, from its ``start.json``."""
    data = json.loads((run / "sessions" / f"{number:02d}" / "start.json").read_text())
    settings: dict[str, Any] = data["context"]["settings"]
    return settings


def replays(cwd: Path, folder: str = "run") -> None:
    replayed = plancontrol("replay", folder, "-q", cwd=cwd)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay identical to the recording" in replayed.stdout


def test_resume_with_more_attempts_lets_the_failed_step_succeed(tmp_path: Path) -> None:
    replies = {
        "planner": [PRIMES],
        "engineer": [Code(FAILS), Code(FAILS), Code(SCRIPT)],
        "judge": [fix("exit 0"), fix("exit 0"), OK],
        "researcher": ["# Report\nFour primes."],
    }
    with OpenAITestServer(replies) as server:
        first = failing_run(server.base_url, tmp_path)
        assert first.returncode == 1, first.stderr
        assert "step 1 failed after 1 attempt(s)" in " ".join(first.stderr.split())
        command = hinted(first.stderr)
        assert command == ["resume", "run", "--max-n-attempts", "3"]
        again = plancontrol(*command, "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        asked = [e.key for e in server.log]
    assert asked.count("engineer") == 3  # one attempt in the run, two in the resume
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    assert ctx.outcomes[0].attempts == 2
    assert ctx.settings.max_n_attempts == 3
    assert started(tmp_path / "run", 2)["max_n_attempts"] == 3
    assert (tmp_path / "run" / "work" / "primes.txt").read_text() == "2 3 5 7"
    replays(tmp_path)


def test_resume_with_a_corrected_base_url_reaches_the_new_server(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    first = plancontrol(
        "run", "Compute primes", "--base-url", dead, "--model", "m", "--max-retries", "0",
        "--run-dir", "run", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert "model call for planner (planning) failed" in " ".join(first.stderr.split())
    replies = two_steps()
    with OpenAITestServer(replies) as server:
        url = server.base_url
        again = plancontrol("resume", "run", "--base-url", url, "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        asked = [e.key for e in server.log]
    assert asked == ["planner", "plan_reviewer", "planner", "engineer", "judge", "researcher"]
    run = tmp_path / "run"
    assert session(run, 2)["options"]["default_route"]["base_url"] == url
    assert session(run, 2)["options"]["default_route"]["max_retries"] == 0  # kept from the run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["default_route"]["base_url"] == dead  # what the run itself used
    replays(tmp_path)


def test_a_run_stopped_by_its_budget_during_planning_resumes_with_a_larger_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "plancontrol.toml").write_text("[settings]\nmax_cost_usd = 0.1\n")
    costly = Usage(PRIMES, prompt_tokens=1_000_000, completion_tokens=0)  # $0.15 on gpt-4o-mini
    replies = {
        "planner": [costly, PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(SCRIPT)],
        "judge": [OK],
        "researcher": ["# Report\nFour primes."],
    }
    with OpenAITestServer(replies) as server:
        first = plancontrol(
            "run", "Compute primes", "--base-url", server.base_url, "--model", "gpt-4o-mini",
            "--run-dir", "run", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr
        said = " ".join(first.stderr.split())  # as one line, however the terminal wraps it
        assert "cost budget exceeded during planning: spent $0.1500 of $0.1000" in said
        command = hinted(first.stderr)
        assert command == ["resume", "run", "--max-cost-usd", "0.3"]
        again = plancontrol(*command, "-q", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        asked = [e.key for e in server.log]
    assert asked.count("planner") == 3  # planning was paid for again, from the start
    assert session(tmp_path / "run", 2)["starts_after"] is None
    assert started(tmp_path / "run", 2)["max_cost_usd"] == 0.3
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    replays(tmp_path)


def test_code_timeout_and_installs_are_recorded_and_used_again(tmp_path: Path) -> None:
    slow = "import time\ntime.sleep(4)\nprint('done')"
    replies = {
        "planner": [PRIMES],
        "engineer": [Code(slow), Code(slow)],
        "judge": [fix("be faster"), fix("be faster")],
    }
    with OpenAITestServer(replies) as server:
        first = plancontrol(
            "run", "Compute primes", "--base-url", server.base_url, "--model", "m",
            "--reviews", "0", "--attempts", "1", "--code-timeout", "1", "--allow-install",
            "--run-dir", "run", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr
        again = plancontrol("resume", "run", "-q", cwd=tmp_path)
        assert again.returncode == 1, again.stderr
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["code_timeout"], manifest["allow_install"]) == (1.0, True)
    options = session(run, 2)["options"]
    assert (options["code_timeout"], options["allow_install"]) == (1.0, True)
    for number in (1, 2):  # the resumed session's script was cut off at 1 s too, not 600
        journal = (run / "sessions" / f"{number:02d}" / "journal.jsonl").read_text()
        entries = [json.loads(line) for line in journal.splitlines()]
        ran = [entry["result"] for entry in entries if entry.get("type") == "Ran"]
        assert [(r["timed_out"], r["stdout"]) for r in ran] == [(True, "")], journal


def test_a_fork_takes_a_new_server_and_limits_and_records_them(tmp_path: Path) -> None:
    replies = two_steps()
    with OpenAITestServer(replies) as server:
        ran = library.run(
            "Compute primes", tmp_path / "run", model="m", base_url=server.base_url, env={}
        )
        assert isinstance(ran, Success)
    with OpenAITestServer({"researcher": ["# Report\nTold again."]}) as other:
        forked = library.fork(
            tmp_path / "run",
            tmp_path / "fork",
            from_step=2,
            base_url=other.base_url,
            model="other-model",
            role_models=[("researcher", "writer-model")],
            code_timeout=30,
            settings={"max_n_attempts": 5},
            env={},
        )
        assert isinstance(forked, Success), forked
        asked = [(e.key, e.body["model"]) for e in other.log]
        url = other.base_url
    assert asked == [("researcher", "writer-model")]
    assert forked.unwrap().settings.max_n_attempts == 5
    assert forked.unwrap().settings.default_model == "other-model"
    assert forked.unwrap().settings.model_for("researcher") == "writer-model"
    options = session(tmp_path / "fork", 2)["options"]
    assert options["default_route"]["base_url"] == url
    assert options["code_timeout"] == 30
    replays(tmp_path, "fork")


def test_resume_and_fork_refuse_bad_changes_before_anything_is_written(tmp_path: Path) -> None:
    with OpenAITestServer(
        {"planner": [PRIMES], "engineer": [Code(FAILS)], "judge": [fix("x")]}
    ) as server:
        first = plancontrol(
            "run", "t", "--base-url", server.base_url, "--model", "m", "--reviews", "0",
            "--attempts", "1", "--run-dir", "run", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 1
        before = len(server.log)
        no_terminal = (
            "approval 'after_planning' asks at the terminal, but the input is not a terminal: "
            "run it in a terminal, or without approvals (--set settings.approval=none)"
        )
        cases = [
            (
                ["--max-n-attempts", "0"],
                "invalid settings: settings.max_n_attempts must be at least 1, got 0; set it "
                "to 1 or more",
            ),
            (
                ["--structured", "xml"],
                "--structured must be json_schema, json_object or prompt, got 'xml'",
            ),
            (
                ["--model", "local", "--structured", "json_schema"],
                "the embedded local model cannot answer in structured mode json_schema: use "
                "json_object (its default) or prompt",
            ),
            (["--set", "settings.approval=after_planning"], no_terminal),
        ]
        for args, message in cases:
            done = plancontrol("resume", "run", *args, cwd=tmp_path)
            assert (done.returncode, done.stderr) == (2, f"plancontrol: {message}\n"), args
            forked = plancontrol(
                "fork", "run", "--from-step", "1", "--into", "fork", *args, cwd=tmp_path
            )
            assert (forked.returncode, forked.stderr) == (2, f"plancontrol: {message}\n"), args
            assert not (tmp_path / "fork").exists()
        assert len(server.log) == before
    assert sorted(p.name for p in (tmp_path / "run" / "sessions").iterdir()) == ["01"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["run", ""], {}, "the task is empty: say what the agents should do"),
        (["run", "  \n "], {}, "the task is empty: say what the agents should do"),
        (
            ["run", "Compute primes", "--model", "claude-sonnet-4"],
            {"ANTHROPIC_API_KEY": "sk-ant-test-0123456789"},
            "anthropic models need the ag2[anthropic] extra, which is not installed: "
            "pip install 'ag2[anthropic]'",
        ),
        (
            ["run", "Compute primes", "--model", "gemini-2.5-pro"],
            {"GEMINI_API_KEY": "gm-test-0123456789"},
            "gemini models need the ag2[gemini] extra, which is not installed: "
            "pip install 'ag2[gemini]'",
        ),
        (
            ["run", "Compute primes", "--model", "local", "--structured", "json_schema"],
            {},
            "the embedded local model cannot answer in structured mode json_schema: use "
            "json_object (its default) or prompt",
        ),
    ],
    ids=[
        "empty-task",
        "blank-task",
        "anthropic",
        "gemini",
        "local-schema",
    ],
)
def test_what_cannot_run_is_refused_before_any_model_call(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    with OpenAITestServer(two_steps()) as server:
        given = ["--base-url", server.base_url, "--model", "m"] if "--model" not in args else []
        done = plancontrol(*args, *given, "--run-dir", "run", cwd=tmp_path, env=env)
        assert server.log == []
    assert (done.returncode, done.stderr) == (2, f"plancontrol: {message}\n")
    assert not (tmp_path / "run").exists()


def test_the_library_refuses_approvals_with_nobody_to_ask(tmp_path: Path) -> None:
    with OpenAITestServer(two_steps()) as server:
        done = library.run(
            "Compute primes",
            tmp_path / "run",
            model="m",
            base_url=server.base_url,
            settings={"approval": "after_planning"},
            env={},
        )
        assert server.log == []
    assert done.failure().message == (
        "settings.approval is 'after_planning' but no approver was given to ask: pass "
        "handlers with an approver (plancontrol.CallableApprover wraps a function), or set "
        "approval to 'none'"
    )
    assert not (tmp_path / "run").exists()
    dead = "http://127.0.0.1:9/v1"
    assert library.run("  ", tmp_path / "run", model="m", base_url=dead).failure().message == (
        "the task is empty: say what the agents should do"
    )


RECORDED: dict[str, Any] = {
    "model": lambda m: m.settings.default_model,
    "base_url": lambda m: m.default_route.base_url,
    "structured": lambda m: m.default_route.structured,
    "timeout": lambda m: m.default_route.timeout,
    "max_retries": lambda m: m.default_route.max_retries,
    "reasoning_effort": lambda m: m.default_route.reasoning_effort,
    "max_tokens": lambda m: m.default_route.max_tokens,
    "code_timeout": lambda m: m.code_timeout,
    "allow_install": lambda m: m.allow_install,
    "python": lambda m: m.python,
    "pass_env": lambda m: m.pass_env,
    "runs_dir": lambda m: None,  # where a new run folder goes: the folder itself says it
}
"""Where the manifest keeps each option of ``run`` (the config file's ``[run]`` table)."""


def test_every_run_option_is_recorded_and_a_resume_goes_on_with_it(tmp_path: Path) -> None:
    from msgspec.structs import replace

    from plancontrol.app.config import OPTIONS
    from plancontrol.runs.folder import RunOptions, read_manifest, read_sessions

    assert set(OPTIONS) <= set(RECORDED)  # a new run option is recorded, and listed here
    replies = {
        "planner": [PRIMES],
        "engineer": [Code(SCRIPT)],
        "judge": [OK],
        "researcher": ["# Report\nFour primes.", "# Report\nAgain."],
    }
    with OpenAITestServer(replies) as server:
        url = server.base_url
        first = plancontrol(
            "run", "Compute primes", "--base-url", url, "--model", "m", "--reviews", "0",
            "--structured", "json_object", "--timeout", "33", "--max-retries", "1",
            "--code-timeout", "7", "--allow-install", "--max-tokens", "300", "--run-dir", "run",
            "-q", cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        again = plancontrol(
            "resume", "run", "--from-step", "2", "--timeout", "44", "-q", cwd=tmp_path
        )
        assert again.returncode == 0, again.stderr
        formats = [(e.key, e.body.get("response_format", {}).get("type")) for e in server.log]
    assert formats == [
        ("planner", "json_object"),
        ("engineer", "json_object"),
        ("judge", "json_object"),
        ("researcher", None),
        ("researcher", None),  # the resume: step 2 again, json_object still asked for
    ]
    manifest = read_manifest(tmp_path / "run").unwrap()
    given = {
        "model": "m",
        "base_url": url,
        "structured": "json_object",
        "timeout": 33.0,
        "max_retries": 1,
        "max_tokens": 300,
        "code_timeout": 7.0,
        "allow_install": True,
    }
    assert {name: RECORDED[name](manifest) for name in given} == given
    sessions = read_sessions(tmp_path / "run").unwrap()
    longer = replace(manifest.default_route, timeout=44.0)  # only what the resume changed
    assert [s.options for s in sessions] == [
        manifest.options,
        replace(manifest.options, default_route=longer),
    ]
    assert isinstance(manifest.options, RunOptions)


@pytest.mark.slow
def test_resume_and_fork_refuse_a_budget_on_an_unpriced_model_before_any_call(
    tmp_path: Path,
) -> None:
    (tmp_path / "budget").mkdir()
    (tmp_path / "budget" / "plancontrol.toml").write_text("[settings]\nmax_cost_usd = 1.0\n")
    failing = {"planner": [PRIMES], "engineer": [Code(FAILS)], "judge": [fix("x")]}
    with OpenAITestServer({**failing, "planner": [PRIMES, PRIMES]}) as server:
        unpriced = failing_run(server.base_url, tmp_path)
        priced = failing_run(server.base_url, tmp_path / "budget", "gpt-4o-mini")
        assert (unpriced.returncode, priced.returncode) == (1, 1), priced.stderr
        before = len(server.log)

        def unknown(model: str) -> str:
            return (
                f"plancontrol: max_cost_usd is set but planner uses {model}, whose price is "
                "unknown, so the budget could not be kept: give its price in plancontrol.toml "
                f'([prices] "{model}" = [PROMPT, COMPLETION], dollars per million tokens) or '
                "drop max_cost_usd\n"
            )

        fork = ("fork", "run", "--from-step", "1", "--into", "fork")
        cases = [
            (tmp_path, ("resume", "run", "--max-cost-usd", "1"), "m"),
            (tmp_path, (*fork, "--max-cost-usd", "1"), "m"),
            (tmp_path, ("resume", "run", "--set", "settings.max_cost_usd=2"), "m"),
            (tmp_path / "budget", ("resume", "run", "--model", "my-llama"), "my-llama"),
            (tmp_path / "budget", (*fork, "--model", "my-llama"), "my-llama"),
        ]
        for where, args, model in cases:
            done = plancontrol(*args, cwd=where)
            assert (done.returncode, done.stderr) == (2, unknown(model)), args
        refused = library.resume(tmp_path / "run", settings={"max_cost_usd": 1.0}, env={})
        refused_fork = library.fork(
            tmp_path / "budget" / "run", tmp_path / "fork", from_step=1, model="my-llama", env={}
        )
        assert len(server.log) == before
    said = unknown("m").removeprefix("plancontrol: ").rstrip("\n")
    assert refused == Failure(Problem(what=said, where="max_cost_usd"))
    said = unknown("my-llama").removeprefix("plancontrol: ").rstrip()
    assert refused_fork == Failure(Problem(what=said, where="max_cost_usd"))
    for run in (tmp_path / "run", tmp_path / "budget" / "run"):
        assert sorted(p.name for p in (run / "sessions").iterdir()) == ["01"]
    assert not (tmp_path / "fork").exists()
    assert not (tmp_path / "budget" / "fork").exists()


@pytest.mark.slow
def test_a_resume_on_other_models_keeps_params_and_prices_and_takes_a_reasoning_effort(
    tmp_path: Path,
) -> None:
    (tmp_path / "plancontrol.toml").write_text(
        '[run]\nreasoning_effort = "low"\n\n[settings]\nmax_cost_usd = 5.0\n\n'
        "[params.engineer]\ntemperature = 0.7\n\n"
        '[prices]\n"o3-custom" = [1.0, 4.0]\n'
    )
    replies = {
        "planner": [PRIMES],
        "engineer": [Code(FAILS), Code(SCRIPT)],
        "judge": [fix("exit 0"), OK],
        "researcher": ["# Report\nFour primes."],
    }
    with OpenAITestServer(replies) as server:
        first = failing_run(server.base_url, tmp_path, "o3-mini")
        assert first.returncode == 1, first.stderr
        (tmp_path / "plancontrol.toml").unlink()  # resume reads what the run recorded
        again = plancontrol(
            "resume", "run", "--model", "o3-custom", "--reasoning-effort", "high",
            "--max-n-attempts", "2", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        sent = [
            (e.key, e.body["model"], e.body.get("reasoning_effort"), e.body.get("temperature"))
            for e in server.log
        ]
    assert sent == [
        ("planner", "o3-mini", "low", None),
        ("engineer", "o3-mini", "low", 0.7),
        ("judge", "o3-mini", "low", None),
        ("engineer", "o3-custom", "high", 0.7),  # [params.engineer] still applies
        ("judge", "o3-custom", "high", None),
        ("researcher", "o3-custom", "high", None),
    ]
    route = session(tmp_path / "run", 2)["options"]["default_route"]
    assert route["prices"] == [["o3-custom", 1.0, 4.0]]  # so the budget is kept, not refused
    assert [(o["role"], o["temperature"]) for o in route["overrides"]] == [("engineer", 0.7)]
    assert route["reasoning_effort"] == "high"
    bad = plancontrol("resume", "run", "--reasoning-effort", "extreme", cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (
        2,
        "plancontrol: --reasoning-effort must be one of none, minimal, low, medium, high, "
        "xhigh, got 'extreme'\n",
    )
    replays(tmp_path)


def printed_commands(stderr: str) -> list[list[str]]:
    """The commands a one-line message names (in backticks), as arguments after `plancontrol`."""
    import re

    line = " ".join(stderr.split())
    return [shlex.split(c)[1:] for c in re.findall(r"`(plancontrol [^`]*)`", line)]


@pytest.mark.slow
def test_every_command_a_refusal_suggests_works_as_printed(tmp_path: Path) -> None:
    from plancontrol.servers.replies import Status

    replies = {
        "planner": [Status(500), PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(SCRIPT)],
        "judge": [OK],
        "researcher": ["# Report\nFour primes.", "# Report\nAgain.", "# Report\nForked."],
    }
    with OpenAITestServer(replies) as server:
        first = plancontrol(
            "run", "Compute primes", "--base-url", server.base_url, "--model", "m",
            "--max-retries", "0", "--run-dir", "run", "-q", cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr
        unplanned = plancontrol("resume", "run", "--from-step", "1", cwd=tmp_path)
        (again,) = printed_commands(unplanned.stderr)
        resumed = plancontrol(*again, "-q", cwd=tmp_path)
        finished = plancontrol("resume", "run", cwd=tmp_path)
        suggested = printed_commands(finished.stderr)
        done = [plancontrol(*command, "-q", cwd=tmp_path) for command in suggested]
        asked = [e.key for e in server.log]
    assert (unplanned.returncode, unplanned.stderr) == (
        2,
        "plancontrol: run has no approved plan yet; resume it without --from-step: "
        "`plancontrol resume run`\n",
    )
    assert again == ["resume", "run"]
    assert resumed.returncode == 0, resumed.stderr
    assert finished.returncode == 2
    assert suggested == [
        ["resume", "run", "--from-step", "2"],
        ["fork", "run", "--from-step", "2", "--into", "run-fork"],
    ]
    assert [(d.returncode, d.stderr) for d in done] == [(0, ""), (0, "")]
    assert asked == [
        "planner",  # the run: refused with 500
        "planner", "plan_reviewer", "planner", "engineer", "judge", "researcher",  # resumed
        "researcher",  # step 2 again
        "researcher",  # the fork's step 2
    ]  # fmt: skip
    forked = tmp_path / "run-fork"
    assert [session(forked, n)["command"] for n in (1, 2, 3)] == ["run", "resume", "fork"]
    replays(tmp_path, "run-fork")
