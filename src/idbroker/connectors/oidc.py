"""Generic OpenID Connect upstream (Auth0 ``strategy: "oidc"``).

The relying-party checks follow OIDC Core §3.1.3.7 and RFC 9700: our own state, nonce and
PKCE verifier on every trip; the authorization response's ``iss`` (RFC 9207) when present or
advertised; the ID token's signature with a pinned algorithm list and a key chosen by ``kid``;
exact ``iss``, ``aud``/``azp``, ``exp``, ``iat`` and ``nonce``; userinfo ``sub`` equal to the
ID token's.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from pydantic import model_validator

from idbroker.clock import now_s
from idbroker.connectors.base import (
    ConnectorCore, ConnectorOptions, UpstreamAuthorization, UpstreamCallback, UpstreamLogin,
    UpstreamPolicy, expires_at, upstream_params,
)
from idbroker.connectors.jwks_cache import JwksCache
from idbroker.connectors.profile import profile_from_claims
from idbroker.connectors.upstream_http import client_auth, request_json
from idbroker.encoding import s256
from idbroker.errors import (
    ConfigurationError, UpstreamDenied, UpstreamProtocolError, UpstreamUnavailable,
)
from idbroker.vault.records import TokenSet

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
ASYMMETRIC_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384", "ES512", "EdDSA"})
METADATA_TTL_S = 3600.0
ID_TOKEN_LEEWAY_S = 60


class OIDCOptions(ConnectorOptions):
    discovery_url: str | None = None
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    # Override or supply discovery's RFC 7009 / RFC 7662 endpoints (connectors/revocation.py).
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    id_token_signed_response_algs: list[str] = ["RS256"]

    @model_validator(mode="after")
    def _endpoints(self) -> OIDCOptions:
        explicit = (self.issuer, self.authorization_endpoint, self.token_endpoint, self.jwks_uri)
        if not self.discovery_url and not all(explicit):
            raise ValueError("give options.discovery_url, or issuer, authorization_endpoint, "
                             "token_endpoint and jwks_uri")
        bad = [alg for alg in self.id_token_signed_response_algs if alg not in ASYMMETRIC_ALGS]
        if bad or not self.id_token_signed_response_algs:
            raise ValueError("id_token_signed_response_algs must list asymmetric algorithms "
                             f"({', '.join(sorted(ASYMMETRIC_ALGS))})")
        return self

    @property
    def expected_issuer(self) -> str:
        if self.issuer:
            return self.issuer
        assert self.discovery_url is not None
        return self.discovery_url.removesuffix(DISCOVERY_SUFFIX)


class OIDCConnector(ConnectorCore):
    strategy: ClassVar[str] = "oidc"
    is_social: ClassVar[bool] = False
    namespaced_user_id: ClassVar[bool] = True
    Options: ClassVar[type[OIDCOptions]] = OIDCOptions
    default_scope: ClassVar[str] = "openid profile email"

    options: OIDCOptions

    def __init__(self, *, name: str, options: OIDCOptions, client_secret: str | None,
                 http: httpx.AsyncClient, policy: UpstreamPolicy) -> None:
        super().__init__(name=name, options=options, client_secret=client_secret, http=http,
                         policy=policy)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: JwksCache | None = None

    # --- configuration ---------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        fresh = time.monotonic() - self._metadata_at < METADATA_TTL_S
        if self._metadata is not None and fresh:
            return self._metadata
        meta: dict[str, Any] = {}
        if self.options.discovery_url:
            url = self.policy.check_url(self.options.discovery_url, "options.discovery_url")
            meta = await request_json(self.http, "GET", url, what="discovery",
                                      timeout=self.policy.timeout_s)
            if meta.get("issuer") != self.options.expected_issuer:
                # OIDC Discovery §4.3: the issuer must be exactly the one we asked about.
                raise UpstreamProtocolError(detail="discovery: issuer mismatch")
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                    "jwks_uri"):
            explicit = getattr(self.options, key)
            if explicit:
                meta[key] = explicit
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(meta.get(key), str):
                raise UpstreamProtocolError(detail=f"discovery: no {key}")
            self.policy.check_url(meta[key], key)
        if meta.get("userinfo_endpoint"):
            self.policy.check_url(meta["userinfo_endpoint"], "userinfo_endpoint")
        if self._jwks is None or self._jwks.jwks_uri != meta["jwks_uri"]:
            self._jwks = JwksCache(meta["jwks_uri"], self.policy.timeout_s)
        self._metadata, self._metadata_at = meta, time.monotonic()
        return meta

    def _auth_method(self, meta: dict[str, Any]) -> str:
        if self.options.token_endpoint_auth_method:
            return self.options.token_endpoint_auth_method
        supported = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"

    def scopes(self, extra: list[str]) -> list[str]:
        """The scopes asked of the upstream for one login (``connection_scope`` adds ``extra``)."""
        scopes = ["openid", *self.options.scopes(self.default_scope), *extra]
        return list(dict.fromkeys(scopes))

    # --- the trip upstream -----------------------------------------------------------------

    async def authorization_url(self, request: UpstreamAuthorization) -> str:
        meta = await self.metadata()
        params = {
            **upstream_params(self.options, request.request_params),
            "response_type": "code",
            "client_id": self.options.client_id,
            "redirect_uri": request.callback_url,
            "scope": " ".join(self.scopes(request.extra_scopes)),
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": s256(request.code_verifier),
            "code_challenge_method": "S256",
        }
        if request.request_params.get("prompt") == "login":
            params["prompt"] = "login"
        endpoint = meta["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    async def complete(self, callback: UpstreamCallback) -> UpstreamLogin:
        meta = await self.metadata()
        params = callback.params
        check_authorization_response(params, meta)
        body = await self._redeem(meta, params["code"], callback)
        tokens = token_set(body)
        if not isinstance(body.get("id_token"), str):
            raise UpstreamProtocolError(detail="token: no id_token")
        claims = await self.verify_id_token(body["id_token"], meta, callback.nonce)
        if meta.get("userinfo_endpoint") and tokens.access_token:
            userinfo = await request_json(
                self.http, "GET", meta["userinfo_endpoint"], what="userinfo",
                timeout=self.policy.timeout_s,
                headers={"Authorization": f"Bearer {tokens.access_token}"})
            if userinfo.get("sub") != claims["sub"]:
                raise UpstreamProtocolError(detail="userinfo: sub differs from the id_token")
            claims = {**claims, **userinfo}
        return UpstreamLogin(issuer=meta["issuer"], subject=claims["sub"],
                             profile=profile_from_claims(claims), tokens=tokens)

    async def _redeem(self, meta: dict[str, Any], code: str,
                      callback: UpstreamCallback) -> dict[str, Any]:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": callback.callback_url, "code_verifier": callback.code_verifier}
        auth = client_auth(self._auth_method(meta), self.options.client_id, self.client_secret, data)
        return await request_json(self.http, "POST", meta["token_endpoint"], what="token",
                                  timeout=self.policy.timeout_s, data=data, auth=auth)

    async def verify_id_token(self, token: str, meta: dict[str, Any], nonce: str) -> dict[str, Any]:
        allowed = self.options.id_token_signed_response_algs
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise UpstreamProtocolError(detail="id_token: not a compact JWS") from exc
        if header.get("alg") not in allowed or "crit" in header:
            raise UpstreamProtocolError(detail=f"id_token: alg {header.get('alg')!r} not allowed")
        assert self._jwks is not None
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        key = await self._jwks.key_for(self.http, kid)
        try:
            claims = jwt.decode(token, key, algorithms=allowed).claims
        except (JoseError, ValueError) as exc:
            raise UpstreamProtocolError(detail="id_token: bad signature") from exc
        check_id_token_claims(claims, issuer=meta["issuer"], client_id=self.options.client_id,
                              nonce=nonce)
        return claims


def check_authorization_response(params: Any, meta: dict[str, Any]) -> None:
    error = params.get("error")
    if error:
        if error == "temporarily_unavailable":
            raise UpstreamUnavailable(detail="authorize: temporarily_unavailable")
        raise UpstreamDenied(detail=f"authorize: error={str(error)[:64]!r}")
    iss = params.get("iss")
    if iss is not None and iss != meta["issuer"]:
        raise UpstreamProtocolError(detail="authorize: iss mismatch (mix-up)")
    if iss is None and meta.get("authorization_response_iss_parameter_supported") is True:
        raise UpstreamProtocolError(detail="authorize: iss missing")
    if not params.get("code"):
        raise UpstreamProtocolError(detail="authorize: no code")


def check_id_token_claims(claims: dict[str, Any], *, issuer: str, client_id: str,
                          nonce: str) -> None:
    now = now_s()
    if claims.get("iss") != issuer:
        raise UpstreamProtocolError(detail="id_token: iss mismatch")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise UpstreamProtocolError(detail="id_token: aud mismatch")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise UpstreamProtocolError(detail="id_token: azp required with several audiences")
    if "azp" in claims and claims["azp"] != client_id:
        raise UpstreamProtocolError(detail="id_token: azp mismatch")
    sub, exp, iat = claims.get("sub"), claims.get("exp"), claims.get("iat")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise UpstreamProtocolError(detail="id_token: sub missing")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp + ID_TOKEN_LEEWAY_S < now:
        raise UpstreamProtocolError(detail="id_token: expired or exp missing")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or iat - ID_TOKEN_LEEWAY_S > now:
        raise UpstreamProtocolError(detail="id_token: iat missing or in the future")
    if claims.get("nonce") != nonce:
        raise UpstreamProtocolError(detail="id_token: nonce mismatch")


def token_set(body: dict[str, Any]) -> TokenSet:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamProtocolError(detail="token: no access_token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamProtocolError(detail="token: token_type is not Bearer")
    scope = body.get("scope")
    refresh = body.get("refresh_token")
    id_token = body.get("id_token")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        id_token=id_token if isinstance(id_token, str) else None,
        token_type="Bearer",
        expires_at=expires_at(body, now_s()),
        scope=scope.split() if isinstance(scope, str) else [],
    )


def validate_options(raw: dict[str, Any]) -> OIDCOptions:
    try:
        return OIDCOptions.model_validate(raw)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
