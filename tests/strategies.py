"""Hypothesis strategies that build only valid plancontrol values (settings, plans, contexts)."""

from __future__ import annotations

from hypothesis import strategies as st
from pyrsistent import PMap, pmap

from plancontrol.core.context import Context, Scalar, StepOutcome, TimingRow, UsageRow, Value
from plancontrol.core.plan import Plan, Review, Step
from plancontrol.core.settings import SUPPORT_ROLES, Role, RoleModel, Settings

__all__ = [
    "contexts",
    "outcomes",
    "plans",
    "reviews",
    "roles",
    "settings",
    "timing_rows",
    "usage_rows",
    "variables",
]

# Text agents and people write: any Unicode JSON can carry (no surrogates), kept short.
_text = st.text(max_size=40)
_line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_counts = st.integers(min_value=0, max_value=1_000_000)

# Every strategy below is built once, here: one built inside a draw is built and validated
# again for each example, which made generating contexts most of the fast tier's time. Names
# are drawn as a first character and a tail rather than from a regex (the same strings, drawn
# far faster).
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def _named(first: str, rest: str, longest: int) -> st.SearchStrategy[str]:
    """Strings of one character of ``first`` then up to ``longest`` of ``rest``."""
    return st.builds(str.__add__, st.sampled_from(first), st.text(rest, max_size=longest))


_role_name = _named(_LOWER, _LOWER + _DIGITS + "_", 11).filter(
    lambda name: name not in SUPPORT_ROLES
)  # [a-z][a-z0-9_]{0,11}
_WORD = _LOWER + _LOWER.upper() + _DIGITS + "_"
_filename = _named(_WORD, _WORD + ".-", 19)  # [A-Za-z0-9_][A-Za-z0-9_.-]{0,19}
_model = st.sampled_from(["gpt-4o-mini", "gpt-4.1", "claude-sonnet", "o3-mini", "local/llama"])
_kind = st.sampled_from(["code", "text"])
_cost_limit = st.none() | st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
_roster = st.lists(
    st.tuples(_role_name, _text, _kind), min_size=1, max_size=5, unique_by=lambda row: row[0]
).map(lambda rows: tuple(Role(name, text, kind) for name, text, kind in rows))


def roles() -> st.SearchStrategy[tuple[Role, ...]]:
    """A roster of 1 to 5 uniquely named roles, none called by a name plancontrol reserves."""
    return _roster


@st.composite
def settings(draw: st.DrawFn) -> Settings:
    """Settings whose every knob lies within its allowed range."""
    roster = draw(roles())
    overridable = [role.name for role in roster] + list(SUPPORT_ROLES)
    overridden = draw(st.lists(st.sampled_from(overridable), max_size=4, unique=True))
    filename = draw(_filename)
    return Settings(
        max_rounds_planning=draw(st.integers(1, 200)),
        max_rounds_control=draw(st.integers(1, 300)),
        max_plan_steps=draw(st.integers(1, 8)),
        n_plan_reviews=draw(st.integers(0, 3)),
        max_n_attempts=draw(st.integers(1, 6)),
        max_reply_retries=draw(st.integers(0, 4)),
        plan_instructions=draw(_text),
        engineer_instructions=draw(_text),
        researcher_instructions=draw(_text),
        hardware_constraints=draw(_text),
        researcher_filename=filename,
        roles=roster,
        default_model=draw(_model),
        role_models=tuple(RoleModel(role, draw(_model)) for role in overridden),
        restart_at_step=draw(st.integers(0, 8)),
        summary_budget=draw(st.integers(200, 20_000)),
        summary_verbatim_steps=draw(st.integers(0, 6)),
        approval=draw(st.sampled_from(["none", "after_planning", "before_each_step"])),
        max_plan_revisions=draw(st.integers(0, 5)),
        max_cost_usd=draw(_cost_limit),
    )


_goal = _line.filter(lambda text: text.strip() != "")
_bullets = st.lists(_text, max_size=3).map(tuple)


def plans(within: Settings) -> st.SearchStrategy[Plan]:
    """Plans that pass ``check_plan`` for ``within``: 1..max_plan_steps roster-only steps."""
    step = st.builds(Step, _goal, st.sampled_from(within.role_names), _bullets)
    return st.lists(step, min_size=1, max_size=within.max_plan_steps).map(
        lambda steps: Plan(tuple(steps))
    )


_reviews = st.lists(_text, max_size=4).map(lambda recs: Review(tuple(recs)))


def reviews() -> st.SearchStrategy[Review]:
    """Plan reviews with a few recommendations."""
    return _reviews


def outcomes(step: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[StepOutcome]:
    """Step outcomes of any status."""
    return st.builds(
        StepOutcome,
        step=step if step is not None else st.integers(1, 40),
        agent=_role_name,
        status=st.sampled_from(["completed", "failed", "skipped"]),
        code_status=st.sampled_from(["not_run", "succeeded", "failed", "timed_out"]),
        attempts=st.integers(0, 10),
        summary=st.text(max_size=300),
        files=st.lists(_line, max_size=3).map(tuple),
        error=_text,
    )


def usage_rows() -> st.SearchStrategy[UsageRow]:
    """Usage rows; the cost is a finite non-negative float, or None when the price is unknown."""
    return st.builds(
        UsageRow,
        role=_role_name | st.sampled_from(SUPPORT_ROLES),
        model=_model,
        phase=st.sampled_from(["planning", "control"]),
        step=st.integers(0, 40),
        attempt=st.integers(1, 10),
        prompt_tokens=_counts,
        completion_tokens=_counts,
        cost_usd=st.none() | st.floats(min_value=0.0, allow_infinity=False),
    )


@st.composite
def timing_rows(draw: st.DrawFn) -> TimingRow:
    """Timing spans that end no earlier than they start."""
    started = draw(st.floats(min_value=-1e12, max_value=1e12))
    length = draw(st.floats(min_value=0.0, max_value=1e6))
    return TimingRow(
        phase=draw(st.sampled_from(["plan", "review", "approve", "control", "finalize"])),
        step=draw(st.integers(0, 40)),
        started=started,
        ended=started + length,
    )


_scalars: st.SearchStrategy[Scalar] = st.one_of(
    st.none(), st.booleans(), st.integers(), _finite, _text
)


_values: st.SearchStrategy[Value] = _scalars | st.lists(_scalars, max_size=4).map(tuple)
_variables = st.dictionaries(_text, _values, max_size=5).map(pmap)


def variables() -> st.SearchStrategy[PMap[str, Value]]:
    """Agent variables: string keys to JSON scalars or tuples of them (finite floats only)."""
    return _variables


_settings = settings()
_review_lists = st.lists(_reviews, max_size=2)
_feedback = st.lists(_text, max_size=2)
_outcome_lists = st.lists(outcomes(), max_size=4)
_usage_lists = st.lists(usage_rows(), max_size=4)
_timing_lists = st.lists(timing_rows(), max_size=4)


@st.composite
def contexts(draw: st.DrawFn) -> Context:
    """Contexts at any stage of a run, their plan and drafts valid for their settings."""
    chosen = draw(_settings)
    valid = plans(chosen)
    return Context(
        task=draw(_line),
        settings=chosen,
        plan=draw(st.none() | valid),
        drafts=tuple(draw(st.lists(valid, max_size=2))),
        reviews=tuple(draw(_review_lists)),
        feedback=tuple(draw(_feedback)),
        outcomes=tuple(draw(_outcome_lists)),
        usage=tuple(draw(_usage_lists)),
        timings=tuple(draw(_timing_lists)),
        variables=draw(_variables),
    )
