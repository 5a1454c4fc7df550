"""Durable runs: a real `plancontrol run` killed at any moment resumes without asking again
for finished work; resume from a step, fork, show, cancellation, and bad input left intact."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scripts import OK, PRIMES, plancontrol, review, run_against

from plancontrol import decode_context
from plancontrol.core.answers import Code
from plancontrol.recording.message_store import read_cassette
from plancontrol.testing import OpenAITestServer, Slow

pytestmark = pytest.mark.slow  # every test here starts a process or a server

SCRIPT = "open('primes.txt', 'w').write('2 3 5 7')\nprint('4 primes')"


def replies(**changes: list[Any]) -> dict[str, list[Any]]:
    """A two-step run (engineer, researcher) with spare replies for what a resume asks again."""
    base: dict[str, list[Any]] = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine"), review("fine")],
        "engineer": [Code(SCRIPT), Code(SCRIPT)],
        "judge": [OK, OK],
        "researcher": ["# Report\nFour primes.", "# Report\nFour primes."],
    }
    return {**base, **changes}


def start(server: OpenAITestServer, cwd: Path) -> subprocess.Popen[str]:
    """``plancontrol run`` on ``server`` into ``cwd/run``, as a process the test can kill."""
    argv = ["run", "Compute primes", "--base-url", server.base_url, "--model", "test-model"]
    return subprocess.Popen(
        [sys.executable, "-m", "plancontrol", *argv, "--run-dir", "run", "-q"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"the run ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def roles(server: OpenAITestServer) -> Counter[str]:
    return Counter(exchange.key for exchange in server.log)


def session(run: Path, number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (run / "sessions" / f"{number:02d}" / "session.json").read_text()
    )
    return data


def resumed_and_replayed(run: Path) -> None:
    done = plancontrol("resume", "run", "-q", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    assert (run / "work" / "primes.txt").read_text() == "2 3 5 7"
    replayed = plancontrol("replay", "run", "-q", cwd=run.parent)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay identical to the recording" in replayed.stdout


SLOW_REVIEW = replies(plan_reviewer=[Slow(30, review("fine")), review("fine")])
"""Replies that keep a run waiting on its plan's review."""


def reviewing(server: OpenAITestServer, cwd: Path) -> tuple[subprocess.Popen[str], Path]:
    """A run started on ``server`` into ``cwd/run``, its plan written and the reviewer's
    (slow) request in flight."""
    proc = start(server, cwd)
    run = cwd / "run"
    wait_for(run / "sessions" / "01" / "snapshots" / "plan.json", proc)
    deadline = time.monotonic() + 60
    while "plan_reviewer" not in roles(server):  # the server logs a request before its Slow reply
        assert proc.poll() is None, f"the run ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "the plan's review was never asked for"
        time.sleep(0.005)
    return proc, run


def test_killed_during_planning_resumes_without_planning_again(tmp_path: Path) -> None:
    with OpenAITestServer(SLOW_REVIEW) as server:
        proc, run = reviewing(server, tmp_path)
        kill(proc)
        assert session(run, 1)["status"] == "running"  # it died without a word
        assert roles(server)["planner"] == 1
        resumed_and_replayed(run)
        # the first draft was not asked for again: one draft, one revision after the review
        assert roles(server)["planner"] == 2
    assert session(run, 2)["starts_after"] == "plan"


def test_killed_in_the_middle_of_a_step_resumes_that_step_only(tmp_path: Path) -> None:
    sleeper = Code("import time\nopen('running', 'w').close()\ntime.sleep(2)\n" + SCRIPT)
    with OpenAITestServer(replies(engineer=[sleeper, Code(SCRIPT)])) as server:
        proc = start(server, tmp_path)
        run = tmp_path / "run"
        wait_for(run / "work" / "running", proc)  # the script is running
        kill(proc)
        asked = roles(server)
        assert (asked["planner"], asked["plan_reviewer"], asked["engineer"]) == (2, 1, 1)
        resumed_and_replayed(run)
        asked = roles(server)
        # planning was not asked again; step 1 was, because it had not finished
        assert (asked["planner"], asked["plan_reviewer"], asked["engineer"]) == (2, 1, 2)
        assert asked["researcher"] == 1
    assert session(run, 2)["starts_after"] == "approve"


def test_killed_right_after_a_step_resumes_at_the_next(tmp_path: Path) -> None:
    slow_report = Slow(30, "# Report\nFour primes.")
    with OpenAITestServer(replies(researcher=[slow_report, "# Report\nFour primes."])) as server:
        proc = start(server, tmp_path)
        run = tmp_path / "run"
        wait_for(run / "sessions" / "01" / "snapshots" / "step-01.json", proc)
        kill(proc)
        before = roles(server)
        resumed_and_replayed(run)
        asked = roles(server)
        # nothing of planning or of step 1 was asked again
        for role in ("planner", "plan_reviewer", "engineer", "judge"):
            assert asked[role] == before[role], role
        assert (asked["engineer"], asked["judge"]) == (1, 1)
    assert session(run, 2)["starts_after"] == "step-01"


def test_sigterm_stops_after_the_current_step_and_the_run_resumes(tmp_path: Path) -> None:
    sleeper = Code("import time\ntime.sleep(1)\n" + SCRIPT)
    with OpenAITestServer(replies(engineer=[sleeper])) as server:
        proc = start(server, tmp_path)
        run = tmp_path / "run"
        wait_for(run / "work" / "codebase" / "step_1.py", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert err.startswith("SIGTERM received: stopping after the current step")
        stopped = session(run, 1)
        assert (stopped["status"], roles(server)["researcher"]) == ("cancelled", 0)
        assert stopped["message"].startswith("cancelled before step 2")
        ctx = decode_context((run / "context.json").read_bytes()).unwrap()
        assert ctx.completed_steps == (1,)
        resumed_and_replayed(run)
        assert roles(server)["engineer"] == 1


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the offline demo (a scripted model server, real scripts)."""
    cwd = tmp_path_factory.mktemp("demo")
    done = plancontrol("demo", "--run-dir", "run", "-q", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "run"


@pytest.fixture
def run(demo_run: Path, tmp_path: Path) -> Path:
    """A copy of the demo run that a test may change."""
    import shutil

    shutil.copytree(demo_run, tmp_path / "run")
    return tmp_path / "run"


def step_requests(run: Path, number: int, step: int) -> list[str]:
    """The last user message of each recorded request of ``step`` in session ``number``."""
    path = run / "sessions" / f"{number:02d}" / "cassettes" / f"step-{step:02d}.json"
    cassette = read_cassette(path)
    return [
        i["request"]["body"]["json"]["messages"][-1]["content"] for i in cassette["interactions"]
    ]


def test_resume_from_step_k_carries_the_summaries_of_the_steps_before_it(run: Path) -> None:
    done = plancontrol("resume", "run", "--from-step", "2", "-q", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert session(run, 2)["starts_after"] == "step-01"
    assert sorted(p.name for p in (run / "sessions" / "02" / "cassettes").iterdir()) == [
        "step-02.json"
    ]  # step 1 was not run again
    (prompt,) = step_requests(run, 2, 2)
    assert "Results of the previous steps:\n### Step 1\n20 primes computed and saved" in prompt
    replayed = plancontrol("replay", "run", "-q", cwd=run.parent)
    assert replayed.returncode == 0, replayed.stderr


def test_a_finished_run_has_nothing_to_resume(run: Path) -> None:
    done = plancontrol("resume", "run", cwd=run.parent)
    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: run ran to the end; nothing to resume: run step 2 again with "
        "`plancontrol resume run --from-step 2`, or branch it there with "
        "`plancontrol fork run --from-step 2 --into run-fork`\n"
    )


def digest_tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_fork_branches_at_a_step_with_edits_and_replays(run: Path) -> None:
    original = digest_tree(run)
    done = plancontrol(
        "fork",
        "run",
        "--from-step",
        "2",
        "--into",
        "branch",
        "--set",
        "audience=students",
        "--set",
        "settings.max_n_attempts=2",
        "--instructions",
        "Mention the sum of the primes.",
        "-q",
        cwd=run.parent,
    )
    assert done.returncode == 0, done.stderr
    assert digest_tree(run) == original  # the original is untouched
    branch = run.parent / "branch"
    manifest = json.loads((branch / "manifest.json").read_text())
    assert (manifest["forked_from"], manifest["fork_step"]) == (str(run.resolve()), 2)
    assert session(branch, 1)["ends_after"] == "step-01"
    assert (session(branch, 2)["command"], session(branch, 2)["starts_after"]) == (
        "fork",
        "step-01",
    )
    ctx = decode_context((branch / "context.json").read_bytes()).unwrap()
    assert ctx.variables["audience"] == "students"
    assert ctx.settings.max_n_attempts == 2
    assert ctx.plan is not None
    assert ctx.plan.step(2).bullet_points[-1] == "Mention the sum of the primes."
    (prompt,) = step_requests(branch, 2, 2)
    assert "- Mention the sum of the primes." in prompt
    assert "### Step 1\n20 primes computed" in prompt
    assert (branch / "work" / "primes.txt").read_text() == (run / "work" / "primes.txt").read_text()
    replayed = plancontrol("replay", "branch", "-q", cwd=run.parent)
    assert replayed.returncode == 0, replayed.stderr


def test_show_tells_the_status_the_plan_and_the_costs(run: Path) -> None:
    done = plancontrol("show", "run", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert "status: finished" in done.stdout
    assert "sessions: 1 run (completed)" in done.stdout
    for expected in ("Plan and progress", "Cost by role", "Timing", "engineer", "completed"):
        assert expected in done.stdout


def test_show_of_a_killed_run_says_where_it_can_resume(run: Path) -> None:
    path = run / "sessions" / "01" / "session.json"
    path.write_text(path.read_text().replace('"completed"', '"running"'))
    done = plancontrol("show", "run", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert "status: stopped without finishing; resumable after finalize" in done.stdout


def corrupt_snapshot(run: Path) -> str:
    path = run / "sessions" / "01" / "snapshots" / "finalize.json"
    path.write_bytes(path.read_bytes()[:100])
    return f"{path} is not the snapshot that was recorded"


def edit_snapshot(run: Path) -> str:
    path = run / "sessions" / "01" / "snapshots" / "step-01.json"
    path.write_text(path.read_text().replace("20 primes computed", "21 primes computed"))
    return f"{path} is not the snapshot that was recorded"


def unknown_format(run: Path) -> str:
    path = run / "manifest.json"
    path.write_text(path.read_text().replace('"format": 4', '"format": 99'))
    return f"{path} has format 99; this plancontrol reads formats 3 and 4"


def missing_session(run: Path) -> str:
    path = run / "sessions" / "01" / "session.json"
    path.unlink()
    return f"{run / 'sessions'} holds no session"


def not_a_run(run: Path) -> str:
    (run / "manifest.json").unlink()
    return f"{run} is not a plancontrol run folder (no manifest.json)"


Breaker = Callable[[Path], str]


@pytest.mark.parametrize(
    ("args", "breaker"),
    [
        (["resume", "run"], corrupt_snapshot),
        (["resume", "run", "--from-step", "2"], edit_snapshot),
        (["resume", "run"], unknown_format),
        (["show", "run"], unknown_format),
        (["replay", "run"], unknown_format),
        (["resume", "run"], missing_session),
        (["resume", "run"], not_a_run),
        (["show", "run"], not_a_run),
        (["fork", "run", "--from-step", "2", "--into", "b"], edit_snapshot),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    run: Path, args: list[str], breaker: Breaker
) -> None:
    expected = breaker(run).replace(f"{run.parent}/", "")
    before = digest_tree(run)
    done = plancontrol(*args, cwd=run.parent)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"plancontrol: {expected}")
    assert done.stderr.count("\n") == 1
    assert digest_tree(run) == before
    assert not (run.parent / "b").exists()


@pytest.mark.parametrize("step", ["0", "3", "-1"])
def test_a_resume_step_out_of_range_is_one_line_and_changes_nothing(run: Path, step: str) -> None:
    before = digest_tree(run)
    done = plancontrol("resume", "run", "--from-step", step, cwd=run.parent)
    assert done.returncode == 2
    assert done.stderr == (
        f"plancontrol: --from-step {step} is out of range: the plan in run has 2 step(s); pick "
        "a step from 1 to 2\n"
    )
    assert digest_tree(run) == before


def test_a_missing_cassette_is_named_and_nothing_changes(run: Path) -> None:
    cassette = run / "sessions" / "01" / "cassettes" / "step-02.json"
    cassette.unlink()
    before = digest_tree(run)
    done = plancontrol("replay", "run", "-q", cwd=run.parent)
    assert done.returncode == 2
    assert done.stderr == (
        f"plancontrol: {cassette.relative_to(run.parent)} is missing; restore it from a copy of "
        "the run folder or record again\n"
    )
    assert digest_tree(run) == before


def test_a_cassette_cut_short_is_named_in_one_line_and_nothing_changes(run: Path) -> None:
    cassette = run / "sessions" / "01" / "cassettes" / "step-01.json"
    cassette.write_bytes(cassette.read_bytes()[:300])
    before = digest_tree(run)
    done = plancontrol("replay", "run", "-q", cwd=run.parent)
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (2, "", 1)
    assert done.stderr.startswith(
        f"plancontrol: {cassette.relative_to(run.parent)} is damaged (JSONDecodeError: "
    )
    assert done.stderr.endswith("); restore it from a copy\n")
    assert digest_tree(run) == before


def test_a_fork_into_a_folder_that_holds_files_is_refused(run: Path) -> None:
    (run.parent / "b").mkdir()
    (run.parent / "b" / "notes.txt").write_text("mine")
    done = plancontrol("fork", "run", "--from-step", "2", "--into", "b", cwd=run.parent)
    assert done.returncode == 2
    assert done.stderr == "plancontrol: b already exists and is not empty; choose another --into\n"
    assert (run.parent / "b" / "notes.txt").read_text() == "mine"
    assert os.listdir(run.parent / "b") == ["notes.txt"]


def test_replay_of_one_step_alone_from_the_command_line(run: Path) -> None:
    done = plancontrol("replay", "run", "--part", "step-02", "-q", cwd=run.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("replay of step-02 identical to the recording: sha256 ")
    missing = plancontrol("replay", "run", "--part", "step-05", "-q", cwd=run.parent)
    assert missing.returncode == 2
    assert missing.stderr == (
        "plancontrol: run has no part 'step-05'; name one it recorded: plan, review, approve, "
        "step-01, step-02, control, finalize (a step also by its number, e.g. 1)\n"
    )


def status_line(shown: str) -> str:
    """The line of ``plancontrol show`` that tells how the run stands."""
    (line,) = [line for line in shown.splitlines() if line.startswith("status: ")]
    return line


def test_a_live_run_is_refused_to_every_other_writer_and_shown_running(tmp_path: Path) -> None:
    with OpenAITestServer(SLOW_REVIEW) as server:
        proc, run = reviewing(server, tmp_path)
        before, asked = digest_tree(run), len(server.log)
        in_use = (
            f"plancontrol: run is in use by pid {proc.pid} (a plancontrol command still "
            f"writing it); wait until it ends or stop it (kill {proc.pid}), then try again\n"
        )
        again = ["--base-url", server.base_url, "--model", "test-model", "--run-dir", "run"]
        for args in (
            ["resume", "run"],
            ["resume", "run", "--from-step", "1"],
            ["fork", "run", "--from-step", "1", "--into", "b"],
            ["run", "Compute primes", *again],
        ):
            done = plancontrol(*args, cwd=tmp_path)
            assert (done.returncode, done.stderr, done.stdout) == (2, in_use, ""), args
        shown = plancontrol("show", "run", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert status_line(shown.stdout) == f"status: running (pid {proc.pid})"
        assert digest_tree(run) == before  # nothing written beside the live run
        assert len(server.log) == asked  # and no model asked by the refused commands
        assert not (tmp_path / "b").exists()
        assert (run / "lock").read_text().split()[0] == str(proc.pid)
        kill(proc)
        # the lock file the killed run left is stale: show no longer calls it running, and
        # resume takes the lock over and finishes the run
        assert (run / "lock").read_text().split()[0] == str(proc.pid)
        shown = plancontrol("show", "run", cwd=tmp_path)
        status = status_line(shown.stdout)
        assert status == "status: stopped without finishing; resumable after plan"
        replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)  # reads past the lock
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.startswith("replay identical to the recording (1 snapshots")
        resumed_and_replayed(run)
        assert roles(server)["planner"] == 2
    assert not (run / "lock").exists()  # released when the resume ended
    assert session(run, 2)["starts_after"] == "plan"


def test_a_lock_naming_a_pid_now_used_by_another_process_is_taken_over(run: Path) -> None:
    from plancontrol.app import api
    from plancontrol.runs.lock import holder

    # this process is alive, but it started at another time than the lock's writer did
    (run / "lock").write_text(f"{os.getpid()} 1\n")
    assert holder(run) is None
    shown = plancontrol("show", "run", cwd=run.parent)
    assert status_line(shown.stdout) == "status: finished"
    done = api.resume(run, from_step=2)
    assert done.map(lambda ctx: ctx.completed_steps).value_or(None) == (1, 2)
    assert not (run / "lock").exists()
    assert session(run, 2)["status"] == "completed"
    # a fork copies the run's files, never a lock left in it
    (run / "lock").write_text(f"{os.getpid()} 1\n")
    forked = api.fork(run, run.parent / "b", from_step=2)
    assert forked.map(lambda ctx: ctx.completed_steps).value_or(None) == (1, 2)
    assert sorted(p.name for p in (run.parent / "b").iterdir()) == [
        "context.json",
        "manifest.json",
        "plan.json",
        "report.html",
        "report.md",
        "reports",
        "sessions",
        "work",
    ]
    assert (run / "lock").read_text() == f"{os.getpid()} 1\n"


def test_the_library_takes_the_lock_as_the_commands_do(run: Path, tmp_path: Path) -> None:
    from plancontrol.app import api
    from plancontrol.runs.lock import lock

    before = digest_tree(run)
    me = os.getpid()
    with lock(run).unwrap():  # another writer, here this test itself
        assert holder_line(run) == me
        refused = [
            api.resume(run, from_step=2),
            api.fork(run, tmp_path / "b", from_step=2),
            api.run("Compute primes", run, base_url="http://127.0.0.1:9/v1", model="m"),
        ]
        for stopped in refused:
            assert stopped.failure().message == (
                f"{run} is in use by pid {me} (a plancontrol command still writing it); wait "
                f"until it ends or stop it (kill {me}), then try again"
            )
    assert not (run / "lock").exists()
    assert digest_tree(run) == before
    assert not (tmp_path / "b").exists()


def holder_line(run: Path) -> int:
    pid, started = (run / "lock").read_text().split()
    assert started.isdigit()
    return int(pid)


def test_runs_started_together_without_a_run_dir_get_their_own_folders(tmp_path: Path) -> None:
    # the default names of the next minute are taken already, so the runs must pick others
    now = time.time()
    for second in range(-1, 60):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now + second))
        (tmp_path / "runs" / f"run-{stamp}").mkdir(parents=True)
        (tmp_path / "runs" / f"run-{stamp}" / "notes.txt").write_text("mine")
    taken = sorted(p.name for p in (tmp_path / "runs").iterdir())
    with OpenAITestServer({k: v * 2 for k, v in replies().items()}) as server:
        argv = ["run", "Compute primes", "--base-url", server.base_url, "--model", "m", "-q"]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "plancontrol", *argv],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [(p.wait(120), p.communicate()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    made = sorted({p.name for p in (tmp_path / "runs").iterdir()} - set(taken))
    assert len(made) == 2
    for name in made:
        assert name.startswith("run-"), name
        assert name.endswith(("-2", "-3")), name
        ctx = decode_context((tmp_path / "runs" / name / "context.json").read_bytes()).unwrap()
        assert ctx.completed_steps == (1, 2)
    for name in taken:
        assert os.listdir(tmp_path / "runs" / name) == ["notes.txt"]
    assert roles(server)["planner"] == 4  # two whole runs: a draft and a revision each


def test_a_run_refused_before_it_began_leaves_no_default_folder(tmp_path: Path) -> None:
    done = plancontrol("run", "Compute primes", "--model", "gpt-4o", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("plancontrol: ")
    assert list((tmp_path / "runs").iterdir()) == []


def as_killed(run: Path) -> None:
    """Make session 1 look killed: still running, its journal never sealed."""
    path = run / "sessions" / "01" / "session.json"
    ended = json.loads(path.read_text())
    for field in ("journal_bytes", "journal_sha256"):
        ended.pop(field, None)
    path.write_text(json.dumps({**ended, "status": "running"}))


def cut_journal(run: Path, killed: bool = False) -> str:
    """Cut session 1's journal to 300 bytes, as if its session had been killed (``killed``:
    no size and sha256 sealed in session.json) or not; the line expected in reply."""
    journal = run / "sessions" / "01" / "journal.jsonl"
    size = len(journal.read_bytes())
    journal.write_bytes(journal.read_bytes()[:300])
    shown = journal.relative_to(run.parent)
    if not killed:
        return (
            f"plancontrol: {shown} is damaged (cut short or edited: 300 bytes where its "
            f"session.json recorded {size}); restore it from a copy of the run folder\n"
        )
    as_killed(run)
    return (
        f"plancontrol: {shown} is damaged (cut short: it does not record the snapshot "
        "approve.json the session wrote); restore it from a copy of the run folder\n"
    )


@pytest.mark.parametrize("killed", [False, True])
def test_a_journal_cut_short_is_named_and_nothing_is_run_or_changed(
    tmp_path: Path, killed: bool
) -> None:
    with OpenAITestServer(replies()) as server:
        recorded = run_against(server.base_url, "-q", cwd=tmp_path)
        assert recorded.returncode == 0, recorded.stderr
        run = tmp_path / "run"
        expected = cut_journal(run, killed)
        server.log.clear()
        before = digest_tree(run)
        for args in (
            ["replay", "run", "-q"],
            ["replay", "run", "--part", "step-02", "-q"],
            ["resume", "run"],
            ["resume", "run", "--from-step", "2"],
            ["fork", "run", "--from-step", "2", "--into", "b"],
        ):
            done = plancontrol(*args, cwd=tmp_path)
            assert (done.returncode, done.stderr, done.stdout) == (2, expected, ""), args
        assert digest_tree(run) == before
        assert server.log == []  # no model was asked
        assert not (tmp_path / "b").exists()


def test_a_journal_with_garbage_inside_is_named_by_its_line(run: Path) -> None:
    journal = run / "sessions" / "01" / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0], b"garbage", *lines[2:]]))
    as_killed(run)
    before = digest_tree(run)
    for args in (["replay", "run", "-q"], ["resume", "run"]):
        done = plancontrol(*args, cwd=run.parent)
        assert done.returncode == 2, args
        assert done.stderr.startswith(
            "plancontrol: run/sessions/01/journal.jsonl:2: not a journal entry ("
        ), args
        assert done.stderr.endswith("); restore the journal from a copy\n"), args
    assert digest_tree(run) == before
