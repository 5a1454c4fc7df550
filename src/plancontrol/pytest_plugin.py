"""pytest fixtures that replay recorded plancontrol runs offline inside a user's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from returns.result import Failure

from plancontrol.replaying import ReplayOutcome, replay_run

__all__ = ["replay_recorded"]


@pytest.fixture
def replay_recorded() -> Callable[[str | Path], ReplayOutcome]:
    """``replay_recorded(path)`` replays the run folder at ``path`` with no network and no
    code execution, and fails the test when the folder cannot be replayed or when recorded
    model requests or journal entries were left unplayed. Assert on what it returns::

        def test_my_recorded_run(replay_recorded):
            outcome = replay_recorded("tests/runs/primes")
            assert outcome.identical
            assert outcome.context.completed_steps == (1, 2)
    """

    def replay(path: str | Path) -> ReplayOutcome:
        result = replay_run(Path(path))
        if isinstance(result, Failure):
            pytest.fail(result.failure(), pytrace=False)
        outcome = result.unwrap()
        if outcome.unplayed_requests or outcome.unplayed_journal:
            pytest.fail(
                f"replay of {path} left recorded interactions unplayed: "
                f"{outcome.unplayed_requests} model request(s), journal {outcome.unplayed_journal}",
                pytrace=False,
            )
        return outcome

    return replay
