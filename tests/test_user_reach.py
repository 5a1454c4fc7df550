"""What a first user reaches for: --version and -h, --task-file, ``show --step K``, the
judge's reason when an attempt is retried, ``replay --part 1``, killed sessions named so,
and library messages that name parameters, not flags."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from scripts import OK, PRIMES, plancontrol, review
from test_durable import kill, replies, start, wait_for

import plancontrol as library
from plancontrol.app import api
from plancontrol.core.answers import Code, Verdict
from plancontrol.testing import OpenAITestServer, Slow

SRC = Path(library.__file__).parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo run (its step 1 takes two attempts), and the progress it printed."""
    where = tmp_path_factory.mktemp("demo")
    done = plancontrol("demo", "--run-dir", "d", cwd=where)
    assert done.returncode == 0, done.stderr
    return where / "d", done.stderr


@pytest.mark.slow
def test_version_flag_prints_the_version(tmp_path: Path) -> None:
    done = plancontrol("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{library.__version__}\n", "")


@pytest.mark.slow
def test_dash_h_is_help_for_the_program_and_each_command(tmp_path: Path) -> None:
    top = plancontrol("-h", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith("Usage: python -m plancontrol [OPTIONS] COMMAND [ARGS]...\n")
    assert "  -h, --help  Show this message and exit.\n" in top.stdout
    run = plancontrol("run", "-h", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "  --task-file " in run.stdout


@pytest.mark.slow
def test_task_file_gives_the_run_its_task(tmp_path: Path) -> None:
    task = "Compute the first 20 primes.\nSave them to primes.txt, one per line."
    (tmp_path / "task.md").write_text(f"\n{task}\n\n")
    answers: dict[str, list[Any]] = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("open('primes.txt', 'w').write('2 3 5')")],
        "judge": [OK],
        "researcher": ["# Report\nThree primes."],
    }
    with OpenAITestServer(answers) as server:
        done = plancontrol(
            "run",
            "--task-file",
            "task.md",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "--run-dir",
            "run",
            "-q",
            cwd=tmp_path,
        )
        first = server.log[0]
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["task"] == task
    assert first.key == "planner"
    assert task in json.dumps(first.body, ensure_ascii=False).replace("\\n", "\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--task-file", "nope.md"],
            "--task-file nope.md does not exist; give the file that holds the task",
        ),
        (["--task-file", "blank.md"], "--task-file blank.md is empty; write the task in it"),
        (["--task-file", "folder"], "cannot read --task-file folder: Is a directory"),
        (
            ["TASK", "--task-file", "blank.md"],
            "give the task as TASK or with --task-file, not both",
        ),
        ([], 'give the task: plancontrol run "TASK", or --task-file FILE'),
    ],
)
def test_a_task_file_that_cannot_serve_is_one_line_and_nothing_is_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "blank.md").write_text(" \n\n")
    (tmp_path / "folder").mkdir()
    done = plancontrol(
        "run",
        *args,
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--run-dir",
        "run",
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"plancontrol: {message}\n"
    assert not (tmp_path / "run").exists()


STEP_1 = """\
step 1 (engineer): Compute the first 20 prime numbers and save them to primes.txt
completed after 2 attempt(s)
attempt 1: codebase/step_1.py, exit code 0
  code:
    primes = []
    n = 2
    while len(primes) < 19:
        if all(n % p for p in primes if p * p <= n):
            primes.append(n)
        n += 1
    with open("primes.txt", "w") as out:
        out.write("\\n".join(map(str, primes)) + "\\n")
    print(len(primes), "primes:", *primes)
  output (last 20 lines):
    19 primes: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 53 59 61 67
  judge: fix: the script did not produce 20 primes
attempt 2: codebase/step_1.py, exit code 0
  code:
    primes = []
    n = 2
    while len(primes) < 20:
        if all(n % p for p in primes if p * p <= n):
            primes.append(n)
        n += 1
    with open("primes.txt", "w") as out:
        out.write("\\n".join(map(str, primes)) + "\\n")
    print(len(primes), "primes:", *primes)
  output (last 20 lines):
    20 primes: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 53 59 61 67 71
  judge: success: 20 primes computed and saved to primes.txt
"""


@pytest.mark.slow
def test_show_step_prints_each_attempt_its_code_output_and_the_judges_reason(
    demo: tuple[Path, str],
) -> None:
    run, _ = demo
    before = sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*"))
    done = plancontrol("show", "d", "--step", "1", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == STEP_1
    assert sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*")) == before  # read only
    text = plancontrol("show", "d", "--step", "2", cwd=run.parent)
    assert text.stdout.splitlines()[:3] == [
        "step 2 (researcher): Write a short report on the primes found",
        "completed after 1 attempt(s)",
        "it runs no code; its reply:",
    ]
    beyond = plancontrol("show", "d", "--step", "3", cwd=run.parent)
    assert (beyond.returncode, beyond.stderr) == (
        2,
        "plancontrol: d has 2 step(s); pick a step from 1 to 2\n",
    )


@pytest.mark.slow
def test_progress_gives_the_judges_reason_when_an_attempt_is_retried(
    demo: tuple[Path, str],
) -> None:
    _, progress = demo
    assert (
        "  attempt 1: script ran, exit code 0\n"
        "  judge on attempt 1: fix: the script did not produce 20 primes; trying again\n"
        "  attempt 2: script ran, exit code 0\n"
    ) in progress
    assert progress.count("judge on attempt") == 1  # not for the attempt that succeeded


@pytest.mark.slow
@pytest.mark.parametrize("part", ["1", "step-1", "step-01"])
def test_replay_part_takes_a_step_by_number(demo: tuple[Path, str], part: str) -> None:
    run, _ = demo
    done = plancontrol("replay", "d", "--part", part, "-q", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"replay of {part} identical to the recording: sha256 ")


@pytest.mark.slow
def test_replay_part_with_a_wrong_name_lists_the_parts(demo: tuple[Path, str]) -> None:
    run, _ = demo
    done = plancontrol("replay", "d", "--part", "nope", "-q", cwd=run.parent)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "plancontrol: d has no part 'nope'; name one it recorded: plan, review, approve, "
        "step-01, step-02, control, finalize (a step also by its number, e.g. 1)\n"
    )


@pytest.mark.slow
def test_a_killed_session_shows_as_killed_once_a_later_one_exists(tmp_path: Path) -> None:
    slow_report = Slow(3, "# Report\nFour primes.")  # killed while this is awaited
    with OpenAITestServer(replies(researcher=[slow_report, "# Report\nFour primes."])) as server:
        proc = start(server, tmp_path)
        run = tmp_path / "run"
        wait_for(run / "sessions" / "01" / "snapshots" / "step-01.json", proc)
        kill(proc)
        resumed = plancontrol("resume", "run", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    done = plancontrol("show", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sessions: 1 run (killed), 2 resume (completed)\n" in done.stdout
    document = json.loads(plancontrol("show", "run", "--json", cwd=tmp_path).stdout)
    assert [s["status"] for s in document["sessions"]] == ["killed", "completed"]
    recorded = json.loads((run / "sessions" / "01" / "session.json").read_text())
    assert recorded["status"] == "running"  # "killed" is told, never written


FLAG = re.compile(r"--[a-z]")
LIBRARY = (
    "app/api.py",
    "app/new_run.py",
    "app/session.py",
    "app/going.py",
    "recording/wiring.py",
    "recording/replay.py",
    "recording/part_replay.py",
    "recording/session_replay.py",
    "runs/resume.py",
    "core/errors.py",
    "app/routing.py",
    "servers/embedded.py",
)
NOT_FAILURES = {
    "--role-model expects ROLE=MODEL, got ",  # parse_role_models parses the CLI's flags
    "no --model given: using ",  # notices, said as the CLI starts a run
    "no model configured (no --model, no --base-url, no OPENAI_API_KEY): using the embedded "
    "local model",
}


def _messages(module: Path) -> list[str]:
    """The text of every string in ``module`` that is not a docstring nor a subprocess's
    argument list (the embedded server's own flags)."""
    tree = ast.parse(module.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    argv = {id(e) for node in ast.walk(tree) if isinstance(node, ast.List) for e in node.elts}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | argv
    ]


@pytest.mark.parametrize("name", LIBRARY)
def test_library_messages_name_parameters_not_flags(name: str) -> None:
    flagged = [m for m in _messages(SRC / name) if FLAG.search(m)]
    assert [m for m in flagged if m not in NOT_FAILURES] == []


@pytest.mark.slow
def test_the_library_says_parameters_and_the_command_line_says_flags(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    run, _ = demo
    finished = api.resume(run)
    assert finished.failure().message == (
        f"{run} ran to the end; nothing to resume: run step 2 again with "
        f"`resume(run_dir={run}, from_step=2)`, or branch it there with "
        f"`fork(run_dir={run}, from_step=2, into={run}-fork)`"
    )
    beyond = api.resume(run, from_step=7)
    assert beyond.failure().where == "from_step"
    assert beyond.failure().message == (
        f"`from_step=7` is out of range: the plan in {run} has 2 step(s); pick a step from 1 to 2"
    )
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("kept")
    assert api.fork(run, tmp_path / "taken", from_step=2).failure().message == (
        f"{tmp_path / 'taken'} already exists and is not empty; choose another `into`"
    )
    assert api.run("t", run, model="m", base_url="http://127.0.0.1:9/v1").failure().message == (
        f"run folder {run} already exists and is not empty; choose another folder (`run_dir`) "
        "or remove it"
    )
    assert api.run("t", tmp_path / "new", base_url="http://127.0.0.1:9/v1").failure().message == (
        "`base_url` needs `model`: the name of a model that server serves"
    )
    said = [
        plancontrol("resume", "d", cwd=run.parent).stderr,
        plancontrol("resume", "d", "--from-step", "7", cwd=run.parent).stderr,
    ]
    assert said == [
        "plancontrol: d ran to the end; nothing to resume: run step 2 again with "
        "`plancontrol resume d --from-step 2`, or branch it there with "
        "`plancontrol fork d --from-step 2 --into d-fork`\n",
        "plancontrol: --from-step 7 is out of range: the plan in d has 2 step(s); pick a step "
        "from 1 to 2\n",
    ]


def test_a_judge_reply_that_is_not_a_verdict_is_passed_over() -> None:
    from plancontrol.core.answers import verdict_of

    assert verdict_of("not json") is None
    assert verdict_of('{"decision": "fix", "reason": "r"}') == Verdict("fix", "r")
