"""Run-folder storage linear in the number of steps: snapshots kept as deltas read back whole,
damaged parts named in one line, and format-3 folders still read by every reader."""

from __future__ import annotations

import json
import shutil
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

import plancontrol as plancontrol_api
from plancontrol import Plan, Step
from plancontrol.core.context import Context, StepOutcome, UsageRow, decode_context
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.message_store import read_cassette
from plancontrol.recording.record import RecordingCheckpoints
from plancontrol.runs.entries import Saved
from plancontrol.runs.journal import Journal, read_journal
from plancontrol.runs.resume import start_point
from plancontrol.runs.snapshots import SnapshotFiles, decode_snapshot, digest, encode_snapshot
from plancontrol.runs.state import run_state
from plancontrol.testing import OpenAITestServer, snapshot

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


def edit(name: str, old: str, new: str, why: str) -> Callable[[Path], str]:
    """A damage: ``old`` replaced by ``new`` in the snapshot file ``name``; what it gives."""

    def damage(snapshots: Path) -> str:
        path = snapshots / name
        path.write_text(path.read_text().replace(old, new))
        return f"{path} is not the snapshot that was recorded (cut short or edited by hand: {why})"

    return damage


edit_step_02 = edit(
    "step-02.json",
    "Note 2:",
    "Note 9:",
    "its changes do not rebuild the snapshot they were stored for",
)
edit_plan = edit(
    "plan.json",
    "Write notes",
    "Write poems",
    "its sha256 differs from the one step-01.json was stored against",
)


def remove_plan(snapshots: Path) -> str:
    (snapshots / "plan.json").unlink()
    return f"{snapshots / 'plan.json'} is missing (step-01.json is stored as its changes since it)"


@pytest.mark.parametrize("damage", [edit_step_02, edit_plan, remove_plan])
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


# --- format-3 folders, as plancontrol wrote them before snapshots were deltas ---------------


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the format-3 recording (primes against the test server, two steps)."""
    shutil.copytree(FIXTURE, tmp_path / "old")
    return tmp_path / "old"


def snapshot_schemas(session: Path) -> dict[str, int]:
    found = {p.stem: msgspec.json.decode(p.read_bytes())["schema"] for p in session.glob("*.json")}
    return dict(sorted(found.items()))


def test_the_fixture_is_a_format_3_folder_of_whole_snapshots() -> None:
    assert msgspec.json.decode((FIXTURE / "manifest.json").read_bytes())["format"] == 3
    assert set(snapshot_schemas(FIXTURE / "sessions" / "01" / "snapshots").values()) == {1}


def test_show_reads_a_format_3_run_as_before(old: Path) -> None:
    finished = run_state(old).unwrap()
    final = decode_context((old / "context.json").read_bytes()).unwrap()
    assert (finished.status, finished.context, len(finished.sessions)) == ("finished", final, 1)

    session = old / "sessions" / "01" / "session.json"
    session.write_text(session.read_text().replace('"completed"', '"running"'))
    killed = run_state(old).unwrap()
    assert killed.status == "stopped without finishing; resumable after finalize"
    assert killed.context == final


def test_resume_reads_a_format_3_snapshot(old: Path) -> None:
    point = start_point(old, from_step=2).unwrap()

    assert (point.session, point.label) == (1, "step-01")
    assert [(o.step, o.attempts) for o in point.context.outcomes] == [(1, 2)]
    assert point.context == snapshot(old, "step-01")


@pytest.mark.slow  # writing the page starts a process (`uname -p`)
def test_report_writes_a_format_3_run_as_before(old: Path) -> None:
    page = old.parent / "page.html"

    assert plancontrol_api.report(old, html=page) == Success(page)
    assert page.read_bytes() == (FIXTURE / "report.html").read_bytes()


def recorded_reply(run: Path) -> str:
    """What the researcher answered at step 2 of ``run``."""
    cassette = read_cassette(run / "sessions" / "01" / "cassettes" / "step-02.json")
    reply: str = cassette["interactions"][0]["response"]["body"]["json"]["choices"][0]["message"][
        "content"
    ]
    return reply


@pytest.mark.slow
def test_a_format_3_run_replays_as_before(old: Path) -> None:
    done = plancontrol("replay", "old", "--json", cwd=old.parent)

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    recorded = digest((FIXTURE / "sessions" / "01" / "context.json").read_bytes())
    assert (found["identical"], found["snapshots"], found["sha256"]) == (True, 7, recorded)


@pytest.mark.slow
def test_a_resumed_format_3_run_stays_format_3_and_a_fork_is_format_4(old: Path) -> None:
    reply = recorded_reply(old)
    with OpenAITestServer({"researcher": [reply, reply]}) as server:
        url = ("--from-step", "2", "--base-url", server.base_url, "-q")
        resumed = plancontrol("resume", "old", *url, cwd=old.parent)
        forked = plancontrol("fork", "old", "--into", "new", *url, cwd=old.parent)
    assert (resumed.returncode, forked.returncode) == (0, 0), resumed.stderr + forked.stderr
    new = old.parent / "new"

    manifests = [msgspec.json.decode((r / "manifest.json").read_bytes()) for r in (old, new)]
    assert [m["format"] for m in manifests] == [3, 4]
    assert snapshot_schemas(old / "sessions" / "02" / "snapshots") == {
        "control": 1, "finalize": 1, "step-02": 1,
    }  # fmt: skip
    assert snapshot_schemas(new / "sessions" / "02" / "snapshots") == {
        "control": 2, "finalize": 2, "step-02": 1,
    }  # fmt: skip
    replayed = plancontrol("replay", "old", "new", "--workers", "2", cwd=old.parent)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert [line.split()[:2] for line in replayed.stdout.splitlines()[:2]] == [
        ["old", "identical"], ["new", "identical"],
    ]  # fmt: skip
    compared = plancontrol("diff", "old", "new", cwd=old.parent)
    assert (compared.returncode, compared.stdout.splitlines()[-1]) == (0, "the runs match")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_delta_damaged_anywhere_reads_whole_or_is_one_line_naming_a_file(
    data: st.DataObject,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        session = Path(tmp)
        saved = grown(3)
        save_all(session, saved)
        path = session / "snapshots" / data.draw(st.sampled_from(["step-02.json", "step-03.json"]))
        raw = bytearray(path.read_bytes())
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at : at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
        path.write_bytes(bytes(raw))

        found = SnapshotFiles(session).read("step-03")

        if isinstance(found, Success):
            assert decode_snapshot(found.unwrap()).map(lambda s: s[0]) == Success("step-03")
        else:
            what = one_line(found)
            assert what.startswith(str(session / "snapshots")), what
