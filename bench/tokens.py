"""Prompt tokens of the first request of step N, N = 1..30, against a full-history prompt.

    .venv/bin/python bench/tokens.py [--steps 30]

A run of 30 researcher steps (one model call each) is recorded with `plancontrol run`
against the test server. Every reply is a report of about 1.4 kB whose first line is a
sentence of about 200 characters. Step N's first request carries what the earlier steps
found as plancontrol's carried summary (the latest `summary_verbatim_steps` reports in full, older
ones by their first line, the whole within `summary_budget` characters).

The baseline, computed from the same recorded requests and outputs, is the prompt a
CMBAgent-style workflow would send, which carries every earlier step's full output: step N's
recorded request with its carried summary replaced by all earlier reports in full. (CMBAgent
carries the whole conversation, every agent's messages, so this baseline grows more slowly
than CMBAgent's prompt does.)

Tokens are counted as the test server counts them in the usage it reports, as
whitespace-separated words of all the request's messages: a proxy for a tokenizer's count,
the same for both columns. The plancontrol column is the server's own figure, checked here
against a count of the recorded request.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from notes import long_note, record

from plancontrol import decode_context
from plancontrol.core.carryover import carried_summary
from plancontrol.recording.message_store import read_cassette


def words(text: str) -> int:
    return len(text.split())


def first_request(folder: Path, step: int) -> list[dict[str, Any]]:
    """The messages of step ``step``'s first recorded request."""
    path = folder / "sessions" / "01" / "cassettes" / f"step-{step:02d}.json"
    cassette = read_cassette(path)
    messages: list[dict[str, Any]] = cassette["interactions"][0]["request"]["body"]["json"][
        "messages"
    ]
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        record(folder, args.steps, long_note)
        ctx = decode_context((folder / "context.json").read_bytes()).unwrap()
        messages = {n: first_request(folder, n) for n in range(1, args.steps + 1)}
    settings = ctx.settings
    reported = {u.step: u.prompt_tokens for u in ctx.usage if u.role == "researcher"}
    outputs = {o.step: o.summary for o in ctx.outcomes}
    rows = []
    for n in range(1, args.steps + 1):
        sent = messages[n]
        counted = sum(words(m["content"]) for m in sent)
        assert counted == reported[n], (n, counted, reported[n])
        earlier = [o for o in ctx.outcomes if o.step < n]
        carried = carried_summary(earlier, settings.summary_budget, settings.summary_verbatim_steps)
        assert sent[-1]["content"].endswith(carried.strip()), n
        history = "\n\n".join(f"### Step {k}\n{outputs[k]}" for k in range(1, n))
        full = counted - words(carried) + words(history)
        rows.append((n, counted, len(carried), full))
    print(
        f"summary_budget {settings.summary_budget} characters, "
        f"summary_verbatim_steps {settings.summary_verbatim_steps}; "
        f"each report {len(long_note(1))} characters, {words(long_note(1))} words\n"
    )
    print(
        "| step N | plancontrol prompt (words) | carried summary (chars) | full-history prompt "
        "(words) | full history / plancontrol |"
    )
    print("|---|---|---|---|---|")
    for n, ours, carried_chars, full in rows:
        print(f"| {n} | {ours} | {carried_chars} | {full} | {full / ours:.2f} |")
    reached = next(n for n, _, chars, _ in rows if chars >= 0.95 * settings.summary_budget)
    flat = [ours for n, ours, _, _ in rows if n >= reached]
    last = rows[-1]
    per_step_full = (rows[-1][3] - rows[reached - 1][3]) / (args.steps - reached)
    print(
        f"\nbudget reached at step {reached}; from there to step {args.steps} the plancontrol "
        f"prompt stays within {min(flat)}-{max(flat)} words (max/min {max(flat) / min(flat):.3f})"
        f", while the full-history prompt grows by {per_step_full:.0f} words a step"
    )
    print(
        f"step {args.steps}: full history / plancontrol = {last[3] / last[1]:.2f}; "
        f"step {args.steps} over step {reached}: plancontrol {last[1] / rows[reached - 1][1]:.3f}"
        f", full history {last[3] / rows[reached - 1][3]:.2f}"
    )


if __name__ == "__main__":
    main()
