"""No hosted template carries words of its own: every text a person reads comes from the
catalogs (through ``t``) or from the page's data."""

from __future__ import annotations

import re
from importlib import resources

import pytest

TEMPLATES = resources.files("idbroker.http").joinpath("templates")
# Pages nobody reads: the web_message answer runs in a hidden frame or a popup that closes.
NOT_READ = {"web_message.html"}


def _own_words(source: str) -> list[str]:
    text = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)  # comments
    text = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", " ", text, flags=re.S)  # tags and expressions
    text = re.sub(r"<script\b.*?</script>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<!DOCTYPE[^>]*>|<[^>]*>", " ", text)  # markup (attributes are checked below)
    return re.findall(r"[^\W\d_]{2,}", text)


def _own_attribute_words(source: str) -> list[str]:
    # Attributes a person hears or sees: alt, title, aria-label, placeholder, value of buttons.
    found = re.findall(r'\b(?:alt|title|aria-label|placeholder)="([^"{]+)"', source)
    return [w for value in found for w in re.findall(r"[^\W\d_]{2,}", value)]


@pytest.mark.parametrize("name", sorted(e.name for e in TEMPLATES.iterdir()
                                        if e.name.endswith(".html") and e.name not in NOT_READ))
def test_template_has_no_untranslated_words(name: str) -> None:
    source = TEMPLATES.joinpath(name).read_text(encoding="utf-8")
    assert _own_words(source) + _own_attribute_words(source) == []


def test_the_check_finds_hard_coded_words() -> None:
    assert _own_words('<h1>{{ t("x") }}</h1><p>Sign in</p>{# note #}') == ["Sign", "in"]
    assert _own_attribute_words('<img alt="Logo">') == ["Logo"]
    assert _own_words('<p>{{ t("x") }}</p><a href="/x">{{ y }}</a>') == []
