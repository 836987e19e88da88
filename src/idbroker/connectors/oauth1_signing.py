"""OAuth 1.0a request signing (RFC 5849 §3, HMAC-SHA1) for httpx, by Authlib.

Authlib's framework-free ``ClientAuth`` computes the signature base string and the
``Authorization: OAuth ...`` header; :class:`OAuth1Signer` applies it to an httpx request
without changing the request otherwise (Authlib's own httpx integration is deprecated in
favour of another HTTP library). A form body (``application/x-www-form-urlencoded``) and the
query string are part of the signature; any other body is not (RFC 5849 §3.4.1.3.1).
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from authlib.oauth1 import ClientAuth

FORM = "application/x-www-form-urlencoded"


class OAuth1Signer(httpx.Auth):
    """Sign with the consumer key/secret and, once there is one, the (request or access)
    token and its secret; ``callback`` and ``verifier`` go into the signed oauth_* set."""

    requires_request_body = True

    def __init__(self, consumer_key: str, consumer_secret: str, *, token: str | None = None,
                 token_secret: str | None = None, callback: str | None = None,
                 verifier: str | None = None) -> None:
        self._client = ClientAuth(consumer_key, consumer_secret, token=token,
                                  token_secret=token_secret, redirect_uri=callback,
                                  verifier=verifier)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        is_form = content_type == FORM and bool(request.content)
        headers = {"Content-Type": FORM} if is_form else {}
        _, signed, _ = self._client.prepare(request.method, str(request.url), headers,
                                            request.content.decode() if is_form else b"")
        request.headers["Authorization"] = signed["Authorization"]
        yield request
