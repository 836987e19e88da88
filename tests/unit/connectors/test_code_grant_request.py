"""ConnectorCore.code_grant_request: the callback checked, then the token request's fields in
the order a provider documents them (connectors/base.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest

from idbroker.connectors.base import (
    ConnectorCore, ConnectorOptions, UpstreamCallback, UpstreamPolicy,
)
from idbroker.errors import ConfigurationError, UpstreamDenied, UpstreamProtocolError

CALLBACK_URL = "https://broker.example/login/callback"


class _Connector(ConnectorCore):
    strategy: ClassVar[str] = "example"


@pytest.fixture
async def connector() -> Any:
    async with httpx.AsyncClient() as http:
        yield _Connector(name="example", options=ConnectorOptions(client_id="app"),
                         client_secret=None, http=http,
                         policy=UpstreamPolicy(allow_insecure=False, timeout_s=5.0))


def callback(**params: str) -> UpstreamCallback:
    return UpstreamCallback(callback_url=CALLBACK_URL, params=params, nonce="n",
                            code_verifier="verifier")


def no_secret() -> str:
    raise ConfigurationError("options.client_secret is required for example")


def test_the_rfc_6749_fields_by_default(connector: Any) -> None:
    request = connector.code_grant_request(callback(code="c0de", state="s"))
    assert list(request.items()) == [("grant_type", "authorization_code"), ("code", "c0de"),
                                     ("redirect_uri", CALLBACK_URL)]


def test_fields_in_the_order_named_with_the_verifier_last(connector: Any) -> None:
    request = connector.code_grant_request(
        callback(code="c0de"), ("client_id", "redirect_uri", "client_secret", "code"),
        pkce=True, secret=lambda: "s3cret")
    assert list(request.items()) == [("client_id", "app"), ("redirect_uri", CALLBACK_URL),
                                     ("client_secret", "s3cret"), ("code", "c0de"),
                                     ("code_verifier", "verifier")]


def test_an_error_response_is_a_refusal_with_a_bounded_code(connector: Any) -> None:
    with pytest.raises(UpstreamDenied) as denied:
        connector.code_grant_request(callback(error="x" * 100, code="c0de"), secret=no_secret)
    assert denied.value.detail == f"authorize: error={'x' * 64!r}"


@pytest.mark.parametrize("params", [{}, {"code": ""}, {"error": "", "state": "s"}])
def test_no_code_is_a_protocol_error_before_the_secret_is_read(
        connector: Any, params: dict[str, str]) -> None:
    with pytest.raises(UpstreamProtocolError) as failed:
        connector.code_grant_request(callback(**params), ("code", "client_secret"),
                                     secret=no_secret)
    assert failed.value.detail == "authorize: no code"


def test_a_missing_secret_is_reported_once_the_callback_is_good(connector: Any) -> None:
    with pytest.raises(ConfigurationError):
        connector.code_grant_request(callback(code="c0de"), ("code", "client_secret"),
                                     secret=no_secret)
