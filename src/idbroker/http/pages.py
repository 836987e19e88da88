"""Hosted pages, rendered with Jinja2 and autoescaping on (every value is untrusted text)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
    loader=PackageLoader("idbroker.http", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render_page(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)
