"""docs/providers/README.md is generated from the catalog and must not drift from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from idbroker.connectors.providers import CATALOG

ROOT = Path(__file__).resolve().parents[3]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_provider_docs",
                                                  ROOT / "scripts" / "gen_provider_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_matches_the_catalog() -> None:
    generator = _generator()
    assert (ROOT / "docs" / "providers" / "README.md").read_text() == generator.render(), \
        "run .venv/bin/python scripts/gen_provider_docs.py"


def test_every_provider_has_its_page() -> None:
    for spec in CATALOG.values():
        page = ROOT / "docs" / "providers" / spec.docs_page
        assert page.exists(), page
        assert "login/callback" in page.read_text()
