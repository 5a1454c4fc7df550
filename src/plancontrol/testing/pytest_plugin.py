"""pytest fixtures that replay recorded plancontrol runs offline inside a user's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from returns.result import Failure

from plancontrol.app.api import replay, replay_many
from plancontrol.recording.many import RunReplay
from plancontrol.recording.replay import ReplayOutcome

__all__ = ["RecordedReplays", "replay_recorded"]


class RecordedReplays:
    """What the ``replay_recorded`` fixture gives: called with a run folder, its replay; its
    ``all`` replays every run a folder holds."""

    def __call__(self, path: str | Path, part: str | None = None) -> ReplayOutcome:
        result = replay(path, part=part)  # a whole run's report.html is checked too
        if isinstance(result, Failure):
            pytest.fail(result.failure().message, pytrace=False)
        outcome = result.unwrap()
        _fail_if_unplayed(path, outcome.unplayed_requests, dict(outcome.unplayed_journal))
        return outcome

    def all(self, *paths: str | Path, workers: int = 1) -> tuple[RunReplay, ...]:
        """Every run in ``paths`` (run folders, or folders holding runs one level down),
        replayed ``workers`` at a time in processes of their own; fails the test when a path
        is no folder, when a run cannot be replayed or left recorded interactions unplayed."""
        found = replay_many(paths, workers=workers)
        if isinstance(found, Failure):
            pytest.fail(found.failure().message, pytrace=False)
        results: tuple[RunReplay, ...] = found.unwrap()
        for r in results:
            if r.status == "cannot_replay":
                pytest.fail(r.detail, pytrace=False)
            _fail_if_unplayed(r.run_dir, r.unplayed_requests, dict(r.unplayed_journal))
        return results


def _fail_if_unplayed(path: str | Path, requests: int, journal: dict[str, int]) -> None:
    if requests or journal:
        pytest.fail(
            f"replay of {path} left recorded interactions unplayed: "
            f"{requests} model request(s), journal {journal}",
            pytrace=False,
        )


@pytest.fixture
def replay_recorded() -> RecordedReplays:
    """``replay_recorded(path)`` replays the run folder at ``path`` with no network and no
    code execution; ``replay_recorded(path, part="step-02")`` replays one phase or step of it
    alone, from the snapshot before it, against its own cassette;
    ``replay_recorded.all(folder, workers=2)`` replays every run ``folder`` holds, one level
    down (each a ``RunReplay``, in the order of their names). The test fails when a folder
    cannot be replayed or when recorded model requests or journal entries were left
    unplayed. Assert on what it returns::

        def test_my_recorded_run(replay_recorded):
            outcome = replay_recorded("tests/runs/primes")
            assert outcome.identical
            assert outcome.context.completed_steps == (1, 2)

        def test_the_report_step(replay_recorded):
            assert replay_recorded("tests/runs/primes", part="step-02").identical

        def test_every_recorded_run(replay_recorded):
            assert all(r.identical for r in replay_recorded.all("tests/runs"))
    """
    return RecordedReplays()
