"""Auth0's password policy levels, rule by rule."""

from __future__ import annotations

import pytest

from idbroker.dbconn.options import DatabaseOptions
from idbroker.dbconn.policy import MAX_PASSWORD_CHARS, check, describe
from idbroker.errors import DatabaseConnectionError


def _options(level: str | None, **extra: object) -> DatabaseOptions:
    return DatabaseOptions.model_validate({"passwordPolicy": level, **extra})


@pytest.mark.parametrize(("level", "accepted", "refused"), [
    (None, ["x"], [""]),
    ("none", ["x"], [""]),
    ("low", ["abcdef"], ["abcde"]),
    ("fair", ["abcDEF12"], ["abcdefgh", "abcDEFGH", "abcDE12", "ABCDEF12"]),
    ("good", ["abcDEF12", "abcdef1!", "ABCDEF1!"], ["abcdefg1", "abcdef!!", "aB1!"]),
    ("excellent", ["abcDEF12xy", "aaBBcc11!!"], ["abcDEF12x", "aaaBBB111x", "abcdefghij"]),
])
def test_each_level_accepts_and_refuses_as_auth0_does(level: str | None, accepted: list[str],
                                                     refused: list[str]) -> None:
    options = _options(level)
    for password in accepted:
        check(password, options)
    for password in refused:
        with pytest.raises(DatabaseConnectionError) as caught:
            check(password, options)
        assert caught.value.code == "invalid_password", password


def test_the_error_names_each_rule_and_whether_it_passed() -> None:
    with pytest.raises(DatabaseConnectionError) as caught:
        check("aaab", _options("excellent"))
    body = caught.value.body
    rules = {r["code"]: r for r in body["description"]["rules"]}
    assert set(rules) == {"lengthAtLeast", "containsAtLeast", "identicalChars"}
    assert rules["lengthAtLeast"]["format"] == [10] and not rules["lengthAtLeast"]["verified"]
    assert not rules["identicalChars"]["verified"]
    items = {i["code"]: i["verified"] for i in rules["containsAtLeast"]["items"]}
    assert items == {"lowerCase": True, "upperCase": False, "numbers": False,
                     "specialCharacters": False}
    assert body["policy"] == describe(_options("excellent"))
    assert "aaab" not in str(body)


def test_min_length_replaces_the_levels_length_and_long_passwords_are_capped() -> None:
    options = _options("low", password_complexity_options={"min_length": 12})
    check("abcdefghijkl", options)
    with pytest.raises(DatabaseConnectionError):
        check("abcdefghijk", options)
    check("a" * MAX_PASSWORD_CHARS, _options("none"))
    with pytest.raises(DatabaseConnectionError):
        check("a" * (MAX_PASSWORD_CHARS + 1), _options("none"))


def test_personal_information_is_refused_when_the_connection_says_so() -> None:
    options = _options("none", password_no_personal_info={"enable": True})
    with pytest.raises(DatabaseConnectionError) as caught:
        check("my-jane.doe-2024", options, personal=("jane.doe@example.com", None, "Jane Doe"))
    assert caught.value.code == "password_no_user_info_error"
    check("unrelated-words", options, personal=("jane.doe@example.com",))
    check("my-jane.doe-2024", _options("none"), personal=("jane.doe@example.com",))
