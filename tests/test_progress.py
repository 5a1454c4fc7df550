"""What a person sees: progress on the terminal while a run works, then the ledger's tables."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from scripts import ANSI, Terminal

from plancontrol import decode_context, summarize
from plancontrol.core.report import dollars

pytestmark = pytest.mark.slow  # every test here starts a process or a server


def test_progress_and_tables_in_a_terminal_hold_the_ledgers_figures(tmp_path: Path) -> None:
    term = Terminal([sys.executable, "-m", "plancontrol", "demo", "--run-dir", "run"], tmp_path)
    for shown in (
        "phase plan",
        "planned in",
        "step 1/2 engineer: Compute the first 20 prime numbers",
        "attempt 1: script ran, exit code 0",
        "attempt 2: script ran, exit code 0",
        "step 1 completed in",
        "step 2/2 researcher",
        "step 2 completed in",
        "Cost by role",
    ):
        term.expect(shown)
    assert term.wait() == 0
    plain = term.seen
    report = summarize(decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap())
    total = report.total
    row = f"total │ {total.calls} │ {total.prompt_tokens} │ {total.completion_tokens} │"
    assert re.search(re.escape(row).replace(r"\ ", r"\s+"), plain), plain
    for role in report.by_role:
        assert re.search(rf"{role.key}\s+│\s+{role.calls}\s+│\s+{role.prompt_tokens}\s+│", plain)
    assert dollars(total.cost_usd) in plain
    shown = ANSI.sub("", term.raw)
    spent = re.search(r"step 2 completed in [\d.]+ s \(([\d,]+) tokens, (\S+) so far\)", shown)
    assert spent is not None, shown
    assert spent.groups() == (f"{total.tokens:,}", dollars(total.cost_usd))
