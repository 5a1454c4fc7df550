"""Every ```python block in docs/ runs, in order, and prints the ```text block after it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.DOTALL)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


PAGES = sorted(p for p in DOCS.glob("*.md") if any(k == "python" for k, _ in blocks(p)))


def test_docs_have_runnable_pages() -> None:
    assert "custom-pipelines.md" in [p.name for p in PAGES]


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
