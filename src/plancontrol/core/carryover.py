"""The summary carried from step to step, kept within a size budget; no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from plancontrol.core.context import StepOutcome

__all__ = ["carried_summary", "clip"]

_SEP = "\n\n"
_CUT = " […]"
_SHORT = 240


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked where it was cut.

    >>> clip("abcdefghij", 8)
    'abcd […]'
    """
    if len(text) <= limit:
        return text
    if limit <= len(_CUT):
        return text[:limit]
    return text[: limit - len(_CUT)] + _CUT


def _section(step: int, body: str) -> str:
    return f"### Step {step}\n{body}"


def _shorten(body: str) -> str:
    first = next((line for line in body.splitlines() if line.strip()), "")
    return clip(first, _SHORT)


def _omitted(steps: list[int], dropped: int) -> str:
    if not dropped:
        return ""
    span = f"step {steps[0]}" if dropped == 1 else f"steps {steps[0]} to {steps[dropped - 1]}"
    return f"({span} omitted to keep this summary short)"


def _shares(sizes: list[int], room: int) -> list[int]:
    """Split ``room`` among sections: short ones keep their size, long ones share the rest.

    >>> _shares([10, 500, 900], 610)
    [10, 300, 300]
    """
    shares = [0] * len(sizes)
    left = room
    for rank, index in enumerate(sorted(range(len(sizes)), key=sizes.__getitem__)):
        shares[index] = min(sizes[index], left // (len(sizes) - rank))
        left -= shares[index]
    return shares


def _join(parts: Iterable[str]) -> str:
    return _SEP.join(p for p in parts if p)


def carried_summary(outcomes: Iterable[StepOutcome], budget: int, verbatim: int) -> str:
    """What later steps are told about earlier ones.

    The latest ``verbatim`` steps appear in full, older ones by their first line, and the
    oldest are dropped when even that exceeds ``budget`` characters, which the result never
    does. Only the latest outcome of each completed or skipped step counts.

    >>> from plancontrol.core.context import StepOutcome
    >>> done = [StepOutcome(step=n, agent="engineer", status="completed",
    ...                     summary=f"result {n}\\ndetails {n}") for n in (1, 2, 3)]
    >>> print(carried_summary(done, budget=1000, verbatim=1))
    ### Step 1
    result 1
    <BLANKLINE>
    ### Step 2
    result 2
    <BLANKLINE>
    ### Step 3
    result 3
    details 3
    """
    latest = {o.step: o for o in outcomes}
    steps = sorted(n for n, o in latest.items() if o.status in ("completed", "skipped"))
    bodies = {
        n: latest[n].summary if latest[n].status == "completed" else "(skipped)" for n in steps
    }
    cut = max(len(steps) - verbatim, 0)
    recent = [_section(n, bodies[n]) for n in steps[cut:]]
    older = [_section(n, _shorten(bodies[n])) for n in steps[:cut]]
    dropped = 0
    while older and len(_join([_omitted(steps, dropped), *older, *recent])) > budget:
        older.pop(0)
        dropped += 1
    text = _join([_omitted(steps, dropped), *older, *recent])
    if len(text) > budget and recent:
        head = _omitted(steps, cut)
        room = budget - (len(head) + len(_SEP) if head else 0) - len(_SEP) * (len(recent) - 1)
        shares = _shares([len(s) for s in recent], max(room, 0))
        text = _join([head, *(clip(s, n) for s, n in zip(recent, shares, strict=True))])
    return text[:budget]
