"""The summary carried from step to step: what it keeps, what it drops, and its size budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from plancontrol.core.carryover import carried_summary, clip
from plancontrol.core.context import StepOutcome, StepStatus


def _outcome(step: int, summary: str, status: StepStatus = "completed") -> StepOutcome:
    return StepOutcome(step=step, agent="engineer", status=status, summary=summary)


def _done(step: int, summary: str) -> StepOutcome:
    return _outcome(step, summary)


# A summary of chosen size: a first line, then a body of `body` characters on a few lines.
_summaries = st.builds(
    lambda head, body, width, blank: (
        ("\n" * blank) + head + "\n" + "\n".join("y" * width for _ in range(body // width))
    ),
    head=st.text(max_size=400),
    body=st.integers(0, 8000),
    width=st.integers(1, 500),
    blank=st.integers(0, 2),
)


@hsettings(max_examples=200, deadline=None)
@given(
    summaries=st.lists(_summaries, min_size=30, max_size=30),
    budget=st.integers(200, 10_000),
    verbatim=st.integers(0, 5),
)
def test_summary_budget_holds_over_30_steps(
    summaries: list[str], budget: int, verbatim: int
) -> None:
    outcomes = [_done(n, text) for n, text in enumerate(summaries, start=1)]

    for seen_by in range(1, 32):
        earlier = [o for o in outcomes if o.step < seen_by]
        assert len(carried_summary(earlier, budget, verbatim)) <= budget


@hsettings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(
        st.builds(
            _outcome,
            step=st.integers(1, 30),
            summary=st.text(max_size=3000),
            status=st.sampled_from(["completed", "failed", "skipped"]),
        ),
        max_size=40,
    ),
    budget=st.integers(200, 10_000),
    verbatim=st.integers(0, 5),
)
def test_summary_budget_holds_for_any_outcome_history(
    outcomes: list[StepOutcome], budget: int, verbatim: int
) -> None:
    assert len(carried_summary(outcomes, budget, verbatim)) <= budget


def test_nothing_is_carried_before_the_first_step() -> None:
    assert carried_summary([], budget=200, verbatim=2) == ""


def test_latest_steps_are_verbatim_when_they_fit() -> None:
    outcomes = [_done(n, f"result {n}\ndetails {n}\nmore {n}") for n in (1, 2, 3, 4)]

    assert carried_summary(outcomes, budget=1000, verbatim=2) == (
        "### Step 1\nresult 1\n\n"
        "### Step 2\nresult 2\n\n"
        "### Step 3\nresult 3\ndetails 3\nmore 3\n\n"
        "### Step 4\nresult 4\ndetails 4\nmore 4"
    )
    assert carried_summary(outcomes, budget=1000, verbatim=5) == "\n\n".join(
        f"### Step {n}\nresult {n}\ndetails {n}\nmore {n}" for n in (1, 2, 3, 4)
    )


def test_older_steps_are_shortened_to_their_first_line() -> None:
    outcomes = [
        _done(1, "\n  \nfirst non-blank line\nsecond line"),
        _done(2, "L" * 300 + "\nsecond line"),
        _done(3, ""),
        _done(4, "latest\nin full"),
    ]

    assert carried_summary(outcomes, budget=2000, verbatim=1) == (
        "### Step 1\nfirst non-blank line\n\n"
        f"### Step 2\n{'L' * 236} […]\n\n"
        "### Step 3\n\n\n"
        "### Step 4\nlatest\nin full"
    )


def test_oldest_steps_are_dropped_with_a_marker_naming_them() -> None:
    outcomes = [_done(n, f"headline {n}\n" + "x" * 20) for n in range(1, 11)]

    summary = carried_summary(outcomes, budget=200, verbatim=2)

    assert summary == (
        "(steps 1 to 6 omitted to keep this summary short)\n\n"
        "### Step 7\nheadline 7\n\n"
        "### Step 8\nheadline 8\n\n"
        f"### Step 9\nheadline 9\n{'x' * 20}\n\n"
        f"### Step 10\nheadline 10\n{'x' * 20}"
    )
    assert carried_summary(outcomes, budget=250, verbatim=2).startswith(
        "(steps 1 to 4 omitted to keep this summary short)\n\n### Step 5\nheadline 5\n\n"
    )


def test_latest_steps_too_long_for_the_budget_are_clipped_after_the_marker() -> None:
    outcomes = [_done(1, "a" * 500), _done(2, "B" * 5000), _done(3, "c")]

    summary = carried_summary(outcomes, budget=300, verbatim=2)

    head = "(step 1 omitted to keep this summary short)"
    step_3 = "### Step 3\nc"
    # The short step keeps its full size; the long one gets all the room that is left.
    room = 300 - len(head) - 2 - 2 - len(step_3)
    step_2 = clip("### Step 2\n" + "B" * 5000, room)
    assert summary == f"{head}\n\n{step_2}\n\n{step_3}"
    assert summary.endswith(" […]\n\n### Step 3\nc")
    assert len(summary) == 300


def test_only_latest_outcome_per_step_counts() -> None:
    outcomes = [
        _outcome(1, "first try went wrong", "failed"),
        _outcome(2, "done early", "completed"),
        _outcome(1, "second try worked", "completed"),
        _outcome(2, "redone and broken", "failed"),
        _outcome(3, "third", "completed"),
    ]

    assert carried_summary(outcomes, budget=1000, verbatim=5) == (
        "### Step 1\nsecond try worked\n\n### Step 3\nthird"
    )


def test_failed_steps_are_not_carried() -> None:
    outcomes = [
        _outcome(1, "one", "completed"),
        _outcome(2, "this step broke", "failed"),
        _outcome(3, "three", "completed"),
    ]

    summary = carried_summary(outcomes, budget=1000, verbatim=5)

    assert summary == "### Step 1\none\n\n### Step 3\nthree"
    assert carried_summary([_outcome(1, "broken", "failed")], budget=1000, verbatim=2) == ""


def test_skipped_steps_are_marked() -> None:
    outcomes = [
        _outcome(1, "one\nin detail", "completed"),
        _outcome(2, "whatever the summary says", "skipped"),
        _outcome(3, "three\nin detail", "completed"),
    ]

    assert carried_summary(outcomes, budget=1000, verbatim=5) == (
        "### Step 1\none\nin detail\n\n### Step 2\n(skipped)\n\n### Step 3\nthree\nin detail"
    )
    assert carried_summary(outcomes, budget=1000, verbatim=1) == (
        "### Step 1\none\n\n### Step 2\n(skipped)\n\n### Step 3\nthree\nin detail"
    )


def test_summary_stays_flat_across_a_30_step_run() -> None:
    outcomes = [_done(n, f"headline {n}\n" + "x" * 300) for n in range(1, 31)]
    budget = 1000

    sizes = [
        len(carried_summary([o for o in outcomes if o.step < n], budget, verbatim=2))
        for n in range(1, 31)
    ]
    uncapped = [
        len(carried_summary([o for o in outcomes if o.step < n], 10**9, verbatim=30))
        for n in range(1, 31)
    ]

    assert sizes[:3] == [0, 322, 646]
    assert max(sizes) == 999
    assert sizes[23:] == [977] * 7
    assert all(size <= budget for size in sizes)
    assert uncapped[-1] == 9 * 322 + 20 * 324 + 28 * 2


def test_clip_marks_where_it_cut() -> None:
    assert clip("abcdefghij", 10) == "abcdefghij"
    assert clip("abcdefghij", 8) == "abcd […]"
    assert clip("abcdefghij", 3) == "abc"
