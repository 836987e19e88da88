"""A fake of Bitbucket Cloud's OAuth 2.0 endpoints and the REST calls idbroker makes, as
documented (developer.atlassian.com/cloud/bitbucket/oauth-2, REST "Users"): authorize and
access_token at bitbucket.org/site/oauth2/, the API at api.bitbucket.org/2.0.

Bitbucket's rules kept here: authorize takes ``client_id``, ``response_type``, ``state`` and an
optional ``redirect_uri`` under the consumer's callback (scopes belong to the consumer); the
token endpoint wants the consumer as HTTP Basic, answers ``scopes`` and ``state`` (the grant
type) beside the tokens, ``expires_in`` 7200, a refresh token on every grant (reusable:
Bitbucket does not rotate it), and errors as ``{"error", "error_description"}`` with 400;
``/2.0/user/emails`` is paginated (``values``) and needs the consumer's ``email`` scope (403
otherwise); REST errors are ``{"type": "error", "error": {"message"}}``. No revocation.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "response_type", "state", "redirect_uri"}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def _api_error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"message": message}}, status)


class FakeBitbucket(FakeProvider):
    strategy = "bitbucket"
    hosts = ("bitbucket.org", "api.bitbucket.org")
    has_no_scopes = True  # the consumer declares its scopes: none travel per login

    def __init__(self) -> None:
        super().__init__()
        self.client_id = secrets.token_urlsafe(13)
        self.client_secret = secrets.token_urlsafe(24)
        self.access_ttl = 7200
        self.consumer_scopes = ["account", "email"]
        self.account_id = "557058:3f1e2b7c-9a8d-4c1b-8e2f-1a2b3c4d5e6f"
        self.user = {"type": "user", "account_id": self.account_id,
                     "uuid": "{d301aafa-d676-4ee0-88be-962be7417567}",
                     "display_name": "Bea Bucket", "nickname": "beab",
                     "account_status": "active", "created_on": "2019-05-01T10:00:00+00:00",
                     "links": {"avatar": {"href": "https://secure.gravatar.com/avatar/bb.png"},
                               "html": {"href": "https://bitbucket.org/%7Bd301%7D/"}}}
        self.emails = [
            {"type": "email", "email": "bea.old@example.com", "is_primary": False,
             "is_confirmed": True},
            {"type": "email", "email": "bea@example.com", "is_primary": True,
             "is_confirmed": True},
        ]
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": self.account_id, "user_id": f"bitbucket|{self.account_id}",
                "email": "bea@example.com", "email_verified": True, "name": "Bea Bucket",
                "nickname": "beab", "picture": "https://secure.gravatar.com/avatar/bb.png"}

    def token_error(self) -> tuple[int, Any]:
        return 400, {"error": "invalid_grant",
                     "error_description": "The specified code is not valid."}

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id \
                or q.get("response_type") != "code" \
                or not q.get("redirect_uri", CALLBACK).startswith(CALLBACK):
            return Response("Invalid OAuth request", 400)
        code = secrets.token_urlsafe(18)
        self.codes[code] = {"redirect_uri": q.get("redirect_uri")}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(q.get("redirect_uri", CALLBACK) + "?" + urlencode(back), 302)

    async def access_token(self, request: Request) -> Response:
        form = await form_of(request)
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        cid, _, secret = base64.b64decode(raw).decode().partition(":") \
            if scheme == "Basic" else ("", "", "")
        if unknown(form, {"grant_type", "code", "redirect_uri", "refresh_token"}):
            return _error("invalid_request", "Unsupported parameters")
        if unquote(cid) != self.client_id or unquote(secret) != self.client_secret:
            return _error("invalid_client", "Invalid OAuth client credentials", 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return _error("invalid_grant", "The specified code is not valid.")
            return JSONResponse(self._tokens(secrets.token_hex(8), None, "authorization_code"))
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _error("invalid_grant", "Invalid refresh_token")
            return JSONResponse(self._tokens(old.grant, old.value, "refresh_token"))
        return _error("unsupported_grant_type", "Unsupported grant type: "
                      + str(form.get("grant_type")))

    def _tokens(self, grant: str, refresh: str | None, state: str) -> dict[str, Any]:
        scopes = self.consumer_scopes
        return {"access_token": self.issue("access_token", scopes, grant, "",
                                           time.time() + self.access_ttl),
                "scopes": " ".join(scopes), "expires_in": self.access_ttl,
                "refresh_token": refresh or self.issue("refresh_token", scopes, grant),
                "token_type": "bearer", "state": state}

    def _bearer(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme != "Bearer" or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return token

    async def get_user(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return _api_error("Access token expired. Use your refresh token to obtain a new "
                              "access token.", 401)
        return JSONResponse(self.user)

    async def get_emails(self, request: Request) -> Response:
        token = self._bearer(request)
        if token is None:
            return _api_error("Access token expired.", 401)
        if "email" not in self.tokens[token].scopes:
            return _api_error("Your credentials lack one or more required privilege scopes.",
                              403)
        return JSONResponse({"pagelen": 10, "values": self.emails, "page": 1,
                             "size": len(self.emails)})

    def _build(self) -> ASGIApp:
        c = self.counted
        profile, probe = c("profile", self.get_user), c("validate", self.get_user)
        seen: set[str] = set()

        async def user(request: Request) -> Response:
            # The login's read of a token is its profile; a later read is a validation probe.
            token = request.headers.get("authorization", "").partition(" ")[2]
            first = token not in seen
            seen.add(token)
            return await (profile if first else probe)(request)

        app = Starlette(routes=[
            Route("/site/oauth2/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/site/oauth2/access_token", c("token", self.access_token), methods=["POST"]),
            Route("/2.0/user", user, methods=["GET"]),
            Route("/2.0/user/emails", c("emails", self.get_emails), methods=["GET"]),
        ])
        return HostGuard(app, {"bitbucket.org": ["/site/oauth2/"],
                               "api.bitbucket.org": ["/2.0/"]})


STRATEGY = "bitbucket"


def make_fake() -> FakeBitbucket:
    return FakeBitbucket()
