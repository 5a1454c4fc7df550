"""Replay checks every file a run left: its exports and each file its steps produced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scripts import plancontrol

pytestmark = pytest.mark.slow  # the demo runs the CLI and its scripted server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("demo")
    done = plancontrol("demo", "--run-dir", "run", "-q", cwd=where)
    assert done.returncode == 0, done.stderr
    return where / "run"


def _copy(demo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(demo, copy)
    return copy


def test_the_journal_holds_each_file_the_session_left_with_its_hash(demo: Path) -> None:
    lines = (demo / "sessions" / "01" / "journal.jsonl").read_text().splitlines()
    wrote = [json.loads(line) for line in lines if '"type":"Wrote"' in line]
    paths = [entry["path"] for entry in wrote]
    assert paths[:3] == ["plan.json", "context.json", "report.md"]
    assert "work/primes.txt" in paths
    assert all(len(entry["sha256"]) == 64 for entry in wrote)
    replayed = plancontrol("replay", str(demo), "-q", cwd=demo.parent)
    assert replayed.returncode == 0, replayed.stderr


@pytest.mark.parametrize(
    ("path", "change", "said"),
    [
        ("plan.json", "garbage", "in the file plan.json: its bytes differ from the ones recorded"),
        ("work/primes.txt", "2\n3\n", "in the file work/primes.txt: its bytes differ"),
        ("report.md", None, "in the file report.md: missing"),
        ("report.html", "<p>edited</p>", "in the file report.html: its bytes differ from the page"),
    ],
)
def test_a_file_changed_after_the_run_is_named_by_replay(
    demo: Path, tmp_path: Path, path: str, change: str | None, said: str
) -> None:
    run = _copy(demo, tmp_path)
    if change is None:
        (run / path).unlink()
    else:
        (run / path).write_text(change)
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 1
    assert replayed.stderr.startswith(f"plancontrol: replay differs from the recording, {said}")
    document = plancontrol("replay", "run", "--json", cwd=tmp_path)
    assert json.loads(document.stdout)["difference"]["file"] == path
