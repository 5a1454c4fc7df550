"""The committed recordings under cassettes/ replay offline, identically, with the fixture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plancontrol.recording.replay import ReplayOutcome

RECORDED = Path(__file__).resolve().parent.parent / "cassettes" / "primes-test-server"


@pytest.mark.slow
def test_the_committed_test_server_run_replays_identically(
    replay_recorded: Callable[[Path], ReplayOutcome],
) -> None:
    outcome = replay_recorded(RECORDED)
    assert outcome.identical
    assert outcome.context.completed_steps == (1, 2)
    assert outcome.context.outcomes[0].attempts == 2
    assert outcome.cassettes_used == ("plan.json", "review.json", "step-01.json", "step-02.json")
    assert [label for label, _ in outcome.snapshots] == [
        "plan",
        "review",
        "approve",
        "step-01",
        "step-02",
        "control",
        "finalize",
    ]


@pytest.mark.slow
def test_the_fixture_fails_a_test_whose_recording_is_left_partly_unplayed(
    tmp_path: Path, replay_recorded: Callable[[Path], ReplayOutcome]
) -> None:
    import json
    import shutil

    from plancontrol.runs.journal import seal

    copy = tmp_path / "run"
    shutil.copytree(RECORDED, copy)
    journal = copy / "sessions" / "01" / "journal.jsonl"
    with journal.open("a") as extra:
        extra.write('{"type":"Ticked","value":1.0}\n')
    session = copy / "sessions" / "01" / "session.json"  # sealed again: longer, not damaged
    size, sha = seal(journal)
    recorded = json.loads(session.read_text())
    session.write_text(json.dumps({**recorded, "journal_bytes": size, "journal_sha256": sha}))
    with pytest.raises(
        pytest.fail.Exception,
        match="left recorded interactions unplayed: 0 "
        "model request\\(s\\), journal \\{'Ticked': 1\\}",
    ):
        replay_recorded(copy)


def test_the_fixture_fails_clearly_on_a_folder_that_is_not_a_run(
    tmp_path: Path, replay_recorded: Callable[[Path], ReplayOutcome]
) -> None:
    with pytest.raises(pytest.fail.Exception, match="is not a plancontrol run folder"):
        replay_recorded(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("part", "cassettes", "snapshots"),
    [
        ("plan", ("plan.json",), ["plan"]),
        ("review", ("review.json",), ["review"]),
        ("step-01", ("step-01.json",), ["step-01"]),
        ("step-02", ("step-02.json",), ["step-02"]),
        ("control", ("step-01.json", "step-02.json"), ["step-01", "step-02", "control"]),
    ],
)
def test_one_phase_or_step_replays_alone_against_its_cassette(
    replay_recorded: Callable[..., ReplayOutcome],
    part: str,
    cassettes: tuple[str, ...],
    snapshots: list[str],
) -> None:
    outcome = replay_recorded(RECORDED, part=part)
    assert outcome.identical
    assert outcome.cassettes_used == cassettes
    assert [label for label, _ in outcome.snapshots] == snapshots


@pytest.mark.slow
def test_a_step_replayed_alone_fails_the_test_when_its_cassette_has_more(
    tmp_path: Path, replay_recorded: Callable[..., ReplayOutcome]
) -> None:
    import json
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(RECORDED, copy)
    path = copy / "sessions" / "01" / "cassettes" / "step-02.json"
    cassette = json.loads(path.read_text())
    cassette["interactions"].append(cassette["interactions"][0])
    path.write_text(json.dumps(cassette))
    with pytest.raises(pytest.fail.Exception, match="unplayed: 1 model request"):
        replay_recorded(copy, part="step-02")


def test_replaying_a_part_the_run_never_had_is_a_clear_failure(
    replay_recorded: Callable[..., ReplayOutcome],
) -> None:
    with pytest.raises(pytest.fail.Exception, match="has no part 'step-07'; name one it"):
        replay_recorded(RECORDED, part="step-07")


LOCAL = RECORDED.parent / "demo-local"


@pytest.mark.slow
def test_the_committed_embedded_model_demo_replays_identically(
    replay_recorded: Callable[..., ReplayOutcome],
) -> None:
    """A real run on SmolLM2-135M (tests/recordings/record.py --local), small enough to
    commit; it replays with no model and no network."""
    size = sum(p.stat().st_size for p in LOCAL.rglob("*") if p.is_file())
    assert size < 1_000_000
    outcome = replay_recorded(LOCAL)
    assert outcome.identical
    assert outcome.context.settings.default_model.startswith("SmolLM2")
    assert outcome.context.plan is not None
