"""The documentation that is made from the code is current, and nothing links outside the repository."""

from __future__ import annotations

import re

from cluster.config import _NODE_KEYS, _NODE_OPTIONAL_KEYS, DEFAULTS, HELP
from ops.docs import PAGES
from tests.support import ROOT


def test_generated_pages_are_current() -> None:
    for name, make in PAGES.items():
        page = ROOT / "docs" / f"{name}.md"
        assert page.read_text() == make() + "\n", f"docs/{name}.md is stale: run python -m ops.docs --write"


def test_every_configuration_key_is_explained() -> None:
    keys = {f"{s}.{k}" for s, t in DEFAULTS.items() if isinstance(t, dict) and s != "services" for k in t}
    keys |= {f"nodes.{k}" for k in (*_NODE_KEYS, *_NODE_OPTIONAL_KEYS)} | {"services.<service>.database_url"}
    assert keys == set(HELP)


def test_no_document_links_outside_the_repository() -> None:
    for page in [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if not page.exists():
            continue
        for target in re.findall(r"\]\(([^)#]+)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
            assert resolved.exists(), f"{page.name} links to a missing file: {target}"
