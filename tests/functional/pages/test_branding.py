"""Branding from settings: strict values, readable colours, and every page wearing them."""

from __future__ import annotations

import re

import pytest

from idbroker.http.branding import Branding, contrast_ratio
from idbroker.settings import Settings
from tests.support import Broker

LOGO = "https://cdn.acme.example/brand/logo.svg?v=3"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "branding_name": "Acme <Travel>", "branding_logo_url": LOGO,
        "branding_primary_color": "#ffd400", "branding_page_background": "#14213d"})


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "#1234567", "#123456;}",
                                    "#123456 ", "rgb(1,2,3)", "#12345"])
def test_a_colour_must_be_rrggbb(colour: str) -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        Settings(branding_primary_color=colour)
    with pytest.raises(ValueError, match="#rrggbb"):
        Settings(branding_page_background=colour)


@pytest.mark.parametrize("url", [
    "http://cdn.example/logo.png", "javascript:alert(1)", "data:image/svg+xml,<svg/>",
    "//evil.example/logo.png", "logo.png", "https://user:pw@cdn.example/logo.png",
    "https://cdn.example/logo.png\" onerror=\"x", "https://cdn.example/a b.png",
    "https://cdn.example/logo.png');}", "https:///logo.png", "/" + "a" * 2048,
])
def test_the_logo_must_be_an_https_url_or_a_path(url: str) -> None:
    with pytest.raises(ValueError, match="IDBROKER_BRANDING_LOGO_URL"):
        Settings(branding_logo_url=url)


def test_accepted_values_are_normalised() -> None:
    settings = Settings(branding_primary_color="#ABCDEF", branding_logo_url="/assets/logo.png")
    assert settings.branding_primary_color == "#abcdef"
    assert settings.branding_logo_url == "/assets/logo.png"
    assert Settings(branding_logo_url="").branding_logo_url is None
    assert Settings(branding_logo_url=LOGO).branding_logo_url == LOGO


@pytest.mark.parametrize("primary", ["#ffd400", "#1f5fbf", "#777777", "#767676", "#000000",
                                     "#ffffff", "#00ff00", "#0000ff", "#ff0000", "#8a8a8a"])
def test_text_on_any_brand_colour_meets_aa(primary: str) -> None:
    brand = Branding(name="x", logo_url=None, primary=primary, background=primary)
    assert contrast_ratio(brand.on_primary, primary) >= 4.5
    assert contrast_ratio(brand.on_background, primary) >= 4.5
    assert contrast_ratio(brand.accent, "#ffffff") >= 4.5


def test_a_light_primary_gets_dark_text_and_dark_links() -> None:
    brand = Branding(name="x", logo_url=None, primary="#ffd400", background="#14213d")
    assert brand.on_primary == "#000000" and brand.on_background == "#ffffff"
    assert brand.accent != "#ffd400"
    dark = Branding(name="x", logo_url=None, primary="#0b6e4f", background="#ffffff")
    assert dark.on_primary == "#ffffff" and dark.accent == "#0b6e4f"


async def test_pages_show_the_brand_and_the_stylesheet_carries_its_colours(
        broker: Broker) -> None:
    app = await broker.web_app()
    params, _, _ = broker.authorize_params(app, connection=None)
    pages = [await broker.http.get("/authorize", params=params),
             await broker.http.get("/authorize", params={"client_id": "unknown"}),
             await broker.http.get("/v2/logout")]
    for page in pages:
        assert "<title>" in page.text and "· Acme &lt;Travel&gt;</title>" in page.text
        assert f'<img class="logo" src="{LOGO.replace("&", "&amp;")}" alt="Acme &lt;Travel&gt;">' \
            in page.text
        assert "cdn.acme.example" in page.headers["content-security-policy"]
        css_link = re.search(r'<link rel="stylesheet" href="(/static/idbroker\.css\?v=\w+)">',
                             page.text)
        assert css_link
    css = await broker.http.get(css_link.group(1))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":root{--idb-primary:#ffd400;--idb-on-primary:#000000;" \
           "--idb-background:#14213d;--idb-on-background:#ffffff;" in css.text
    assert "max-age" in css.headers["cache-control"]
