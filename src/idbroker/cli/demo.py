"""`idbroker demo`: the seed scenario on one machine, clickable in a browser.

Three servers in one process: idbroker (SQLite in ./.idbroker), a demo upstream OpenID
provider and a small sample app. The demo provider lives in memory, so its client secret and
the sample app's secrets are new on every start: nothing secret is written to disk in clear.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
import uvicorn

from idbroker.bootstrap import initialise
from idbroker.demo.sample_app import SampleAppConfig, create_sample_app
from idbroker.demo.upstream_idp import DEFAULT_DEMO_USERS, DemoClient, DemoIdpConfig, create_demo_idp
from idbroker.http.app import create_app
from idbroker.management import client_grants, clients, connections
from idbroker.runtime import Runtime
from idbroker.settings import Settings

IDP_PORT = 8001
APP_PORT = 3000
CONNECTION = "demo-idp"
SAMPLE_APP = "Demo single-page app"
VAULT_READER = "Demo backend (reads IdP tokens)"
PROFILE_READER = "Demo backend (profiles only)"


@dataclass
class DemoSetup:
    app_client_id: str  # the sample app: a single-page app, public (no secret)
    vault_reader: tuple[str, str]
    profile_reader: tuple[str, str]


async def _client_with_fresh_secret(rt: Runtime, name: str, body: dict) -> tuple[str, str]:
    for existing in await rt.store.list_clients():
        if existing.name == name:
            rotated = await clients.rotate_secret(rt.store, existing.client_id)
            return rotated["client_id"], rotated["client_secret"]
    created = await clients.create(rt.store, {"name": name, **body})
    return created["client_id"], created["client_secret"]


async def _spa_client(rt: Runtime, name: str, app_url: str) -> str:
    body = {"callbacks": [f"{app_url}/"], "allowed_logout_urls": [f"{app_url}/"],
            "web_origins": [app_url], "token_endpoint_auth_method": "none"}
    for existing in await rt.store.list_clients():
        if existing.name == name:
            return (await clients.update(rt.store, existing.client_id, body))["client_id"]
    return (await clients.create(rt.store, {"name": name, "app_type": "spa", **body}))["client_id"]


async def _m2m(rt: Runtime, name: str, scope: list[str]) -> tuple[str, str]:
    client_id, secret = await _client_with_fresh_secret(rt, name, {"app_type": "non_interactive"})
    existing = await rt.store.list_client_grants(client_id=client_id)
    if not existing:
        await client_grants.create(rt.store, rt.settings, {
            "client_id": client_id, "audience": rt.settings.management_audience, "scope": scope})
    return client_id, secret


async def prepare(settings: Settings, idp_url: str, idp_secret: str, app_url: str) -> DemoSetup:
    """Make the demo's clients and connection exist, with this run's secrets."""
    await initialise(settings)
    rt = await Runtime.start(settings)
    try:
        app_client_id = await _spa_client(rt, SAMPLE_APP, app_url)
        options = {"discovery_url": f"{idp_url}/.well-known/openid-configuration",
                   "client_id": "idbroker-demo", "client_secret": idp_secret,
                   "scope": "openid profile email offline_access"}
        found = await rt.store.get_connection_by_name(CONNECTION)
        if found is None:
            await connections.create(rt.store, rt.policy, {
                "name": CONNECTION, "display_name": "Demo IdP", "strategy": "oidc",
                "options": options, "enabled_clients": [app_client_id]})
        else:
            await connections.update(rt.store, rt.policy, found.id, {
                "options": options,
                "enabled_clients": sorted({*found.enabled_clients, app_client_id})})
        return DemoSetup(
            app_client_id=app_client_id,
            vault_reader=await _m2m(rt, VAULT_READER, ["read:users", "read:user_idp_tokens"]),
            profile_reader=await _m2m(rt, PROFILE_READER, ["read:users"]))
    finally:
        await rt.close()


async def _serve(host: str) -> None:
    settings = Settings(demo=True)
    problems = settings.production_problems()
    if problems:
        raise click.ClickException("the demo cannot run in production mode: " + "; ".join(problems))
    broker_port = urlsplit(settings.issuer).port or 80
    idp_url = f"http://{host}:{IDP_PORT}"
    app_url = f"http://{host}:{APP_PORT}"
    idp_secret = secrets.token_urlsafe(32)
    setup = await prepare(settings, idp_url, idp_secret, app_url)
    idp = create_demo_idp(DemoIdpConfig(
        issuer=idp_url, users=list(DEFAULT_DEMO_USERS),
        clients=[DemoClient("idbroker-demo", idp_secret, [f"{settings.issuer}login/callback"])]))
    sample = create_sample_app(SampleAppConfig(
        app_url=app_url, idbroker_issuer=settings.issuer, client_id=setup.app_client_id,
        connection=CONNECTION,
        mgmt_client_id=setup.vault_reader[0], mgmt_client_secret=setup.vault_reader[1],
        mgmt_reader_client_id=setup.profile_reader[0],
        mgmt_reader_client_secret=setup.profile_reader[1],
        provider_api_url=f"{idp_url}/api/me"))
    servers = [
        uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=broker_port,
                                      access_log=False, log_level="warning")),
        uvicorn.Server(uvicorn.Config(idp, host=host, port=IDP_PORT, access_log=False,
                                      log_level="warning")),
        uvicorn.Server(uvicorn.Config(sample, host=host, port=APP_PORT, access_log=False,
                                      log_level="warning")),
    ]
    click.echo(f"\n  idbroker      {settings.issuer}\n  demo IdP      {idp_url}/\n"
               f"  sample app    {app_url}/   <- open this in your browser\n\n"
               "  Demo users: alice, bob, carol (click one on the demo IdP's page). Ctrl-C stops.\n")
    await asyncio.gather(*(server.serve() for server in servers))


def run_demo(host: str) -> None:
    asyncio.run(_serve(host))
