"""Reading a large JSON file one object at a time: a top-level array (Auth0's import format) or
newline-delimited objects (Auth0's export format), without holding the file in memory.

The stdlib decoder's ``raw_decode`` does the parsing (C speed); this module only feeds it
chunks and keeps track of where each value started (record index, line), so an error can name
the record it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

CHUNK = 1 << 20
# A single record larger than this is refused instead of buffering without bound.
MAX_RECORD_BYTES = 8 << 20
_WS = " \t\r\n"


class StreamError(ValueError):
    """The file is not a JSON array / ndjson stream; names the position it failed at."""

    def __init__(self, message: str, *, index: int, line: int) -> None:
        super().__init__(f"record {index} (line {line}): {message}")
        self.index, self.line = index, line


@dataclass(frozen=True, slots=True)
class Item:
    index: int  # 0-based position in the array / stream
    line: int  # 1-based line the value starts on
    value: Any
    offset: int  # characters consumed so far (for a progress bar)


class _Reader:
    def __init__(self, source: IO[str]) -> None:
        self.source = source
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.consumed = 0  # characters before buf[0]
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.source.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def skip_ws(self) -> str | None:
        """Skip whitespace; the next character (not consumed), or None at the end."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return None

    def value(self, decoder: json.JSONDecoder, index: int) -> Any:
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Possibly just cut off at the chunk's end: read more and retry.
                if len(self.buf) - self.pos > MAX_RECORD_BYTES:
                    raise StreamError(f"a record is larger than {MAX_RECORD_BYTES} bytes",
                                      index=index, line=self.line) from exc
                if self.fill():
                    continue
                at = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise StreamError(f"invalid JSON: {exc.msg} at line {at}", index=index,
                                  line=self.line) from exc
            if end == len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                # A bare number may continue in the next chunk.
                if self.fill():
                    continue
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return value


def read_records(source: IO[str]) -> Iterator[Item]:
    """Each top-level value of ``source``: the elements of one JSON array, or the values of a
    newline-delimited stream. Raises StreamError on malformed JSON (with its position)."""
    reader = _Reader(source)
    decoder = json.JSONDecoder()
    first = reader.skip_ws()
    if first is None:
        return
    if first != "[":
        yield from _ndjson(reader, decoder)
        return
    reader.pos += 1
    index = 0
    if reader.skip_ws() == "]":
        reader.pos += 1
    else:
        while True:
            line = reader.line
            value = reader.value(decoder, index)
            yield Item(index, line, value, reader.consumed + reader.pos)
            index += 1
            sep = reader.skip_ws()
            if sep == ",":
                reader.pos += 1
                if reader.skip_ws() in (None, "]"):
                    raise StreamError("expected a value after ','", index=index, line=reader.line)
                continue
            if sep == "]":
                reader.pos += 1
                break
            raise StreamError("expected ',' or ']' after a record" if sep else
                              "the array is not closed", index=index, line=reader.line)
    if reader.skip_ws() is not None:
        raise StreamError("unexpected data after the array", index=index, line=reader.line)


def _ndjson(reader: _Reader, decoder: json.JSONDecoder) -> Iterator[Item]:
    index = 0
    while reader.skip_ws() is not None:
        line = reader.line
        value = reader.value(decoder, index)
        yield Item(index, line, value, reader.consumed + reader.pos)
        index += 1
