"""Fixtures for the provider catalog: the broker's HTTP client reaches the provider fakes on
the providers' real hostnames, and a driver runs a person's login through them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from idbroker.runtime import Runtime
from idbroker.settings import Settings
from tests.fakes.oidc_upstream import FakeOIDCUpstream
from tests.fakes.providers import discover_fakes
from tests.fakes.providers.base import FakeProvider
from tests.fakes.routing_transport import RoutingTransport
from tests.support import APP_CALLBACK, Broker, query_of

# One fake per catalog entry (tests/functional/providers/test_conformance.py checks that).
FAKES: dict[str, Any] = discover_fakes()


@pytest.fixture
def provider() -> FakeProvider:
    raise NotImplementedError("parametrise `provider` or override this fixture")


@pytest.fixture
async def runtime(settings: Settings, upstream: FakeOIDCUpstream,
                  provider: FakeProvider) -> AsyncIterator[Runtime]:
    routes: dict[str, Any] = {upstream.host: upstream.app}
    routes.update({host: provider.app for host in provider.hosts})
    http = httpx.AsyncClient(transport=RoutingTransport(routes))
    rt = await Runtime.start(settings, http=http)
    yield rt
    await rt.close()
    await http.aclose()


@dataclass
class Signed:
    app: dict[str, Any]
    redirect: dict[str, str]
    user_id: str | None = None


@dataclass
class Driver:
    broker: Broker
    fake: FakeProvider

    async def connection(self, app: dict[str, Any], **options: Any) -> dict[str, Any]:
        response = await self.broker.mgmt("POST", "connections", json={
            "name": self.fake.strategy, "strategy": self.fake.strategy,
            "enabled_clients": [app["client_id"]],
            "options": {**self.fake.connection_options(), **options}})
        assert response.status_code == 201, response.text
        return response.json()

    async def setup(self, **options: Any) -> dict[str, Any]:
        app = await self.broker.web_app()
        await self.connection(app, **options)
        return app

    async def login(self, app: dict[str, Any], **extra: str) -> dict[str, str]:
        """A person signs in through the provider; returns the app's callback parameters."""
        params, _, _ = self.broker.authorize_params(app, connection=self.fake.strategy, **extra)
        started = await self.broker.start(params)
        assert started.status_code == 302, started.text
        routes = {host: self.fake.app for host in self.fake.hosts}
        async with httpx.AsyncClient(transport=RoutingTransport(routes)) as browser:
            consent = await browser.get(started.headers["location"])
        if consent.status_code == 200 and "<form" in consent.text:
            # response_mode=form_post (Apple): the provider's page posts the result back.
            action, fields = posted_form(consent.text)
            back = await self.broker.http.post(action, data=fields)
        else:
            back = await self.broker.callback(consent)
        assert back.status_code == 302, back.text
        assert back.headers["location"].startswith(APP_CALLBACK)
        return query_of(back.headers["location"])

    async def reader(self) -> str:
        return await self.broker.mgmt_token(["read:users", "read:user_idp_tokens"])

    async def user(self, token: str) -> dict[str, Any]:
        user_id = self.fake.expected_profile()["user_id"]
        response = await self.broker.user(user_id, token)
        assert response.status_code == 200, response.text
        return response.json()

    def tokens_path(self) -> str:
        expected = self.fake.expected_profile()
        return (f"users/{quote(expected['user_id'], safe='')}/identities/{self.fake.strategy}/"
                f"{quote(expected['identity_user_id'], safe='')}/tokens")


def posted_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of an auto-submitting form_post page."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert action is not None, page
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
    return html.unescape(action.group(1)), {html.unescape(k): html.unescape(v)
                                            for k, v in fields}


@pytest.fixture
def driver(broker: Broker, provider: FakeProvider) -> Driver:
    return Driver(broker, provider)
