"""Token exchange at /oauth/token: an app holding a person's idbroker refresh or access token
gets that person's fresh upstream (IdP) access token for one connection (docs/token-exchange.md).

Two wire forms, one rule set:

- Auth0's ``urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token``
  (auth0_compat.md §2.1 e), with ``connection`` and Auth0's error codes;
- RFC 8693 ``urn:ietf:params:oauth:grant-type:token-exchange``, the connection named by
  ``audience`` (or ``resource=urn:idbroker:connection:{name}``), with RFC 8693 §2.2.2 errors.

The client must be confidential, hold the grant type, and list the connection in its
``token_exchange.allowed_connections`` (default: none). The subject token must be one of ours,
issued to this very client, live, and of the declared type; a refresh token is looked up, never
consumed or rotated. Every exchange, granted or refused, is audited without token values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idbroker.clock import now_ms, now_s
from idbroker.errors import (
    ExchangeNotAllowed, FederatedRefreshFailed, FederatedTokenNotFound, IdpRefreshUnavailable,
    IdpTokenMissing, InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, InvalidToken,
    OAuthError, TemporarilyUnavailable, UnauthorizedClient, UpstreamError, UpstreamUnavailable,
    VaultError,
)
from idbroker.oauth import scopes
from idbroker.oauth.request_context import caller_ip
from idbroker.runtime import Runtime
from idbroker.vault.records import Client, Identity, TokenSet

AUTH0_GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
RFC8693_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
FEDERATED_ACCESS_TOKEN = "http://auth0.com/oauth/token-type/federated-connection-access-token"
IDP_ACCESS_TOKEN = "urn:idbroker:params:oauth:token-type:idp-access-token"
REFRESH_TOKEN = "urn:ietf:params:oauth:token-type:refresh_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
CONNECTION_RESOURCE = "urn:idbroker:connection:"


class _Refused(Exception):
    """Why an exchange is refused, before it is given each wire form's error."""

    def __init__(self, kind: str, description: str, detail: str | None = None) -> None:
        super().__init__(kind)
        self.kind, self.description, self.detail = kind, description, detail


_AUTH0_ERRORS: dict[str, type[OAuthError]] = {
    "bad_request": InvalidRequest, "bad_subject": FederatedTokenNotFound,
    "no_permission": ExchangeNotAllowed, "not_allowed": ExchangeNotAllowed,
    "no_identity": FederatedTokenNotFound, "bad_scope": InvalidScope,
    "refresh_failed": FederatedRefreshFailed, "unavailable": FederatedRefreshFailed,
}
_RFC8693_ERRORS: dict[str, type[OAuthError]] = {
    "bad_request": InvalidRequest, "bad_subject": InvalidRequest,
    "no_permission": UnauthorizedClient, "not_allowed": InvalidTarget,
    "no_identity": InvalidTarget, "bad_scope": InvalidScope,
    "refresh_failed": InvalidGrant, "unavailable": TemporarilyUnavailable,
}


@dataclass(frozen=True, slots=True)
class _Subject:
    user_id: str
    token_type: str


@dataclass
class _Audit:
    grant: str
    user_id: str | None = None
    connection: str | None = None
    identity_id: str | None = None


async def auth0_grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    audit = _Audit("federated-connection")
    try:
        requested = params.get("requested_token_type", FEDERATED_ACCESS_TOKEN)
        if requested != FEDERATED_ACCESS_TOKEN:
            raise _Refused("bad_request", f"requested_token_type must be {FEDERATED_ACCESS_TOKEN}")
        connection = params.get("connection")
        if not connection:
            raise _Refused("bad_request", "connection is required")
        body = await _exchange(rt, client, params, connection, params.get("login_hint"), audit)
        body["issued_token_type"] = FEDERATED_ACCESS_TOKEN
    except _Refused as refused:
        raise await _refuse(rt, client, audit, refused, _AUTH0_ERRORS) from None
    await _audit_success(rt, client, audit)
    return body


async def rfc8693_grant(rt: Runtime, client: Client, params: dict[str, str]) -> dict[str, Any]:
    audit = _Audit("rfc8693")
    try:
        requested = params.get("requested_token_type", IDP_ACCESS_TOKEN)
        if requested not in (IDP_ACCESS_TOKEN, FEDERATED_ACCESS_TOKEN):
            raise _Refused("bad_request", f"requested_token_type must be {IDP_ACCESS_TOKEN}")
        body = await _exchange(rt, client, params, _target(params), None, audit)
        body["issued_token_type"] = requested
    except _Refused as refused:
        raise await _refuse(rt, client, audit, refused, _RFC8693_ERRORS) from None
    await _audit_success(rt, client, audit)
    return body


def _target(params: dict[str, str]) -> str:
    audience, resource = params.get("audience"), params.get("resource")
    if resource is not None:
        if not resource.startswith(CONNECTION_RESOURCE):
            raise _Refused("not_allowed", "resource must be urn:idbroker:connection:{name}")
        resource = resource.removeprefix(CONNECTION_RESOURCE)
        if audience is not None and audience != resource:
            raise _Refused("bad_request", "audience and resource name different connections")
    target = audience or resource
    if not target:
        raise _Refused("bad_request", "audience (a connection name) is required")
    return target


async def _exchange(rt: Runtime, client: Client, params: dict[str, str], connection: str,
                    login_hint: str | None, audit: _Audit) -> dict[str, Any]:
    audit.connection = connection[:128]
    if params.get("actor_token") or params.get("actor_token_type"):
        raise _Refused("bad_request", "delegation (actor_token) is not supported")
    token_type, token = params.get("subject_token_type"), params.get("subject_token")
    if not token or not token_type:
        raise _Refused("bad_request", "subject_token and subject_token_type are required")
    if token_type not in (REFRESH_TOKEN, ACCESS_TOKEN):
        raise _Refused("bad_request", "subject_token_type must be "
                       f"{REFRESH_TOKEN} or {ACCESS_TOKEN}")
    # Permission before anything about the subject: a client that may not exchange learns
    # nothing about tokens or accounts.
    if client.is_public or not client.token_exchange_connections:
        raise _Refused("no_permission", "The client is not allowed to exchange tokens.")
    if connection not in client.token_exchange_connections:
        raise _Refused("not_allowed", "The client may not exchange tokens of this connection.")
    requested_scope = scopes.parse(params.get("scope"))
    subject = await _subject(rt, client, token_type, token)
    audit.user_id = subject.user_id
    identity = await _identity(rt, subject.user_id, connection, login_hint)
    audit.identity_id = identity.id
    if requested_scope and not set(requested_scope) <= set(identity.granted_scopes):
        raise _Refused("bad_scope", "the connection's token lacks the requested scope")
    tokens = await _fresh(rt, identity, client, subject.user_id)
    if not tokens.access_token:
        raise _Refused("no_identity", "No access token is stored for this connection.")
    body: dict[str, Any] = {"access_token": tokens.access_token, "token_type": "Bearer",
                            "scope": scopes.join(tokens.scope or identity.granted_scopes)}
    if tokens.expires_at is not None:
        body["expires_in"] = max(0, tokens.expires_at - now_s())
    return body


async def _subject(rt: Runtime, client: Client, token_type: str, token: str) -> _Subject:
    if token_type == REFRESH_TOKEN:
        # Looked up by digest, not used: the app keeps its refresh token (no rotation here).
        row = await rt.store.find_refresh_token(token)
        if row is None or row["client_id"] != client.client_id:
            raise _Refused("bad_subject", "The subject token is invalid.",
                           "refresh token unknown or issued to another client")
        if row["used"] or row["expires_at"] < now_ms():
            raise _Refused("bad_subject", "The subject token is invalid.",
                           "refresh token used, revoked or expired")
        user_id, grant_id = row["user_id"], row["grant_id"]
    else:
        try:
            verified = rt.issuer.verify_access_token(
                token, frozenset({f"{rt.settings.issuer}userinfo"}))
        except InvalidToken as exc:
            raise _Refused("bad_subject", "The subject token is invalid.", exc.detail) from exc
        claims = verified.claims
        grant_id = claims.get("gid")
        # A person's token for this client only: not a client-credentials token (no grant),
        # not a token some other app holds.
        if claims.get("azp") != client.client_id or not isinstance(grant_id, str) \
                or "gty" in claims:
            raise _Refused("bad_subject", "The subject token is invalid.",
                           "access token of another client or not a person's token")
        user_id = verified.subject
    if not await rt.store.grant_is_active(grant_id):
        raise _Refused("bad_subject", "The subject token is invalid.", "grant revoked")
    return _Subject(user_id=user_id, token_type=token_type)


async def _identity(rt: Runtime, user_id: str, connection: str,
                    login_hint: str | None) -> Identity:
    user = await rt.store.get_user(user_id)
    if user is None or user.blocked:
        raise _Refused("bad_subject", "The subject token is invalid.", "user gone or blocked")
    found = [i for i in user.identities if i.connection == connection]
    if login_hint:
        # Auth0: login_hint picks one of several accounts of one connection.
        found = [i for i in found if login_hint in (i.subject, i.idp_user_id,
                                                    f"{i.provider}|{i.idp_user_id}")]
    usable = [i for i in found if i.tokens_sealed]
    if not usable:
        raise _Refused("no_identity", "No stored token for this connection and user.",
                       "no identity with tokens on the connection")
    return usable[0]


async def _fresh(rt: Runtime, identity: Identity, client: Client, user_id: str) -> TokenSet:
    # Imported here: the refresh module sits above oauth/ in the import order.
    from idbroker.lifecycle.refresh import Actor, fresh_token_set

    actor = Actor(client_id=client.client_id, user_id=user_id, ip=caller_ip.get(),
                  via="token_exchange")
    try:
        return await fresh_token_set(rt, identity.id, actor=actor)
    except IdpTokenMissing as exc:
        raise _Refused("no_identity", "No stored token for this connection and user.",
                       exc.detail) from exc
    except (IdpRefreshUnavailable, UpstreamUnavailable) as exc:
        raise _Refused("unavailable", "The identity provider is unavailable. Try again later.",
                       exc.detail) from exc
    except (UpstreamError, VaultError) as exc:
        # IdpTokenNeedsReconsent (grant dead upstream) and anything the upstream refused.
        raise _Refused("refresh_failed", "The identity provider refused to renew the token.",
                       f"{type(exc).__name__}: {exc.detail}") from exc


async def _refuse(rt: Runtime, client: Client, audit: _Audit, refused: _Refused,
                  errors: dict[str, type[OAuthError]]) -> OAuthError:
    error = errors[refused.kind](refused.description, detail=refused.detail or refused.kind)
    await rt.store.audit(
        "fexchange", description="Token exchange refused", client_id=client.client_id,
        user_id=audit.user_id, connection=audit.connection, ip=caller_ip.get(),
        details={"grant": audit.grant, "error": error.error, "reason": refused.kind,
                 "identity_id": audit.identity_id})
    return error


async def _audit_success(rt: Runtime, client: Client, audit: _Audit) -> None:
    await rt.store.audit(
        "sexchange", description="IdP access token issued by token exchange",
        client_id=client.client_id, user_id=audit.user_id, connection=audit.connection,
        ip=caller_ip.get(), details={"grant": audit.grant, "identity_id": audit.identity_id})
