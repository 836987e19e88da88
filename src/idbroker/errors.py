"""One error hierarchy for the whole broker.

Every error carries a *public* description, safe to show to any caller, and an optional
private ``detail`` for the server log. Neither may ever contain a token, a secret or an
authorization code: callers pass identifiers, never credentials. ``http/errors.py`` is the one
place that turns these into responses.
"""

from __future__ import annotations


class IdbrokerError(Exception):
    description: str = "An error occurred."

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        if description is not None:
            self.description = description
        self.detail = detail
        super().__init__(self.description)


# --- OAuth 2.0 / OpenID Connect (RFC 6749 §5.2, RFC 6750 §3.1) ---------------------------


class OAuthError(IdbrokerError):
    error: str = "invalid_request"
    status_code: int = 400
    description = "The request is invalid."


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    description = "Client authentication failed."


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    description = "The grant is invalid, expired or was already used."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    description = "The client is not allowed to use this grant."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "The grant type is not supported."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    description = "The response type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    description = "The requested scope is invalid."


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403
    description = "Access denied."


class LoginRequired(OAuthError):
    error = "login_required"
    description = "Login required."


class ConsentRequired(OAuthError):
    """prompt=none, and the person has not yet allowed this third-party application."""

    error = "consent_required"
    description = "Consent required."


class InteractionRequired(OAuthError):
    """prompt=none, and the answer needs the person (e.g. a trip to the upstream IdP)."""

    error = "interaction_required"
    description = "Interaction required."


class InvalidToken(OAuthError):
    """A bearer token presented to a protected resource (RFC 6750)."""

    error = "invalid_token"
    status_code = 401
    description = "The access token is invalid."


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    description = "The server could not complete the request."


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    description = "The service is temporarily unavailable."


class InvalidTarget(OAuthError):
    """RFC 8693 §2.2.2: no token can be issued for the requested audience or resource."""

    error = "invalid_target"
    description = "The requested target is not available to this client."


class ExchangeNotAllowed(UnauthorizedClient):
    """Auth0's federated-connection exchange by a client not allowed that connection (403)."""

    status_code = 403
    description = "The client is not allowed to exchange tokens of this connection."


class FederatedTokenNotFound(OAuthError):
    """Auth0 Token Vault: bad subject token, or no stored IdP token for the connection."""

    error = "federated_connection_refresh_token_not_found"
    status_code = 401
    description = "Federated connection refresh token not found."


class FederatedRefreshFailed(OAuthError):
    """Auth0 Token Vault: the upstream refused or failed to renew the stored IdP token."""

    error = "federated_connection_refresh_token_flow_failed"
    status_code = 401
    description = "Failed to refresh the federated connection access token."


class AuthorizeRequestError(IdbrokerError):
    """An /authorize failure that must NOT redirect: the client or redirect URI is untrusted."""

    description = "The authorization request is invalid."


# --- Upstream identity providers ----------------------------------------------------------


class UpstreamError(IdbrokerError):
    """The upstream IdP failed, refused or answered something we cannot trust."""

    oauth_error: type[OAuthError] = AccessDenied
    description = "The identity provider's response could not be verified."


class UpstreamDenied(UpstreamError):
    oauth_error = AccessDenied
    description = "The identity provider denied the sign-in."


class UpstreamUnavailable(UpstreamError):
    oauth_error = TemporarilyUnavailable
    description = "The identity provider is unavailable. Try again later."


class UpstreamProtocolError(UpstreamError):
    oauth_error = AccessDenied
    description = "The identity provider's response could not be verified."


class UpstreamTokenRejected(UpstreamError):
    """The upstream refused a grant we hold (invalid_grant on refresh, revoked consent)."""

    oauth_error = InvalidGrant
    description = "The identity provider no longer accepts the stored grant."


class IdpTokenMissing(UpstreamError):
    """No usable IdP token is stored for the identity (none issued, or the identity is gone)."""

    oauth_error = FederatedTokenNotFound
    description = "No identity provider token is stored for this identity."


class IdpTokenNeedsReconsent(UpstreamError):
    """The stored IdP grant is dead (invalid_grant upstream, or expired with no refresh
    token): only a new sign-in at the upstream brings a token back (lifecycle/refresh.py)."""

    oauth_error = FederatedRefreshFailed
    description = "The identity provider token can no longer be renewed; the user must sign in again."


class IdpRefreshUnavailable(UpstreamError):
    """The upstream could not refresh the token now (5xx, 429, timeout, busy lock)."""

    oauth_error = TemporarilyUnavailable
    description = "The identity provider token could not be renewed now. Try again later."

    def __init__(self, description: str | None = None, *, detail: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(description, detail=detail)
        self.retry_after_s = retry_after_s


class AccountConflict(AccessDenied):
    """An upstream account would take a user_id that belongs to another upstream account."""

    description = "This account cannot sign in: it conflicts with an existing account."


# --- Management API (Auth0 / hapi Boom shape) ---------------------------------------------


class ManagementError(IdbrokerError):
    status_code: int = 400
    error: str = "Bad Request"
    error_code: str | None = None

    def __init__(
        self, description: str | None = None, *, error_code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        if error_code is not None:
            self.error_code = error_code


class BadRequest(ManagementError):
    error_code = "invalid_body"
    description = "Payload validation error."


class Unauthorized(ManagementError):
    status_code = 401
    error = "Unauthorized"
    description = "Invalid token"
    # RFC 6750 §3.1: a request with no credentials at all gets no error attribute.
    bearer_error: str | None = "invalid_token"

    def __init__(self, description: str | None = None, *, bearer_error: str | None = "invalid_token",
                 detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.bearer_error = bearer_error


class Forbidden(ManagementError):
    status_code = 403
    error = "Forbidden"
    error_code = "insufficient_scope"
    description = "Insufficient scope"


class NotFound(ManagementError):
    status_code = 404
    error = "Not Found"
    error_code = "inexistent_resource"
    description = "The resource does not exist."


class UpstreamCheckFailed(ManagementError):
    """The upstream IdP could not be asked (down, misconfigured, unexpected answer)."""

    status_code = 502
    error = "Bad Gateway"
    error_code = "upstream_unavailable"
    description = "The identity provider could not be reached or gave an unexpected answer."


class Conflict(ManagementError):
    status_code = 409
    error = "Conflict"
    error_code = "conflict"
    description = "The resource already exists."


# --- Configuration and storage -------------------------------------------------------------


class ConfigurationError(IdbrokerError):
    description = "The configuration is invalid."


class VaultError(IdbrokerError):
    """Encrypted material could not be opened: wrong key, tampered row, or missing key."""

    description = "Stored credentials could not be decrypted."


# --- Database connections (username/password accounts, dbconn/) ---------------------------


class TooManyAttempts(OAuthError):
    """Brute-force protection: this address is blocked for this identifier (or refused for
    too many failures across identifiers). Auth0's /co/authenticate answer."""

    error = "too_many_attempts"
    status_code = 429
    description = ("Too many failed login attempts from your address. Reset your password "
                   "or try again later.")


class DatabaseConnectionError(IdbrokerError):
    """Auth0's legacy error shape of /dbconnections/* and /usernamepassword/*:
    ``{"name", "code", "description", "statusCode"}``, which Lock and auth0-js read
    (``code``/``description``). ``body`` adds members (a password policy's rules)."""

    status_code: int = 400
    name: str = "BadRequestError"
    code: str = "bad.request"
    description = "The request is invalid."

    def __init__(self, description: str | None = None, *, code: str | None = None,
                 name: str | None = None, status_code: int | None = None,
                 body: dict[str, object] | None = None, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        if status_code is not None:
            self.status_code = status_code
        self.body = body or {}
