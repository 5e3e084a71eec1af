"""API key secrets: generation and hashing.

Keys carry 256 random bits, so a fast hash (SHA-256) is as safe as a slow one here: nobody can
brute-force the preimage, and a slow KDF would only add latency to every request. The hash is
tagged with its algorithm (`sha256:`) so it can change later without ambiguity.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sy_"
# Shown in listings: enough to tell keys apart, far too little to guess the rest.
DISPLAY_CHARS = 10


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_CHARS]
