"""Runaway generated code, run for real: loops, floods, hogs, writes outside, deleted files."""

from __future__ import annotations

import re
import resource
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure
from scripts import OK, engineer_plan, fix

from plancontrol import AttemptsExhausted, Context, Settings
from plancontrol.core.answers import Code, Verdict
from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.ports import Execution, Script
from plancontrol.handlers.executor import SubprocessExecutor
from plancontrol.handlers.sandbox import landlock_abi
from plancontrol.testing import FunctionAgents, scripted_effects

pytestmark = pytest.mark.slow  # every test here starts a process or a server

ONE_STEP = engineer_plan(1)
LANDLOCK = pytest.mark.skipif(
    landlock_abi() < 2, reason="this kernel offers no Landlock: writes cannot be refused"
)
CUT = re.compile(r"\n\[… (\d+) characters cut …\]\n")


def _script(code: str, step: int = 1, attempt: int = 1) -> Script:
    return Script(
        step=step,
        attempt=attempt,
        filename=f"codebase/step_{step}.py",
        code=textwrap.dedent(code),
    )


def _run(executor: SubprocessExecutor, code: str, step: int = 1) -> Execution:
    return executor.run(_script(code, step)).unwrap()


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _gone_soon(pgid: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while _group(pgid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _cut(text: str) -> int:
    """How many characters the capture marker says were cut from ``text``."""
    found = CUT.search(text)
    assert found is not None, text[:300]
    return int(found.group(1))


def _agents(codes: list[str], judge: Any) -> FunctionAgents:
    """The engineer answers attempt N with ``codes[N-1]``; the judge with ``judge(content)``."""
    return FunctionAgents(
        {
            "engineer": lambda r: Code(codes[r.attempt - 1]),
            "judge": lambda r: judge(r.messages[-1].content),
        }
    )


def _judged(agents: FunctionAgents) -> list[str]:
    return [r.messages[-1].content for r in agents.requests if r.role == "judge"]


# --- an infinite loop -------------------------------------------------------------------

LOOP_WITH_A_CHILD = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open("group.txt", "w").write(f"{os.getpgid(0)} {child.pid}")
    print("looping", flush=True)
    while True:
        pass
"""


def test_an_infinite_loop_is_stopped_at_the_timeout_and_its_whole_group_killed(
    tmp_path: Path,
) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=1)
    started = time.monotonic()

    run = _run(executor, LOOP_WITH_A_CHILD)

    assert time.monotonic() - started < 6
    assert (run.exit_code, run.timed_out, run.stdout) == (-9, True, "looping\n")
    assert run.stderr == "[plancontrol] stopped: still running after 1 s\n"
    assert run.files == ("group.txt",)
    pgid, child = map(int, (tmp_path / "group.txt").read_text().split())
    assert _gone_soon(pgid) is True
    assert child not in _group(pgid)


def test_a_looping_step_is_recorded_as_timed_out_and_the_next_attempt_goes_on(
    tmp_path: Path,
) -> None:
    agents = _agents(
        ["while True:\n    pass", "print('done')"],
        lambda content: fix("do not loop forever") if "timed out" in content else OK,
    )
    fx = scripted_effects(agents=agents, executor=SubprocessExecutor(tmp_path, timeout=1))

    ctx = run_steps_ok(Context(task="t", plan=ONE_STEP), fx)

    (outcome,) = ctx.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == (
        "completed",
        "succeeded",
        2,
    )
    first = _judged(agents)[0]
    assert "Execution: timed out" in first
    assert "stderr:\n[plancontrol] stopped: still running after 1 s" in first
    assert "stdout:\ndone" in outcome.summary


def test_a_step_that_only_loops_fails_with_code_status_timed_out(tmp_path: Path) -> None:
    agents = _agents(["while True:\n    pass"], lambda content: fix("do not loop forever"))
    fx = scripted_effects(agents=agents, executor=SubprocessExecutor(tmp_path, timeout=0.5))
    ctx = Context(task="t", plan=ONE_STEP, settings=Settings(max_n_attempts=1))

    halt = run_steps_failed(ctx, fx)

    assert halt.error == AttemptsExhausted(step=1, attempts=1, last_problem="the output is wrong")
    (outcome,) = halt.context.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == ("failed", "timed_out", 1)
    assert outcome.files == ("codebase/step_1.py",)


# --- gigabytes of output ----------------------------------------------------------------

FLOOD = """
    import sys
    block = "x" * (1 << 20)
    sys.stdout.write("HEAD")
    while True:
        sys.stdout.write(block)
"""


def test_a_gigabyte_of_output_is_cut_at_the_output_cap_with_parent_memory_bounded(
    tmp_path: Path,
) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=60, output_limit=1000, output_cap=1 << 30)
    started = time.monotonic()
    tracemalloc.start()
    try:
        run = _run(executor, FLOOD)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert time.monotonic() - started < 30
    assert peak < 2 << 20  # a gigabyte went through; the parent held at most 2 MiB at once
    assert (run.exit_code, run.timed_out) == (-9, False)
    assert run.stderr == "[plancontrol] stopped: wrote more than 1 GiB of output\n"
    assert run.stdout.startswith("HEAD" + "x" * 496 + "\n[… ")
    assert run.stdout.endswith(" characters cut …]\n" + "x" * 500)
    assert (1 << 30) - 1000 < _cut(run.stdout) < (1 << 30) + (8 << 20)


def test_a_flood_on_both_streams_is_drained_until_the_timeout_stops_it(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=1.5, output_limit=2000, output_cap=None)
    code = """
        import sys
        block = "e" * 65536
        while True:
            sys.stderr.write(block)
            sys.stdout.write("o" * 65536)
    """
    tracemalloc.start()
    try:
        run = _run(executor, code)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 2 << 20
    assert (run.exit_code, run.timed_out) == (-9, True)
    note = "[plancontrol] stopped: still running after 1.5 s\n"
    assert run.stderr.startswith(note + "e" * 1000 + "\n[… ")
    assert run.stderr.endswith("e" * 1000)
    assert len(run.stderr) == len(note) + 2000 + len(CUT.search(run.stderr)[0])  # type: ignore[index]
    # both pipes were read all along: the script never blocked on a full pipe (64 KiB)
    assert _cut(run.stderr) > 20 << 20
    assert _cut(run.stdout) > 20 << 20


def test_a_flooding_step_reaches_the_judge_cut_and_marked(tmp_path: Path) -> None:
    flood = "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)"
    agents = _agents(
        [flood, "print('quiet')"],
        lambda content: fix("print less") if "[plancontrol] stopped" in content else OK,
    )
    executor = SubprocessExecutor(tmp_path, timeout=30, output_limit=400, output_cap=8 << 20)
    fx = scripted_effects(agents=agents, executor=executor)

    ctx = run_steps_ok(Context(task="t", plan=ONE_STEP), fx)

    assert (ctx.outcomes[0].status, ctx.outcomes[0].attempts) == ("completed", 2)
    first = _judged(agents)[0]
    assert "Execution: exit code -9" in first
    assert "stderr:\n[plancontrol] stopped: wrote more than 8 MiB of output" in first
    assert re.search(r"stdout:\ny{200}\n\[… \d+ characters cut …\]\ny{200}", first)


# --- a memory hog -----------------------------------------------------------------------

HOG = """
    chunks = []
    while True:
        chunks.append(bytearray(64 << 20))
"""


def test_a_memory_hog_gets_memory_error_at_the_memory_limit(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=20, memory_limit=256 << 20)
    started = time.monotonic()

    run = _run(executor, HOG)

    assert time.monotonic() - started < 10
    assert (run.exit_code, run.timed_out) == (1, False)
    assert run.stderr.startswith(
        "[plancontrol] out of memory: a process may use at most 256 MiB (memory_limit)\n"
        "Traceback (most recent call last):\n"
    )
    assert run.stderr.endswith("MemoryError\n")


def test_the_memory_limit_holds_for_the_script_and_its_children_and_cannot_be_raised(
    tmp_path: Path,
) -> None:
    executor = SubprocessExecutor(tmp_path, memory_limit=300 << 20, file_size_limit=5 << 20)
    code = """
        import resource, subprocess, sys
        print(resource.getrlimit(resource.RLIMIT_DATA))
        print(resource.getrlimit(resource.RLIMIT_FSIZE))
        print(resource.getrlimit(resource.RLIMIT_CORE))
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY,) * 2)
        except ValueError:
            print("cannot raise it")
        child = subprocess.run([sys.executable, "-c", "bytearray(1 << 30)"])
        print("child exit", child.returncode)
    """

    run = _run(executor, code)

    assert run.stdout.splitlines() == [
        str((300 << 20, 300 << 20)),
        str((5 << 20, 5 << 20)),
        "(0, 0)",
        "cannot raise it",
        "child exit 1",
    ]
    assert run.exit_code == 0
    assert run.stderr.startswith("[plancontrol] out of memory")  # the child's MemoryError
    assert "MemoryError" in run.stderr


def test_a_script_killed_by_a_signal_says_so_and_leaves_no_core_file(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, memory_limit=512 << 20)

    run = _run(executor, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")

    assert (run.exit_code, run.timed_out) == (-11, False)
    assert run.stderr == (
        "[plancontrol] killed by signal SIGSEGV, perhaps out of memory "
        "(a process may use 512 MiB)\n"
    )
    assert run.files == ()


def test_a_hogging_step_is_judged_with_the_memory_error_then_fixed(tmp_path: Path) -> None:
    agents = _agents(
        [textwrap.dedent(HOG), "print(sum(range(10)))"],
        lambda content: fix("use less memory") if "MemoryError" in content else OK,
    )
    executor = SubprocessExecutor(tmp_path, timeout=20, memory_limit=200 << 20)
    fx = scripted_effects(agents=agents, executor=executor)

    ctx = run_steps_ok(Context(task="t", plan=ONE_STEP), fx)

    (outcome,) = ctx.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == (
        "completed",
        "succeeded",
        2,
    )
    first = _judged(agents)[0]
    assert "Execution: exit code 1" in first
    assert "stderr:\n[plancontrol] out of memory: a process may use at most 200 MiB" in first
    assert "stdout:\n45" in outcome.summary


# --- a file that fills the disk ---------------------------------------------------------


def test_a_file_cannot_grow_beyond_the_file_size_limit(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, file_size_limit=1 << 20)
    code = """
        with open("big.bin", "wb") as file:
            while True:
                file.write(b"z" * 65536)
    """

    run = _run(executor, code)

    assert run.exit_code == 1
    assert run.stderr.startswith(
        "[plancontrol] a file reached the size limit of 1 MiB (file_size_limit)\n"
    )
    assert "OSError: [Errno 27] File too large" in run.stderr
    assert run.files == ("big.bin",)
    assert (tmp_path / "big.bin").stat().st_size == 1 << 20


def test_limits_can_be_turned_off_and_must_be_positive(tmp_path: Path) -> None:
    executor = SubprocessExecutor(
        tmp_path, memory_limit=None, file_size_limit=None, confine_writes=False
    )
    code = """
        import resource
        print(resource.getrlimit(resource.RLIMIT_DATA), resource.getrlimit(resource.RLIMIT_FSIZE))
    """
    ours = (resource.getrlimit(resource.RLIMIT_DATA), resource.getrlimit(resource.RLIMIT_FSIZE))
    assert _run(executor, code).stdout == "{} {}\n".format(*ours)
    for name in ("output_cap", "memory_limit", "file_size_limit"):
        zero: dict[str, Any] = {name: 0}
        with pytest.raises(ValueError, match=f"need {name} > 0"):
            SubprocessExecutor(tmp_path, **zero)


# --- writes outside the work folder -----------------------------------------------------

ESCAPES = """
    import os, shutil, tempfile
    from pathlib import Path
    outside = Path({outside!r})
    open("mine.txt", "w").write("mine")
    attempts = {{
        "write": lambda: (outside / "new.txt").write_text("x"),
        "append": lambda: open(outside / "victim.txt", "a").write("x"),
        "delete": lambda: os.remove(outside / "victim.txt"),
        "move out": lambda: os.rename("mine.txt", outside / "moved.txt"),
        "mkdir": lambda: os.mkdir(outside / "folder"),
        "rmtree": lambda: shutil.rmtree(outside / "tree"),
    }}
    for name, attempt in attempts.items():
        try:
            attempt()
            print(name, "done")
        except PermissionError:
            print(name, "refused")
    Path.home().joinpath("settings.ini").write_text("home")
    print(Path(tempfile.mkstemp()[1]).parent)
    open(os.devnull, "w").write("ok")
"""


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "tree").mkdir(parents=True)
    (outside / "tree" / "leaf.txt").write_text("leaf")
    (outside / "victim.txt").write_text("victim")
    return outside


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@LANDLOCK
def test_writes_outside_the_work_folder_are_refused_and_home_and_temp_are_inside(
    tmp_path: Path,
) -> None:
    outside = _outside(tmp_path)
    executor = SubprocessExecutor(tmp_path / "work")

    run = _run(executor, ESCAPES.format(outside=str(outside)))

    assert executor.confinement.startswith("writes outside the work folder are refused")
    assert run.exit_code == 0
    assert run.stdout.splitlines() == [
        "write refused",
        "append refused",
        "delete refused",
        "move out refused",
        "mkdir refused",
        "rmtree refused",
        ".plancontrol/tmp",
    ]
    assert _listing(outside) == ["tree", "tree/leaf.txt", "victim.txt"]
    assert (outside / "victim.txt").read_text() == "victim"
    assert (tmp_path / "work" / ".plancontrol" / "home" / "settings.ini").read_text() == "home"
    assert not (tmp_path / "work" / ".plancontrol" / "tmp").exists()  # emptied after the run
    assert run.files == ("mine.txt",)  # the executor's own folder is never listed


@LANDLOCK
def test_a_refused_write_is_explained_to_the_judge(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path / "work")

    run = _run(executor, f"open({str(tmp_path / 'out.txt')!r}, 'w')")

    assert run.exit_code == 1
    assert run.stderr.startswith(
        "[plancontrol] scripts may write only inside the work folder: "
        "save files in the current folder\nTraceback"
    )
    assert run.stderr.rstrip().endswith(
        f"PermissionError: [Errno 13] Permission denied: '{tmp_path / 'out.txt'}'"
    )
    assert not (tmp_path / "out.txt").exists()


@LANDLOCK
def test_folders_given_as_writable_may_be_written(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    executor = SubprocessExecutor(tmp_path / "work", writable=[shared])

    run = _run(executor, f"open({str(shared / 'out.txt')!r}, 'w').write('ok')")

    assert (run.exit_code, (shared / "out.txt").read_text()) == (0, "ok")


@pytest.mark.skipif(landlock_abi() < 6, reason="signal scoping needs Landlock ABI 6")
def test_a_script_cannot_signal_processes_outside_its_own(tmp_path: Path) -> None:
    code = """
        import os
        try:
            os.kill(os.getppid(), 0)
            print("could signal")
        except PermissionError:
            print("refused")
    """
    assert _run(SubprocessExecutor(tmp_path), code).stdout == "refused\n"


def test_without_confinement_writes_outside_go_through_as_documented(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    executor = SubprocessExecutor(tmp_path / "work", confine_writes=False)

    run = _run(executor, ESCAPES.format(outside=str(outside)))

    assert executor.confinement == (
        "writes outside the work folder are allowed (confine_writes=False)"
    )
    assert run.stdout.splitlines()[:6] == [
        "write done",
        "append done",
        "delete done",
        "move out done",
        "mkdir done",
        "rmtree done",
    ]


def test_without_landlock_the_confinement_says_writes_are_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("plancontrol.handlers.sandbox.landlock_abi", lambda: 0)
    executor = SubprocessExecutor(tmp_path / "work")

    run = _run(executor, "import os; print(os.environ['HOME'])")

    assert executor.confinement == (
        "writes outside the work folder are neither refused nor detected: this system offers "
        "no Landlock (Linux >= 5.19); HOME and TMPDIR point inside it"
    )
    assert (run.exit_code, run.stdout) == (0, ".plancontrol/home\n")


@pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI 6 to provoke a refusal")
def test_a_script_that_cannot_be_confined_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "plancontrol.handlers.sandbox._LL_SCOPE_SIGNAL", 1 << 40
    )  # unknown to any kernel
    executor = SubprocessExecutor(tmp_path)

    result = executor.run(_script("open('ran.txt', 'w')", step=2))

    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, ExecutionFailure)
    assert failure.step == 2
    assert failure.detail == (
        "plancontrol: cannot confine the script: OSError: [Errno 22] Landlock: Invalid "
        "argument; run with confine_writes=False or without the limits"
    )
    assert not (tmp_path / "ran.txt").exists()


# --- earlier steps' files ---------------------------------------------------------------


def test_a_file_deleted_by_a_later_step_is_restored_for_the_step_after(tmp_path: Path) -> None:
    codes = {
        1: "open('data.txt', 'w').write('data of step 1')",
        2: "import os, shutil\nos.remove('data.txt')\nshutil.rmtree('codebase')",
        3: "print(open('data.txt').read())",
    }
    agents = FunctionAgents(
        {
            "engineer": lambda r: Code(codes[r.step]),
            "judge": lambda r: Verdict("success", f"step {r.step} done"),
        }
    )
    fx = scripted_effects(agents=agents, executor=SubprocessExecutor(tmp_path))

    ctx = run_steps_ok(Context(task="t", plan=engineer_plan(3)), fx)

    assert [(o.status, o.code_status) for o in ctx.outcomes] == [("completed", "succeeded")] * 3
    assert [o.files for o in ctx.outcomes] == [
        ("codebase/step_1.py", "data.txt"),
        ("codebase/step_2.py",),
        ("codebase/step_3.py",),
    ]
    judged = _judged(agents)[1]
    restored = [
        f"[plancontrol] restored {path} (made by step 1), which this script deleted: leave "
        "earlier steps' files as they are and write new ones\n"
        for path in (
            "codebase/step_1.py",
            "codebase/step_1_attempt_1.out.txt",  # the record of step 1's attempt, kept too
            "codebase/step_1_attempt_1.py",
        )
    ]
    assert (
        "stderr:\n" + "".join(restored) + "[plancontrol] restored data.txt (made by step 1), "
        "which this script deleted"
    ) in judged
    assert "stdout:\ndata of step 1" in ctx.outcomes[2].summary
    assert (tmp_path / "data.txt").read_text() == "data of step 1"
    assert (tmp_path / "codebase" / "step_1.py").read_text() == codes[1]
    assert (tmp_path / "codebase" / "step_2.py").read_text() == codes[2]  # its own, put back
    assert (tmp_path / ".plancontrol" / "kept" / "step_1" / "data.txt").read_text() == (
        "data of step 1"
    )


def test_a_changed_file_stays_changed_and_its_earlier_version_is_kept(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path)
    _run(executor, "open('log.txt', 'w').write('one\\n')", step=1)

    run = _run(executor, "open('log.txt', 'a').write('two\\n')", step=2)

    assert run.files == ("log.txt",)
    assert run.stderr == (
        "[plancontrol] this script changed log.txt (made by step 1); "
        "the earlier version is kept in .plancontrol/kept/step_1/log.txt\n"
    )
    assert (tmp_path / "log.txt").read_text() == "one\ntwo\n"
    assert (tmp_path / ".plancontrol/kept/step_1/log.txt").read_text() == "one\n"
    # now step 2's version: a third step that deletes it gets step 2's version back
    third = _run(executor, "import os; os.remove('log.txt')", step=3)
    assert third.stderr.startswith("[plancontrol] restored log.txt (made by step 2)")
    assert (tmp_path / "log.txt").read_text() == "one\ntwo\n"


def test_with_restore_changed_a_changed_file_is_put_back(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, restore_changed=True)
    _run(executor, "open('data.csv', 'w').write('a,b\\n1,2\\n')", step=1)

    run = _run(executor, "open('data.csv', 'w').write('garbage')", step=2)
    later = _run(executor, "print(open('data.csv').read(), end='')", step=3)

    assert run.stderr == (
        "[plancontrol] restored data.csv (made by step 1), which this script changed: "
        "leave earlier steps' files as they are and write new ones\n"
    )
    assert run.files == ()
    assert later.stdout == "a,b\n1,2\n"


def test_a_file_rewritten_with_the_same_bytes_is_not_reported(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path)
    _run(executor, "open('same.txt', 'w').write('same')", step=1)

    run = _run(executor, "open('same.txt', 'w').write('same')", step=2)

    assert (run.stderr, run.files) == ("", ("same.txt",))


def test_files_of_earlier_attempts_of_the_same_step_are_not_guarded(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path)
    executor.run(_script("open('part.txt', 'w').write('x')", step=2, attempt=1)).unwrap()

    run = executor.run(_script("import os; os.remove('part.txt')", step=2, attempt=2)).unwrap()

    assert (run.stderr, (tmp_path / "part.txt").exists()) == ("", False)


def test_files_no_script_made_are_put_back_when_deleted_or_changed(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "step_1_report.md").write_text("# Report")
    (tmp_path / "input.csv").write_text("x\n1\n")
    executor = SubprocessExecutor(tmp_path)

    code = "import shutil\nopen('input.csv', 'w').write('oops')\nshutil.rmtree('reports')"

    run = _run(executor, code, step=2)

    assert run.stderr.splitlines() == [
        "[plancontrol] restored input.csv (there before this step), which this script changed: "
        "leave earlier steps' files as they are and write new ones",
        "[plancontrol] restored reports/step_1_report.md (there before this step), which this "
        "script deleted: leave earlier steps' files as they are and write new ones",
    ]
    assert run.files == ()
    assert (tmp_path / "input.csv").read_text() == "x\n1\n"
    assert (tmp_path / "reports" / "step_1_report.md").read_text() == "# Report"


def test_protection_survives_a_new_executor_on_the_same_folder(tmp_path: Path) -> None:
    _run(SubprocessExecutor(tmp_path), "open('data.txt', 'w').write('kept')", step=1)

    run = _run(SubprocessExecutor(tmp_path), "import os; os.remove('data.txt')", step=2)

    assert run.stderr.startswith("[plancontrol] restored data.txt (made by step 1)")
    assert (tmp_path / "data.txt").read_text() == "kept"


def test_large_files_are_kept_as_links_which_guard_against_deletion_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("plancontrol.handlers.keeper._COPY_LIMIT", 10)
    executor = SubprocessExecutor(tmp_path)
    _run(executor, "open('big.dat', 'w').write('b' * 100)", step=1)
    inode = (tmp_path / "big.dat").stat().st_ino

    deleted = _run(executor, "import os; os.remove('big.dat')", step=2)
    changed = _run(executor, "open('big.dat', 'a').write('!')", step=3)

    assert deleted.stderr.startswith("[plancontrol] restored big.dat (made by step 1)")
    assert (tmp_path / "big.dat").stat().st_ino == inode  # the same file, not a copy
    assert changed.stderr == (
        "[plancontrol] this script changed big.dat (made by step 1) in place; "
        "it is too large (100 bytes) for a copy to be kept\n"
    )


def test_a_script_that_empties_the_whole_folder_is_reported_honestly(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path)
    _run(executor, "open('data.txt', 'w').write('x')", step=1)
    wipe = """
        import os, shutil
        for name in os.listdir("."):
            shutil.rmtree(name) if os.path.isdir(name) else os.remove(name)
    """

    run = _run(executor, wipe, step=2)

    assert (
        "[plancontrol] this script deleted data.txt (made by step 1) and it could not be "
        "restored: its kept copy is gone or was changed too\n"
    ) in run.stderr
    assert not (tmp_path / "data.txt").exists()


# --- helpers that drive the control phase -----------------------------------------------


def run_steps_ok(ctx: Context, fx: Any) -> Context:
    from plancontrol.core.phases.control import run_steps

    return run_steps(ctx, fx).unwrap()


def run_steps_failed(ctx: Context, fx: Any) -> Any:
    from plancontrol.core.phases.control import run_steps

    return run_steps(ctx, fx).failure()
