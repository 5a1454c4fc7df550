"""The real handlers, against real files and real subprocesses in a temporary folder."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest
from returns.result import Failure

from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.ports import Execution, Script
from plancontrol.handlers import capture, interpreter, keeper, launcher, local, sandbox
from plancontrol.handlers import executor as executor_module
from plancontrol.handlers.executor import SubprocessExecutor
from plancontrol.handlers.local import SystemClock
from plancontrol.handlers.workspace import FolderWorkspace

SPAWN_SLEEPING_CHILD = """
import subprocess, sys, time
from pathlib import Path
subprocess.Popen([sys.executable, "-c",
    "import os, time; open('child.pid', 'w').write(str(os.getpid())); time.sleep(60)"])
while not Path("child.pid").exists() or not Path("child.pid").read_text():
    time.sleep(0.01)
print("child started")
"""


def _script(code: str, step: int = 1) -> Script:
    return Script(
        step=step, attempt=1, filename=f"codebase/step_{step}.py", code=textwrap.dedent(code)
    )


def _run(executor: SubprocessExecutor, code: str, step: int = 1) -> Execution:
    return executor.run(_script(code, step)).unwrap()


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs; a killed orphan may linger as a zombie when PID 1 does not
    reap (as in some containers), and a zombie runs nothing, so it counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _gone_soon(pid: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while _running(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def executor(tmp_path: Path) -> SubprocessExecutor:
    return SubprocessExecutor(tmp_path / "work", timeout=20)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (local, ["ApproveAll", "DiscardEvents", "StopAfterStep", "SystemClock", "Uninterrupted"]),
        (executor_module, ["SubprocessExecutor", "attempt_files"]),
        (capture, ["Capture", "Ran", "collect", "kill_group", "size_text"]),
        (keeper, ["HIDDEN", "Keeper", "put_back", "snapshot"]),
        (sandbox, ["FAILED", "MESSAGE", "confinement", "landlock_abi", "launch", "ruleset"]),
        (launcher, ["FAILED", "MESSAGE", "landlock", "main"]),
        (interpreter, ["describe_python", "python_path"]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_local_handler_module_exports_exactly_its_names(
    module: ModuleType, names: list[str]
) -> None:
    assert module.__all__ == names
    assert all(hasattr(module, name) for name in module.__all__)


def test_unattended_handlers_approve_continue_and_stay_quiet() -> None:
    from plancontrol import ApprovalRequest, Approve, Plan, Step
    from plancontrol.core.events import PhaseChange

    request = ApprovalRequest(kind="plan", task="t", plan=Plan((Step("a", "engineer"),)))
    assert local.ApproveAll().decide(request) == Approve()
    assert local.Uninterrupted().should_continue(7) is True
    assert local.DiscardEvents().emit(PhaseChange(phase="plan", previous=None)) is None


@pytest.mark.slow
def test_run_passes_exit_code_zero_and_captures_stdout(executor: SubprocessExecutor) -> None:
    run = _run(executor, "print('hello from step 1')")

    assert run == Execution(exit_code=0, stdout="hello from step 1\n", stderr="")


@pytest.mark.slow
def test_run_reports_a_raising_script_as_exit_1_with_the_traceback(
    executor: SubprocessExecutor,
) -> None:
    run = _run(executor, "raise ValueError('bad input')")

    assert run.exit_code == 1
    assert run.timed_out is False
    assert run.stderr.startswith("Traceback (most recent call last):")
    assert run.stderr.rstrip().endswith("ValueError: bad input")


@pytest.mark.slow
def test_run_passes_on_the_scripts_own_exit_code(executor: SubprocessExecutor) -> None:
    run = _run(executor, "import sys; print('partial', file=sys.stderr); sys.exit(3)")

    assert (run.exit_code, run.stderr) == (3, "partial\n")


@pytest.mark.slow
def test_run_enforces_timeout_and_keeps_output_so_far(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=1)
    started = time.monotonic()

    run = _run(executor, "print('looping'); \nwhile True: pass")

    assert time.monotonic() - started < 5
    assert (run.timed_out, run.exit_code, run.stdout) == (True, -9, "looping\n")


@pytest.mark.slow
def test_run_enforces_timeout_and_kills_the_process_group(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=1)
    started = time.monotonic()

    run = _run(executor, SPAWN_SLEEPING_CHILD + "time.sleep(60)")

    assert time.monotonic() - started < 8
    assert (run.timed_out, run.stdout) == (True, "child started\n")
    assert _gone_soon(int((tmp_path / "child.pid").read_text())) is True


@pytest.mark.slow
def test_run_kills_children_left_behind_by_a_script_that_exits(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=30)
    started = time.monotonic()

    run = _run(executor, SPAWN_SLEEPING_CHILD)

    assert time.monotonic() - started < 8
    assert (run.exit_code, run.timed_out, run.stdout) == (0, False, "child started\n")
    assert _gone_soon(int((tmp_path / "child.pid").read_text())) is True


@pytest.mark.slow
def test_run_keeps_head_and_tail_of_huge_output_within_the_limit(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, output_limit=1000)
    code = """
        import sys
        print("HEAD" + "x" * 5_000_000 + "TAIL")
        print("top" + "é" * 3000 + "end", file=sys.stderr)
    """

    run = _run(executor, code)

    assert run.stdout.startswith("HEAD" + "x" * 496 + "\n[… 4999009 characters cut …]\n")
    assert run.stdout.endswith("x" * 495 + "TAIL\n")
    assert len(run.stdout) == 1000 + len("\n[… 4999009 characters cut …]\n")
    assert run.stderr.startswith("top" + "é" * 497 + "\n[… 2007 characters cut …]\n")
    assert run.stderr.endswith("é" * 496 + "end\n")


@pytest.mark.slow
def test_run_decodes_invalid_utf8_with_replacement_characters(
    executor: SubprocessExecutor,
) -> None:
    run = _run(executor, "import sys; sys.stdout.buffer.write(b'\\xff ok')")

    assert run.stdout == "\ufffd ok"


@pytest.mark.slow
def test_run_lists_new_files_and_a_later_step_reads_them(executor: SubprocessExecutor) -> None:
    first = _run(executor, "open('results.csv', 'w').write('a,b\\n1,2\\n')", step=1)
    second = _run(executor, "print(open('results.csv').read(), end='')", step=2)

    assert first.files == ("results.csv",)
    assert (second.exit_code, second.stdout, second.files) == (0, "a,b\n1,2\n", ())


@pytest.mark.slow
def test_run_lists_files_a_step_modifies(executor: SubprocessExecutor) -> None:
    _run(executor, "open('log.txt', 'w').write('one\\n'); open('keep.txt', 'w').write('x')")
    run = _run(executor, "open('log.txt', 'a').write('two\\n')", step=2)

    assert run.files == ("log.txt",)


@pytest.mark.slow
def test_run_lists_files_in_subfolders_sorted_with_forward_slashes_but_no_pycache(
    executor: SubprocessExecutor,
) -> None:
    code = """
        import os
        for path in ["data/plot.txt", "b.txt", "a.txt", "__pycache__/junk.pyc"]:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            open(path, "w").write("x")
    """

    assert _run(executor, code).files == ("a.txt", "b.txt", "data/plot.txt")


@pytest.mark.slow
def test_run_saves_the_script_in_codebase_and_does_not_list_it(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path)

    run = _run(executor, "print(open(__file__).read(), end='')")

    assert (tmp_path / "codebase" / "step_1.py").read_text() == run.stdout
    assert run.stdout == "print(open(__file__).read(), end='')"
    assert run.files == ()
    assert sorted(p.name for p in (tmp_path / "codebase").iterdir()) == [
        "step_1.py",
        "step_1_attempt_1.out.txt",
        "step_1_attempt_1.py",
    ]


@pytest.mark.slow
def test_run_gives_the_script_the_given_env_plus_unbuffered_and_no_bytecode(
    tmp_path: Path,
) -> None:
    executor = SubprocessExecutor(tmp_path, env={"MARK": "set"})
    code = """
        import os
        names = ("MARK", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "HOME")
        print([os.environ.get(name) for name in names])
    """

    assert _run(executor, code).stdout == "['set', '1', '1', '.plancontrol/home']\n"
    unconfined = SubprocessExecutor(tmp_path, env={"MARK": "set"}, confine_writes=False)
    assert _run(unconfined, code).stdout == "['set', '1', '1', None]\n"


def test_run_refuses_a_script_path_outside_the_work_folder(
    executor: SubprocessExecutor,
) -> None:
    with pytest.raises(ValueError, match="relative to"):
        executor.run(Script(step=1, attempt=1, filename="../escape.py", code=""))


@pytest.mark.slow
def test_run_with_a_missing_python_fails_naming_it(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, python=str(tmp_path / "no-such-python"))

    result = executor.run(_script("print(1)", step=4))

    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, ExecutionFailure)
    assert failure.step == 4
    assert str(tmp_path / "no-such-python") in failure.detail


def test_install_is_refused_by_default_without_running_pip(tmp_path: Path) -> None:
    # a python that does not exist would make any real attempt a Failure
    executor = SubprocessExecutor(tmp_path, python=str(tmp_path / "no-such-python"))

    run = executor.install(2, ("numpy", "scipy>=1.11")).unwrap()

    assert run.exit_code == 1
    assert run.stderr == (
        "installing packages is turned off; allow it with allow_install=True "
        "(or install them yourself): numpy scipy>=1.11"
    )


@pytest.mark.parametrize(
    "name", ["--index-url=http://x", "foo; rm -rf /", "git+https://x", "numpy >=1", ""]
)
def test_install_rejects_a_name_that_is_not_a_plain_requirement(tmp_path: Path, name: str) -> None:
    executor = SubprocessExecutor(
        tmp_path, python=str(tmp_path / "no-such-python"), allow_install=True
    )

    run = executor.install(2, ("numpy", name)).unwrap()

    assert run.exit_code == 2
    assert run.stderr.startswith(f"refused to install {name!r}: expected a package name")


@pytest.mark.slow
def test_install_runs_pip_with_each_requirement_as_one_argument(tmp_path: Path) -> None:
    fake_python = tmp_path / "fake-python"
    fake_python.write_text('#!/bin/sh\nfor arg in "$@"; do echo "<$arg>"; done\n')
    fake_python.chmod(0o755)
    executor = SubprocessExecutor(tmp_path / "work", python=str(fake_python), allow_install=True)

    run = executor.install(2, ("numpy>=1.26,<3", "pandas[excel]==2.*", "scikit-learn")).unwrap()

    assert run.exit_code == 0
    assert run.stdout.splitlines() == [
        "<-m>",
        "<pip>",
        "<install>",
        "<numpy>=1.26,<3>",
        "<pandas[excel]==2.*>",
        "<scikit-learn>",
    ]


def test_workspace_round_trips_text_exactly(tmp_path: Path) -> None:
    workspace = FolderWorkspace(tmp_path)

    written = workspace.write("report.md", "# Report\r\nünïcode\n")

    assert written == "report.md"
    assert workspace.read("report.md") == "# Report\r\nünïcode\n"
    assert (tmp_path / "report.md").read_bytes() == "# Report\r\nünïcode\n".encode()


def test_workspace_creates_nested_folders_and_normalises_the_path(tmp_path: Path) -> None:
    workspace = FolderWorkspace(tmp_path / "run")

    written = workspace.write("reports//./step_1/summary.md", "done")

    assert written == "reports/step_1/summary.md"
    assert (tmp_path / "run" / "reports" / "step_1" / "summary.md").read_text() == "done"
    assert workspace.read("reports/step_1/summary.md") == "done"


def test_workspace_reads_a_missing_file_as_none(tmp_path: Path) -> None:
    workspace = FolderWorkspace(tmp_path)
    workspace.write("a.md", "x")

    assert (workspace.read("missing.md"), workspace.read("a.md/below.md")) == (None, None)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "", "."])
def test_workspace_refuses_paths_outside_its_folder(tmp_path: Path, path: str) -> None:
    workspace = FolderWorkspace(tmp_path / "run")

    with pytest.raises(ValueError, match="expected a file path relative to"):
        workspace.write(path, "x")
    with pytest.raises(ValueError, match="expected a file path relative to"):
        workspace.read(path)
    assert not (tmp_path / "x").exists()


def test_workspace_refuses_to_write_through_a_link_out_of_its_folder(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "run" / "link").symlink_to(tmp_path / "outside")

    with pytest.raises(ValueError, match="leads outside"):
        FolderWorkspace(tmp_path / "run").write("link/x.md", "x")
    assert list((tmp_path / "outside").iterdir()) == []


def test_workspace_atomic_writes_replace_content_and_leave_no_temp_files(tmp_path: Path) -> None:
    workspace = FolderWorkspace(tmp_path)

    for n in range(5):
        workspace.write("notes/log.md", f"version {n}")

    assert workspace.read("notes/log.md") == "version 4"
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == [
        "notes",
        "notes/log.md",
    ]
    assert (tmp_path / "notes" / "log.md").stat().st_mode & 0o777 == 0o644


def test_system_clock_reads_the_wall_clock_and_never_goes_back() -> None:
    clock = SystemClock()

    first, second = clock.now(), clock.now()

    assert first <= second
    assert abs(second - time.time()) < 1.0


def test_executor_refuses_a_nonpositive_timeout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need timeout > 0"):
        SubprocessExecutor(tmp_path, timeout=0)


def test_executor_uses_the_running_python_by_default(tmp_path: Path) -> None:
    assert SubprocessExecutor(tmp_path).python == sys.executable


@pytest.mark.slow
def test_run_reports_paths_inside_the_work_folder_relative_to_it(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, timeout=30)
    script = Script(step=1, attempt=1, filename="codebase/step_1.py", code="raise ValueError('x')")
    run = executor.run(script).unwrap()
    assert 'File "codebase/step_1.py", line 1' in run.stderr
    assert str(tmp_path) not in run.stderr


def test_folder_checkpoints_write_snapshots_the_run_folder_reads(tmp_path: Path) -> None:
    from plancontrol import Context
    from plancontrol.runs.checkpoints import FolderCheckpoints
    from plancontrol.runs.snapshots import decode_snapshot

    ctx = Context(task="t")
    FolderCheckpoints(tmp_path).save("step-02", ctx)
    data = (tmp_path / "snapshots" / "step-02.json").read_bytes()
    assert decode_snapshot(data).unwrap() == ("step-02", ctx)


# --- credentials, the interpreter, each attempt kept ----------------------------------

CREDENTIALS = {
    "OPENAI_API_KEY": "sk-plancontrol-test-LOCAL-91c2d0",
    "HF_TOKEN": "hf_plancontrol_local_token",
    "AWS_SECRET_ACCESS_KEY": "abcdEFGH1234ijkl",
    "MARK": "set",
}


@pytest.mark.slow
def test_scripts_run_without_credentials_but_those_passed(tmp_path: Path) -> None:
    code = """
        import os
        print(sorted(n for n in ("OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "MARK")
                     if n in os.environ))
    """
    hidden = SubprocessExecutor(tmp_path / "a", env=CREDENTIALS)
    passed = SubprocessExecutor(tmp_path / "b", env=CREDENTIALS, pass_env=("HF_TOKEN",))

    assert _run(hidden, code).stdout == "['MARK']\n"
    assert _run(passed, code).stdout == "['HF_TOKEN', 'MARK']\n"


@pytest.mark.slow
def test_pip_runs_without_credentials_too(tmp_path: Path) -> None:
    fake_python = tmp_path / "fake-python"
    fake_python.write_text('#!/bin/sh\necho "key=${OPENAI_API_KEY:-unset} mark=$MARK"\n')
    fake_python.chmod(0o755)
    executor = SubprocessExecutor(
        tmp_path / "work", python=str(fake_python), allow_install=True, env=CREDENTIALS
    )

    assert executor.install(1, ("numpy",)).unwrap().stdout == "key=unset mark=set\n"


@pytest.mark.slow
def test_scripts_run_with_the_python_given(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapped-python"
    wrapper.write_text(f'#!/bin/sh\nexport WRAPPED=yes\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    executor = SubprocessExecutor(tmp_path / "work", python=str(wrapper))

    run = _run(executor, "import os, sys\nprint(os.environ['WRAPPED'], sys.version_info[0])")

    assert (run.exit_code, run.stdout) == (0, "yes 3\n")


@pytest.mark.slow
def test_each_attempt_is_kept_with_how_it_ended(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, scrub=lambda text: text.replace("hunter2", "<s>"))
    first = Script(
        step=2,
        attempt=1,
        filename="codebase/step_2.py",
        code="import sys\nprint('hunter2 out')\nsys.exit('no data')",
    )
    second = Script(step=2, attempt=2, filename="codebase/step_2.py", code="print('fine')")

    ran = [executor.run(first).unwrap(), executor.run(second).unwrap()]

    assert [(r.exit_code, r.files) for r in ran] == [(1, ()), (0, ())]
    codebase = tmp_path / "codebase"
    assert sorted(p.name for p in codebase.iterdir()) == [
        "step_2.py",
        "step_2_attempt_1.out.txt",
        "step_2_attempt_1.py",
        "step_2_attempt_2.out.txt",
        "step_2_attempt_2.py",
    ]
    assert (codebase / "step_2.py").read_text() == second.code  # the latest attempt runs here
    assert (codebase / "step_2_attempt_1.py").read_text() == (
        "import sys\nprint('<s> out')\nsys.exit('no data')"
    )
    assert (codebase / "step_2_attempt_1.out.txt").read_text() == (
        "exit code: 1\ntimed out: no\n\n--- stdout ---\n<s> out\n--- stderr ---\nno data\n"
    )
    assert (codebase / "step_2_attempt_2.out.txt").read_text() == (
        "exit code: 0\ntimed out: no\n\n--- stdout ---\nfine\n--- stderr ---\n"
    )


@pytest.mark.slow
def test_an_attempt_that_cannot_start_is_kept_with_the_reason(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, python=str(tmp_path / "no-such-python"))

    failure = executor.run(_script("print(1)")).failure()

    assert (tmp_path / "codebase" / "step_1_attempt_1.py").read_text() == "print(1)"
    assert (tmp_path / "codebase" / "step_1_attempt_1.out.txt").read_text() == (
        f"could not run: {failure.detail}\n"
    )


@pytest.mark.slow
def test_describe_python_names_the_version_and_the_packages_within_the_limit() -> None:
    from importlib.metadata import version

    full = interpreter.describe_python(sys.executable).unwrap()
    short = interpreter.describe_python(sys.executable, limit=40).unwrap()

    python = "Python {}.{}.{}".format(*sys.version_info[:3])
    assert full.startswith(f"{python}, with these packages: ")
    assert f"msgspec=={version('msgspec')}" in full.split(": ", 1)[1].split(", ")
    listed = short.removeprefix(f"{python}, with these packages: ")
    assert len(listed.rsplit(" and ", 1)[0]) <= 40
    assert listed.rsplit(" and ", 1)[1].endswith(" more")


@pytest.mark.slow
def test_describe_python_of_something_else_says_so(tmp_path: Path) -> None:
    not_python = tmp_path / "not-python"
    not_python.write_text("#!/bin/sh\necho 'no such option' >&2\nexit 2\n")
    not_python.chmod(0o755)

    assert interpreter.describe_python(str(not_python)).failure().message == (
        f"{str(not_python)!r} is not a working Python interpreter (no such option)"
    )
