"""The ``q`` and ``sort`` parameters of ``GET /api/v2/users``: a documented subset of Auth0's
Lucene user-search syntax (docs/users.md), parsed into a small typed tree.

The parser only knows field *names* and value *types*; ``vault/user_queries.py`` compiles the
tree to SQL with bound parameters. Every field outside the list below — in particular every
IdP token field — is refused with the same message, so neither ``q`` nor ``sort`` can be used
to learn anything about a stored token.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from idbroker.errors import BadRequest
from idbroker.vault.user_queries import All, Any_, Node, Not, Range, Sort, Term

MAX_QUERY_CHARS = 2048
MAX_DEPTH = 16
MAX_CLAUSES = 64
MAX_VALUE_CHARS = 512
MAX_METADATA_DEPTH = 5

TEXT_FIELDS = ("email", "name", "nickname", "given_name", "family_name", "username", "user_id",
               "identities.connection", "identities.provider", "identities.user_id")
BOOL_FIELDS = ("email_verified", "blocked")
INT_FIELDS = ("logins_count",)
DATE_FIELDS = ("created_at", "updated_at", "last_login")
METADATA_ROOTS = ("app_metadata", "user_metadata")
# Fields searched by a term without a field name.
FREE_TEXT_FIELDS = ("email", "name", "nickname", "user_id")
SORT_FIELDS = ("email", "name", "nickname", "given_name", "family_name", "username", "user_id",
               "created_at", "updated_at", "last_login", "logins_count")

_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_FIELD_CHARS = re.compile(r"[A-Za-z0-9_.\-]+")
_DAY_MS = 86_400_000


def _refuse(message: str) -> BadRequest:
    return BadRequest(message, error_code="invalid_query_string")


def _metadata_path(field: str) -> tuple[str, tuple[str, ...]] | None:
    """``app_metadata.plan.tier`` → ("app_metadata", ("plan", "tier")); None when not metadata."""
    root, _, rest = field.partition(".")
    if root not in METADATA_ROOTS or not rest:
        return None
    keys = tuple(rest.split("."))
    if len(keys) > MAX_METADATA_DEPTH or not all(_KEY.fullmatch(k) for k in keys):
        raise _refuse("q: metadata keys are letters, digits, '_' and '-', at most 5 levels")
    return root, keys


# --- values ----------------------------------------------------------------------------------


def parse_date(text: str) -> tuple[int, bool]:
    """Epoch milliseconds, and whether only a day was given (which then means the whole day)."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return int(day.timestamp() * 1000), True
        stamp = datetime.fromisoformat(text)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return int(stamp.astimezone(timezone.utc).timestamp() * 1000 // 1), False
    except (ValueError, OverflowError) as exc:
        raise _refuse("q: dates are YYYY-MM-DD or ISO 8601 date-times") from exc


def _int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 2**31 - 1:
        raise _refuse("q: logins_count takes an integer from 0 to 2147483647")
    return int(text)


def _bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise _refuse("q: email_verified and blocked take true or false")
    return text == "true"


def _date_range(field: str, text: str) -> Range:
    start, whole_day = parse_date(text)
    if whole_day:
        return Range(field, start, start + _DAY_MS, True, False)
    return Range(field, start, start, True, True)


def make_term(field: str, raw: str | None, prefix: bool) -> Node:
    """A typed term for ``field``, or 400 for a field that cannot be searched."""
    path = _metadata_path(field)
    if field in TEXT_FIELDS or path is not None:
        if raw is not None and len(raw) > MAX_VALUE_CHARS:
            raise _refuse("q: a value is too long")
        if path is not None:
            return Term(path[0], raw, prefix, keys=path[1])
        return Term(field, raw, prefix)
    if field in BOOL_FIELDS + INT_FIELDS + DATE_FIELDS:
        if raw is None:
            return Term(field, None)
        if prefix:
            raise _refuse("q: '*' wildcards apply to text fields only")
        if field in BOOL_FIELDS:
            return Term(field, _bool(raw))
        if field in INT_FIELDS:
            return Term(field, _int(raw))
        return _date_range(field, raw)
    raise _refuse("q: unknown or unsearchable field; see the searchable fields in docs/users.md")


def make_range(field: str, low: str, high: str, low_inclusive: bool,
               high_inclusive: bool) -> Range:
    if field in INT_FIELDS:
        lo = None if low == "*" else _int(low)
        hi = None if high == "*" else _int(high)
        return Range(field, lo, hi, low_inclusive, high_inclusive)
    if field in DATE_FIELDS:
        lo_ms = hi_ms = None
        if low != "*":
            lo_ms, day = parse_date(low)
            if day and not low_inclusive:  # after the whole day
                lo_ms, low_inclusive = lo_ms + _DAY_MS, True
        if high != "*":
            hi_ms, day = parse_date(high)
            if day and high_inclusive:  # through the end of that day
                hi_ms, high_inclusive = hi_ms + _DAY_MS, False
        return Range(field, lo_ms, hi_ms, low_inclusive, high_inclusive)
    if field in TEXT_FIELDS + BOOL_FIELDS or _metadata_path(field) is not None:
        raise _refuse("q: ranges apply to logins_count, created_at, updated_at and last_login")
    raise _refuse("q: unknown or unsearchable field; see the searchable fields in docs/users.md")


# --- the parser ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the raw string: OR < AND (explicit or implied) < NOT < clause."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.clauses = 0

    def fail(self, what: str) -> BadRequest:
        return _refuse(f"q: {what} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek_word(self) -> str | None:
        """The operator at the cursor (AND, OR, NOT, &&, ||, !), if any."""
        self.skip()
        rest = self.text[self.pos:]
        for op in ("AND", "OR", "NOT"):
            if rest.startswith(op) and (len(rest) == len(op) or rest[len(op)] in " \t\r\n()"):
                return op
        for sym, op in (("&&", "AND"), ("||", "OR"), ("!", "NOT")):
            if rest.startswith(sym):
                return op
        return None

    def take_word(self, op: str) -> None:
        rest = self.text[self.pos:]
        self.pos += len(op) if rest.startswith(op) else {"AND": 2, "OR": 2, "NOT": 1}[op]

    def parse(self) -> Node:
        node = self.or_expr(0)
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected input")
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.peek_word() == "OR":
            self.take_word("OR")
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Any_(tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while True:
            op = self.peek_word()
            if op == "AND":
                self.take_word("AND")
            elif op == "OR" or self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            items.append(self.unary(depth))  # juxtaposition means AND
        return items[0] if len(items) == 1 else All(tuple(items))

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail("too deeply nested")
        op = self.peek_word()
        if op == "NOT":
            self.take_word("NOT")
            return Not(self.unary(depth + 1))
        if op is not None:
            raise self.fail(f"{op} without a left operand")
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of query")
        char = self.text[self.pos]
        if char == "-":
            self.pos += 1
            return Not(self.unary(depth + 1))
        if char == "(":
            self.pos += 1
            node = self.or_expr(depth + 1)
            self.skip()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise self.fail("missing ')'")
            self.pos += 1
            return node
        return self.clause()

    def clause(self) -> Node:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise self.fail("too many terms")
        match = _FIELD_CHARS.match(self.text, self.pos)
        if match and self.text.startswith(":", match.end()):
            field = match.group(0)
            self.pos = match.end() + 1
            return self.value_for(field)
        word = re.match(r'[^\s()"]*', self.text[self.pos:])
        if word and ":" in word.group(0).replace("\\:", ""):
            raise self.fail("invalid field name")
        value, wildcard = self.value()
        if value == "":
            raise self.fail("a term needs a value" if not wildcard else "a bare '*' needs a field")
        return Any_(tuple(Term(f, value, wildcard) for f in FREE_TEXT_FIELDS))

    def value_for(self, field: str) -> Node:
        if self.pos < len(self.text) and self.text[self.pos] in "[{":
            return self.range_for(field)
        value, wildcard = self.value()
        if value == "" and not wildcard:
            raise self.fail("missing value")
        if wildcard and value == "":
            return make_term(field, None, False)
        return make_term(field, value, wildcard)

    def value(self) -> tuple[str, bool]:
        """A quoted phrase or a bare word (backslash escapes), and whether it ended in an
        unescaped ``*``. A quoted phrase is always literal."""
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self.quoted(), False
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.fail("dangling escape")
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char in " \t\r\n()":
                break
            if char in '[]{}"':
                raise self.fail(f"unexpected {char!r}")
            if char == "*":
                self.pos += 1
                if self.pos < len(self.text) and self.text[self.pos] not in " \t\r\n)":
                    raise self.fail("only a trailing '*' wildcard is supported")
                return "".join(out), True
            if char == "?":
                raise self.fail("only a trailing '*' wildcard is supported")
            out.append(char)
            self.pos += 1
        return "".join(out), False

    def quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated quote")

    def bound(self) -> str:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in " \t\r\n]}":
            self.pos += 1
        if self.pos == start:
            raise self.fail("missing range bound")
        return self.text[start:self.pos]

    def range_for(self, field: str) -> Range:
        low_inclusive = self.text[self.pos] == "["
        self.pos += 1
        low = self.bound()
        self.skip()
        if not self.text.startswith("TO", self.pos):
            raise self.fail("expected TO in a range")
        self.pos += 2
        high = self.bound()
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] not in "]}":
            raise self.fail("missing ']' or '}'")
        high_inclusive = self.text[self.pos] == "]"
        self.pos += 1
        return make_range(field, low, high, low_inclusive, high_inclusive)


def parse_query(q: str | None) -> Node | None:
    """The tree for ``q``; None for an absent or blank query (every user)."""
    if q is None or not q.strip():
        return None
    if len(q) > MAX_QUERY_CHARS:
        raise _refuse(f"q: at most {MAX_QUERY_CHARS} characters")
    if "\x00" in q:
        raise _refuse("q: NUL characters are not allowed")
    return _Parser(q).parse()


def parse_sort(sort: str | None) -> Sort:
    """``field:1`` (ascending) or ``field:-1``; default ``created_at:1``."""
    if sort is None or sort == "":
        return Sort("created_at", False)
    field, sep, direction = sort.partition(":")
    if field not in SORT_FIELDS:
        raise _refuse("sort: unknown or unsortable field; see docs/users.md")
    if not sep or direction not in ("1", "-1"):
        raise _refuse("sort: use field:1 (ascending) or field:-1 (descending)")
    return Sort(field, direction == "-1")


def parse_search_engine(value: str | None) -> None:
    if value not in (None, "", "v2", "v3"):
        raise _refuse("search_engine must be v3")

