"""The README stays short and true, the docs pages it links exist, and the generated pages are
checked for staleness (a stale copy is caught, not only a fresh one passed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from exporter import docs

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_readme_is_at_most_300_lines() -> None:
    assert len(README.read_text().splitlines()) <= 300


def command_after(label: str) -> str:
    text = README.read_text()
    block = re.search(rf"^\*\*{re.escape(label)}\*\*.*?^```sh\n(.+?)\n```", text, re.M | re.S)
    assert block, f"README has no command block after **{label}**"
    return block.group(1)


def test_the_two_commands_near_the_top() -> None:
    run, tests = command_after("Run it"), command_after("Run the tests")
    head = "\n".join(README.read_text().splitlines()[:30])
    assert run in head and tests in head
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert run == f"pip install . && {next(iter(scripts))}"  # tests/test_cli_demo.py runs it
    assert tests == "pip install -e '.[test]' && python -m pytest -n 2"  # .ci/run runs it in a bare copy
    assert "Run the tests" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", [README, *PAGES, ROOT / "tests" / "fixtures" / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name}: {target}: no such heading"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in LINK.findall(README.read_text())}
    assert {p.resolve() for p in PAGES} <= linked


def test_check_catches_stale_generated_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METRICS", "CONFIGURATION"):
        original: Path = getattr(docs, name)
        copy = tmp_path / original.name
        copy.write_text(original.read_text())
        monkeypatch.setattr(docs, name, copy)
    assert docs.main(["--check"]) == 0
    text = docs.METRICS.read_text()
    docs.METRICS.write_text(text.replace("\n| `kafka_insight_", "\n| `kafka_insight_renamed_", 1))
    assert docs.main(["--check"]) == 1
    assert docs.main([]) == 0 and docs.main(["--check"]) == 0  # regenerated
    assert docs.METRICS.read_text() == text
    conf = docs.CONFIGURATION.read_text()
    docs.CONFIGURATION.write_text(conf.replace("| `kafka.bootstrap_servers` |", "| `kafka.bootstrap_server` |"))
    assert docs.main(["--check"]) == 1
