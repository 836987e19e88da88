"""The look of the hosted pages, from settings: name, logo and two colours.

Colours reach the pages only as CSS custom properties in the served stylesheet. Text colours
are not configured but chosen: for each background the one of white and black with the higher
WCAG contrast, which is always at least 4.58:1, so no brand colour can make text unreadable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from idbroker.settings import Settings

WHITE = "#ffffff"
BLACK = "#000000"
CARD_TEXT = "#1d2330"  # the card is white; this text colour has 15.4:1 on it
AA_TEXT = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_text_on(background: str) -> str:
    return WHITE if contrast_ratio(background, WHITE) >= contrast_ratio(background, BLACK) \
        else BLACK


@dataclass(frozen=True, slots=True)
class Branding:
    name: str
    logo_url: str | None
    primary: str
    background: str

    @property
    def on_primary(self) -> str:
        return readable_text_on(self.primary)

    @property
    def on_background(self) -> str:
        return readable_text_on(self.background)

    @property
    def accent(self) -> str:
        """Links and focus rings sit on the white card: the primary colour where it reads
        there (4.5:1), the card's text colour otherwise."""
        return self.primary if contrast_ratio(self.primary, WHITE) >= AA_TEXT else CARD_TEXT

    @property
    def logo_origin(self) -> str | None:
        if not self.logo_url or self.logo_url.startswith("/"):
            return None
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}"

    def css_variables(self) -> str:
        # Every value is a validated #rrggbb (settings.py), so nothing here can leave the rule.
        return (":root{"
                f"--idb-primary:{self.primary};--idb-on-primary:{self.on_primary};"
                f"--idb-background:{self.background};--idb-on-background:{self.on_background};"
                f"--idb-accent:{self.accent};--idb-card-text:{CARD_TEXT}"
                "}\n")


@functools.lru_cache(maxsize=16)
def _branding(name: str, logo_url: str | None, primary: str, background: str) -> Branding:
    return Branding(name=name, logo_url=logo_url, primary=primary, background=background)


def branding_from(settings: Settings) -> Branding:
    return _branding(settings.branding_name, settings.branding_logo_url,
                     settings.branding_primary_color, settings.branding_page_background)


DEFAULT_BRANDING = branding_from(Settings.model_construct())
