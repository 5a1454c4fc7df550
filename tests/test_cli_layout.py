"""The command line's code stays readable and its start fast: small modules, short functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(__file__).parents[1] / "src" / "plancontrol" / "app" / "cli"
MODULES = sorted(CLI.glob("*.py"))

HEAVY = ("plancontrol.app.api", "vcr", "autogen", "httpx", "openai", "rich")
"""What ``plancontrol --help`` must not import: the library's composition root and what it
loads (ag2, vcrpy, HTTP clients), and rich (typer's plain help needs none)."""


def _long_functions(module: Path, most: int) -> list[str]:
    """Each function of ``module`` longer than ``most`` lines whose ``def`` line does not say
    why in a comment, as ``name (n lines)``."""
    source = module.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > most and "#" not in lines[node.lineno - 1]:
                found.append(f"{node.name} ({length} lines)")
    return found


def test_the_cli_is_split_into_modules_named_by_job() -> None:
    names = {module.stem for module in MODULES}
    assert {"main", "options", "run", "resume", "replay", "check", "show", "init"} <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_no_cli_module_is_over_400_lines(module: Path) -> None:
    assert len(module.read_text().splitlines()) < 400


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_cli_functions_are_40_lines_at_most_or_say_why(module: Path) -> None:
    assert _long_functions(module, 40) == []


def test_a_long_function_without_a_comment_is_found(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(45))
    module = tmp_path / "m.py"
    source = f"def short():\n    pass\n\n\ndef long():\n{body}\n\ndef said():  # why\n{body}"
    module.write_text(source)
    assert _long_functions(module, 40) == ["long (46 lines)"]


@pytest.mark.slow
def test_the_command_line_loads_nothing_heavy_before_a_command_runs() -> None:
    probe = f"import sys, plancontrol.app.cli.main; print([m for m in {HEAVY} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (loaded.returncode, loaded.stdout, loaded.stderr) == (0, "[]\n", "")
