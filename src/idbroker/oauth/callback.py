"""GET {issuer}login/callback: the upstream sends the person back; we finish the login and
return an authorization code to the app.

The transaction named by ``state`` is taken (opened from the binding cookie and marked used,
oauth/login_transaction.py) before anything else, and it must be presented by the same browser
that started it (the binding cookie). Without both, no
upstream call is made and nothing is stored (attack list C1).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from idbroker.connectors.base import UpstreamCallback
from idbroker.errors import (
    AccessDenied, AccountConflict, AuthorizeRequestError, ConfigurationError, UpstreamError,
)
from idbroker.oauth.authorize import (
    ClientRedirect, ConsentPage, binding_cookie_name, error_redirect, upstream_oauth_error,
)
from idbroker.oauth import login_transaction
from idbroker.oauth.login_completion import complete_login
from idbroker.oauth.sessions import presented
from idbroker.runtime import Runtime

log = logging.getLogger(__name__)


async def finish_login(rt: Runtime, params: Mapping[str, str], cookies: Mapping[str, str],
                       ip: str | None) -> tuple[ClientRedirect | ConsentPage, str]:
    """Return the answer for the app (or the consent page a third-party application needs)
    and the name of the binding cookie to clear."""
    state = params.get("state")
    if not state or len(state) > 256:
        raise AuthorizeRequestError("The sign-in could not be completed: missing state.")
    cookie_name = binding_cookie_name(state)
    tx, why = await login_transaction.take(rt, state, cookies)
    if tx is None and why == "browser":
        raise AuthorizeRequestError(
            "The sign-in could not be completed: it was started in another browser.")
    if tx is None:
        raise AuthorizeRequestError(
            "The sign-in could not be completed: it expired or was already used. Start again.")

    def fail(exc: Any) -> tuple[ClientRedirect, str]:
        return error_redirect(rt, tx["redirect_uri"], tx["response_mode"], tx["state"], exc), cookie_name

    connection = await rt.store.get_connection(tx["connection_id"])
    if connection is None or tx["client_id"] not in connection.enabled_clients:
        return fail(AccessDenied("The connection is no longer available."))
    try:
        connector = rt.connector(connection)
        login = await connector.complete(UpstreamCallback(
            callback_url=rt.callback_url, params=params, nonce=tx["upstream_nonce"],
            code_verifier=tx["upstream_verifier"],
            connector_state=tx.get("connector_state") or {}))
    except (UpstreamError, ConfigurationError) as exc:
        log.warning("upstream login failed on connection %s: %s", connection.name, exc.detail)
        await rt.store.audit("f", description=exc.description, client_id=tx["client_id"],
                             connection=connection.name, ip=ip,
                             details={"reason": type(exc).__name__})
        return fail(upstream_oauth_error(exc))

    idp_user_id = (f"{connection.name}|{login.subject}" if connector.namespaced_user_id
                   else login.subject)
    # The identity's new tokens, the session, the grant and the code: one commit.
    async with rt.store.batch():
        try:
            user_id = await rt.store.record_login(
                connection=connection, provider=connector.provider, issuer=login.issuer,
                subject=login.subject, idp_user_id=idp_user_id, is_social=connector.is_social,
                profile=login.profile, tokens=login.tokens, ip=ip,
                requested_scopes=connector.scopes(tx.get("extra_scopes", [])))
        except AccountConflict as exc:
            log.warning("login refused on connection %s: %s", connection.name, exc.detail)
            await rt.store.audit("f", description=exc.description, client_id=tx["client_id"],
                                 connection=connection.name, ip=ip)
            return fail(exc)
        redirect = await complete_login(rt, tx, user_id=user_id,
                                        connection_name=connection.name, ip=ip,
                                        session_cookie=presented(dict(cookies)))
    return redirect, cookie_name
