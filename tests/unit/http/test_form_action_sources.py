"""A hosted form answered by a redirect to the app (login, sign-up, consent) must be allowed to
end at the app's callback: Chromium holds every redirect hop of a form submission to the
page's form-action. Only the app's own callbacks are added, never a script-capable scheme."""

from __future__ import annotations

from idbroker.http.pages import _callback_origins, html_csp


def form_action(csp: str) -> list[str]:
    part = next(p.strip() for p in csp.split(";") if p.strip().startswith("form-action "))
    return part.split()[1:]


def test_web_callbacks_add_their_origin_and_native_callbacks_their_scheme() -> None:
    sources = _callback_origins((
        "https://app.example.com/callback", "https://app.example.com/other",
        "http://127.0.0.1:3000/cb", "com.example.app:/oauth2redirect"))
    assert sources == ("com.example.app:", "http://127.0.0.1:3000", "https://app.example.com")
    assert form_action(html_csp(None, sources)) == ["'self'", *sources]


def test_script_capable_and_bare_web_schemes_are_never_form_targets() -> None:
    assert _callback_origins(("javascript:alert(1)", "data:text/html,x", "https:",
                              "blob:https://a.example/x", "not a uri")) == ()


def test_pages_without_an_app_post_only_to_idbroker() -> None:
    assert form_action(html_csp(None)) == ["'self'"]
