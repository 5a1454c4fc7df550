"""The structured-output mode a server settled on: said in one line, journaled, read back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from plancontrol.handlers.routes import StructuredMode
from plancontrol.runs.folder import session_dir
from plancontrol.runs.journal import Entry, Negotiated, read_journal

__all__ = ["JournalSettle", "modes_before", "modes_in", "settled_line"]

_SHOWN = 160
"""How much of a provider's refusal the settled line quotes."""


def settled_line(model: str, mode: StructuredMode, refused: tuple[str, ...]) -> str:
    """The one line said when a negotiation settles.

    >>> print(settled_line("smol", "json_object", ("json_schema: bad type",)))
    structured replies from smol: json_object, kept for the run (refused json_schema: bad type)
    >>> settled_line("gpt-4o", "json_schema", ())
    'structured replies from gpt-4o: json_schema, kept for the run'
    """
    line = f"structured replies from {model}: {mode}, kept for the run"
    if not refused:
        return line
    shown = "; ".join(refused)
    shown = shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
    return f"{line} (refused {shown})"


def modes_in(entries: Iterable[Entry]) -> dict[str, StructuredMode]:
    """The modes the journal ``entries`` record as settled, per model (the last wins).

    >>> modes_in([Negotiated("smol", "json_object")])
    {'smol': 'json_object'}
    """
    return {e.model: e.mode for e in entries if isinstance(e, Negotiated)}


def modes_before(folder: Path, number: int) -> dict[str, StructuredMode]:
    """The modes settled by the sessions before session ``number`` of the run in ``folder``,
    per model; a journal that cannot be read counts as settling nothing (replay and resume
    check journals themselves)."""
    modes: dict[str, StructuredMode] = {}
    for earlier in range(1, number):
        path = session_dir(folder, earlier) / "journal.jsonl"
        modes |= modes_in(read_journal(path).value_or(()))
    return modes


class JournalSettle:
    """Told by the agents when a negotiation settles: says the line and appends a
    ``Negotiated`` entry to session ``number``'s journal (opened, appended, closed: the
    session's own journal writer appends to the same file, each line whole)."""

    def __init__(self, folder: Path, number: int, say: Callable[[str], None]) -> None:
        self.path = session_dir(folder, number) / "journal.jsonl"
        self.say = say

    def __call__(self, model: str, mode: StructuredMode, refused: tuple[str, ...]) -> None:
        self.say(settled_line(model, mode, refused))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as journal:
            journal.write(msgspec.json.encode(Negotiated(model, mode)) + b"\n")
