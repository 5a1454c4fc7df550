"""The package's code stays readable at a glance: small modules, short functions, a top-level
package that holds only the public face (issue #13)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "plancontrol"
MODULES = sorted(PACKAGE.rglob("*.py"))
MOST_LINES = 400
"""A module holds fewer lines than this."""
MOST_BODY = 40
"""A function's body (its docstring aside) holds at most this many lines, unless its ``def``
line says in a comment why it stays long."""


def _body_length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines from the first statement after the docstring to the function's end."""
    body = node.body
    first = body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if docstring and isinstance(first.value.value, str) and len(body) > 1:
        first = body[1]
    return (node.end_lineno or node.lineno) - first.lineno + 1


def _long_functions(source: str, most: int = MOST_BODY) -> list[str]:
    """Each function in ``source`` whose body is over ``most`` lines and whose ``def`` line
    does not say why in a comment, as ``name (n lines)``."""
    lines = source.splitlines()
    return [
        f"{node.name} ({length} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := _body_length(node)) > most
        and "#" not in lines[node.lineno - 1]
    ]


def _name(module: Path) -> str:
    return str(module.relative_to(PACKAGE.parent))


def test_no_module_in_the_package_is_over_400_lines() -> None:
    sizes = {_name(m): len(m.read_text().splitlines()) for m in MODULES}
    assert {name: n for name, n in sizes.items() if n >= MOST_LINES} == {}


def test_functions_are_40_lines_at_most_or_say_why_on_their_def_line() -> None:
    found = {_name(m): _long_functions(m.read_text()) for m in MODULES}
    assert {name: long for name, long in found.items() if long} == {}


def test_the_top_level_package_holds_only_its_public_face() -> None:
    top = sorted(module.name for module in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "_version.py"]


def test_a_long_function_is_found_by_its_body_and_a_comment_lets_it_stay() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(41))
    docstring = '    """Says what it does,\n\n    at length."""\n'
    source = (
        f"def short():\n    pass\n\n\ndef long():\n{body}\n\n"
        f"def documented():\n{docstring}{body[: body.index('x40')]}\n\n"
        f"def said():  # a table, one row a line\n{body}\n\n"
        f"async def waiting():\n{body}"
    )
    assert _long_functions(source) == ["long (41 lines)", "waiting (41 lines)"]


def test_the_measure_counts_the_body_after_the_docstring() -> None:
    source = 'def f():\n    """One."""\n    a = 1\n    return a\n\n\ndef g():\n    """Only."""\n'
    functions = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    assert [_body_length(f) for f in functions] == [2, 1]
