"""Request messages stored once per session: the cassettes refer to them by hash, every reader
sees the requests whole, damage is one line, and cassettes written inline still read."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripts import PRIMES, plancontrol, review, run_against

from plancontrol.core.answers import Code, Verdict
from plancontrol.recording.message_store import (
    INLINE_BELOW,
    TABLE,
    DamagedCassette,
    message_hash,
    read_cassette,
)
from plancontrol.testing import OpenAITestServer

ROOT = Path(__file__).resolve().parents[1]
FORMAT3 = ROOT / "tests" / "fixtures" / "format3-primes"
ORDER = ("plan.json", "review.json", "step-01.json", "step-02.json")


def replies() -> dict[str, list[object]]:
    """Three engineer attempts at step 1 (each request repeats the turns before it), then a
    report."""
    return {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [
            Code("print(prime)"),
            Code("print(primes)"),
            Code("open('primes.txt', 'w').write('2 3 5')"),
        ],
        "judge": [
            Verdict("fix", "NameError: prime", "define prime"),
            Verdict("fix", "NameError: primes", "define primes"),
            Verdict("success", "saved"),
        ],
        "researcher": ["# Report\nThree primes."],
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A run recorded against the test server, and the request bodies the server received."""
    where = tmp_path_factory.mktemp("stored")
    with OpenAITestServer(replies()) as server:
        done = run_against(server.base_url, "-q", cwd=where)
    assert done.returncode == 0, done.stderr
    sent = [e.body for e in server.log if e.path == "/v1/chat/completions"]
    return where / "run", sent


def _copy(recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> Path:
    shutil.copytree(recorded[0], tmp_path / "run")
    return tmp_path / "run"


def _cassettes(run: Path) -> list[Path]:
    return [run / "sessions" / "01" / "cassettes" / name for name in ORDER]


def _first_ref(run: Path, name: str) -> str:
    """The first reference to a stored message in the cassette ``name`` of ``run``."""
    cassette = json.loads((run / "sessions" / "01" / "cassettes" / name).read_text())
    messages = cassette["interactions"][0]["request"]["body"]["json"]["messages"]
    return next(m for m in messages if isinstance(m, str))


def _edit_table(run: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``edit`` to the message table of ``run``'s first session, as a hand would."""
    path = run / "sessions" / "01" / TABLE
    table = json.loads(path.read_text())
    edit(table)
    path.write_text(json.dumps(table, ensure_ascii=False, indent=1))


def _replayed(tmp_path: Path) -> str:
    """The last line of ``plancontrol replay run``, which succeeded."""
    done = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def _refused(tmp_path: Path) -> str:
    """What ``plancontrol replay run`` said, having refused the run with exit status 2."""
    done = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    return done.stderr


@pytest.mark.slow
def test_each_distinct_long_message_is_stored_once_and_referred_to_by_hash(
    recorded: tuple[Path, list[dict[str, Any]]],
) -> None:
    run, sent = recorded
    table = json.loads((run / "sessions" / "01" / TABLE).read_text())
    refs, inline = [], []
    for path in _cassettes(run):
        raw = json.loads(path.read_text())
        assert raw["message_table"] == TABLE
        for interaction in raw["interactions"]:
            for item in interaction["request"]["body"]["json"]["messages"]:
                (refs if isinstance(item, str) else inline).append(item)
    distinct_long = {
        message_hash(m)
        for body in sent
        for m in body["messages"]
        if len(json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode()) >= INLINE_BELOW
    }
    assert sorted(table) == sorted(distinct_long)  # each once, and only those
    assert {r.removeprefix("sha256:") for r in refs} == distinct_long
    assert len(refs) > len(distinct_long)  # the system messages and earlier turns repeat
    assert all(len(json.dumps(m, separators=(",", ":"))) < INLINE_BELOW for m in inline)
    assert all(message_hash(m) == key for key, m in table.items())


@pytest.mark.slow
def test_the_requests_read_back_are_those_the_server_received(
    recorded: tuple[Path, list[dict[str, Any]]],
) -> None:
    run, sent = recorded
    read = [
        i["request"]["body"]["json"]
        for path in _cassettes(run)
        for i in read_cassette(path)["interactions"]
    ]
    assert len(read) == len(sent) == 10
    assert [json.dumps(b, ensure_ascii=False) for b in read] == [
        json.dumps(b, ensure_ascii=False) for b in sent
    ]


@pytest.mark.slow
@pytest.mark.parametrize("inline", [False, True], ids=["by hash", "written inline"])
def test_a_run_replays_identically_with_its_messages_stored_once_or_inline(
    recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path, inline: bool
) -> None:
    run = _copy(recorded, tmp_path)
    if inline:  # as format 3 wrote them, or an edit by hand: no table needed
        for path in _cassettes(run):
            path.write_text(json.dumps(read_cassette(path), ensure_ascii=False, indent=1))
        (run / "sessions" / "01" / TABLE).unlink()
    assert _replayed(tmp_path).startswith("replay identical to the recording")


@pytest.mark.slow
def test_a_missing_table_is_one_line_naming_it_and_the_hash(
    recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    run = _copy(recorded, tmp_path)
    table = run / "sessions" / "01" / TABLE
    table.unlink()
    ref = _first_ref(run, "plan.json")
    assert _refused(tmp_path) == (
        f"plancontrol: {table.relative_to(tmp_path)} is missing, and "
        f"{Path('run/sessions/01/cassettes/plan.json')} refers to message {ref} in it; "
        f"restore {table.relative_to(tmp_path)} from a copy of the run folder or record again\n"
    )


@pytest.mark.slow
def test_a_ref_the_table_does_not_hold_is_one_line_naming_both(
    recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    run = _copy(recorded, tmp_path)
    ref = _first_ref(run, "step-02.json")
    _edit_table(run, lambda table: table.pop(ref.removeprefix("sha256:")))
    assert _refused(tmp_path) == (
        f"plancontrol: run/sessions/01/cassettes/step-02.json refers to message {ref}, which "
        "run/sessions/01/messages.json does not hold; restore run/sessions/01/messages.json "
        "from a copy of the run folder or record again\n"
    )


@pytest.mark.slow
def test_an_edited_table_is_one_line_naming_the_hash_whose_message_changed(
    recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    run = _copy(recorded, tmp_path)
    key = sorted(json.loads((run / "sessions" / "01" / TABLE).read_text()))[0]
    _edit_table(run, lambda table: table[key].update(content="edited"))
    assert _refused(tmp_path) == (
        f"plancontrol: run/sessions/01/messages.json is damaged: the message stored as "
        f"sha256:{key} does not hash to it; restore it from a copy\n"
    )


def test_a_table_cut_short_is_named_by_read_cassette(tmp_path: Path) -> None:
    cassettes = tmp_path / "sessions" / "01" / "cassettes"
    cassettes.mkdir(parents=True)
    message = {"role": "system", "content": "You are the engineer. " * 20}
    key = message_hash(message)
    body = {"json": {"model": "m", "messages": ["sha256:" + key]}}
    cassette = {
        "message_table": TABLE,
        "interactions": [{"request": {"body": body}, "response": {}}],
    }
    (cassettes / "step-01.json").write_text(json.dumps(cassette))
    table = json.dumps({key: message})
    (tmp_path / "sessions" / "01" / TABLE).write_text(table)
    read = read_cassette(cassettes / "step-01.json")
    assert read["interactions"][0]["request"]["body"]["json"]["messages"] == [message]
    (tmp_path / "sessions" / "01" / TABLE).write_text(table[:40])
    with pytest.raises(DamagedCassette, match=r"messages.json is damaged \(JSONDecodeError: "):
        read_cassette(cassettes / "step-01.json")


def test_format_3_cassettes_read_as_they_are_stored() -> None:
    paths = sorted(FORMAT3.glob("sessions/*/cassettes/*.json"))
    assert len(paths) == 4
    for path in paths:
        assert read_cassette(path) == json.loads(path.read_text())
    assert not list(FORMAT3.glob(f"sessions/*/{TABLE}"))


@pytest.mark.slow
def test_diff_of_a_run_whose_table_is_missing_is_one_line_and_exit_2(
    recorded: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    run = _copy(recorded, tmp_path)
    shutil.copytree(run, tmp_path / "other")
    same = plancontrol("diff", "run", "other", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    (run / "sessions" / "01" / TABLE).unlink()
    done = plancontrol("diff", "run", "other", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (2, "", 1)
    assert done.stderr.startswith(
        "plancontrol: run/sessions/01/messages.json is missing, and "
        "run/sessions/01/cassettes/plan.json refers to message sha256:"
    )


PRIMES_SESSION = ROOT / "cassettes" / "primes-test-server" / "sessions" / "01"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_table_damaged_anywhere_reads_whole_or_is_named(data: st.DataObject) -> None:
    table = (PRIMES_SESSION / TABLE).read_bytes()
    at = data.draw(st.integers(0, len(table) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != table[at]))
    with tempfile.TemporaryDirectory() as tmp:
        session = Path(tmp) / "sessions" / "01"
        shutil.copytree(PRIMES_SESSION / "cassettes", session / "cassettes")
        (session / TABLE).write_bytes(table[:at] + bytes([byte]) + table[at + 1 :])
        for name in ORDER:
            whole = read_cassette(PRIMES_SESSION / "cassettes" / name)
            try:
                read, problem = read_cassette(session / "cassettes" / name), ""
            except DamagedCassette as exc:
                read, problem = None, str(exc)
            if problem:
                assert problem.startswith(f"{session / TABLE} is damaged")
                assert "\n" not in problem
            else:
                assert read == whole
