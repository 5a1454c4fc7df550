"""The committed recordings under cassettes/ replay offline, identically, with the fixture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plancontrol.replaying import ReplayOutcome

RECORDED = Path(__file__).resolve().parent.parent / "cassettes" / "primes-test-server"


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


def test_the_fixture_fails_a_test_whose_recording_is_left_partly_unplayed(
    tmp_path: Path, replay_recorded: Callable[[Path], ReplayOutcome]
) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(RECORDED, copy)
    with (copy / "sessions" / "01" / "journal.jsonl").open("a") as journal:
        journal.write('{"type":"Ticked","value":1.0}\n')
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
