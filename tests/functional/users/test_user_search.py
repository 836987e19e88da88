"""GET /api/v2/users: search (``q``), sort, paging and field selection, against a seeded
population whose answers are computed independently in Python (``World.expect``).

The module shares one broker: every test only reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from idbroker.vault import schema as t
from tests.functional.users.conftest import create_user
from tests.support import Broker

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAMES = ["Jane Doe", "John Smith", "Jane Roe", "Zed", None, "Ann-Marie", "jane lower"]
PLANS = ["gold", "silver", None]
DAY = 86_400_000
BASE = int(datetime(2025, 12, 20, tzinfo=timezone.utc).timestamp() * 1000)
Seed = dict[str, Any]


def _seed(i: int) -> Seed:
    plan = PLANS[i % 3]
    app_metadata: dict[str, Any] = {"level": i % 5, "flag": i % 4 == 0}
    if plan:
        app_metadata["plan"] = plan
    return {
        "user_id": f"oidc|acme-oidc|u{i:02d}" if i % 6 else f"oidc|other-oidc|u{i:02d}",
        "subject": f"u{i:02d}", "connection": "acme-oidc" if i % 6 else "other-oidc",
        "email": None if i % 11 == 10 else f"user{i}@{'example.com' if i % 2 else 'test.org'}",
        "email_verified": i % 3 == 0, "name": NAMES[i % len(NAMES)],
        "nickname": f"nick{i:02d}", "blocked": i % 7 == 3,
        "app_metadata": app_metadata, "user_metadata": {"lang": "fr" if i % 5 == 1 else "en"},
        "logins_count": (i * 7) % 31,
        "last_login": None if i % 8 == 5 else BASE + (i - 12) * DAY,
        "created_at": BASE + i * DAY,
    }


@dataclass
class World:
    broker: Broker
    seeds: list[Seed]

    def expect(self, predicate: Callable[[Seed], bool]) -> list[str]:
        return sorted(s["user_id"] for s in self.seeds if predicate(s))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_broker: Broker) -> AsyncIterator[World]:
    broker = module_broker
    app = await broker.web_app()
    await broker.oidc_connection([app["client_id"]], name="acme-oidc")
    await broker.oidc_connection([app["client_id"]], name="other-oidc")
    seeds = [_seed(i) for i in range(34)]
    for seed in seeds:
        body = {k: seed[k] for k in ("email_verified", "nickname", "blocked", "app_metadata",
                                     "user_metadata") if seed[k] is not None}
        if seed["email"]:
            body["email"] = seed["email"]
        body["name"] = seed["name"] or seed["user_id"]
        seed["name"] = body["name"]
        await create_user(broker, connection=seed["connection"], user_id=seed["subject"], **body)
    # Login history cannot be created through the API: set it in the rows directly.
    async with broker.runtime.store.engine.begin() as conn:
        for seed in seeds:
            await conn.execute(t.users.update().where(t.users.c.user_id == seed["user_id"]).values(
                logins_count=seed["logins_count"], last_login=seed["last_login"],
                created_at=seed["created_at"]))
    yield World(broker, seeds)


async def _search(world: World, **params: str) -> list[str]:
    response = await world.broker.mgmt("GET", "users", params={"per_page": "100", **params})
    assert response.status_code == 200, (params, response.text)
    return sorted(u["user_id"] for u in response.json())


def _day(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


QUERIES: list[tuple[str, Callable[[Seed], bool]]] = [
    ('email:"user3@example.com"', lambda s: s["email"] == "user3@example.com"),
    ("email:USER3@EXAMPLE.COM", lambda s: s["email"] == "user3@example.com"),
    ("email:user1*", lambda s: (s["email"] or "").startswith("user1")),
    ("email:*", lambda s: s["email"] is not None),
    ('name:"Jane Doe"', lambda s: s["name"] == "Jane Doe"),
    ("name:Jane*", lambda s: s["name"].startswith("Jane")),
    ("name:jane*", lambda s: s["name"].startswith("jane")),
    ("name:Ann\\-Marie", lambda s: s["name"] == "Ann-Marie"),
    ("nickname:nick1*", lambda s: s["nickname"].startswith("nick1")),
    ('user_id:"oidc|acme-oidc|u05"', lambda s: s["user_id"] == "oidc|acme-oidc|u05"),
    ("user_id:oidc|other-oidc*", lambda s: s["connection"] == "other-oidc"),
    ("identities.connection:other-oidc", lambda s: s["connection"] == "other-oidc"),
    ('identities.connection:"acme-oidc"', lambda s: s["connection"] == "acme-oidc"),
    ("identities.provider:oidc", lambda s: True),
    ("identities.provider:github", lambda s: False),
    ("app_metadata.plan:gold", lambda s: s["app_metadata"].get("plan") == "gold"),
    ("app_metadata.flag:true", lambda s: s["app_metadata"]["flag"] is True),
    ("app_metadata.level:3", lambda s: s["app_metadata"]["level"] == 3),
    ("app_metadata.plan:sil*", lambda s: s["app_metadata"].get("plan") == "silver"),
    ("user_metadata.lang:fr", lambda s: s["user_metadata"]["lang"] == "fr"),
    ("email_verified:true", lambda s: s["email_verified"]),
    ("blocked:true", lambda s: s["blocked"]),
    ("logins_count:[10 TO *]", lambda s: s["logins_count"] >= 10),
    ("logins_count:{10 TO 20]", lambda s: 10 < s["logins_count"] <= 20),
    ("logins_count:7", lambda s: s["logins_count"] == 7),
    ("last_login:[2026-01-01 TO *]",
     lambda s: s["last_login"] is not None and s["last_login"] >= _day("2026-01-01")),
    ("last_login:[* TO 2025-12-25]",
     lambda s: s["last_login"] is not None and s["last_login"] < _day("2025-12-26")),
    ("created_at:[2025-12-25 TO 2025-12-31]",
     lambda s: _day("2025-12-25") <= s["created_at"] < _day("2026-01-01")),
    ("created_at:{2025-12-25 TO 2026-01-03}",
     lambda s: _day("2025-12-26") <= s["created_at"] < _day("2026-01-03")),
    ("created_at:2025-12-22", lambda s: s["created_at"] == _day("2025-12-22")),
    ("NOT blocked:true AND app_metadata.plan:gold",
     lambda s: not s["blocked"] and s["app_metadata"].get("plan") == "gold"),
    ("NOT app_metadata.plan:gold", lambda s: s["app_metadata"].get("plan") != "gold"),
    ("-email:user1*", lambda s: not (s["email"] or "").startswith("user1")),
    ("(app_metadata.plan:gold OR app_metadata.plan:silver) AND !email_verified:true",
     lambda s: s["app_metadata"].get("plan") in ("gold", "silver") and not s["email_verified"]),
    ("app_metadata.plan:gold email_verified:true",
     lambda s: s["app_metadata"].get("plan") == "gold" and s["email_verified"]),
    ("app_metadata.plan:gold || blocked:true && email_verified:true",
     lambda s: s["app_metadata"].get("plan") == "gold"
     or (s["blocked"] and s["email_verified"])),
    ("jane*", lambda s: s["name"].startswith("jane")),
    ("nick03", lambda s: s["nickname"] == "nick03"),
]


@pytest.mark.parametrize(("q", "predicate"), QUERIES, ids=[q for q, _ in QUERIES])
async def test_search_answers(world: World, q: str, predicate: Callable[[Seed], bool]) -> None:
    assert await _search(world, q=q, search_engine="v3") == world.expect(predicate)


async def test_connection_parameter_filters_like_identities_connection(world: World) -> None:
    found = await _search(world, connection="other-oidc", q="email_verified:true")
    assert found == world.expect(lambda s: s["connection"] == "other-oidc" and s["email_verified"])


SORTS = ["created_at", "email", "name", "nickname", "user_id", "logins_count", "last_login"]


def _sorted(world: World, field: str, descending: bool) -> list[str]:
    present = [s for s in world.seeds if s[field] is not None]
    absent = sorted((s for s in world.seeds if s[field] is None), key=lambda s: s["user_id"],
                    reverse=descending)
    ordered = sorted(present, key=lambda s: (s[field], s["user_id"]), reverse=descending)
    return [s["user_id"] for s in ordered + absent]


@pytest.mark.parametrize("field", SORTS)
@pytest.mark.parametrize("direction", ["1", "-1"])
async def test_paging_to_the_end_is_complete_stable_and_sorted(
        world: World, field: str, direction: str) -> None:
    """What the v6 pager does: page=0,1,2… until an empty ``users`` list."""
    seen: list[str] = []
    for number in range(20):
        response = await world.broker.mgmt("GET", "users", params={
            "page": str(number), "per_page": "7", "include_totals": "true",
            "sort": f"{field}:{direction}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"start", "limit", "length", "total", "users"}
        assert body["start"] == number * 7 and body["limit"] == 7
        assert body["total"] == len(world.seeds) and body["length"] == len(body["users"])
        if not body["users"]:
            break
        seen += [u["user_id"] for u in body["users"]]
    else:
        pytest.fail("paging never ended")
    assert seen == _sorted(world, field, direction == "-1")


async def test_default_shape_is_a_bare_array_and_fields_select(world: World) -> None:
    response = await world.broker.mgmt("GET", "users", params={"per_page": "3"})
    assert isinstance(response.json(), list) and len(response.json()) == 3
    assert response.headers["cache-control"] == "no-store"
    first = response.json()[0]
    assert first["user_id"] == _sorted(world, "created_at", False)[0]
    assert first["identities"][0]["provider"] == "oidc" and "created_at" in first
    picked = await world.broker.mgmt("GET", "users", params={
        "per_page": "3", "fields": "user_id,email", "include_fields": "true"})
    assert all(set(u) <= {"user_id", "email"} and "user_id" in u for u in picked.json())
    dropped = await world.broker.mgmt("GET", "users", params={
        "per_page": "3", "fields": "identities,app_metadata", "include_fields": "false"})
    assert all("identities" not in u and "app_metadata" not in u and "user_id" in u
               for u in dropped.json())
    beyond = await world.broker.mgmt("GET", "users", params={"page": "50", "per_page": "100",
                                                             "include_totals": "false"})
    assert beyond.json() == []


SECRET_FIELD_QUERIES = [
    "identities.access_token:x", "access_token:ya29*", "refresh_token:*",
    "identities.refresh_token:[a TO z]", "identities.access_token_secret:x",
    "tokens_sealed:x", "identities.tokens_sealed:*", "token_status:active",
    "identities.profileData.email:x", "last_ip:1.2.3.4", "unknown:1",
]


@pytest.mark.parametrize("q", SECRET_FIELD_QUERIES)
async def test_unknown_and_token_fields_are_refused_alike(world: World, q: str) -> None:
    """No oracle: searching a token field fails exactly as a made-up field does."""
    response = await world.broker.mgmt("GET", "users", params={"q": q})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400, "error": "Bad Request", "errorCode": "invalid_query_string",
        "message": "q: unknown or unsearchable field; see the searchable fields in docs/users.md"}


BAD_PARAMS = [
    {"sort": "identities.access_token:1"}, {"sort": "access_token:-1"}, {"sort": "email:2"},
    {"sort": "email"}, {"per_page": "101"}, {"per_page": "0"}, {"page": "-1"}, {"page": "x"},
    {"include_totals": "maybe"}, {"include_fields": "yes"}, {"search_engine": "v1"},
    {"q": "email:"}, {"q": "(email:a"}, {"q": "email:a)"}, {"q": "AND email:a"},
    {"q": 'email:"open'}, {"q": "email:*a"}, {"q": "email:a?c"}, {"q": "name:[a TO b]"},
    {"q": "logins_count:abc"}, {"q": "last_login:[yesterday TO *]"}, {"q": "blocked:maybe"},
    {"q": "logins_count:[1 2]"}, {"q": "app_metadata.a$b:1"}, {"q": "(" * 40 + "a:b"},
    {"q": "email:a " * 300}, {"fields": ",".join(f"f{i}" for i in range(60))},
]


@pytest.mark.parametrize("params", BAD_PARAMS, ids=[str(p)[:40] for p in BAD_PARAMS])
async def test_bad_parameters_are_400_invalid_query_string(world: World,
                                                           params: dict[str, str]) -> None:
    response = await world.broker.mgmt("GET", "users", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "invalid_query_string"


async def test_values_are_bound_parameters_not_sql(world: World) -> None:
    for q in ("name:\"x' OR '1'='1\"", "email:a%*", "email:_*", "name:\"Jane Doe\\\" OR 1=1\""):
        assert await _search(world, q=q) == []
    async with world.broker.runtime.store.engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(t.users))).scalar()
    assert count == len(world.seeds)


async def test_scope_required(world: World) -> None:
    weak = await world.broker.mgmt_token(["read:clients"])
    for path in ("users", "users-by-email?email=a@b.c"):
        response = await world.broker.mgmt("GET", path, token=weak)
        assert response.status_code == 403
