"""Languages of the hosted pages: the catalogs in ``http/locales/<lang>.json`` and the choice
of one for a request.

The choice, first match wins: the ``ui_locales`` of /authorize (space-separated, in the app's
order of preference), then ``Accept-Language`` by q-value, then ``IDBROKER_DEFAULT_LOCALE``.
A region falls back to its language (``de-AT`` → ``de``). A key missing from a catalog falls
back to English; a key missing from English is a bug and raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

ENGLISH = "en"
_MAX_HEADER = 1024  # an Accept-Language longer than this is cut, not parsed to the end
_MAX_TAGS = 24
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_Q = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


def _load() -> dict[str, dict[str, str]]:
    catalogs = {}
    for entry in resources.files("idbroker.http").joinpath("locales").iterdir():
        if entry.name.endswith(".json"):
            catalogs[entry.name[:-5]] = json.loads(entry.read_text(encoding="utf-8"))
    return catalogs


CATALOGS = _load()
SUPPORTED = tuple(sorted(CATALOGS, key=lambda lang: (lang != ENGLISH, lang)))


def translate(locale: str, key: str, **params: Any) -> str:
    text = CATALOGS.get(locale, {}).get(key)
    if text is None:
        text = CATALOGS[ENGLISH][key]
    return text.format_map(params) if params else text


def supported(tag: str) -> str | None:
    """The supported language for a BCP 47 tag, or None."""
    tag = tag.strip().lower()
    if not _TAG.fullmatch(tag) or tag == "*":
        return None
    if tag in CATALOGS:
        return tag
    primary = tag.split("-", 1)[0]
    return primary if primary in CATALOGS else None


def parse_accept_language(header: str) -> list[str]:
    """Language tags by descending q (RFC 9110 §12.5.4); equal q keeps the header's order,
    q=0 means "not this one", and a malformed item is skipped rather than failing."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:_MAX_HEADER].split(",")[:_MAX_TAGS]):
        tag, *params = (part.strip() for part in item.split(";"))
        if not _TAG.fullmatch(tag):
            continue
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                match = _Q.fullmatch(param.lower())
                q = float(match.group(1)) if match else -1.0
        if q > 0:
            weighted.append((q, index, tag))
    return [tag for _, _, tag in sorted(weighted, key=lambda w: (-w[0], w[1]))]


def negotiate(ui_locales: str | None, accept_language: str | None, default: str,
              remembered: str | None = None) -> str:
    """``remembered`` is the choice an earlier ``ui_locales`` made in this browser (the
    locale cookie); it ranks after an explicit ``ui_locales`` and before the header."""
    candidates: Iterable[str] = [
        *(ui_locales or "")[:_MAX_HEADER].split()[:_MAX_TAGS],
        *([remembered] if remembered else []),
        *parse_accept_language(accept_language or ""),
    ]
    for tag in candidates:
        found = supported(tag)
        if found:
            return found
    return default if default in CATALOGS else ENGLISH
