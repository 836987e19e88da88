"""A fake of GitHub's OAuth web application flow and the REST endpoints idbroker uses, as
documented (docs.github.com: "Authorizing OAuth apps", "Troubleshooting OAuth app access
token request errors", "Refreshing user access tokens", REST "Users", "Emails" and "OAuth
authorizations").

GitHub's rules kept here: the token endpoint answers JSON only when asked with
``Accept: application/json`` and reports errors with HTTP 200 and an ``error`` member;
``scope`` is comma-separated and ``token_type`` is lower-case ``bearer``; the user ``id`` is a
number; ``/user/emails`` needs the ``user:email`` (or ``user``) scope and answers 404
without it; the REST API refuses a request without a User-Agent; the ``/applications``
endpoints take Basic client credentials and a JSON ``{"access_token"}`` body, and answer 404
for a token they do not know. With ``expiring`` set (a GitHub App with expiring user tokens)
the token response carries ``expires_in`` and a ``refresh_token``, rotated on every refresh.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idbroker.encoding import s256
from tests.fakes.providers.base import CALLBACK, FakeProvider, HostGuard, form_of, unknown

AUTHORIZE_PARAMS = {"client_id", "redirect_uri", "login", "scope", "state", "allow_signup",
                    "prompt", "code_challenge", "code_challenge_method"}
DOCS = "https://docs.github.com/rest"


def _token_error(error: str, description: str) -> JSONResponse:
    # Documented: token endpoint errors come with HTTP 200.
    return JSONResponse({"error": error, "error_description": description,
                         "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
                                      "troubleshooting-oauth-app-access-token-request-errors"})


def _api_error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"message": message, "documentation_url": DOCS, "status": str(status)},
                        status)


class FakeGitHub(FakeProvider):
    strategy = "github"
    hosts = ("github.com", "api.github.com")

    def __init__(self, expiring: bool = False) -> None:
        super().__init__()
        self.client_id = "Iv1." + secrets.token_hex(8)
        self.expiring = expiring
        self.access_ttl = 28800
        self.user = {"login": "octojane", "id": 5833298, "node_id": "MDQ6VXNlcjU4MzMyOTg=",
                     "avatar_url": "https://avatars.githubusercontent.com/u/5833298?v=4",
                     "html_url": "https://github.com/octojane", "type": "User",
                     "name": "Jane Octo", "company": "@acme", "blog": "", "location": "Lisbon",
                     "email": "jane.public@example.com", "bio": None}
        self.emails = [
            {"email": "jane.old@example.com", "verified": True, "primary": False,
             "visibility": None},
            {"email": "jane@example.com", "verified": True, "primary": True,
             "visibility": "private"},
        ]
        self._app = self._build()

    @property
    def app(self) -> ASGIApp:
        return self._app

    def expected_profile(self) -> dict[str, Any]:
        return {"identity_user_id": "5833298", "user_id": "github|5833298",
                "email": "jane@example.com", "email_verified": True, "name": "Jane Octo",
                "nickname": "octojane", "picture": self.user["avatar_url"]}

    def token_error(self) -> tuple[int, Any]:
        return 200, {"error": "bad_verification_code",
                     "error_description": "The code passed is incorrect or expired."}

    # --- github.com -------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.last_authorize = q
        if unknown(q, AUTHORIZE_PARAMS) or q.get("client_id") != self.client_id:
            return Response("404 Not Found", 404)
        if q.get("redirect_uri", CALLBACK) != CALLBACK:
            back = {"error": "redirect_uri_mismatch", "state": q.get("state", "")}
            return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)
        code = secrets.token_hex(10)
        self.codes[code] = {"scopes": [s for s in q.get("scope", "").replace(",", " ").split()],
                            "challenge": q.get("code_challenge"),
                            "redirect_uri": q.get("redirect_uri")}
        back = {"code": code}
        if q.get("state"):
            back["state"] = q["state"]
        return RedirectResponse(CALLBACK + "?" + urlencode(back), 302)

    async def access_token(self, request: Request) -> Response:
        form = await form_of(request)
        wants_json = "application/json" in request.headers.get("accept", "")
        allowed = {"client_id", "client_secret", "code", "redirect_uri", "code_verifier",
                   "grant_type", "refresh_token", "repository_id"}
        if unknown(form, allowed) or not wants_json:
            # The real endpoint would answer form-encoded without Accept: application/json,
            # which a JSON client cannot read; the fake makes that a visible failure.
            return Response("unsupported request", 400)
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            return _token_error("incorrect_client_credentials",
                                "The client_id and/or client_secret passed are incorrect.")
        if form.get("grant_type") == "refresh_token":
            old = self.tokens.get(form.get("refresh_token", ""))
            if old is None or not old.live or old.kind != "refresh_token":
                return _token_error("bad_refresh_token",
                                    "The refresh token passed is incorrect or expired.")
            old.live = False  # rotated: a refresh token works once
            return JSONResponse(self._tokens(old.scopes, old.grant))
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _token_error("bad_verification_code", "The code passed is incorrect or expired.")
        if grant["redirect_uri"] and form.get("redirect_uri") not in (None, grant["redirect_uri"]):
            return _token_error("redirect_uri_mismatch",
                                "The redirect_uri MUST match the registered callback URL for "
                                "this application.")
        if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
            return _token_error("bad_verification_code", "The code_verifier does not match.")
        return JSONResponse(self._tokens(grant["scopes"], secrets.token_hex(8)))

    def _tokens(self, scopes: list[str], grant: str) -> dict[str, Any]:
        if not self.expiring:
            return {"access_token": self.issue("access_token", scopes, grant, "gho_"),
                    "token_type": "bearer", "scope": ",".join(scopes)}
        return {"access_token": self.issue("access_token", scopes, grant, "ghu_",
                                           time.time() + self.access_ttl),
                "expires_in": self.access_ttl,
                "refresh_token": self.issue("refresh_token", scopes, grant, "ghr_"),
                "refresh_token_expires_in": 15897600, "token_type": "bearer", "scope": ""}

    # --- api.github.com -----------------------------------------------------------------------

    def _bearer(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token)
        if scheme.lower() not in ("bearer", "token") or issued is None or not issued.live \
                or issued.kind != "access_token" \
                or (issued.expires_at is not None and issued.expires_at < time.time()):
            return None
        return token

    def _no_agent(self, request: Request) -> Response | None:
        if not request.headers.get("user-agent"):
            return _api_error("Request forbidden by administrative rules. Please make sure "
                              "your request has a User-Agent header", 403)
        return None

    async def get_user(self, request: Request) -> Response:
        if refused := self._no_agent(request):
            return refused
        if self._bearer(request) is None:
            return _api_error("Bad credentials", 401)
        return JSONResponse(self.user)

    async def get_emails(self, request: Request) -> Response:
        if refused := self._no_agent(request):
            return refused
        token = self._bearer(request)
        if token is None:
            return _api_error("Bad credentials", 401)
        if not {"user", "user:email"} & set(self.tokens[token].scopes) and not self.expiring:
            return _api_error("Not Found", 404)
        return JSONResponse(self.emails)

    async def _app_request(self, request: Request) -> tuple[str | None, Response | None]:
        """Basic client credentials and ``{"access_token": ...}``; the token, or the error."""
        if refused := self._no_agent(request):
            return None, refused
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        cid, _, secret = base64.b64decode(raw or "").decode().partition(":") \
            if scheme == "Basic" else ("", "", "")
        if request.path_params["client_id"] != self.client_id or cid != self.client_id \
                or secret != self.client_secret:
            return None, _api_error("Not Found", 404)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or set(body) != {"access_token"} \
                or not isinstance(body["access_token"], str):
            return None, JSONResponse({"message": "Invalid request.", "documentation_url": DOCS,
                                       "status": "422"}, 422)
        token = body["access_token"]
        issued = self.tokens.get(token)
        if issued is None or not issued.live or issued.kind != "access_token":
            return None, _api_error("Not Found", 404)
        return token, None

    async def delete_grant(self, request: Request) -> Response:
        token, refused = await self._app_request(request)
        if refused:
            return refused
        assert token is not None
        self.kill_grant(token)
        return Response(status_code=204)

    async def check_token(self, request: Request) -> Response:
        token, refused = await self._app_request(request)
        if refused:
            return refused
        assert token is not None
        issued = self.tokens[token]
        return JSONResponse({
            "id": 1, "url": f"https://api.github.com/authorizations/1",
            "scopes": issued.scopes, "token": token, "token_last_eight": token[-8:],
            "hashed_token": "0" * 64, "app": {"client_id": self.client_id, "name": "app",
                                               "url": "https://example.test"},
            "note": None, "note_url": None, "fingerprint": None,
            "expires_at": None, "user": {"login": self.user["login"], "id": self.user["id"]}})

    def _build(self) -> ASGIApp:
        c = self.counted
        app = Starlette(routes=[
            Route("/login/oauth/authorize", c("authorize", self.authorize), methods=["GET"]),
            Route("/login/oauth/access_token", c("token", self.access_token), methods=["POST"]),
            Route("/user", c("user", self.get_user), methods=["GET"]),
            Route("/user/emails", c("emails", self.get_emails), methods=["GET"]),
            Route("/applications/{client_id}/grant", c("revoke", self.delete_grant),
                  methods=["DELETE"]),
            Route("/applications/{client_id}/token", c("validate", self.check_token),
                  methods=["POST"]),
        ])
        return HostGuard(app, {"github.com": ["/login/oauth/"],
                               "api.github.com": ["/user", "/applications/"]})


STRATEGY = "github"


def make_fake() -> FakeGitHub:
    # A GitHub App with expiring user tokens: the GitHub flavour that has refresh tokens.
    return FakeGitHub(expiring=True)
