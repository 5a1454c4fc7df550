"""The docs run: every ```python block runs, in order, and prints the ```text block after it;
every ```sh block runs in a scratch folder, in order, with the exit status and output shown."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```(python|text|sh)\n(.*?)```", re.DOTALL)
STATUS = re.compile(r"\s+# exit status (\d+)$")


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


PAGES = sorted(p for p in DOCS.glob("*.md") if any(k == "python" for k, _ in blocks(p)))
SHELL_PAGES = sorted(p for p in DOCS.glob("*.md") if any(k == "sh" for k, _ in blocks(p)))


def test_docs_have_runnable_pages() -> None:
    assert "custom-pipelines.md" in [p.name for p in PAGES]
    assert "durable-runs.md" in [p.name for p in SHELL_PAGES]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_page_code_runs_and_prints_what_the_page_shows(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    found = blocks(page)
    for index, (kind, code) in enumerate(found):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{page.name} block {index}", "exec"), namespace)
        following = found[index + 1] if index + 1 < len(found) else None
        if following and following[0] == "text":
            assert out.getvalue() == following[1], f"{page.name} block {index} printed otherwise"
        else:
            assert out.getvalue() == "", f"{page.name} block {index} printed output not shown"


def matches(shown: str, printed: str) -> bool:
    """``printed`` is what the page shows, where ``…`` stands for any text on its line."""
    pattern = ".*?".join(re.escape(part) for part in shown.split("…"))
    return re.fullmatch(pattern, printed, re.DOTALL) is not None


@pytest.mark.slow
@pytest.mark.timeout(900)  # several commands, each allowed 300 s
@pytest.mark.parametrize("page", SHELL_PAGES, ids=[p.name for p in SHELL_PAGES])
def test_doc_page_commands_run_as_shown(page: Path, tmp_path: Path) -> None:
    """Each line of a ```sh block is a command; it must end with status 0, or the one its
    ``# exit status N`` comment names; a ```text block after it is its stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["COLUMNS"] = "80"
    found = blocks(page)
    for index, (kind, commands) in enumerate(found):
        if kind != "sh":
            continue
        printed = ""
        for line in commands.strip().splitlines():
            status = STATUS.search(line)
            done = subprocess.run(
                ["bash", "-c", STATUS.sub("", line)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            expected = int(status.group(1)) if status else 0
            assert done.returncode == expected, f"{line}\n{done.stdout}{done.stderr}"
            printed += done.stdout + done.stderr
        following = found[index + 1] if index + 1 < len(found) else None
        if following and following[0] == "text":
            assert matches(following[1], printed), f"{page.name} block {index}:\n{printed}"


def test_the_cli_reference_is_the_one_the_commands_write() -> None:
    from plancontrol.app.cli.reference import reference

    assert (DOCS / "cli.md").read_text() == reference(), (
        "docs/cli.md is stale: python -m plancontrol.app.cli.reference > docs/cli.md"
    )
