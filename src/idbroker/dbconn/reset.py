"""Password reset and email verification by mailed single-use links.

``POST /dbconnections/change_password`` always answers the same text, whether or not an
account exists; the lookup, the ticket and the mail happen after the answer was sent
(:func:`request_reset` returns that work), so neither the body nor the response time tells
who has an account. The link leads to the hosted page ``/lo/reset?ticket=…``.

A reset sets the new password under the connection's policy, marks the email verified (the
person proved control of the mailbox), lifts brute-force blocks on the account, and ends the
user's login sessions, grants, refresh tokens and unredeemed codes: a reset is how someone
recovers an account whose password someone else may know.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from idbroker.clock import now_ms
from idbroker.dbconn import bruteforce, mailer, policy
from idbroker.dbconn.accounts import (
    change_password, client_and_database, normalise, valid_email,
)
from idbroker.dbconn.options import DatabaseOptions, parse_options
from idbroker.errors import DatabaseConnectionError
from idbroker.runtime import Runtime
from idbroker.vault import password_store
from idbroker.vault.password_store import Credential

log = logging.getLogger(__name__)

RESET_SENT = "We've just sent you an email to reset your password."
# At most one reset mail per account in this many seconds, however often it is asked for:
# otherwise anyone could flood a person's mailbox through the reset form.
RESET_MAIL_INTERVAL_S = 60


async def request_reset(rt: Runtime, body: Any, ip: str | None
                        ) -> Callable[[], Awaitable[None]]:
    """Validate the request (client, connection, email shape: none of it depends on an
    account) and return the work to run after answering ``RESET_SENT``."""
    if not isinstance(body, dict):
        raise DatabaseConnectionError("The body must be an object.")
    client, database = await client_and_database(rt, body.get("client_id"),
                                                 body.get("connection"))
    email = body.get("email")
    if not isinstance(email, str) or not valid_email(email.strip()):
        raise DatabaseConnectionError("email must be an email address", code="invalid_email")
    identifier = normalise(email)

    async def work() -> None:
        credential = await password_store.find_credential(
            rt.store, database.connection.id, identifier)
        if credential is None or credential.email != identifier:
            return
        if await password_store.ticket_issued_since(
                rt.store, credential.user_id, "reset", now_ms() - RESET_MAIL_INTERVAL_S * 1000):
            return
        await send_reset_link(rt, credential, client_id=client.client_id, ip=ip)

    return work


async def send_reset_link(rt: Runtime, credential: Credential, *, client_id: str | None,
                          ip: str | None) -> None:
    ticket = secrets.token_urlsafe(32)
    await password_store.put_ticket(
        rt.store, ticket, kind="reset", user_id=credential.user_id,
        connection_id=credential.connection_id, ttl_s=rt.settings.password_reset_ticket_ttl,
        client_id=client_id)
    link = f"{rt.settings.issuer}lo/reset?ticket={ticket}"
    minutes = max(1, rt.settings.password_reset_ticket_ttl // 60)
    message = mailer.compose(rt.settings, to=credential.email or "", subject="Reset your password",
                             text=("Someone asked to reset the password of your account.\n\n"
                                   f"To choose a new password, open this link within {minutes} "
                                   f"minutes:\n\n{link}\n\n"
                                   "If you did not ask for this, ignore this message: your "
                                   "password stays as it is.\n"))
    await mailer.deliver(rt.settings, message, "password reset")
    await rt.store.audit("scpr", description="Password reset link sent", client_id=client_id,
                         user_id=credential.user_id, ip=ip)


async def send_verification(rt: Runtime, user_id: str, email: str, connection_id: str, *,
                            client_id: str | None) -> None:
    ticket = secrets.token_urlsafe(32)
    await password_store.put_ticket(
        rt.store, ticket, kind="verify", user_id=user_id, connection_id=connection_id,
        ttl_s=rt.settings.email_verification_ticket_ttl, client_id=client_id)
    link = f"{rt.settings.issuer}lo/verify?ticket={ticket}"
    message = mailer.compose(rt.settings, to=email, subject="Verify your email address",
                             text=("Welcome! To confirm that this is your email address, open "
                                   f"this link:\n\n{link}\n\n"
                                   "If you did not create an account, ignore this message.\n"))
    await mailer.deliver(rt.settings, message, "email verification")


@dataclass(frozen=True, slots=True)
class ResetForm:
    """What the reset page shows for a live ticket."""

    email: str | None
    options: DatabaseOptions
    min_length: int


async def reset_form(rt: Runtime, ticket: str) -> ResetForm | None:
    """The page for a live, unused reset ticket, or None (expired, used, unknown)."""
    found = await _live(rt, ticket)
    if found is None:
        return None
    credential, options = found
    return ResetForm(credential.email, options, policy.min_length(options))


async def _live(rt: Runtime, ticket: str) -> tuple[Credential, DatabaseOptions] | None:
    if not ticket or len(ticket) > 256:
        return None
    peeked = await password_store.peek_ticket(rt.store, ticket, "reset")
    if peeked is None:
        return None
    credential = await password_store.credential_of(rt.store, peeked.user_id,
                                                    peeked.connection_id)
    connection = await rt.store.get_connection(peeked.connection_id)
    if credential is None or connection is None:
        return None
    return credential, parse_options(connection.options)


async def reset_password(rt: Runtime, ticket: str, password: str, ip: str | None) -> bool:
    """Set the new password. False: the ticket is not (or no longer) usable. Raises the
    policy's DatabaseConnectionError without using the ticket, so the person can retry."""
    found = await _live(rt, ticket)
    if found is None:
        return False
    credential, options = found
    user = await rt.store.get_user(credential.user_id)
    policy.check(password, options, personal=(
        credential.email, credential.username,
        *((user.name, user.given_name, user.family_name, user.nickname) if user else ())))
    taken = await password_store.take_ticket(rt.store, ticket, "reset")
    if taken is None or taken.user_id != credential.user_id:
        return False
    await change_password(rt, credential.user_id, password, end_sessions=True,
                          connection_id=credential.connection_id)
    await password_store.mark_email_verified(rt.store, credential.user_id)
    await password_store.drop_tickets(rt.store, credential.user_id, "reset")
    await bruteforce.unblock(rt, [bruteforce.account_key(rt, credential.connection_id, ident)
                                  for ident in (credential.email, credential.username) if ident])
    await rt.store.audit("scp", description="Password changed by reset link",
                         client_id=taken.client_id, user_id=credential.user_id, ip=ip)
    return True


async def verify_email(rt: Runtime, ticket: str) -> bool:
    if not ticket or len(ticket) > 256:
        return False
    taken = await password_store.take_ticket(rt.store, ticket, "verify")
    if taken is None:
        return False
    await password_store.mark_email_verified(rt.store, taken.user_id)
    await rt.store.audit("sv", description="Email verified", client_id=taken.client_id,
                         user_id=taken.user_id)
    return True
