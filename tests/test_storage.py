"""Run-folder storage linear in the number of steps: snapshots kept as deltas read back whole,
damaged parts named in one line, and format-3 folders still read by every reader."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from returns.result import Failure, Success
from scripts import plancontrol
from strategies import contexts

from plancontrol import Plan, Step
from plancontrol.core.context import Context, StepOutcome, UsageRow
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.record import RecordingCheckpoints
from plancontrol.runs.entries import Saved
from plancontrol.runs.journal import Journal, read_journal
from plancontrol.runs.snapshots import SnapshotFiles, decode_snapshot, digest, encode_snapshot
from plancontrol.testing import OpenAITestServer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format3-primes"


class _NoCassettes:
    """The open cassette a checkpoint saves first: none here."""

    def flush(self) -> None:
        pass


def save_all(session: Path, saved: list[tuple[str, Context]]) -> tuple[Saved, ...]:
    """Write ``saved`` as a recording session writes its snapshots; the journal's entries."""
    journal = Journal(session / "journal.jsonl")
    checkpoints = RecordingCheckpoints(session, journal, _NoCassettes(), Scrubber())  # type: ignore[arg-type]
    for label, ctx in saved:
        checkpoints.save(label, ctx)
    journal.close()
    entries = read_journal(session / "journal.jsonl").unwrap()
    return tuple(e for e in entries if isinstance(e, Saved))


def grown(steps: int) -> list[tuple[str, Context]]:
    """The contexts a run of ``steps`` steps saves: each step adds an outcome (non-ASCII
    text included), a usage row and a variable."""
    plan = Plan(tuple(Step(f"Write note {i}", "researcher") for i in range(1, steps + 1)))
    ctx = Context(task="Write notes", plan=plan)
    saved = [("plan", ctx)]
    for i in range(1, steps + 1):
        outcome = StepOutcome(
            step=i, agent="researcher", status="completed", summary=f"Note {i}: π≈3.14 ✓ " * 20
        )
        row = UsageRow(
            role="researcher", model="m", phase="control", step=i, attempt=1,
            prompt_tokens=100 + i, completion_tokens=50, cost_usd=0.001 * i,
        )  # fmt: skip
        ctx = replace(
            ctx,
            outcomes=(*ctx.outcomes, outcome),
            usage=(*ctx.usage, row),
            variables=ctx.variables.set(f"v{i}", i),
        )
        saved.append((f"step-{i:02d}", ctx))
    return saved


def test_each_snapshot_stored_as_a_delta_reads_back_as_the_context_saved(tmp_path: Path) -> None:
    saved = grown(40)
    entries = save_all(tmp_path, saved)
    files = SnapshotFiles(tmp_path)

    for (label, ctx), entry in zip(saved, entries, strict=True):
        whole = files.read(label).unwrap()
        assert whole == encode_snapshot(label, ctx)
        assert (entry.label, entry.sha256) == (label, digest(whole))
        assert decode_snapshot(whole).unwrap() == (label, ctx)
    # read out of order, each from a new reader (as resume reads one)
    assert SnapshotFiles(tmp_path).read("step-07").unwrap() == encode_snapshot(*saved[7])


def test_a_delta_holds_what_the_step_added_not_the_whole_context(tmp_path: Path) -> None:
    saved = grown(40)
    save_all(tmp_path, saved)
    stored = {p.stem: p.stat().st_size for p in (tmp_path / "snapshots").glob("*.json")}
    whole = {label: len(encode_snapshot(label, ctx)) for label, ctx in saved}

    assert stored["plan"] == whole["plan"]  # the session's first is whole
    assert whole["step-40"] > 10 * whole["step-02"] // 2
    assert stored["step-40"] < whole["step-02"] - whole["plan"]
    assert max(stored[f"step-{i:02d}"] for i in range(2, 41)) < 2 * stored["step-02"]


@settings(max_examples=40, deadline=None)
@given(st.lists(contexts(), min_size=1, max_size=5))
def test_any_sequence_of_contexts_reads_back_byte_for_byte(saved: list[Context]) -> None:
    labels = [f"part-{i}" for i in range(len(saved))]
    with tempfile.TemporaryDirectory() as tmp:
        entries = save_all(Path(tmp), list(zip(labels, saved, strict=True)))
        files = SnapshotFiles(Path(tmp))
        for label, ctx, entry in zip(labels, saved, entries, strict=True):
            assert files.read(label) == Success(encode_snapshot(label, ctx))
            assert entry.sha256 == digest(encode_snapshot(label, ctx))


def one_line(problem: object) -> str:
    assert isinstance(problem, Failure)
    assert "\n" not in problem.failure().message
    what: str = problem.failure().what
    return what


def test_a_damaged_delta_is_named_in_one_line(tmp_path: Path) -> None:
    save_all(tmp_path, grown(5))
    path = tmp_path / "snapshots" / "step-03.json"
    path.write_bytes(path.read_bytes()[:60])

    message = one_line(SnapshotFiles(tmp_path).read("step-05"))
    assert message.startswith(f"{path} is not the snapshot that was recorded (cut short or ")
    assert SnapshotFiles(tmp_path).read("step-02").unwrap()  # the ones before it still read


def edit_step_02(snapshots: Path) -> str:
    path = snapshots / "step-02.json"
    path.write_text(path.read_text().replace("Note 2:", "Note 9:"))
    return (
        f"{path} is not the snapshot that was recorded (cut short or edited by hand: its "
        "sha256 differs from the one step-03.json was stored against)"
    )


def remove_plan(snapshots: Path) -> str:
    (snapshots / "plan.json").unlink()
    return f"{snapshots / 'plan.json'} is missing (step-01.json is stored as its changes since it)"


@pytest.mark.parametrize("damage", [edit_step_02, remove_plan])
def test_a_damaged_base_is_named_with_the_delta_that_stands_on_it(
    tmp_path: Path, damage: Callable[[Path], str]
) -> None:
    save_all(tmp_path, grown(5))
    expected = damage(tmp_path / "snapshots")

    assert one_line(SnapshotFiles(tmp_path).read("step-04")) == expected


def test_a_delta_that_names_itself_as_its_base_is_refused(tmp_path: Path) -> None:
    save_all(tmp_path, grown(2))
    path = tmp_path / "snapshots" / "step-02.json"
    delta = msgspec.json.decode(path.read_bytes())
    path.write_bytes(msgspec.json.encode({**delta, "base": "step-02"}))

    assert "it holds 'step-02' after 'step-02'" in one_line(SnapshotFiles(tmp_path).read("step-02"))


# --- real runs against the test server --------------------------------------------------


def note(i: int) -> str:
    """A report of about 1.3 kB whose first paragraph is the summary later steps get."""
    first = f"# Note {i}: " + "the measured values agree with the expected ones " * 4
    return first.strip() + "\n\n" + "A line of findings about the data and its errors. " * 24


def record(folder: Path, steps: int) -> None:
    """``plancontrol run`` of ``steps`` researcher steps on the test server into ``folder``."""
    plan = Plan(tuple(Step(f"Write note {i}", "researcher") for i in range(1, steps + 1)))
    answers = {"planner": [plan], "researcher": [note(i) for i in range(1, steps + 1)]}
    with OpenAITestServer(answers) as server:
        done = plancontrol(
            *("run", f"Write {steps} notes", "--base-url", server.base_url, "--model", "m"),
            *("--reviews", "0", "--max-steps", str(steps), "--run-dir", str(folder), "-q"),
            cwd=folder.parent,
        )
    assert done.returncode == 0, done.stderr


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_30_step_folder_costs_at_most_1_3_times_a_3_step_one_per_step(tmp_path: Path) -> None:
    record(tmp_path / "three", 3)
    record(tmp_path / "thirty", 30)

    per_step = folder_bytes(tmp_path / "thirty") / 30 / (folder_bytes(tmp_path / "three") / 3)
    assert per_step <= 1.3
    replayed = plancontrol("replay", "thirty", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
