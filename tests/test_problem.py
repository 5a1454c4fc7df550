"""Shell failures are one typed Problem (what, where, fix), never a bare str; defaults are
stated once (issue #13, item 5)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, get_args

import pytest
from returns.result import Failure, Result

import plancontrol
from plancontrol import Halt, Problem
from plancontrol.app import api
from plancontrol.app.session import Stopped
from plancontrol.handlers.defaults import CODE_TIMEOUT, MODEL_TIMEOUT

SRC = Path(__file__).parent.parent / "src" / "plancontrol"
DEAD = "http://127.0.0.1:9/v1"  # never reached: every input below is refused first


def _problem(result: Result[Any, Any]) -> Problem:
    """The Problem a refused call returned (the test fails on anything else)."""
    assert isinstance(result, Failure), result
    problem = result.failure()
    assert isinstance(problem, Problem), problem
    assert problem.what.strip()
    assert "\n" not in problem.message
    return problem


def test_a_stopped_run_is_a_halt_or_a_problem() -> None:
    assert get_args(Stopped) == (Halt, Problem)


def test_problem_message_is_what_then_how_to_fix_it() -> None:
    fixed = Problem(what="x is gone", where="x", fix="put it back")
    assert fixed.message == "x is gone; put it back"
    assert Problem(what="x is gone", where="x").message == "x is gone"


def test_every_entry_point_refuses_bad_input_with_a_problem(tmp_path: Path) -> None:
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("mine")
    empty = _problem(plancontrol.run("  ", tmp_path / "new", model="m", base_url=DEAD))
    assert (empty.what, empty.where) == ("the task is empty: say what the agents should do", "task")
    keyless = _problem(plancontrol.run("t", tmp_path / "new", model="gpt-4o", env={}))
    assert keyless.where == "OPENAI_API_KEY"
    resumed = _problem(plancontrol.resume(not_a_run))
    assert resumed == Problem(
        what=f"{not_a_run} is not a plancontrol run folder (no manifest.json)",
        where=str(not_a_run),
        fix="pass the folder that `plancontrol run` wrote",
    )
    forked = _problem(plancontrol.fork(tmp_path / "nowhere", tmp_path / "b", from_step=1))
    assert (forked.where, forked.fix) == (
        str(tmp_path / "nowhere"),
        "pass the folder that `plancontrol run` wrote",
    )
    assert _problem(plancontrol.replay(not_a_run)) == resumed
    assert _problem(plancontrol.replay(not_a_run, part="2")) == resumed
    taken = _problem(api.demo(not_a_run))
    assert (taken.where, taken.fix) == (
        str(not_a_run),
        "choose another folder (`run_dir`) or remove it",
    )
    assert not (tmp_path / "new").exists()
    assert not (tmp_path / "b").exists()
    assert sorted(p.name for p in not_a_run.iterdir()) == ["notes.txt"]  # nothing written


@pytest.mark.slow  # the interpreter is asked what it is (a subprocess) before the folder
def test_a_run_into_a_folder_that_holds_files_is_a_problem(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = _problem(plancontrol.run("Count primes", taken, model="m", base_url=DEAD))
    assert refused == Problem(
        what=f"run folder {taken} already exists and is not empty",
        where=str(taken),
        fix="choose another folder (`run_dir`) or remove it",
    )
    assert (taken / "notes.txt").read_text() == "mine"


def _says_str(annotation: ast.expr | None, unions: bool = True) -> bool:
    """Whether ``annotation`` has a bare ``str`` failure channel: ``Result[..., str]``, or
    (``unions``: what a function returns) a union ending in ``| str`` (``Halt | str``,
    ``tuple[...] | str``; a parameter's ``Path | str`` is no failure)."""
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Result"):
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if ast.unparse(parts[-1]) == "str":
                return True
    if unions and isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return ast.unparse(annotation.right) == "str" and "None" not in ast.unparse(annotation)
    return False


def str_channels(root: Path) -> list[str]:
    """Every function, annotation and alias outside ``core`` whose failure is a bare str."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "core" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]
                if _says_str(node.returns) or any(
                    _says_str(a.annotation, unions=False) for a in arguments
                ):
                    found.append(f"{where} {node.name}")
            elif isinstance(node, ast.AnnAssign) and _says_str(node.annotation):
                found.append(f"{where} {ast.unparse(node.target)}")
            elif isinstance(node, ast.Assign) and _says_str(node.value):  # Stopped = Halt | str
                found.append(f"{where} {ast.unparse(node.targets[0])}")
    return found


def test_no_failure_outside_the_core_is_a_bare_str() -> None:
    assert str_channels(SRC) == []


def test_the_check_finds_a_str_channel(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text(
        "def f() -> Result[int, str]: ...\n"
        "def g(r: Result[tuple[str, str], str]) -> None: ...\n"
        "Stopped = Halt | str\n"
        "def h() -> str | None: ...\n"
    )
    assert str_channels(tmp_path) == ["app/m.py:1 f", "app/m.py:2 g", "app/m.py:3 Stopped"]


def _defaults(root: Path) -> list[str]:
    """Numbers written in place of the timeouts' defaults: a ``timeout``/``code_timeout``
    parameter, field or option given a number, or a help text naming one in brackets."""
    found = []
    names = {"timeout", "code_timeout"}
    for path in sorted(root.rglob("*.py")):
        if path.name == "defaults.py" or "servers" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            pairs: list[tuple[str, ast.expr | None]] = []
            if isinstance(node, ast.arguments):
                positional = [*node.posonlyargs, *node.args]
                pairs += zip(
                    [a.arg for a in positional[len(positional) - len(node.defaults) :]],
                    node.defaults,
                    strict=True,
                )
                pairs += [
                    (a.arg, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)
                ]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                pairs.append((node.target.id, node.value))
            elif isinstance(node, ast.Dict):
                pairs += [
                    (k.value, v)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                said = (f"[{MODEL_TIMEOUT:g}]", f"[{CODE_TIMEOUT:g}]")
                if any(number in node.value for number in said):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
            for name, value in pairs:
                if name in names and isinstance(value, ast.Constant) and value.value is not None:
                    found.append(f"{path.relative_to(root)}:{value.lineno} {name}={value.value}")
    return found


def test_the_timeouts_defaults_are_stated_once() -> None:
    assert (MODEL_TIMEOUT, CODE_TIMEOUT) == (120.0, 600.0)
    assert _defaults(SRC) == []
