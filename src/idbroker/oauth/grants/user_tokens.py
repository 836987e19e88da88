"""The token response for a person (authorization_code and refresh_token grants)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from idbroker.clock import now_s
from idbroker.encoding import b64url_encode
from idbroker.errors import InvalidGrant
from idbroker.oauth import scopes
from idbroker.oauth.user_claims import claims_for
from idbroker.runtime import Runtime
from idbroker.vault import resource_server_store as rs_store
from idbroker.vault.records import Client


async def issue(rt: Runtime, client: Client, *, user_id: str, grant_id: str, scope: list[str],
                audience: str | None, nonce: str | None, auth_time: int,
                refresh: bool, family_expires_at: int | None = None, sid: str | None = None,
                at_hash: bool = False) -> dict[str, Any]:
    """``sid``: the login session the tokens come from (ID token claim). ``at_hash``: bind
    the ID token to the access token (OIDC Core §3.2.2.10, implicit flow)."""
    user = await rt.store.get_user(user_id)
    if user is None or user.blocked:
        raise InvalidGrant("the user is blocked or no longer exists")
    settings = rt.settings
    userinfo_aud = f"{settings.issuer}userinfo"
    audiences = [settings.management_audience, userinfo_aud] if audience else [userinfo_aud]
    ttl, token_scope = settings.access_token_ttl, scope
    if audience is not None and audience not in settings.management_audience_aliases:
        # A resource server's token: its identifier (plus userinfo for openid), its lifetime,
        # and only the scopes it defines today (a scope removed from the API is not re-issued).
        server = await rs_store.get_by_identifier(rt.store, audience)
        if server is None:
            raise InvalidGrant("the API this grant was issued for no longer exists")
        audiences = [server.identifier, *([userinfo_aud] if "openid" in scope else [])]
        ttl = server.token_lifetime
        token_scope = [s for s in scope if s in scopes.OIDC_SCOPES or s in server.scope_values]
    body: dict[str, Any] = {
        "access_token": rt.issuer.access_token(
            sub=user_id, audience=audiences, scope=scopes.join(token_scope),
            client_id=client.client_id, ttl_s=ttl, extra={"gid": grant_id}),
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scopes.join(token_scope),
    }
    if "openid" in scope:
        protocol_claims: dict[str, Any] = {"sid": sid} if sid else {}
        if at_hash:
            digest = hashlib.sha256(body["access_token"].encode("ascii")).digest()
            protocol_claims["at_hash"] = b64url_encode(digest[:16])
        body["id_token"] = rt.issuer.id_token(
            sub=user_id, client_id=client.client_id, nonce=nonce, auth_time=auth_time,
            profile_claims=claims_for(user, scope), ttl_s=settings.id_token_ttl,
            extra=protocol_claims)
    if refresh and "offline_access" in scope and "refresh_token" in client.grant_types:
        token = secrets.token_urlsafe(32)
        # Rotation hands out new tokens, never more time: the family's absolute lifetime is
        # fixed at the first issue (RFC 9700 §4.14.2 recommends bounding it).
        expires_at = family_expires_at or now_s() + settings.refresh_token_ttl
        await rt.store.put_refresh_token(
            token, grant_id=grant_id, client_id=client.client_id, user_id=user_id,
            ttl_s=max(0, expires_at - now_s()),
            data={"scope": scope, "audience": audience, "auth_time": auth_time,
                  "family_expires_at": expires_at, "sid": sid})
        body["refresh_token"] = token
    return body
