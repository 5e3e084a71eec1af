"""Secrets at rest: what a tenant gives shipyard to send with (webhook signing secrets, webhook
and notifier URLs — a Slack URL is nothing but a secret) is stored encrypted.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the keys in `SHIPYARD_SECRET_KEY`
(comma-separated: the first encrypts, all decrypt, so keys rotate without a migration). On the
embedded default without that setting a key is made once in `$SHIPYARD_HOME/secret.key` (mode
0600), which keeps secrets out of database copies and backups. With PostgreSQL a key file per
replica would not agree, so there the setting is the only source: without it values are stored
as given and `shipyard serve` warns. Sealed values carry the prefix `fernet:`; a value without it
is an older plaintext row and is read as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shipyard.errors import ConfigError, ShipyardError

PREFIX = "fernet:"
KEY_FILE = "secret.key"


class SecretUnreadable(ShipyardError):
    code, http_status = "secret_unreadable", 500


class SecretBox:
    """Seals and opens stored secrets; with no key it passes values through unchanged."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        try:
            fernets = [Fernet(key.strip().encode()) for key in keys if key.strip()]
        except ValueError:
            raise ConfigError(
                "SHIPYARD_SECRET_KEY: each key must be 32 url-safe base64-encoded bytes; make one with "
                "`shipyard secret-key`"
            ) from None
        self._fernet = MultiFernet(fernets) if fernets else None

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str) -> str:
        if self._fernet is None:
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str) -> str:
        """The plain value; `SecretUnreadable` when it was sealed with a key no longer configured."""
        if not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise SecretUnreadable("a stored secret is encrypted but SHIPYARD_SECRET_KEY is not set")
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret was encrypted with a key that is not in SHIPYARD_SECRET_KEY"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def home_key(home: Path) -> str:
    """The embedded default's key: read from `home/secret.key`, made (mode 0600) the first time."""
    path = home / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: another process never
    # reads a half-written key, and when two make one at once both end up using the same.
    temporary = home / f".{KEY_FILE}.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(new_key() + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()
