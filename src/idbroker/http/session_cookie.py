"""The login-session cookie on the wire (docs/sessions.md#the-cookie).

HttpOnly, Path=/, host-only. Over https it is ``SameSite=None; Secure``: the silent
authentication of a single-page app runs /authorize in a hidden iframe of the app's site,
and only a SameSite=None cookie is sent there when the app is on another site. Over plain
http (loopback development) browsers refuse ``SameSite=None`` without ``Secure``, so it is
``SameSite=Lax``: enough for an app on the same site (``http://127.0.0.1:3000`` and
``http://127.0.0.1:8000`` are one site; ports do not count).
"""

from __future__ import annotations

from starlette.responses import Response

from idbroker.oauth.sessions import SESSION_COOKIE, SessionCookie
from idbroker.settings import Settings


def _attributes(settings: Settings) -> dict[str, object]:
    secure = settings.issuer.startswith("https://")
    return {"path": "/", "httponly": True, "secure": secure,
            "samesite": "none" if secure else "lax"}


def apply(response: Response, cookie: SessionCookie | None, settings: Settings) -> Response:
    if cookie is None:
        return response
    if cookie.clears:
        return clear(response, settings)
    response.set_cookie(SESSION_COOKIE, cookie.value, max_age=cookie.max_age,
                        **_attributes(settings))  # type: ignore[arg-type]
    return response


def clear(response: Response, settings: Settings) -> Response:
    response.delete_cookie(SESSION_COOKIE, **_attributes(settings))  # type: ignore[arg-type]
    return response
