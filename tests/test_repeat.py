"""`plancontrol repeat`: a step run again N times as forks stopped after it, and its stability."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure
from scripts import engineer_plan, plancontrol, review

import plancontrol as library
from plancontrol.app.repeat import ModelOptions
from plancontrol.core.answers import Code, Verdict
from plancontrol.core.errors import Cancelled
from plancontrol.core.phase import Halt
from plancontrol.testing import Drop, OpenAITestServer, Slow, role_of

ROOT = Path(__file__).resolve().parent.parent
PLAN = engineer_plan(3)
ONE = Code("open('one.txt', 'w').write('1')\nprint('ok')")
A = Code("open('two.txt', 'w').write('A')\nprint('ok')")
B = Code("open('two.txt', 'w').write('B')\nprint('ok')")
BAD = Code("raise SystemExit(3)")
THREE = Code("print('ok')")
PRICE = ("m", 1.0, 2.0)  # dollars per million prompt and completion tokens


def answers(step_two: list[Any]) -> Callable[[dict[str, Any]], Any]:
    """The server's replies: the plan, steps 1 and 3 by their text; step 2's scripts from
    ``step_two`` in the order asked; the judge approves a script that printed ``ok``."""
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> Any:
        role, last = role_of(body), json.dumps(body["messages"][-1])
        if role == "planner":
            return PLAN
        if role == "plan_reviewer":
            return review("fine")
        if role == "judge":
            return Verdict("success", "fine") if "ok" in last else Verdict("fix", "no", "again")
        if "step 1 of 3" in last:
            return ONE
        if "step 3 of 3" in last:
            return THREE
        with lock:
            return step_two.pop(0)

    return reply


def record(folder: Path) -> None:
    """A three-step run (planned, reviewed) into ``folder``: step 2 writes two.txt = A."""
    with OpenAITestServer(answers([A])) as server:
        done = library.run(
            "Save numbers", folder, base_url=server.base_url, model="m", max_retries=0,
            settings={"max_n_attempts": 2}, prices=[PRICE],
        )  # fmt: skip
    assert done.map(lambda ctx: ctx.completed_steps).value_or(None) == (1, 2, 3)


def hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its sha256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def asked(server: OpenAITestServer) -> list[tuple[str, str]]:
    """Each request: its role and the step it was about (from the last message's text)."""
    seen = []
    for exchange in server.log:
        last = json.dumps(exchange.body["messages"][-1])
        step = next((n for n in "123" if f"step {n} of 3" in last or f"Step {n}:" in last), "?")
        seen.append((exchange.key, step))
    return seen


def cost(server: OpenAITestServer) -> float:
    """What the requests the server answered cost at PRICE."""
    return sum(e.prompt_tokens * 1e-6 + e.completion_tokens * 2e-6 for e in server.log)


@pytest.mark.slow
def test_repeat_reports_counts_attempts_files_and_cost(tmp_path: Path) -> None:
    record(tmp_path / "run")
    before = hashes(tmp_path / "run")
    scripts = [A, BAD, BAD, BAD, A, B, BAD, BAD]  # 01 A; 02 fails twice; 03 fails, then A; ...
    with OpenAITestServer(answers(scripts)) as server:
        done = plancontrol("repeat", "run", "--step", "2", "--times", "5", "--base-url",
                           server.base_url, cwd=tmp_path)  # fmt: skip
        seen, spent = asked(server), cost(server)
        resumed = plancontrol("resume", "run-repeat-step-2/01", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "step 2 of run, 5 time(s), in run-repeat-step-2"
    assert [line.split()[:4] for line in lines[2:8]] == [
        ["01", "completed", "1", "2"],
        ["02", "attempts_exhausted", "2", "4"],
        ["03", "completed", "2", "4"],
        ["04", "completed", "1", "2"],
        ["05", "attempts_exhausted", "2", "4"],
        ["original", "completed", "1", "2"],
    ]
    assert lines[8] == (
        "outcomes: completed 3/5, attempts_exhausted 2/5 (original: completed; 3/5 as the original)"
    )
    assert lines[9] == "attempts: min 1, median 2, max 2"
    assert lines[10] == "files of the completed repetitions: they differ"
    assert lines[11:13] == [
        "  work/codebase/step_2.py: 2 distinct hash(es); differ from the original: 04",
        "  work/two.txt: 2 distinct hash(es); differ from the original: 04",
    ]
    assert "steps before 2: 0 model call(s), $0.000000 (from the recording)" in lines[13]
    assert "repetition 2: attempts_exhausted: step 2 failed after 2 attempt(s)" in done.stderr

    # the server was asked for step 2 alone: 8 scripts and their 8 verdicts, no plan
    assert seen == [("engineer", "2"), ("judge", "2")] * 8
    summary = json.loads((tmp_path / "run-repeat-step-2" / "repeat.json").read_text())
    rows = summary["repetitions"]
    assert [r["outcome"] for r in rows] == ["completed", "attempts_exhausted", "completed",
                                            "completed", "attempts_exhausted"]  # fmt: skip
    assert [r["attempts"] for r in rows] == [1, 2, 2, 1, 2]
    assert [r["prefix_calls"] for r in rows] == [0] * 5
    assert [r["exit_code"] for r in rows] == [1] * 5  # stopped after step 2, or failed there
    fork = json.loads((tmp_path / "run-repeat-step-2/01/sessions/02/session.json").read_text())
    assert (fork["command"], fork["status"]) == ("fork", "cancelled")
    assert fork["message"].startswith("cancelled before step 3")
    assert summary["counts"] == {"completed": 3, "attempts_exhausted": 2}
    assert summary["attempts"] == {"min": 1, "median": 2, "max": 2}
    assert summary["cost_usd"] == pytest.approx(spent)
    assert summary["mean_cost_usd"] == pytest.approx(spent / 5)
    assert (summary["prefix_calls"], summary["prefix_cost_usd"]) == (0, 0.0)
    two = {f["path"]: f for f in summary["files"]}["work/two.txt"]
    sha_a, sha_b = (hashlib.sha256(t).hexdigest() for t in (b"A", b"B"))
    assert (two["distinct"], two["recorded"], two["differ"]) == (2, sha_a, [4])
    assert [[f["sha256"] for f in r["files"] if f["path"] == "work/two.txt"] for r in rows] == [
        [sha_a], [], [sha_a], [sha_b], []
    ]  # fmt: skip
    assert summary["files_agree"] is False
    assert summary["original"]["files"][1] == {"path": "work/two.txt", "sha256": sha_a}

    assert hashes(tmp_path / "run") == before  # the original is left as it was
    replayed = plancontrol("replay", "run-repeat-step-2", "--workers", "2", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert [line.split()[:2] for line in replayed.stdout.splitlines()[:5]] == [
        [f"run-repeat-step-2/0{n}", "identical"] for n in range(1, 6)
    ]
    # a repetition stopped after step 2 goes on from there when resumed
    assert resumed.returncode == 0, resumed.stderr
    ctx = library.decode_context((tmp_path / "run-repeat-step-2/01/context.json").read_bytes())
    assert ctx.map(lambda c: c.completed_steps).value_or(None) == (1, 2, 3)


@pytest.mark.slow
def test_repeat_with_two_workers_counts_each_outcome_a_dropped_call_too(tmp_path: Path) -> None:
    record(tmp_path / "run")
    scripts = [A, BAD, A, B, Drop()]  # one attempt each: whichever repetition gets which
    with OpenAITestServer(answers(scripts)) as server:
        done = plancontrol("repeat", "run", "--step", "2", "--times", "5", "--workers", "2",
                           "--into", "again", "--set", "settings.max_n_attempts=1",
                           "--base-url", server.base_url, "--json", cwd=tmp_path)  # fmt: skip
        seen = asked(server)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["type"], summary["workers"], summary["into"]) == ("repeat", 2, "again")
    assert summary["counts"] == {"completed": 3, "attempts_exhausted": 1, "model_failure": 1}
    assert summary["attempts"] == {"min": 1, "median": 1, "max": 1}
    assert summary["as_original"] == 3
    two = {f["path"]: f for f in summary["files"]}["work/two.txt"]
    assert (two["distinct"], len(two["differ"])) == (2, 1)
    assert sorted(seen) == sorted([("engineer", "2")] * 5 + [("judge", "2")] * 4)
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "01", "02", "03", "04", "05", "repeat.json"
    ]  # fmt: skip


@pytest.mark.slow
def test_a_fork_stops_after_the_step_asked_and_resumes_later(tmp_path: Path) -> None:
    record(tmp_path / "run")
    with OpenAITestServer(answers([B])) as server:
        forked = library.fork(tmp_path / "run", tmp_path / "b", from_step=2, stop_after_step=2,
                              base_url=server.base_url)  # fmt: skip
        stopped_at = asked(server)
        resumed = library.resume(tmp_path / "b", base_url=server.base_url)
        seen = asked(server)
    match forked:
        case Failure(Halt(Cancelled(step=3), ctx)):
            assert ctx.completed_steps == (1, 2)
        case _:
            raise AssertionError(forked)
    assert stopped_at == [("engineer", "2"), ("judge", "2")]
    assert (tmp_path / "b" / "work" / "two.txt").read_text() == "B"
    assert resumed.map(lambda ctx: ctx.completed_steps).value_or(None) == (1, 2, 3)
    assert seen[2:] == [("engineer", "3"), ("judge", "3")]


@pytest.mark.slow
def test_ctrl_c_stops_the_repetition_going_and_starts_no_other(tmp_path: Path) -> None:
    record(tmp_path / "run")
    with OpenAITestServer(answers([Slow(60, A), A, A])) as server:
        argv = [sys.executable, "-m", "plancontrol", "repeat", "run", "--step", "2",
                "--times", "3", "--base-url", server.base_url]  # fmt: skip
        pipe = subprocess.PIPE
        repeating = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=pipe,
                                     stderr=pipe, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while not server.log:  # repetition 01 is waiting on the slow reply
            assert repeating.poll() is None, repeating.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        repeating.send_signal(signal.SIGINT)  # to the repeat alone, as a batch system would
        _, err = repeating.communicate(timeout=120)
        asked_then = len(server.log)
    assert repeating.returncode == 130
    assert (
        err.splitlines()[-1] == "plancontrol: interrupted; the repetitions that finished are kept"
    )
    assert asked_then == 1
    folder = tmp_path / "run-repeat-step-2"
    assert sorted(p.name for p in folder.iterdir()) == ["01", "repeat.json"]
    first = json.loads((folder / "01/sessions/02/session.json").read_text())
    assert first["status"] == "interrupted"  # resumable, as a run stopped by Ctrl-C
    rows = json.loads((folder / "repeat.json").read_text())["repetitions"]
    assert [(r["number"], r["outcome"], r["exit_code"]) for r in rows] == [(1, "interrupted", 130)]


def test_a_fork_cannot_stop_before_it_starts(tmp_path: Path) -> None:
    forked = library.fork(tmp_path / "none", tmp_path / "b", from_step=2, stop_after_step=1)
    assert forked.failure().message == (
        "`stop_after_step=1` comes before `from_step=2`; stop at the step the fork starts with "
        "or a later one"
    )
    assert not (tmp_path / "b").exists()


@pytest.fixture
def primes(tmp_path: Path) -> Path:
    """A copy of the recorded two-step primes run."""
    shutil.copytree(ROOT / "cassettes" / "primes-test-server", tmp_path / "primes")
    return tmp_path / "primes"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"step": 3, "times": 5}, "`step=3` is not a step of the plan in {run}: it has 2 step(s)"),
        ({"step": 0, "times": 5}, "`step=0` is not a step of the plan in {run}: it has 2 step(s)"),
        ({"step": 2, "times": 0}, "`times` must be at least 1, got 0"),
        ({"step": 2, "times": 2, "workers": 0}, "`workers` must be at least 1, got 0"),
        (
            {"step": 2, "times": 2, "options": ModelOptions(structured="bogus")},
            "the model options cannot be used: Invalid enum value 'bogus' - at `$.structured`",
        ),
        (
            {"step": 2, "times": 2, "options": ModelOptions(max_tokens=0)},
            "the most tokens per reply must be above 0, got 0",
        ),
        (
            {"step": 2, "times": 2, "options": ModelOptions(role_models=("judge",))},
            "--role-model expects ROLE=MODEL, got 'judge'",
        ),
        ({"step": 2, "times": 2, "sets": ["settings.bogus=1"]}, "invalid settings: "),
    ],
)
def test_repeat_refuses_bad_input_and_runs_nothing(
    primes: Path, arguments: dict[str, Any], message: str
) -> None:
    before = hashes(primes.parent)
    refused = library.repeat(primes, **arguments)
    assert refused.failure().message.startswith(message.format(run=primes))
    assert hashes(primes.parent) == before  # no repeat folder, the run unchanged


def test_repeat_refuses_a_folder_that_is_no_run_and_a_used_into(primes: Path) -> None:
    used = primes.parent / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    no_run = library.repeat(primes.parent / "nothing", step=1, times=2)
    into_used = library.repeat(primes, step=1, times=2, into=used)
    assert no_run.failure().message == (
        f"{primes.parent / 'nothing'} is not a run folder (it holds no manifest.json); give the "
        "folder of a run that `plancontrol run` recorded"
    )
    assert into_used.failure().message == (
        f"{used} already holds files (an earlier repeat?); give `into` a new folder"
    )
    assert (used / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_the_command_says_what_was_wrong_in_one_line(primes: Path) -> None:
    cases = [
        (["--step", "3", "--times", "5"], "--step 3 is not a step of the plan in primes: it has 2 "
         "step(s); pick a step from 1 to 2"),
        (["--step", "1", "--times", "0"], "--times must be at least 1, got 0; give 1 or more"),
        (["--step", "1", "--times", "2", "--workers", "0"],
         "--workers must be at least 1, got 0; give 1 or more"),
    ]  # fmt: skip
    for flags, said in cases:
        done = plancontrol("repeat", "primes", *flags, cwd=primes.parent)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"plancontrol: {said}\n")
    missing = plancontrol("repeat", "nowhere", "--step", "1", "--times", "2", cwd=primes.parent)
    assert missing.returncode == 2
    assert missing.stderr.startswith("plancontrol: nowhere is not a run folder")
    assert len(missing.stderr.splitlines()) == 1
    assert sorted(p.name for p in primes.parent.iterdir()) == ["primes"]


def test_the_summary_compares_only_the_files_of_completed_repetitions() -> None:
    from plancontrol.app.repeat_summary import Asked, FileHash, StepRun, summarize_repeat

    asked = Asked(run_dir="run", step=2, times=3, workers=1, into="out")
    same = (FileHash(path="work/two.txt", sha256="aa"),)
    original = StepRun(number=0, run_dir="run", outcome="completed", status="completed",
                       files=same, attempts=1)  # fmt: skip

    def run(n: int, outcome: str, files: tuple[FileHash, ...] = ()) -> StepRun:
        status = outcome if outcome in ("completed", "error") else "failed"
        attempts = 0 if outcome == "error" else n
        return StepRun(number=n, run_dir=f"out/0{n}", outcome=outcome, status=status,
                       attempts=attempts, files=files, cost_usd=0.5)  # fmt: skip

    agreeing = summarize_repeat(
        asked, original, [run(1, "completed", same), run(2, "attempts_exhausted"),
                          run(3, "completed", same)], 9.0,
    )  # fmt: skip
    assert (agreeing.files_agree, agreeing.files[0].distinct, agreeing.files[0].differ) == (
        True, 1, ()
    )  # fmt: skip
    assert (agreeing.counts, agreeing.as_original) == ({"completed": 2, "attempts_exhausted": 1}, 2)
    assert (agreeing.attempts.min, agreeing.attempts.median, agreeing.attempts.max) == (1, 2, 3)
    assert (agreeing.cost_usd, agreeing.mean_cost_usd) == (1.5, 0.5)
    none_completed = summarize_repeat(
        asked, original, [run(1, "error"), run(2, "model_failure")], 1.0
    )
    assert (none_completed.files, none_completed.files_agree) == ((), False)
    assert none_completed.attempts.max == 2  # the errored one, with no outcome, is not counted
