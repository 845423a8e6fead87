"""MkDocs hook: render the Sphinx roles of our docstrings on the API page.

The docstrings cross-reference in Sphinx's style (``:func:`ga_squad.x.y```),
which the code and ``help()`` read well but mkdocstrings' Google parser leaves
as raw text (``:func:<code>...</code>``). This hook turns each role into a
cross-reference that mkdocs-autorefs resolves once every page is rendered: a
link where the target is documented on the site, plain code where it is not
(``optional``, so an undocumented target is not an error under ``--strict``).
A leading ``~`` shows only the last name, as in Sphinx.
"""

from __future__ import annotations

import html
import re

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):<code>(?P<target>[^<]+)</code>")


def _autoref(match: re.Match[str]) -> str:
    target = html.unescape(match["target"]).strip()
    short = target.startswith("~")
    target = target.lstrip("~").removesuffix("()")
    shown = target.rsplit(".", 1)[-1] if short else target
    return f'<autoref optional identifier="{html.escape(target)}"><code>{html.escape(shown)}</code></autoref>'


def on_page_content(html_text: str, **_: object) -> str:
    """Rewrite the roles of one rendered page (mkdocs calls it after the page's plugins)."""
    return ROLE.sub(_autoref, html_text)
