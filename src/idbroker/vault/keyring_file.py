"""The vault key file: one base64url key per line, newest (sealing) key first, mode 0600.

Every change is written whole to a temporary file in the same directory, fsynced, and renamed
over the old one (then the directory is fsynced), so a crash leaves either the old ring or the
new one — never a torn file and never a ring without a key that data is sealed under.
"""

from __future__ import annotations

import os
from pathlib import Path

from idbroker.encoding import b64url_decode, b64url_encode
from idbroker.errors import ConfigurationError
from idbroker.vault.crypto import key_id_for


def decode_key(text: str, source: str) -> bytes:
    try:
        key = b64url_decode(text.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not base64url") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{source} must decode to 32 bytes")
    return key


def encode_key(key: bytes) -> str:
    return b64url_encode(key)


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def read_key_file(path: Path) -> list[bytes]:
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(
            f"the vault key file {path} must not be readable by others (chmod 600)")
    lines = path.read_text().splitlines()
    return [decode_key(line, str(path)) for line in lines if line.strip()]


class KeyFileRing(list[bytes]):
    """The keys of the key file, able to tell when the file has been replaced since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = _stamp(path)
        super().__init__(read_key_file(path))

    def reload_if_changed(self) -> list[bytes] | None:
        try:
            stamp = _stamp(self.path)
            if stamp == self._stamp:
                return None
            keys = read_key_file(self.path)
        except (OSError, ConfigurationError):
            # A file being replaced or made unreadable must not break a running process:
            # it keeps the ring it has.
            return None
        self._stamp = stamp
        return keys


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically and durably."""
    if not keys:
        raise ConfigurationError("refusing to write an empty vault key ring")
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, "".join(encode_key(k) + "\n" for k in keys).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def prepend_key(path: Path, key: bytes) -> list[bytes]:
    """Make ``key`` the sealing key, keeping every other key for opening; return the ring."""
    current = read_key_file(path)
    ring = [key] + [k for k in current if k != key]
    write_key_file(path, ring)
    return ring


def remove_key(path: Path, key_id: str) -> list[bytes]:
    current = read_key_file(path)
    ring = [k for k in current if key_id_for(k) != key_id]
    write_key_file(path, ring)
    return ring
