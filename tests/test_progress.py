"""What a person sees: progress on the terminal while a run works, then the ledger's tables."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from scripts import ANSI, PRIMES, Terminal, plancontrol

from plancontrol import decode_context, summarize
from plancontrol.core.answers import Code, Verdict
from plancontrol.core.report import dollars
from plancontrol.testing import OpenAITestServer

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
    _status_line_redrawn_in_place(term.raw, f"{total.tokens:,}", dollars(total.cost_usd))


STATUS = r"control · step 2 of 2 · attempt 1 · [\d.]+ s · ([\d,]+) tokens · (\S+) so far"
ERASE = "\r\x1b[2K"  # back to the line's start and clear it: the next drawing replaces it


def _status_line_redrawn_in_place(raw: str, tokens: str, cost: str) -> None:
    """The status line says step 2 of 2 and its spending; each drawing of it is cleared
    from its own line before anything else is written, the last one too (it goes at the
    end, leaving the finished lines)."""
    drawn = list(re.finditer(STATUS, ANSI.sub(_keep_erase, raw)))
    assert len(drawn) >= 2, raw
    assert drawn[-1].groups() == (tokens, cost)
    plain = ANSI.sub(_keep_erase, raw)
    assert all(plain[d.end() :].startswith(ERASE) for d in drawn), raw
    assert "step 2 of 2" not in plain.rsplit(ERASE, 1)[1]  # gone at the end


def _keep_erase(code: re.Match[str]) -> str:
    return code.group() if code.group() == "\x1b[2K" else ""


def test_without_a_terminal_progress_is_plain_lines(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("\r" in done.stderr, "\x1b" in done.stderr, "step 2 of 2" in done.stderr) == (
        False,
        False,
        False,
    )
    lines = done.stderr.splitlines()
    assert "step 2/2 researcher: Write a short report on the primes found" in lines
    assert [line for line in lines if line.startswith("  step ")] == [
        line for line in lines if re.fullmatch(r"  step [12] completed in [\d.]+ s \(.*\)", line)
    ]


def test_quiet_prints_the_run_folder_alone(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", "-q", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "run\n", "")
    assert (tmp_path / "run" / "report.md").is_file()


def test_quiet_still_says_why_a_run_stopped(tmp_path: Path) -> None:
    replies = {
        "planner": [PRIMES],
        "engineer": [Code("raise SystemExit(3)")],
        "judge": [Verdict("fix", "it exits with 3", "do not exit")],
    }
    with OpenAITestServer(replies) as server:
        done = plancontrol(
            "run", "Compute primes", "--base-url", server.base_url, "--model", "m",
            "--reviews", "0", "--attempts", "1", "--run-dir", "run", "-q", cwd=tmp_path,
        )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "run\n")
    said = " ".join(done.stderr.split())  # as one line, however the terminal wraps it
    assert said == (
        "workflow stopped: step 1 failed after 1 attempt(s); last problem: it exits with 3; "
        "raise max_n_attempts or resume at step 1 with new instructions "
        "continue it with: plancontrol resume run --max-n-attempts 3"
    )
