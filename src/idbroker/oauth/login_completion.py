"""The end of every login, whatever proved who the person is (an upstream IdP today; a
password or an existing session later): refuse a blocked user, open a grant, mint the
authorization code and send the app its answer.

Every way of signing in calls :func:`complete_login` so that the checks and the audit record
stay the same for all of them.
"""

from __future__ import annotations

import secrets
from typing import Any

from idbroker.clock import now_s
from idbroker.errors import AccessDenied
from idbroker.oauth.authorize import ClientRedirect, error_redirect
from idbroker.runtime import Runtime


async def complete_login(rt: Runtime, tx: dict[str, Any], *, user_id: str, connection_name: str,
                         ip: str | None) -> ClientRedirect:
    """``tx`` is the login transaction sealed at /authorize (client, redirect URI, state,
    nonce, scopes, audience, PKCE challenge); the answer goes to its redirect URI."""
    user = await rt.store.get_user(user_id)
    if user is None or user.blocked:
        await rt.store.audit("f", description="user is blocked", client_id=tx["client_id"],
                             user_id=user_id, connection=connection_name, ip=ip)
        return error_redirect(rt, tx["redirect_uri"], tx["response_mode"], tx["state"],
                              AccessDenied("user is blocked"))

    grant_id = await rt.store.create_grant(tx["client_id"], user_id)
    code = secrets.token_urlsafe(32)
    await rt.store.put_code(code, client_id=tx["client_id"], user_id=user_id, grant_id=grant_id,
                            ttl_s=rt.settings.authorization_code_ttl, data={
                                "redirect_uri": tx["redirect_uri"], "scope": tx["scope"],
                                "audience": tx["audience"], "nonce": tx["nonce"],
                                "code_challenge": tx["code_challenge"], "auth_time": now_s(),
                            })
    await rt.store.audit("s", description="Successful login", client_id=tx["client_id"],
                         user_id=user_id, connection=connection_name, ip=ip)
    out = {"code": code, "iss": rt.settings.issuer}
    if tx["state"] is not None:
        out["state"] = tx["state"]
    return ClientRedirect(tx["redirect_uri"], tx["response_mode"], out)
