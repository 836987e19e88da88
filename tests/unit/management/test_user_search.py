"""The user-search parser (management/user_search.py): examples, and properties — it never fails
with anything but a 400, and what it parses is what was written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idbroker.errors import BadRequest
from idbroker.management.user_search import parse_query, parse_sort
from idbroker.vault.user_queries import All, Any_, Node, Not, Range, Sort, Term

JAN_1 = 1767225600000  # 2026-01-01T00:00:00Z
DAY = 86_400_000


@pytest.mark.parametrize(("q", "tree"), [
    ('email:"jane@example.com"', Term("email", "jane@example.com")),
    ("name:jan*", Term("name", "jan", prefix=True)),
    ("email:*", Term("email", None)),
    ('name:"jan*"', Term("name", "jan*")),
    ("name:jan\\*", Term("name", "jan*")),
    ("app_metadata.plan.tier:gold", Term("app_metadata", "gold", keys=("plan", "tier"))),
    ("user_metadata.a-b:1", Term("user_metadata", "1", keys=("a-b",))),
    ("blocked:true", Term("blocked", True)),
    ("logins_count:10", Term("logins_count", 10)),
    ("logins_count:[10 TO *]", Range("logins_count", 10, None)),
    ("logins_count:{1 TO 5}", Range("logins_count", 1, 5, False, False)),
    ("last_login:[2026-01-01 TO *]", Range("last_login", JAN_1, None)),
    ("last_login:[* TO 2026-01-01]", Range("last_login", None, JAN_1 + DAY, True, False)),
    ("created_at:{2026-01-01 TO *]", Range("created_at", JAN_1 + DAY, None)),
    ("created_at:2026-01-01", Range("created_at", JAN_1, JAN_1 + DAY, True, False)),
    ('created_at:"2026-01-01T00:00:00.000Z"', Range("created_at", JAN_1, JAN_1)),
    ("created_at:[2026-01-01T01:00:00+01:00 TO *]", Range("created_at", JAN_1, None)),
    ("email:a email:b", All((Term("email", "a"), Term("email", "b")))),
    ("email:a OR email:b AND NOT blocked:true",
     Any_((Term("email", "a"), All((Term("email", "b"), Not(Term("blocked", True))))))),
    ("(email:a || email:b) && -blocked:true",
     All((Any_((Term("email", "a"), Term("email", "b"))), Not(Term("blocked", True))))),
    ("!email:a", Not(Term("email", "a"))),
    ("  ", None), ("", None),
])
def test_examples(q: str, tree: Node | None) -> None:
    assert parse_query(q) == tree


@pytest.mark.parametrize("q", [
    "identities.access_token:x", "access_token:x", "refresh_token:*", "tokens_sealed:x",
    "email:", "email:*a", "email:a*b", "email:a?", "(email:a", "email:a)", "AND email:a",
    "email:a OR", 'email:"x', "name:[a TO b]", "blocked:yes", "logins_count:-1",
    "logins_count:[1 TO x]", "last_login:[2026-13-01 TO *]", "last_login:[2026 TO *]",
    "app_metadata:x", "app_metadata.a.b.c.d.e.f:1", "app_metadata.a$:1", "x:y:z", "*",
    "email:a\\", "logins_count:[1 2]", "NOT", "(" * 30 + "email:a" + ")" * 30,
    " ".join(["email:a"] * 100), "email:" + "a" * 600, "q" * 3000,
])
def test_refused(q: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_query(q)
    assert caught.value.error_code == "invalid_query_string"


def test_sort() -> None:
    assert parse_sort(None) == Sort("created_at", False)
    assert parse_sort("email:-1") == Sort("email", True)
    for bad in ("email", "email:0", "access_token:1", "identities.access_token:-1", ":1"):
        with pytest.raises(BadRequest):
            parse_sort(bad)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab:*"()[]{}\\ -!|&?TOANDRNemail_.$123')) |
               st.characters(), max_size=80))
def test_any_text_parses_or_is_a_400(q: str) -> None:
    try:
        parse_query(q)
    except BadRequest as exc:
        assert exc.error_code == "invalid_query_string"


# --- round trip: a tree written as q parses back to itself --------------------------------

VALUE = st.text(alphabet=st.sampled_from(list("aZ9 -_.%'\"\\*:()é|@")), min_size=1, max_size=8)
TEXT_FIELDS = ["email", "name", "nickname", "user_id", "identities.connection",
               "identities.provider"]


def _escape(value: str) -> str:
    return "".join(c if c.isalnum() else "\\" + c for c in value)


def render(node: Node) -> str:
    if isinstance(node, Term):
        field = ".".join((node.field, *node.keys))
        if node.value is None:
            return f"{field}:*"
        if isinstance(node.value, bool):
            return f"{field}:{'true' if node.value else 'false'}"
        if isinstance(node.value, int):
            return f"{field}:{node.value}"
        if node.prefix:
            return f"{field}:{_escape(node.value)}*"
        quoted = node.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{field}:"{quoted}"'
    if isinstance(node, Range):
        low = "*" if node.low is None else str(node.low)
        high = "*" if node.high is None else str(node.high)
        return (f"{node.field}:{'[' if node.low_inclusive else '{'}{low} TO {high}"
                f"{']' if node.high_inclusive else '}'}")
    if isinstance(node, Not):
        return f"NOT {render(node.item)}"
    joiner = " AND " if isinstance(node, All) else " OR "
    return "(" + joiner.join(render(n) for n in node.items) + ")"


def _text_term(field: str, value: str, prefix: bool) -> Term:
    if field.startswith("app_metadata"):
        return Term("app_metadata", value, prefix, keys=("plan",))
    return Term(field, value, prefix)


LEAVES = st.one_of(
    st.builds(_text_term, st.sampled_from(TEXT_FIELDS + ["app_metadata.plan"]), VALUE,
              st.booleans()),
    st.builds(Term, st.sampled_from(["email", "name"]), st.none()),
    st.builds(Term, st.sampled_from(["blocked", "email_verified"]), st.booleans()),
    st.builds(Term, st.just("logins_count"), st.integers(0, 10**6)),
    st.builds(Range, st.just("logins_count"), st.none() | st.integers(0, 99),
              st.none() | st.integers(0, 99), st.booleans(), st.booleans()),
)
TREES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.builds(All, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    st.builds(Any_, st.lists(inner, min_size=2, max_size=3).map(tuple))), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(TREES)
def test_round_trip(tree: Node) -> None:
    assert parse_query(render(tree)) == tree
