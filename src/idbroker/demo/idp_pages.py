"""HTML pages of the demo upstream IdP: the sign-in page and the error page."""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment
from starlette.responses import HTMLResponse

_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https:"
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": _PAGE_CSP,
}


_TEMPLATES = Environment(
    autoescape=True,
    loader=DictLoader(
        {
            "base.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Demo IdP</title><style>
body{font-family:system-ui,sans-serif;background:#f4f1ea;display:flex;justify-content:center}
main{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;max-width:26rem;width:100%}
.muted{color:#666;font-size:.9rem}img{width:36px;height:36px;border-radius:50%}
button{display:flex;gap:.8rem;align-items:center;width:100%;padding:.7rem;margin:.4rem 0;
border:1px solid #ccc;border-radius:8px;background:#fff;font-size:1rem;text-align:left;
cursor:pointer}
button:hover,.hint{border-color:#b5562f;background:#fff6f1}.deny{justify-content:center;color:#a00}
</style></head><body><main>{% block main %}{% endblock %}</main></body></html>""",
            "login.html": """{% extends "base.html" %}{% block main %}
<h1>Demo IdP &mdash; sign in</h1>
<p class="muted"><b>{{ req.client.client_id }}</b> asks for: {{ req.scope|join(" ") }}.
Pick a demo user (no password needed).</p><form method="post" action="{{ action }}">
{% for name, value in req.params.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}{% for user in users %}<button type="submit" name="user" value="{{ user.sub }}"
{% if hint in (user.sub, user.email) %} class="hint" autofocus{% endif %}>
<img src="{{ user.picture }}" alt="">
<span><b>{{ user.name }}</b><br><span class="muted">{{ user.email }}
{% if not user.email_verified %}(unverified){% endif %}</span></span></button>{% endfor %}
<button type="submit" name="deny" value="1" class="deny">Deny</button></form>{% endblock %}""",
            "error.html": """{% extends "base.html" %}{% block main %}
<h1>Invalid authorization request</h1>
<p>{{ message }}</p><p class="muted">For your safety you were not sent back to the application.</p>
{% endblock %}""",
        }
    ),
)


def render(template: str, status: int, **context: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)
