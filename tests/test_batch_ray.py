"""A batch on Ray: each task a Ray task in its own temporary folder, its run folder sent back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from scripts import plancontrol as cli
from test_batch import PLAN, asked_by

import plancontrol
from plancontrol.core.answers import Code, Verdict

KEY = "sk-batch-ray-" + "k3y" * 20  # a distinctive key, looked for in every file written
TASKS = [
    {"task": "Task alpha: save 1", "id": "alpha", "plan": "plan.json"},
    {"task": "Task beta: save 2", "plan": "plan.json", "variables": {"audience": "students"}},
    {"task": "Task broken: it fails", "id": "broken", "plan": "plan.json",
     "settings": {"max_n_attempts": 1}},
    {"task": "Task gamma: save 3", "id": "gamma", "plan": "plan.json"},
]  # fmt: skip
MARKERS = ("Task alpha", "Task beta", "Task broken", "Task gamma")


def mends_on_retry(body: dict[str, Any], broken: list[str]) -> Any:
    """The engineer saves a file and the judge approves; but the broken task's first script
    exits with 3 (its step fails, whatever the judge says), its next one saves the file."""
    from plancontrol.testing import role_of

    role = role_of(body)
    if role == "engineer" and "Task broken" in json.dumps(body):  # the judge is not told the task
        broken.append("engineer")
        return Code(
            "raise SystemExit(3)" if len(broken) == 1 else "open('out.txt', 'w').write('1')"
        )
    if role == "engineer":
        return Code("open('out.txt', 'w').write('1')")
    return Verdict("success", "saved")


def ray_sessions(ray_tmp: Path) -> set[Path]:
    """The session folders of the local Ray instances started with ``RAY_TMPDIR=ray_tmp``,
    their logs in them (a folder of the test's own: other processes may run Ray too)."""
    return set(ray_tmp.glob("ray/session_2*"))


def files_holding(folder: Path, secret: str) -> list[str]:
    """The files under ``folder`` whose bytes hold ``secret``."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_batch_on_ray_brings_each_run_back_and_reruns_only_the_unfinished(
    tmp_path: Path,
) -> None:
    from plancontrol.testing import OpenAITestServer

    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    broken: list[str] = []
    # short, as Ray's sockets live in it (a socket's path is at most 107 bytes)
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ray = {"RAY_TMPDIR": str(ray_tmp)}
    with OpenAITestServer(lambda body: mends_on_retry(body, broken)) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--max-retries", "0", "--json"]
        command = ["batch", "tasks.jsonl", "--into", "out", "--engine", "ray", "--workers", "2"]
        first = cli(*command, *flags, cwd=tmp_path, key=KEY, env=ray)
        asked = {m: asked_by(server.log, m) for m in MARKERS}
        again = cli(*command, *flags, cwd=tmp_path, key=KEY, env=ray)
        asked_again = len(server.log)
        retried = cli(*command, *flags, "--retry-failed", cwd=tmp_path, key=KEY, env=ray)
        retry_log = server.log[asked_again:]
        keys = {exchange.authorization for exchange in server.log}
    out = tmp_path / "out"
    assert first.returncode == 1, first.stderr
    said = sorted(first.stderr.splitlines())  # said in the order they end
    assert [line.split(":", 1)[0] for line in said] == [
        "alpha", "broken", "gamma", "task-beta-save-2-2"
    ]  # fmt: skip
    assert said[1].startswith(
        "broken: ran: failed: step 1 failed after 1 attempt(s); "
        "last problem: the script exited with code 3"
    )
    assert [said[0], *said[2:]] == [
        "alpha: ran: finished", "gamma: ran: finished", "task-beta-save-2-2: ran: finished"
    ]  # fmt: skip
    rows = json.loads(first.stdout)["tasks"]
    assert [(r["id"], r["action"], r["status"], r["exit_code"]) for r in rows] == [
        ("alpha", "run", "finished", 0),
        ("task-beta-save-2-2", "run", "finished", 0),
        ("broken", "run", "failed", 1),
        ("gamma", "run", "finished", 0),
    ]
    assert [(r["steps_done"], r["steps_planned"]) for r in rows] == [(1, 1), (1, 1), (0, 1), (1, 1)]
    assert asked == dict.fromkeys(MARKERS, 1)  # each engineer once (and a judge each)
    assert json.loads((out / "batch.json").read_text())["engine"] == "ray"
    assert (out / "alpha" / "work" / "out.txt").read_text() == "1"
    assert sorted(p.name for p in out.iterdir()) == [
        "alpha", "batch.json", "broken", "gamma", "task-beta-save-2-2"
    ]  # fmt: skip
    assert not list(out.glob("*/lock"))  # the workers' locks do not come back
    ctx = plancontrol.decode_context((out / "task-beta-save-2-2" / "context.json").read_bytes())
    assert dict(ctx.unwrap().variables) == {"audience": "students"}

    assert again.returncode == 1
    assert [(r["id"], r["action"]) for r in json.loads(again.stdout)["tasks"]] == [
        ("alpha", "skip"), ("task-beta-save-2-2", "skip"), ("broken", "skip"), ("gamma", "skip"),
    ]  # fmt: skip
    assert asked_again == 8  # no request for a task run again: nothing was

    assert retried.returncode == 0, retried.stderr
    actions = [(r["id"], r["action"], r["status"]) for r in json.loads(retried.stdout)["tasks"]]
    assert actions == [
        ("alpha", "skip", "finished"), ("task-beta-save-2-2", "skip", "finished"),
        ("broken", "resume", "finished"), ("gamma", "skip", "finished"),
    ]  # fmt: skip
    assert [asked_by(retry_log, "Task broken"), len(retry_log)] == [1, 2]  # broken's two only
    assert sorted(p.name for p in (out / "broken" / "sessions").iterdir()) == ["01", "02"]
    assert (out / "broken" / "work" / "out.txt").read_text() == "1"

    assert keys == {f"Bearer {KEY}"}  # every run had the key...
    assert files_holding(out, KEY) == []  # ...and wrote it nowhere
    started = ray_sessions(ray_tmp)
    assert len(started) == 2  # the first and the third invocation started Ray, the second not
    assert [f for session in started for f in files_holding(session, KEY)] == []  # Ray's logs
    shutil.rmtree(ray_tmp, ignore_errors=True)
    replayed = cli("replay", "out", "--json", cwd=tmp_path)
    assert sorted((r["run_dir"], r["status"]) for r in json.loads(replayed.stdout)["runs"]) == [
        ("out/alpha", "identical"), ("out/broken", "identical"),
        ("out/gamma", "identical"), ("out/task-beta-save-2-2", "identical"),
    ]  # fmt: skip
    assert replayed.returncode == 0


def gone(pid: int, seconds: float = 15) -> bool:
    """Whether process ``pid`` has ended (and was reaped) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def script_running_in(folder_name: str) -> int | None:
    """The pid of a step script running in a work folder of a run folder named
    ``folder_name`` (a worker's temporary one: scripts cannot write elsewhere), or None."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cwd = os.readlink(proc / "cwd")
            if (
                cwd.endswith(f"/{folder_name}/work")
                and b"step_1.py" in (proc / "cmdline").read_bytes()
            ):
                return int(proc.name)
    return None


def ray_batch_with_script(
    tmp_path: Path, base_url: str, name: str, *extra: str
) -> tuple[subprocess.Popen[str], int]:
    """``plancontrol batch --engine ray`` of ``tasks.jsonl`` started in ``tmp_path``, once the
    script of the run named ``name`` runs: the batch's process and the script's pid."""
    flags = ["--base-url", base_url, "--model", "m", "--max-retries", "0", *extra]
    argv = [sys.executable, "-m", "plancontrol", "batch", "tasks.jsonl", "--into", "out"]
    batch = subprocess.Popen(
        [*argv, "--engine", "ray", *flags],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline, script = time.monotonic() + 120, None
    while script is None and time.monotonic() < deadline and batch.poll() is None:
        time.sleep(0.2)
        script = script_running_in(name)
    assert script is not None, batch.communicate()
    return batch, script


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_cancels_the_ray_tasks_going_and_their_scripts_stop(tmp_path: Path) -> None:
    from plancontrol.testing import OpenAITestServer, role_of

    name = f"hangs-{os.getpid()}-{tmp_path.name}"  # the run folder's name, in the worker too
    hangs = Code("import time\ntime.sleep(120)")
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "tasks.jsonl").write_text(json.dumps({**TASKS[0], "id": name}) + "\n")
    with OpenAITestServer(
        lambda body: hangs if role_of(body) == "engineer" else Verdict("success", "")
    ) as server:
        batch, script = ray_batch_with_script(tmp_path, server.base_url, name)
        batch.send_signal(signal.SIGINT)
        _, err = batch.communicate(timeout=120)
    stopped = gone(script)
    if not stopped:
        os.kill(script, signal.SIGKILL)
    assert batch.returncode == 130
    assert err.splitlines()[-1] == (
        "plancontrol: interrupted; what finished is in out; "
        "run the same command again to resume the runs that stopped"
    )
    assert stopped  # the run's script did not outlive the cancelled Ray task
    assert list((tmp_path / "out").iterdir()) == []  # no run came back: nothing half-written


def parent_of(pid: int) -> int:
    """The parent process of ``pid``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_task_whose_worker_dies_is_an_error_row_and_the_others_finish(tmp_path: Path) -> None:
    from plancontrol.testing import OpenAITestServer, role_of

    name = f"dies-{os.getpid()}-{tmp_path.name}"

    def reply(body: dict[str, Any]) -> Any:
        if role_of(body) == "engineer" and name in json.dumps(body):
            return Code("import time\ntime.sleep(120)")
        if role_of(body) == "engineer":
            return Code("open('out.txt', 'w').write('1')")
        return Verdict("success", "saved")

    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    dies = {**TASKS[0], "id": name, "task": f"Task {name}"}
    (tmp_path / "tasks.jsonl").write_text(f"{json.dumps(dies)}\n{json.dumps(TASKS[3])}\n")
    with OpenAITestServer(reply) as server:
        batch, script = ray_batch_with_script(
            tmp_path, server.base_url, name, "--workers", "2", "--json"
        )
        run = parent_of(script)
        os.kill(parent_of(run), signal.SIGKILL)  # the Ray worker running the task dies
        out, err = batch.communicate(timeout=120)
    for orphan in (run, script):  # a worker that dies takes no child with it
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)
    assert out.startswith("{"), out + err
    rows = {r["id"]: r for r in json.loads(out)["tasks"]}
    assert batch.returncode == 1
    assert (rows[name]["status"], rows[name]["exit_code"]) == ("error", None)
    assert rows[name]["message"].startswith("the Ray task failed: ")
    assert (rows["gamma"]["status"], rows["gamma"]["steps_done"]) == ("finished", 1)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["batch.json", "gamma"]


def test_without_ray_the_engine_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "tasks.jsonl").write_text(json.dumps(TASKS[0]) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError, as uninstalled
    refused = plancontrol.batch(tmp_path / "tasks.jsonl", tmp_path / "out", engine="ray")
    assert refused.failure().message == (
        "`engine=ray` needs the ray extra: pip install 'plancontrol[ray]'"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_command_without_ray_says_how_to_get_it_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "tasks.jsonl").write_text(json.dumps(TASKS[0]) + "\n")
    without_ray = (  # the command line as it runs where Ray is not installed
        "import sys; sys.modules['ray'] = None; sys.argv[0] = 'plancontrol'; "
        "from plancontrol.app.cli.main import main; main()"
    )
    argv = [sys.executable, "-c", without_ray, "batch", "tasks.jsonl", "--into", "out"]
    done = subprocess.run(
        [*argv, "--engine", "ray"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "plancontrol: --engine ray needs the ray extra: pip install 'plancontrol[ray]'\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_address_without_the_ray_engine_or_another_engine_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "tasks.jsonl").write_text(json.dumps(TASKS[0]) + "\n")
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "out"
    refusals = [
        plancontrol.batch(tasks, out, address="ray://head:10001"),
        plancontrol.batch(tasks, out, engine="dask"),
    ]
    assert [r.failure().message for r in refusals] == [
        "`address` names a Ray instance, for `engine=ray` only; add `engine=ray`, or leave it out",
        "no engine 'dask'; choose local or ray",
    ]
    assert not out.exists()


def test_a_run_that_comes_back_replaces_its_folder_only_once_whole(tmp_path: Path) -> None:
    from plancontrol.app.batch_ray import land, pack

    (tmp_path / "new" / "sessions").mkdir(parents=True)
    (tmp_path / "new" / "sessions" / "02.txt").write_text("new")
    (tmp_path / "new" / "lock").write_text("123 456")  # the worker's, left by a crash
    (tmp_path / "out" / "alpha").mkdir(parents=True)
    (tmp_path / "out" / "alpha" / "01.txt").write_text("old")
    with pytest.raises(tarfile.ReadError):
        land(b"not a tar", tmp_path / "out" / "alpha")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["alpha"]  # nothing half-written
    assert [p.name for p in (tmp_path / "out" / "alpha").iterdir()] == ["01.txt"]  # untouched
    land(pack(tmp_path / "new"), tmp_path / "out" / "alpha")
    landed = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert landed == ["alpha", "alpha/sessions", "alpha/sessions/02.txt"]  # no lock, no .landing


def test_a_folder_moved_aside_when_the_driver_stopped_is_put_back(tmp_path: Path) -> None:
    from plancontrol.app.batch_ray import recover

    for name in ("alpha", "beta"):
        (tmp_path / ".landing" / f"{name}.old").mkdir(parents=True)
        (tmp_path / ".landing" / f"{name}.old" / "manifest.json").write_text(name)
    (tmp_path / "beta").mkdir()  # beta's place was taken: its new folder landed
    assert recover(tmp_path) == ["alpha"]
    assert (tmp_path / "alpha" / "manifest.json").read_text() == "alpha"
    assert not (tmp_path / ".landing" / "alpha.old").exists()
    assert (tmp_path / ".landing" / "beta.old").exists()
