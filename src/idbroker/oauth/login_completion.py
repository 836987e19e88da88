"""The end of every login, whatever proved who the person is (an upstream IdP, a password,
or an existing login session): refuse a blocked user, start or reuse the login session, ask
for consent where a third-party application needs it, open a grant and send the app its
answer (an authorization code, or tokens for the legacy implicit flow).

Every way of signing in calls :func:`complete_login` so that the checks, the session and
the audit record stay the same for all of them. :func:`answer_from_session` is the SSO
path: no new authentication, the session's own ``auth_time``.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from idbroker.errors import AccessDenied, ConsentRequired, OAuthError
from idbroker.oauth import sessions
from idbroker.oauth.authorize import ClientRedirect, ConsentPage, error_redirect
from idbroker.oauth.grants import user_tokens
from idbroker.oauth.sessions import LiveSession, SessionCookie
from idbroker.runtime import Runtime
from idbroker.vault import session_store
from idbroker.vault.records import Client

LoginAnswer = ClientRedirect | ConsentPage
CONSENT_BINDING = "consent-binding"


async def complete_login(rt: Runtime, tx: dict[str, Any], *, user_id: str, connection_name: str,
                         ip: str | None, session_cookie: str | None = None) -> LoginAnswer:
    """A person has just authenticated. ``tx`` is the login transaction sealed at /authorize
    (client, redirect URI, response type and mode, state, nonce, scopes, audience, PKCE
    challenge); the answer goes to its redirect URI. ``session_cookie`` is the session
    cookie the browser presented, if any: that session ends, and the answer carries the
    cookie of the new one (``session_cookie`` of the returned outcome), which the HTTP layer
    must set."""
    user = await rt.store.get_user(user_id)
    if user is None or user.blocked:
        await rt.store.audit("f", description="user is blocked", client_id=tx["client_id"],
                             user_id=user_id, connection=connection_name, ip=ip)
        return error_redirect(rt, tx["redirect_uri"], tx["response_mode"], tx["state"],
                              AccessDenied("user is blocked"))
    record, cookie = await sessions.start(rt, user_id=user_id, connection=connection_name,
                                          client_id=tx["client_id"], previous=session_cookie)
    await rt.store.audit("s", description="Successful login", client_id=tx["client_id"],
                         user_id=user_id, connection=connection_name, ip=ip)
    return await _answer(rt, tx, LiveSession(record, user), cookie_value=cookie.value,
                         set_cookie=cookie, silent=False, force_consent=False)


async def answer_from_session(rt: Runtime, tx: dict[str, Any], session: LiveSession, *,
                              cookie_value: str, ip: str | None, silent: bool,
                              force_consent: bool = False) -> LoginAnswer:
    """Single sign-on: answer ``tx`` from the browser's live session (no login page, no
    upstream). ``silent`` (prompt=none) turns a needed consent into consent_required."""
    async with rt.store.batch():  # the session's use, the grant and the code: one commit
        session = await sessions.use(rt, session, tx["client_id"])
        await rt.store.audit("ssa" if silent else "s",
                             description="Successful silent authentication" if silent
                             else "Successful login (single sign-on)",
                             client_id=tx["client_id"], user_id=session.user.user_id,
                             connection=session.record.connection, ip=ip)
        return await _answer(rt, tx, session, cookie_value=cookie_value, set_cookie=None,
                             silent=silent, force_consent=force_consent)


async def finish_consent(rt: Runtime, form: dict[str, str], cookies: dict[str, str],
                         ip: str | None) -> LoginAnswer | None:
    """POST of the consent page. None: no such pending consent for this browser (expired,
    used, or another browser), which the caller shows as an error page."""
    consent_id = form.get("consent_id") or ""
    cookie = sessions.presented(cookies)
    if not cookie or not consent_id or len(consent_id) > 256:
        return None
    tx, _why = await rt.store.take_transaction(
        consent_id, rt.store.vault.digest(CONSENT_BINDING, cookie))
    if tx is None or tx.get("kind") != "consent":
        return None
    if form.get("decision") != "accept":
        await rt.store.audit("f", description="User did not authorize the request",
                             client_id=tx["client_id"], user_id=tx["user_id"], ip=ip)
        return _with_origins(error_redirect(
            rt, tx["redirect_uri"], tx["response_mode"], tx["state"],
            AccessDenied("User did not authorize the request")), tx)
    session = await sessions.live(rt, cookie)
    if session is None or session.record.id != tx["session_id"]:
        return None
    await session_store.add_consent(rt.store, session.user.user_id, tx["client_id"], tx["scope"])
    return await _answer(rt, tx, session, cookie_value=cookie, set_cookie=None, silent=False,
                         force_consent=False, consent_checked=True)


def _with_origins(out: ClientRedirect, tx: dict[str, Any]) -> ClientRedirect:
    return dataclasses.replace(out, frame_origins=tuple(tx.get("web_origins") or ()))


async def _answer(rt: Runtime, tx: dict[str, Any], session: LiveSession, *, cookie_value: str,
                  set_cookie: SessionCookie | None, silent: bool, force_consent: bool,
                  consent_checked: bool = False) -> LoginAnswer:
    def fail(exc: OAuthError) -> ClientRedirect:
        return dataclasses.replace(
            error_redirect(rt, tx["redirect_uri"], tx["response_mode"], tx["state"], exc),
            session_cookie=set_cookie, frame_origins=tuple(tx.get("web_origins") or ()))

    client = await rt.store.get_client(tx["client_id"])
    if client is None:
        return fail(AccessDenied("The application no longer exists."))
    if not client.is_first_party and not consent_checked:
        granted = await session_store.consented_scopes(rt.store, session.user.user_id,
                                                      client.client_id)
        if force_consent or granted is None or not set(tx["scope"]) <= granted:
            if silent:
                return fail(ConsentRequired("Consent required"))
            consent_id = secrets.token_urlsafe(32)
            # Bound to the session cookie (as a digest: the cookie value is never stored),
            # so only the browser that signed in can complete it.
            await rt.store.put_transaction(consent_id, {
                **tx, "kind": "consent", "user_id": session.user.user_id,
                "session_id": session.record.id,
                "binding": rt.store.vault.digest(CONSENT_BINDING, cookie_value),
            }, rt.settings.login_transaction_ttl)
            return ConsentPage(client=client, scopes=list(tx["scope"]), consent_id=consent_id,
                               session_cookie=set_cookie)
    try:
        params = await _issue(rt, client, tx, session)
    except OAuthError as exc:
        return fail(exc)
    return ClientRedirect(tx["redirect_uri"], tx["response_mode"], params,
                          session_cookie=set_cookie, frame_origins=tuple(client.web_origins))


async def _issue(rt: Runtime, client: Client, tx: dict[str, Any],
                 session: LiveSession) -> dict[str, str]:
    user_id = session.user.user_id
    grant_id = await rt.store.create_grant(client.client_id, user_id)
    response_type = tx.get("response_type") or "code"
    out: dict[str, str] = {}
    if response_type == "code":
        code = secrets.token_urlsafe(32)
        await rt.store.put_code(code, client_id=client.client_id, user_id=user_id,
                                grant_id=grant_id, ttl_s=rt.settings.authorization_code_ttl, data={
                                    "redirect_uri": tx["redirect_uri"], "scope": tx["scope"],
                                    "audience": tx["audience"], "nonce": tx["nonce"],
                                    "code_challenge": tx["code_challenge"],
                                    "auth_time": session.auth_time_s, "sid": session.record.id,
                                })
        out["code"] = code
    else:
        # The legacy implicit flow (docs/sessions.md#implicit-flow): tokens in the answer.
        # Their claims are read from the user row: commit this login's profile first.
        await rt.store.flush()
        types = set(response_type.split())
        body = await user_tokens.issue(
            rt, client, user_id=user_id, grant_id=grant_id, scope=tx["scope"],
            audience=tx["audience"], nonce=tx["nonce"], auth_time=session.auth_time_s,
            refresh=False, sid=session.record.id, at_hash="token" in types)
        if "token" in types:
            out.update(access_token=body["access_token"], token_type="Bearer",
                       expires_in=str(body["expires_in"]), scope=body["scope"])
        if "id_token" in types:
            out["id_token"] = body["id_token"]
    out["iss"] = rt.settings.issuer
    if tx["state"] is not None:
        out["state"] = tx["state"]
    return out
