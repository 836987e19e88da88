"""Session lifetime (idle and absolute) and the cookie's attributes."""

from __future__ import annotations

from starlette.responses import Response

from idbroker.http import session_cookie
from idbroker.oauth.sessions import SESSION_COOKIE, SessionCookie
from idbroker.settings import Settings
from tests.functional.sessions.conftest import Apps, Clock, silent, sso
from tests.support import Broker, query_of


def silent_error(response) -> str | None:  # type: ignore[no-untyped-def]
    return query_of(response.headers["location"]).get("error")


async def test_idle_session_ends(broker: Broker, apps: Apps, clock: Clock) -> None:
    idle = broker.runtime.settings.session_idle_ttl
    await broker.login(apps.first)
    clock.advance(idle - 60)
    await sso(broker, apps.second, prompt="none")  # a use restarts the idle clock
    clock.advance(idle - 60)
    await sso(broker, apps.second, prompt="none")
    clock.advance(idle + 1)
    assert silent_error(await silent(broker, apps.second, prompt="none")) == "login_required"


async def test_active_session_still_ends_at_its_absolute_limit(broker: Broker, apps: Apps,
                                                               clock: Clock) -> None:
    settings = broker.runtime.settings
    await broker.login(apps.first)
    step = settings.session_idle_ttl - 60
    elapsed = 0
    while elapsed + step < settings.session_absolute_ttl:
        clock.advance(step)
        elapsed += step
        await sso(broker, apps.second, prompt="none")
    clock.advance(settings.session_absolute_ttl - elapsed + 1)
    assert silent_error(await silent(broker, apps.second, prompt="none")) == "login_required"


async def test_cookie_attributes_over_https(broker: Broker, apps: Apps) -> None:
    params, _, _ = broker.authorize_params(apps.first)
    done = await broker.callback(await broker.through_upstream(await broker.start(params)))
    cookie = next(c for c in done.headers.get_list("set-cookie")
                  if c.startswith(f"{SESSION_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in cookie.split(";")[1:]}
    assert "httponly" in attributes and "secure" in attributes
    assert attributes["samesite"].lower() == "samesite=none"
    assert attributes["path"] == "Path=/" and "domain" not in attributes
    assert attributes["max-age"] == f"Max-Age={broker.runtime.settings.session_absolute_ttl}"


def test_cookie_over_plain_http_loopback_is_lax_without_secure() -> None:
    settings = Settings(issuer="http://127.0.0.1:8000/")
    response = session_cookie.apply(Response(), SessionCookie("v", 60), settings)
    cookie = response.headers["set-cookie"]
    assert "SameSite=lax" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
