"""The token endpoint's form parsing gives what parse_qsl gives, on its shortcut too."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idbroker.oauth.token_request import MAX_FIELDS, _form_pairs


@settings(max_examples=500)
@given(st.text(alphabet="ab=&%+2FfC3A9;xé\x00 ", max_size=60))
def test_form_pairs_are_parse_qsl(text: str) -> None:
    try:
        expected = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                             max_num_fields=MAX_FIELDS)
    except ValueError:
        with pytest.raises(ValueError):
            _form_pairs(text)
        return
    assert _form_pairs(text) == expected


@pytest.mark.parametrize("fields", [MAX_FIELDS, MAX_FIELDS + 1])
def test_the_field_limit_is_parse_qsls(fields: int) -> None:
    text = "&".join(f"k{n}=v" for n in range(fields))
    if fields > MAX_FIELDS:
        with pytest.raises(ValueError):
            _form_pairs(text)
    else:
        assert len(_form_pairs(text)) == fields
