"""pytest fixtures that replay recorded plancontrol runs offline inside a user's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from returns.result import Failure

from plancontrol.recording.replay import ReplayOutcome, replay_part, replay_run

__all__ = ["replay_recorded"]


@pytest.fixture
def replay_recorded() -> Callable[..., ReplayOutcome]:
    """``replay_recorded(path)`` replays the run folder at ``path`` with no network and no
    code execution; ``replay_recorded(path, part="step-02")`` replays one phase or step of it
    alone, from the snapshot before it, against its own cassette. The test fails when the
    folder cannot be replayed or when recorded model requests or journal entries were left
    unplayed. Assert on what it returns::

        def test_my_recorded_run(replay_recorded):
            outcome = replay_recorded("tests/runs/primes")
            assert outcome.identical
            assert outcome.context.completed_steps == (1, 2)

        def test_the_report_step(replay_recorded):
            assert replay_recorded("tests/runs/primes", part="step-02").identical
    """

    def replay(path: str | Path, part: str | None = None) -> ReplayOutcome:
        result = replay_run(Path(path)) if part is None else replay_part(Path(path), part)
        if isinstance(result, Failure):
            pytest.fail(result.failure().message, pytrace=False)
        outcome = result.unwrap()
        if outcome.unplayed_requests or outcome.unplayed_journal:
            pytest.fail(
                f"replay of {path} left recorded interactions unplayed: "
                f"{outcome.unplayed_requests} model request(s), journal {outcome.unplayed_journal}",
                pytrace=False,
            )
        return outcome

    return replay
