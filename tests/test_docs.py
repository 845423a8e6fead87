"""The documentation: a short README, a nav whose pages exist, a generated classArgs table that is
current, and a site that builds with ``mkdocs build --strict`` (no broken links)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import mkdocs_sphinx_roles as roles
from scripts import render_bench_table as render

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 220


def nav_pages() -> list[str]:
    """The page files of mkdocs.yml's nav (read as text: mkdocs.yml may hold tags a plain YAML loader refuses)."""
    text = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    nav = re.split(r"\n(?=\S)", nav, maxsplit=1)[0]  # up to the next top-level key
    return re.findall(r"^\s+-\s+[^:]+:\s+(\S+\.md)\s*$", nav, flags=re.MULTILINE)


def test_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"


def test_readme_keeps_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^make run +# ", readme, flags=re.MULTILINE)
    assert re.search(r"^make test +# ", readme, flags=re.MULTILINE)
    assert "CC BY-SA 4.0" in readme


def test_every_nav_page_exists() -> None:
    pages = nav_pages()
    assert len(pages) >= 10, pages
    missing = [page for page in pages if not (REPO / "docs" / page).is_file()]
    assert not missing, f"mkdocs.yml's nav names missing pages: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    pages = set(nav_pages())
    orphans = sorted(p.name for p in (REPO / "docs").glob("*.md") if p.name not in pages)
    assert not orphans, f"docs pages missing from mkdocs.yml's nav: {orphans}"


def test_settings_table_is_current() -> None:
    from ga_squad.store.settings import settings_table

    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = render.current(page, render.SETTINGS_BEGIN, render.SETTINGS_END)
    assert block is not None, "docs/configuration.md lost its settings-table markers"
    inner = block[len(render.SETTINGS_BEGIN):-len(render.SETTINGS_END)].strip()
    assert inner == settings_table().strip(), (
        "docs/configuration.md's classArgs table is stale: run python scripts/render_bench_table.py")


def test_render_check_passes() -> None:
    """``render_bench_table.py --check`` (both generated blocks) agrees with the tests above."""
    assert render.main(["--check"]) == 0


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs/mkdocstrings not installed (make docs installs docs/requirements.txt)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "ga_squad.search.evolution" in api
    raw = roles.ROLE.findall(api)
    assert not raw, f"Sphinx roles left raw on the API page: {raw[:5]}"


def test_sphinx_roles_become_optional_cross_references() -> None:
    html = ('see :func:<code>ga_squad.reader.warm_start.load_shared</code>, :class:<code>~ga_squad.x.Graph</code>'
            ' and :py:meth:<code>evolve()</code>; 10:30 and a:<code>b</code> stay')
    out = roles.on_page_content(html)
    assert out == ('see <autoref optional identifier="ga_squad.reader.warm_start.load_shared">'
                   '<code>ga_squad.reader.warm_start.load_shared</code></autoref>, '
                   '<autoref optional identifier="ga_squad.x.Graph"><code>Graph</code></autoref>'
                   ' and <autoref optional identifier="evolve"><code>evolve</code></autoref>;'
                   ' 10:30 and a:<code>b</code> stay')
