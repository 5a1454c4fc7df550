"""``--python``: the scripts' interpreter, recorded, and told to the engineer with its packages;
each attempt of a step kept beside its script."""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from scripts import PRIMES, plancontrol, review, run_against

from plancontrol.core.answers import Code, Verdict
from plancontrol.handlers.interpreter import describe_python
from plancontrol.runs.folder import read_manifest, read_sessions
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts a process or a server

TOLD = "The Python that runs your script, and the packages it has:\n"


def wrapped_python(folder: Path) -> Path:
    """An interpreter of its own: this Python, marking the scripts it runs."""
    wrapper = folder / "python-for-scripts"
    wrapper.write_text(f'#!/bin/sh\nexport RUN_BY_WRAPPER=yes\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_python_runs_the_scripts_and_the_engineer_is_told_what_it_has(tmp_path: Path) -> None:
    python = wrapped_python(tmp_path)
    replies = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [
            Code("import os\nprint(os.environ.get('RUN_BY_WRAPPER'))\nraise SystemExit(4)"),
            Code("import os\nprint(os.environ.get('RUN_BY_WRAPPER'))"),
        ],
        "judge": [
            Verdict("fix", "exits with 4", "exit 0"),
            Verdict("success", "ran"),
            Verdict("success", "ran again"),
        ],
        "researcher": ["# Report\nDone.", "# Report\nDone again."],
    }
    replies["engineer"].append(replies["engineer"][1])  # for the fork
    with OpenAITestServer(replies) as server:
        done = run_against(server.base_url, "-q", "--python", f"./{python.name}", cwd=tmp_path)
        engineer = [e.body for e in server.log if e.key == "engineer"]
        forked = plancontrol(
            "fork", "run", "--from-step", "1", "--into", "forked", "-q", cwd=tmp_path
        )
        told_in_fork = [e.body for e in server.log if e.key == "engineer"][2:]
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    reran = plancontrol("replay", "run", "--rerun-code", "-q", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    manifest = read_manifest(run).unwrap()
    assert manifest.python == str(python)  # made absolute: the scripts run in work/
    described = "Python {}.{}.{}, with these packages: ".format(*sys.version_info[:3])
    assert manifest.interpreter.startswith(described)
    assert f"msgspec=={version('msgspec')}" in manifest.interpreter
    systems = [body["messages"][0]["content"] for body in engineer]
    assert [s.endswith(TOLD + manifest.interpreter) for s in systems] == [True, True]
    codebase = run / "work" / "codebase"
    assert sorted(p.name for p in codebase.iterdir()) == [
        "step_1.py",
        "step_1_attempt_1.out.txt",
        "step_1_attempt_1.py",
        "step_1_attempt_2.out.txt",
        "step_1_attempt_2.py",
    ]
    assert (codebase / "step_1_attempt_1.out.txt").read_text() == (
        "exit code: 4\ntimed out: no\n\n--- stdout ---\nyes\n--- stderr ---\n"
    )
    assert (codebase / "step_1_attempt_2.py").read_text() == replies["engineer"][1].code
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines()[-1].startswith("replay identical to the recording")
    assert reran.returncode == 0, reran.stderr  # run again by the same interpreter
    assert "code: 2 script run(s) executed again, each as recorded" in reran.stdout
    assert forked.returncode == 0, forked.stderr
    assert read_manifest(tmp_path / "forked").unwrap().python == str(python)
    assert [b["messages"][0]["content"] for b in told_in_fork] == [systems[1]]
    kept = tmp_path / "forked" / "work" / "codebase" / "step_1_attempt_1.out.txt"
    assert kept.read_text().split("--- stdout ---\n")[1] == "yes\n--- stderr ---\n"


def test_a_python_that_cannot_run_is_refused_before_any_model_call(tmp_path: Path) -> None:
    with OpenAITestServer({}) as server:
        done = run_against(server.base_url, "--python", "/no/such/python", cwd=tmp_path)
        calls = len(server.log)

    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: cannot run '/no/such/python' (No such file or directory); give the path "
        "of a Python interpreter\n"
    )
    assert calls == 0
    assert not (tmp_path / "run").exists()


def marked_python(folder: Path) -> Path:
    """``wrapped_python`` that also has a package of its own (``aaa-marker``, listed first),
    so that what the engineer is told of it differs from plancontrol's own Python."""
    site = folder / "site" / "aaa_marker-1.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: aaa-marker\nVersion: 1.0\n")
    wrapper = wrapped_python(folder)
    wrapper.write_text(
        f'#!/bin/sh\nexport RUN_BY_WRAPPER=yes PYTHONPATH="{folder / "site"}"\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    return wrapper


def printed(run: Path, session: int) -> list[str]:
    """What session ``session``'s scripts printed, one entry a run, from its journal."""
    journal = run / "sessions" / f"{session:02d}" / "journal.jsonl"
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    return [e["result"]["stdout"] for e in entries if e.get("type") == "Ran"]


def test_resume_and_fork_take_a_new_python_and_pass_env_and_describe_it_again(
    tmp_path: Path,
) -> None:
    python = marked_python(tmp_path)
    script = (
        "import os\nprint(os.environ.get('RUN_BY_WRAPPER'), "
        "len(os.environ.get('MY_SERVICE_TOKEN', '')))"
    )
    replies: dict[str, list[Any]] = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code(script + "\nraise SystemExit(4)"), Code(script), Code(script)],
        "judge": [Verdict("fix", "exits with 4", "exit 0"), Verdict("success", "ran")],
        "researcher": ["# Report\nDone.", "# Report\nForked."],
    }
    replies["judge"].append(replies["judge"][1])
    env = {"MY_SERVICE_TOKEN": "tok-0123456789abcdef"}
    with OpenAITestServer(replies) as server:
        first = run_against(server.base_url, "-q", "--attempts", "1", cwd=tmp_path)
        resumed = plancontrol(
            "resume", "run", "--python", f"./{python.name}", "--pass-env", "MY_SERVICE_TOKEN",
            "-q", cwd=tmp_path, env=env,
        )  # fmt: skip
        forked = plancontrol(
            "fork", "run", "--from-step", "1", "--into", "forked", "--python", sys.executable,
            "-q", cwd=tmp_path, env=env,
        )  # fmt: skip
        told = [e.body["messages"][0]["content"] for e in server.log if e.key == "engineer"]

    assert first.returncode == 1, first.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert forked.returncode == 0, forked.stderr
    run = tmp_path / "run"
    assert printed(run, 1) == ["None 0\n"]
    assert printed(run, 2) == ["yes 20\n"]  # the new interpreter, the variable passed
    manifest = read_manifest(run).unwrap()
    options = [s.options for s in read_sessions(run).unwrap()]
    assert [(o.python, o.pass_env) for o in options if o] == [
        ("", ()),
        (str(python), ("MY_SERVICE_TOKEN",)),
    ]
    own = describe_python(sys.executable).unwrap()
    assert manifest.interpreter == own
    assert options[1] is not None
    assert options[1].interpreter == describe_python(str(python)).unwrap()
    assert options[1].interpreter.split(": ")[1].startswith("aaa-marker==1.0, ")
    expected = (own, options[1].interpreter, own)  # the run, the resume, the fork
    assert [t.endswith(TOLD + i) for t, i in zip(told, expected, strict=True)] == [True] * 3
    fork_options = read_sessions(tmp_path / "forked").unwrap()[-1].options
    assert fork_options is not None
    # the Python changed back; the variable still passed, as the run last recorded it
    assert (fork_options.python, fork_options.pass_env) == (sys.executable, ("MY_SERVICE_TOKEN",))
    assert printed(tmp_path / "forked", 2) == ["None 20\n"]
    assert plancontrol("replay", "run", "-q", cwd=tmp_path).returncode == 0
    # each session's scripts run again with that session's own Python and variables
    reran = plancontrol("replay", "run", "--rerun-code", "-q", cwd=tmp_path, env=env)
    assert reran.returncode == 0, reran.stdout + reran.stderr
    assert "code: 2 script run(s) executed again, each as recorded" in reran.stdout
