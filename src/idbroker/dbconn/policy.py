"""Auth0's password policies (the rules of its ``password-sheriff``), with the same rule codes
and messages, so Lock and auth0-js show the reason a password was refused.

Levels: none ≥1 character; low ≥6; fair ≥8 with lower case, upper case and digits; good ≥8
with 3 of the 4 classes (lower, upper, digits, special); excellent ≥10, 3 of 4, and no more
than 2 identical characters in a row. ``password_complexity_options.min_length`` replaces the
level's length. Every level also caps a password at MAX_PASSWORD_CHARS, which bounds the cost
of reading and hashing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from idbroker.dbconn.options import DatabaseOptions
from idbroker.errors import DatabaseConnectionError

MAX_PASSWORD_CHARS = 1024

_LENGTH = {"none": 1, "low": 6, "fair": 8, "good": 8, "excellent": 10}

_CLASSES = (
    ("lowerCase", "lower case letters (a-z)", re.compile(r"[a-z]")),
    ("upperCase", "upper case letters (A-Z)", re.compile(r"[A-Z]")),
    ("numbers", "numbers (i.e. 0-9)", re.compile(r"[0-9]")),
    ("specialCharacters", "special characters (e.g. !@#$%^&*)",
     re.compile(r"[ !\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]")),
)


def min_length(options: DatabaseOptions) -> int:
    return options.password_complexity_options.min_length or _LENGTH[options.policy]


@dataclass
class _Rule:
    body: dict[str, Any]
    lines: list[str]

    @property
    def verified(self) -> bool:
        return bool(self.body["verified"])


def _length_rule(password: str, length: int) -> _Rule:
    message = "At least %d characters in length"
    return _Rule({"message": message, "format": [length], "code": "lengthAtLeast",
                  "verified": len(password) >= length}, [message % length])


def _items(password: str, codes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"message": message, "code": code, "verified": bool(pattern.search(password))}
            for code, message, pattern in _CLASSES if code in codes]


def _contains_all_rule(password: str) -> _Rule:
    items = _items(password, ("lowerCase", "upperCase", "numbers"))
    return _Rule({"message": "Should contain:", "code": "shouldContain", "items": items,
                  "verified": all(i["verified"] for i in items)},
                 ["Should contain:", *(f" * {i['message']}" for i in items)])


def _contains_some_rule(password: str, needed: int) -> _Rule:
    items = _items(password, tuple(c for c, _, _ in _CLASSES))
    message = "Contain at least %d of the following %d types of characters:"
    return _Rule({"message": message, "format": [needed, len(items)], "code": "containsAtLeast",
                  "items": items, "verified": sum(i["verified"] for i in items) >= needed},
                 [message % (needed, len(items)), *(f" * {i['message']}" for i in items)])


def _identical_rule(password: str) -> _Rule:
    message = 'No more than %d identical characters in a row (e.g., "%s" not allowed)'
    return _Rule({"message": message, "format": [2, "aaa"], "code": "identicalChars",
                  "verified": re.search(r"(.)\1\1", password, re.DOTALL) is None},
                 [message % (2, "aaa")])


def _rules(password: str, options: DatabaseOptions) -> list[_Rule]:
    level = options.policy
    rules = [_length_rule(password, min_length(options))]
    if level == "fair":
        rules.append(_contains_all_rule(password))
    elif level in ("good", "excellent"):
        rules.append(_contains_some_rule(password, 3))
    if level == "excellent":
        rules.append(_identical_rule(password))
    return rules


def describe(options: DatabaseOptions) -> str:
    """The policy as text, as in Auth0's ``policy`` member: one "* rule" per line."""
    return "\n".join(f"* {line}" if not line.startswith(" ") else line
                     for rule in _rules("", options) for line in rule.lines)


def check(password: str, options: DatabaseOptions, *,
          personal: tuple[str | None, ...] = ()) -> None:
    """Raise Auth0's ``invalid_password`` (PasswordStrengthError) naming the rules that
    failed, or ``password_no_user_info_error`` when the connection forbids personal data."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise DatabaseConnectionError(
            f"Password is too long: at most {MAX_PASSWORD_CHARS} characters.",
            code="invalid_password", name="PasswordStrengthError")
    rules = _rules(password, options)
    if not all(rule.verified for rule in rules):
        raise DatabaseConnectionError(
            None, code="invalid_password", name="PasswordStrengthError",
            body={"message": "Password is too weak",
                  "description": {"rules": [r.body for r in rules], "verified": False},
                  "policy": describe(options)},
            detail="password refused by the connection's policy")
    if options.password_no_personal_info.enable and _has_personal_info(password, personal):
        raise DatabaseConnectionError(
            "Password contains user information", code="password_no_user_info_error",
            name="PasswordNoUserInfoError")


def _has_personal_info(password: str, personal: tuple[str | None, ...]) -> bool:
    lowered = password.lower()
    parts: set[str] = set()
    for value in personal:
        if not value:
            continue
        value = value.lower()
        parts.add(value)
        if "@" in value:
            parts.add(value.split("@", 1)[0])
        parts.update(w for w in re.split(r"[\s._\-+@]+", value) if w)
    # Very short fragments ("jo") would refuse too many honest passwords.
    return any(len(part) >= 3 and part in lowered for part in parts)
