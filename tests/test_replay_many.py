"""Many run folders replayed at once: a line per run, a summary, the worst exit status."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from scripts import plancontrol as cli

import plancontrol
from plancontrol.recording.many import RunReplay
from plancontrol.testing.pytest_plugin import RecordedReplays

pytestmark = pytest.mark.slow  # every test here starts processes

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
EDITED = "first in snapshot step-01 at $.outcomes[0].summary from character 45"


def corpus(into: Path) -> Path:
    """Copies of the two committed runs, one whose step-01 snapshot was edited (its replay
    differs there) and a folder that is not a run."""
    into.mkdir()
    shutil.copytree(CASSETTES / "demo-local", into / "demo")
    shutil.copytree(CASSETTES / "primes-test-server", into / "primes")
    shutil.copytree(CASSETTES / "demo-local", into / "edited")
    snapshot = into / "edited" / "sessions" / "01" / "snapshots" / "step-01.json"
    text = snapshot.read_text()
    assert "def compute_first_prime(" in text
    snapshot.write_text(text.replace("def compute_first_prime(", "def compute_first_primes_(", 1))
    (into / "notes").mkdir()
    (into / "notes" / "todo.txt").write_text("not a run\n")
    return into


def lines_of(stdout: str) -> list[str]:
    """The output with each time in seconds as ``T``."""
    return re.sub(r"\d+\.\d\d s\b", "T s", stdout).splitlines()


def test_each_run_has_its_line_and_the_worst_status_is_the_exit_status(tmp_path: Path) -> None:
    corpus(tmp_path / "c")
    done = cli("replay", "demo", "primes", "edited", "notes", "--workers", "2", cwd=tmp_path / "c")
    lines = lines_of(done.stdout)
    assert lines[0] == "demo    identical  (T s)"
    assert lines[1] == "primes  identical  (T s)"
    assert lines[2].startswith(f"edited  differs: {EDITED}: recorded 's_(n):")
    assert lines[2].endswith("  (T s)")
    assert lines[3] == (
        "notes   cannot replay: notes is not a plancontrol run folder (no manifest.json); "
        "pass the folder that `plancontrol run` wrote  (T s)"
    )
    assert lines[4:] == [
        "4 runs replayed with 2 workers in T s: identical 2, differs 1, cannot replay 1"
    ]
    assert (done.returncode, done.stderr) == (2, "")  # one cannot be replayed: as alone, 2

    differs = cli("replay", "demo", "edited", "primes", "--workers", "2", cwd=tmp_path / "c")
    assert differs.returncode == 1
    assert [line.split()[:2] for line in lines_of(differs.stdout)[:3]] == [
        ["demo", "identical"],
        ["edited", "differs:"],
        ["primes", "identical"],
    ]
    same = cli("replay", "primes", "demo", "--workers", "2", cwd=tmp_path / "c")
    assert same.returncode == 0
    assert lines_of(same.stdout) == [
        "primes  identical  (T s)",
        "demo    identical  (T s)",
        "2 runs replayed with 2 workers in T s: identical 2, differs 0, cannot replay 0",
    ]


def test_a_folder_holding_runs_replays_each_by_name_and_says_so_in_json(tmp_path: Path) -> None:
    batch = corpus(tmp_path / "batch")
    done = cli("replay", "batch", "--workers", "2", "--json", cwd=tmp_path)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["type"] == "replays"
    assert (document["identical"], document["workers"]) == (False, 2)
    assert document["counts"] == {"identical": 2, "differs": 1, "cannot_replay": 0}
    runs = document["runs"]
    assert [(r["run_dir"], r["status"]) for r in runs] == [
        ("batch/demo", "identical"),
        ("batch/edited", "differs"),
        ("batch/primes", "identical"),
    ]  # by name; batch/notes, no run, is not one of them
    assert runs[1]["difference"].startswith(EDITED)
    assert runs[0]["sha256"] == runs[1]["sha256"]  # the final context is the same
    assert [r["snapshots"] for r in runs] == [7, 7, 7]
    assert {r["problem"] for r in runs} == {None}
    assert (batch / "edited" / "report.html").read_bytes() == (
        CASSETTES / "demo-local" / "report.html"
    ).read_bytes()  # nothing written into the folders


def test_one_run_folder_replays_as_it_always_did(tmp_path: Path) -> None:
    corpus(tmp_path / "c")
    done = cli("replay", "demo", "--workers", "2", "-q", cwd=tmp_path / "c")
    assert done.returncode == 0
    assert done.stdout.startswith(
        "replay identical to the recording (7 snapshots and the final context): sha256 "
    )
    part = cli("replay", "demo", "--part", "2", "-q", cwd=tmp_path / "c")
    assert part.stdout.startswith("replay of 2 identical to the recording: sha256 ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--part", "2"], "--part applies to one run folder; replay them one at a time with it"),
        (
            ["--rerun-code"],
            "--rerun-code applies to one run folder; replay them one at a time with it",
        ),
        (
            ["--pipeline", "m:p"],
            "--pipeline applies to one run folder; replay them one at a time with it",
        ),
        (["--workers", "0"], "--workers 0 is below 1; give 1 or more"),
        (["missing"], "missing is not a folder; pass run folders, or folders that hold runs"),
    ],
)
def test_bad_input_with_several_folders_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], said: str
) -> None:
    corpus(tmp_path / "c")
    done = cli("replay", "demo", "primes", *args, cwd=tmp_path / "c")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"plancontrol: {said}\n")


def test_the_library_call_gives_each_runs_result_in_order(tmp_path: Path) -> None:
    c = corpus(tmp_path / "c")
    results = plancontrol.replay_many([c / "edited", c], workers=2).unwrap()
    assert [(Path(r.run_dir).name, r.status) for r in results] == [
        ("edited", "differs"),
        ("demo", "identical"),
        ("primes", "identical"),
    ]  # edited, named first, is not replayed twice
    assert results[0].detail.startswith(EDITED)
    assert all(r.seconds > 0 for r in results)
    alone = plancontrol.replay_many(str(c / "demo"))  # one path, not in a list
    assert [(r.run_dir, r.status) for r in alone.unwrap()] == [(str(c / "demo"), "identical")]
    failed = plancontrol.replay_many([c / "missing"], workers=2)
    assert failed.failure().message == (
        f"{c / 'missing'} is not a folder; pass run folders, or folders that hold runs"
    )


def test_the_fixture_replays_every_run_a_folder_holds(
    tmp_path: Path, replay_recorded: RecordedReplays
) -> None:
    c = corpus(tmp_path / "c")
    results = replay_recorded.all(c, workers=2)
    assert [(Path(r.run_dir).name, r.identical) for r in results] == [
        ("demo", True),
        ("edited", False),
        ("primes", True),
    ]
    assert isinstance(results[0], RunReplay)
    with pytest.raises(pytest.fail.Exception, match="notes is not a plancontrol run folder"):
        replay_recorded.all(c / "demo", c / "notes")


def test_the_fixture_fails_when_a_run_of_the_folder_is_left_partly_unplayed(
    tmp_path: Path, replay_recorded: RecordedReplays
) -> None:
    from plancontrol.runs.journal import seal

    c = corpus(tmp_path / "c")
    journal = c / "primes" / "sessions" / "01" / "journal.jsonl"
    with journal.open("a") as extra:
        extra.write('{"type":"Ticked","value":1.0}\n')
    session = c / "primes" / "sessions" / "01" / "session.json"  # sealed again: not damaged
    size, sha = seal(journal)
    recorded = json.loads(session.read_text())
    session.write_text(json.dumps({**recorded, "journal_bytes": size, "journal_sha256": sha}))
    with pytest.raises(
        pytest.fail.Exception,
        match=r"replay of .*primes left recorded interactions unplayed: 0 model request\(s\), "
        r"journal \{'Ticked': 1\}",
    ):
        replay_recorded.all(c, workers=2)


def test_without_workers_there_is_one_per_cpu(tmp_path: Path) -> None:
    corpus(tmp_path / "c")
    done = cli("replay", "demo", "primes", cwd=tmp_path / "c")
    assert done.returncode == 0
    workers = os.cpu_count()
    assert lines_of(done.stdout)[-1] == (
        f"2 runs replayed with {workers} workers in T s: identical 2, differs 0, cannot replay 0"
    )


def test_an_edited_report_page_is_named_when_many_runs_replay(
    tmp_path: Path, replay_recorded: RecordedReplays
) -> None:
    c = tmp_path / "c"
    c.mkdir()
    shutil.copytree(CASSETTES / "demo-local", c / "demo")
    shutil.copytree(CASSETTES / "primes-test-server", c / "primes")
    page = c / "primes" / "report.html"
    page.write_bytes(page.read_bytes().replace(b"</body>", b"<p>edited</p></body>"))
    said = "in the file report.html: its bytes differ from the page the run gives"
    done = cli("replay", "c", "--workers", "2", cwd=tmp_path)
    assert lines_of(done.stdout)[:2] == [
        "c/demo    identical  (T s)",
        f"c/primes  differs: {said}  (T s)",
    ]
    assert done.returncode == 1
    results = plancontrol.replay_many([c], workers=1).unwrap()
    assert [(Path(r.run_dir).name, r.status, r.detail) for r in results] == [
        ("demo", "identical", ""),
        ("primes", "differs", said),
    ]
    assert [r.identical for r in replay_recorded.all(c, workers=2)] == [True, False]
    assert not replay_recorded(c / "primes").identical
