"""Password logins: checking a password (with brute-force protection), the single-use login
ticket of ``POST /co/authenticate``, and its redemption at ``/authorize?login_ticket=``.

Every answer to a failed login is the same — ``Wrong email or password.`` — whether the
account does not exist or the password is wrong, and it costs the same time: an unknown
identifier is verified against a dummy hash of the same cost (dbconn/hashing.py).
"""

from __future__ import annotations

import secrets
from typing import Any

from idbroker.dbconn import bruteforce
from idbroker.dbconn.accounts import MAX_IDENTIFIER_CHARS, Database, database_for, normalise
from idbroker.dbconn.hashing import hashing_for
from idbroker.dbconn.policy import MAX_PASSWORD_CHARS
from idbroker.errors import AccessDenied, TooManyAttempts
from idbroker.runtime import Runtime
from idbroker.vault import password_store
from idbroker.vault.records import Client

WRONG_CREDENTIALS = "Wrong email or password."
# The browser-binding cookie of a login ticket (docs/database-connections.md#login-tickets).
TICKET_COOKIE = "idb_lt"


def wrong_credentials() -> AccessDenied:
    return AccessDenied(WRONG_CREDENTIALS)


async def authenticate(rt: Runtime, database: Database, identifier: Any, password: Any, *,
                       ip: str | None, client_id: str | None) -> str:
    """The user_id whose password this is. Raises AccessDenied (wrong email or password, or
    a blocked user) or TooManyAttempts."""
    connection = database.connection
    ident = normalise(identifier) if isinstance(identifier, str) else ""
    shaped = 0 < len(ident) <= MAX_IDENTIFIER_CHARS and "\x00" not in ident
    bucket = bruteforce.address_bucket(ip)
    protect = database.options.brute_force_protection
    account = bruteforce.account_key(rt, connection.id, ident)
    if protect:
        try:
            await bruteforce.refuse_if_blocked(rt, account, bucket)
        except TooManyAttempts as exc:
            capped = exc.detail == bruteforce.OVER_CAP
            await rt.store.audit("limit_mu" if capped else "limit_wc",
                                 description="Refused: address over its failed-login cap"
                                 if capped else "Refused: address blocked for this identifier",
                                 client_id=client_id, connection=connection.name, ip=ip)
            raise
    credential = await password_store.find_credential(rt.store, connection.id, ident) \
        if shaped else None
    candidate = password if isinstance(password, str) and password \
        and len(password) <= MAX_PASSWORD_CHARS else None
    hashing = hashing_for(rt.settings)
    verified = await hashing.verify(credential.password_hash if credential else None,
                                    candidate if candidate is not None else "\x00")
    if not (verified.ok and candidate is not None and credential is not None):
        # The identifier is audited only when it names an account: people type passwords
        # into the identifier field, and the audit log must not collect them.
        if credential is not None:
            await rt.store.audit("fp", description="Wrong email or password.",
                                 client_id=client_id, user_id=credential.user_id,
                                 connection=connection.name, ip=ip)
        else:
            await rt.store.audit("fu", description="Wrong email or password.",
                                 client_id=client_id, connection=connection.name, ip=ip)
        if protect:
            blocked, capped = await bruteforce.record_failure(rt, account, bucket)
            if blocked:
                await rt.store.audit(
                    "limit_wc", description="Address blocked for an identifier after "
                    f"{rt.settings.brute_force_max_attempts} failed logins",
                    client_id=client_id, user_id=credential.user_id if credential else None,
                    connection=connection.name, ip=ip)
            if capped:
                await rt.store.audit(
                    "limit_mu", description="Address refused after "
                    f"{rt.settings.brute_force_ip_limit} failed logins across identifiers",
                    client_id=client_id, connection=connection.name, ip=ip)
        raise wrong_credentials()
    if protect:
        await bruteforce.record_success(rt, account, bucket)
    if verified.needs_rehash:
        await password_store.rehash(rt.store, credential.user_id, credential.password_hash,
                                    await hashing.hash(candidate))
    await password_store.note_login(rt.store, credential.user_id, ip)
    return credential.user_id


async def issue_ticket(rt: Runtime, *, user_id: str, database: Database, client_id: str,
                       binding: str | None) -> str:
    ticket = secrets.token_urlsafe(32)
    await password_store.put_ticket(
        rt.store, ticket, kind="login", user_id=user_id, connection_id=database.connection.id,
        ttl_s=rt.settings.login_ticket_ttl, client_id=client_id, binding=binding)
    return ticket


async def co_authenticate(rt: Runtime, body: Any, ip: str | None
                          ) -> tuple[dict[str, str], str, Client]:
    """POST /co/authenticate (auth0-js cross-origin login). Returns Auth0's answer
    ``{login_ticket, co_verifier, co_id}``, the binding value for the cookie, and the client
    (whose web origins the CORS answer allows)."""
    if not isinstance(body, dict):
        raise AccessDenied("The request body must be a JSON object.")
    client_id = body.get("client_id")
    client = await rt.store.get_client(client_id) \
        if isinstance(client_id, str) and 0 < len(client_id) <= 64 else None
    if client is None:
        raise AccessDenied("Unknown client.")
    credential_type = body.get("credential_type")
    if credential_type not in (None, "http://auth0.com/oauth/grant-type/password-realm"):
        raise AccessDenied("Only password-realm credentials are supported.")
    database = await database_for(rt, body.get("realm") or body.get("connection"), client)
    if database is None:
        raise AccessDenied("The connection does not exist or is not enabled for this "
                           "application.")
    user_id = await authenticate(rt, database, body.get("username"), body.get("password"),
                                 ip=ip, client_id=client.client_id)
    binding = secrets.token_urlsafe(24)
    ticket = await issue_ticket(rt, user_id=user_id, database=database,
                                client_id=client.client_id, binding=binding)
    # co_verifier/co_id serve Auth0's fallback for browsers without third-party cookies
    # (a frame of the app's callback-cross-auth page), which idbroker does not offer; they
    # are random and unused.
    return ({"login_ticket": ticket, "co_verifier": secrets.token_urlsafe(24),
             "co_id": secrets.token_urlsafe(9)}, binding, client)


async def redeem_ticket(rt: Runtime, client: Client, params: dict[str, str],
                        cookies: dict[str, str], tx: dict[str, Any], ip: str | None) -> Any:
    """``/authorize`` with ``login_ticket``: after the request itself was validated like any
    other, use the ticket (single use, short-lived, issued to this client, and, when this
    browser holds the binding cookie, bound to it) and finish the login without a page."""
    from idbroker.oauth import sessions  # these import oauth.authorize, which imports us
    from idbroker.oauth.login_completion import complete_login

    value = params.get("login_ticket") or ""
    ticket = await password_store.take_ticket(rt.store, value, "login") \
        if len(value) <= 256 else None
    if ticket is None or ticket.client_id != client.client_id:
        raise AccessDenied("The login ticket is invalid, expired or already used.")
    binding = cookies.get(TICKET_COOKIE)
    if binding is not None and not password_store.binding_matches(rt.store, ticket, binding):
        raise AccessDenied("The login ticket was issued to another browser.")
    connection = await rt.store.get_connection(ticket.connection_id)
    realm = params.get("realm") or params.get("connection")
    if connection is None or client.client_id not in connection.enabled_clients \
            or (realm and realm != connection.name):
        raise AccessDenied("The login ticket does not belong to this connection.")
    return await complete_login(rt, tx, user_id=ticket.user_id, connection_name=connection.name,
                                ip=ip, session_cookie=sessions.presented(cookies))
