"""Every setting an operator can set is documented, so the docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from idbroker.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_has_a_row_in_the_configuration_docs() -> None:
    text = DOC.read_text()
    missing = [f"IDBROKER_{name.upper()}" for name in Settings.model_fields
               if f"`IDBROKER_{name.upper()}`" not in text]
    assert missing == []
