"""The language of the hosted pages: catalogs complete, negotiation, and the choice carried
through a login."""

from __future__ import annotations

import re
import string

import pytest

from idbroker.http import i18n
from idbroker.settings import HOSTED_PAGE_LOCALES, Settings
from tests.support import Broker


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_catalog_has_every_english_key_with_the_same_placeholders() -> None:
    english = i18n.CATALOGS["en"]
    assert set(i18n.SUPPORTED) == set(HOSTED_PAGE_LOCALES)
    for lang, catalog in i18n.CATALOGS.items():
        assert set(english) - set(catalog) == set(), f"{lang} lacks keys"
        assert set(catalog) - set(english) == set(), f"{lang} has keys English lacks"
        for key, text in catalog.items():
            assert text.strip(), f"{lang}:{key} is empty"
            assert _placeholders(text) == _placeholders(english[key]), f"{lang}:{key}"


def test_non_english_catalogs_are_translated() -> None:
    english = i18n.CATALOGS["en"]
    for lang in set(i18n.SUPPORTED) - {"en"}:
        same = [k for k, v in i18n.CATALOGS[lang].items()
                if v == english[k] and not re.fullmatch(r"[{}\w:. ]*Error:?|\{\w+\}", v)]
        # A few words are the same in both languages (Spanish "Error:"); whole pages are not.
        assert len(same) <= 2, f"{lang} copies English for {same}"


def test_a_missing_key_falls_back_to_english_and_an_unknown_key_is_a_bug(monkeypatch) -> None:
    monkeypatch.setitem(i18n.CATALOGS, "de", {k: v for k, v in i18n.CATALOGS["de"].items()
                                              if k != "login.heading"})
    assert i18n.translate("de", "login.heading", app="Shop") == "Sign in to Shop"
    assert i18n.translate("de", "login.or") == "oder"
    with pytest.raises(KeyError):
        i18n.translate("de", "no.such.key")


@pytest.mark.parametrize(("header", "expected"), [
    ("de-DE,de;q=0.9,en;q=0.8", ["de-DE", "de", "en"]),
    ("en;q=0.2, es;q=0.9, de", ["de", "es", "en"]),
    ("fr;q=0.5, de;q=0.5, es;q=0.5", ["fr", "de", "es"]),  # equal q keeps the header's order
    ("es;q=0, de;q=0.1", ["de"]),  # q=0 means "not this one"
    ("de;q=2, es;q=abc, en", ["en"]),  # an invalid q drops that item only
    ("*;q=0.5, <script>, es", ["es", "*"]),
    ("", []),
])
def test_accept_language_is_ordered_by_q_value(header: str, expected: list[str]) -> None:
    assert i18n.parse_accept_language(header) == expected


def test_negotiation_order_and_region_fallback() -> None:
    assert i18n.negotiate("fr-CA de-AT", "es", "en") == "de"  # first supported ui_locales tag
    assert i18n.negotiate("fr", "es-MX;q=0.9, fr", "en") == "es"
    assert i18n.negotiate("fr", "fr", "en", remembered="de") == "de"
    assert i18n.negotiate("es", "fr", "en", remembered="de") == "es"
    assert i18n.negotiate(None, "pt-BR, *", "de") == "de"
    assert i18n.negotiate("x" * 5000, "y" * 5000, "en") == "en"


def test_default_locale_must_be_a_supported_language() -> None:
    assert Settings(default_locale="es").default_locale == "es"
    with pytest.raises(ValueError, match="IDBROKER_DEFAULT_LOCALE"):
        Settings(default_locale="fr")


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found, html[:200]
    return found.group(1)


async def test_login_page_language_from_ui_locales_then_accept_language(broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    params, _, _ = broker.authorize_params(app, connection=None)

    page = await broker.http.get("/authorize", params=params,
                                 headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert _lang(page.text) == "es" and "Inicia sesión en Web app" in page.text
    assert "Continuar con acme-oidc" in page.text

    page = await broker.http.get("/authorize", params={**params, "ui_locales": "fr-FR de"},
                                 headers={"Accept-Language": "es"})
    assert _lang(page.text) == "de" and "Bei Web app anmelden" in page.text
    assert page.cookies.get("idb_locale") == "de"

    broker.http.cookies.clear()
    page = await broker.http.get("/authorize", params=params,
                                 headers={"Accept-Language": "ja, zh;q=0.5"})
    assert _lang(page.text) == "en" and "Sign in to Web app" in page.text
    assert "idb_locale" not in page.cookies


async def test_the_language_asked_at_authorize_reaches_the_page_after_the_upstream(
        broker: Broker) -> None:
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]])
    params, _, _ = broker.authorize_params(app, ui_locales="es")
    upstream = await broker.through_upstream(await broker.start(params))
    # The same browser comes back after its login was already completed once: the page that
    # says so is in the language the app asked for, although the browser prefers English.
    await broker.callback(upstream)
    again = await broker.http.get(upstream.headers["location"],
                                  headers={"Accept-Language": "en"})
    assert again.status_code == 400
    assert _lang(again.text) == "es"
    assert "El inicio de sesión tardó demasiado o esta página ya se usó" in again.text


async def test_error_page_is_translated_and_keeps_the_developer_detail(broker: Broker) -> None:
    page = await broker.http.get("/authorize", params={"client_id": "nope", "ui_locales": "de"})
    assert page.status_code == 400 and _lang(page.text) == "de"
    assert "Die Anmeldung hat nicht geklappt" in page.text
    assert "Dieser Anmeldelink ist ungültig" in page.text
    assert '<p lang="en"><code>Unknown client.</code></p>' in page.text
