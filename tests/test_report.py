"""plancontrol report: one self-contained HTML page of a run, from its folder alone."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from returns.result import Failure, Success
from typer.testing import CliRunner

import plancontrol
from plancontrol.app.cli.main import app
from plancontrol.app.report import write_report

PRIMES_RUN = Path(__file__).parents[1] / "cassettes" / "primes-test-server"


class Tags(HTMLParser):
    """Counts start tags by name and class, and keeps the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs).get("class") or ""))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str, cls: str = "") -> int:
        return sum(1 for t, c in self.tags if t == tag and (not cls or cls in c.split()))


def parsed(page: Path) -> Tags:
    tags = Tags()
    tags.feed(page.read_text(encoding="utf-8"))
    return tags


@pytest.fixture(scope="module")
def primes_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The primes run's page without the judge's verdicts (reading them back replays each
    step, which starts processes: the slow tests check them)."""
    target = tmp_path_factory.mktemp("report") / "primes.html"
    assert write_report(PRIMES_RUN, target, verdicts=False) == Success(target)
    return target


def test_the_report_shows_each_attempt_with_its_code_and_output(primes_page: Path) -> None:
    page = parsed(primes_page)
    text = "".join(page.text)
    assert page.count("div", "attempt") == 2
    assert page.count("div", "code") == 2  # pygments' highlighted code, one per attempt
    assert "NameError: name 'primes' is not defined" in text  # attempt 1's stderr
    assert "20 primes, the largest 71" in text  # attempt 2's stdout
    assert "exit code 1" in text
    assert "exit code 0" in text
    assert "print(primes)" in text
    assert "Judge: not asked or not read back" in text


@pytest.mark.slow
def test_the_report_shows_the_judges_verdict_on_each_attempt(tmp_path: Path) -> None:
    assert write_report(PRIMES_RUN, tmp_path / "r.html") == Success(tmp_path / "r.html")
    verdicts = re.findall(
        r"Judge: <strong>(\w+)</strong>: ([^<]*)<", (tmp_path / "r.html").read_text()
    )
    assert verdicts == [
        ("fix", "NameError: primes is not defined"),
        ("success", "20 primes saved to primes.txt"),
    ]


def test_the_report_has_the_header_plan_and_researcher_report(primes_page: Path) -> None:
    html = primes_page.read_text(encoding="utf-8")
    text = "".join(parsed(primes_page).text)
    assert "Compute the first 20 primes, save them to primes.txt and write a short report" in text
    assert '<dd class="status">finished</dd>' in html
    assert "<h1>Primes</h1>" in html  # reports/step_2_researcher_output.md, from Markdown
    assert "keep two steps" in text  # the review
    assert html.count('<section class="step"') == 2
    assert "<td>engineer</td><td>test-model</td>" in html


def test_unknown_prices_are_shown_as_unknown_never_as_zero(primes_page: Path) -> None:
    html = primes_page.read_text(encoding="utf-8")
    assert '<dd class="cost">unknown</dd>' in html
    assert "$0" not in html


def test_the_page_loads_nothing_from_elsewhere(primes_page: Path) -> None:
    html = primes_page.read_text(encoding="utf-8")
    assert re.findall(r"(?:src|href)=\"(?!#|data:)[^\"]*\"", html) == []
    assert "default-src 'none'" in html  # the browser itself is told to fetch nothing
    assert "<link" not in html
    assert "<script" not in html


def test_the_same_run_folder_gives_the_same_bytes(tmp_path: Path, primes_page: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PRIMES_RUN, copy)
    assert write_report(copy, verdicts=False) == Success(copy / "report.html")
    assert (copy / "report.html").read_bytes() == primes_page.read_bytes()


def test_raw_html_in_a_researcher_report_is_shown_as_text(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PRIMES_RUN, copy)
    (copy / "reports" / "step_2_researcher_output.md").write_text(
        "# Hi\n\n<img src=x onerror=alert(1)>\n\n<script>alert(2)</script>\n"
    )
    assert isinstance(write_report(copy, verdicts=False), Success)
    html = (copy / "report.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<script" not in html


@pytest.mark.slow
def test_report_command_writes_the_page_and_prints_where(tmp_path: Path) -> None:
    target = tmp_path / "out" / "page.html"
    done = CliRunner().invoke(app, ["report", str(PRIMES_RUN), "--html", str(target)])
    assert (done.exit_code, done.stdout) == (0, f"{target}\n")
    assert "<h1>plancontrol report</h1>" in target.read_text(encoding="utf-8")


def test_report_command_refuses_what_is_not_a_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"plancontrol: {tmp_path} is not")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_report_refuses_to_write_over_a_file_that_is_not_html(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PRIMES_RUN, copy)
    before = (copy / "context.json").read_bytes()
    done = CliRunner().invoke(app, ["report", str(copy), "--html", str(copy / "context.json")])
    assert done.exit_code == 2
    assert done.stderr == (
        f"plancontrol: {copy / 'context.json'} is not an .html file; "
        "name a file ending in .html with --html\n"
    )
    assert (copy / "context.json").read_bytes() == before
    refused = plancontrol.report(copy, html=copy / "context.json")
    assert isinstance(refused, Failure)
    assert refused.failure().where == "html"


@pytest.mark.slow
def test_api_report_writes_report_html_in_the_run_folder(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PRIMES_RUN, copy)
    assert plancontrol.report(copy) == Success(copy / "report.html")
    assert (copy / "report.html").stat().st_size > 10_000


def test_a_report_that_fails_to_render_never_hides_how_the_run_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from plancontrol.app import session

    def broken(folder: Path) -> None:
        raise RuntimeError("template missing")

    monkeypatch.setattr("plancontrol.app.report.render.export_report", broken)
    with caplog.at_level("WARNING", logger="plancontrol"):
        session._export_report(tmp_path)
    assert [r.getMessage() for r in caplog.records] == [
        f"report.html was not written: RuntimeError: template missing; "
        f"`plancontrol report {tmp_path}` tries again"
    ]
