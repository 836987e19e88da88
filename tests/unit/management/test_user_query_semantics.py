"""The SQL that vault/user_queries.py compiles means what docs/users.md says: for random users
and random search trees, SQLite returns exactly the users a plain-Python reading of the rules
selects (NULL-safe NOT, prefix as "starts with", case-sensitive text, lower-cased email,
metadata compared as text, identities matched through their rows). The functional tests run a
fixed set of queries on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idbroker.vault import schema as t
from idbroker.vault.user_queries import All, Any_, Node, Not, Range, Term, compile_query

ALPHABET = ["a", "ab", "b", "A", "a%", "a_", "é", "ab'", ""]
USER_FIELDS = ("email", "name", "nickname", "user_id")


def _users() -> list[dict[str, Any]]:
    users = []
    for i in range(40):
        pick = ALPHABET[i % len(ALPHABET)]
        metadata: dict[str, Any] = {}
        if i % 4:
            metadata["plan"] = [pick, 1, True, False, "true"][i % 5]
        if i % 3 == 0:
            metadata["x"] = {"y": pick}
        users.append({
            "user_id": f"{pick}|{i:02d}",
            "email": None if i % 7 == 0 else f"{pick.lower()}{i % 3}@x.io",
            "name": None if i % 5 == 0 else ALPHABET[(i * 3) % len(ALPHABET)] + "n",
            "nickname": ALPHABET[(i * 5) % len(ALPHABET)],
            "blocked": i % 2 == 0, "email_verified": i % 3 == 1, "logins_count": i % 9,
            "last_login": None if i % 6 == 0 else i * 1000,
            "app_metadata": metadata,
            "connections": ["c1"] if i % 2 else ["c1", "c2"],
        })
    return users


USERS = _users()


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        for n, u in enumerate(USERS):
            conn.execute(t.users.insert().values(
                user_id=u["user_id"], email=u["email"], email_verified=u["email_verified"],
                name=u["name"], nickname=u["nickname"], extra={}, app_metadata=u["app_metadata"],
                user_metadata={}, blocked=u["blocked"], created_at=n, updated_at=n,
                last_login=u["last_login"], logins_count=u["logins_count"]))
            for c in u["connections"]:
                conn.execute(t.identities.insert().values(
                    id=f"idn{n}{c}", user_id=u["user_id"], connection_id=c, connection=c,
                    provider="oidc", issuer="i", subject=f"{n}{c}", idp_user_id=f"{c}|{n}",
                    is_social=False, profile_data={}, granted_scopes=[], token_status="none",
                    created_at=n, updated_at=n))
    yield engine
    engine.dispose()


def _text(value: Any) -> str | None:
    """How a metadata value reads as text (PostgreSQL's ->>)."""
    if value is None or isinstance(value, dict):
        return None if value is None else "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values(user: dict[str, Any], term: Term) -> list[str | None]:
    if term.field == "identities.connection":
        return list(user["connections"])
    if term.keys:
        value: Any = user["app_metadata"]
        for key in term.keys:
            value = value.get(key) if isinstance(value, dict) else None
        return [_text(value)]
    return [user[term.field]]


def matches(user: dict[str, Any], node: Node) -> bool:
    if isinstance(node, Not):
        return not matches(user, node.item)
    if isinstance(node, All):
        return all(matches(user, n) for n in node.items)
    if isinstance(node, Any_):
        return any(matches(user, n) for n in node.items)
    if isinstance(node, Range):
        value = user[node.field]
        if value is None:
            return False
        low_ok = node.low is None or (value >= node.low if node.low_inclusive
                                      else value > node.low)
        high_ok = node.high is None or (value <= node.high if node.high_inclusive
                                        else value < node.high)
        return low_ok and high_ok
    if node.field in ("blocked", "email_verified", "logins_count"):
        return user[node.field] is not None and (node.value is None
                                                 or user[node.field] == node.value)
    wanted = node.value.lower() if node.field == "email" and node.value else node.value
    for value in _values(user, node):
        if value is None:
            continue
        if wanted is None or (value.startswith(str(wanted)) if node.prefix else value == wanted):
            return True
    return False


WORD = st.sampled_from(ALPHABET[:-1] + ["a1", "n", "x.io", "true", "1"])
LEAVES = st.one_of(
    st.builds(Term, st.sampled_from(USER_FIELDS + ("identities.connection",)),
              WORD | st.none(), st.booleans()),
    st.builds(Term, st.just("app_metadata"), WORD | st.none(), st.booleans(),
              st.sampled_from([("plan",), ("x", "y")])),
    st.builds(Term, st.sampled_from(["blocked", "email_verified"]), st.booleans()),
    st.builds(Term, st.just("logins_count"), st.integers(0, 9)),
    st.builds(Range, st.sampled_from(["logins_count", "last_login"]),
              st.none() | st.integers(0, 9) | st.integers(0, 40_000),
              st.none() | st.integers(0, 9) | st.integers(0, 40_000), st.booleans(),
              st.booleans()),
)
TREES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.builds(All, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    st.builds(Any_, st.lists(inner, min_size=2, max_size=3).map(tuple))), max_leaves=6)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TREES)
def test_sql_selects_what_the_rules_say(engine: sa.Engine, tree: Node) -> None:
    expected = sorted(u["user_id"] for u in USERS if matches(u, tree))
    with engine.connect() as conn:
        found = sorted(conn.execute(sa.select(t.users.c.user_id).where(
            compile_query(tree, "sqlite"))).scalars())
    assert found == expected
