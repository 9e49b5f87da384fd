"""Encryption at rest and keyed hashes of personal data."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, MultiFernet


class FieldCipher:
    """Encrypts personal fields and derives keyed hashes (blind indexes) for search.

    `encryption_keys` is one Fernet key or several separated by commas, newest first:
    the newest encrypts, any of them decrypts. The hash key cannot rotate this way (the
    stored hashes are compared, never decrypted).
    """

    def __init__(self, encryption_keys: str, hash_key: str) -> None:
        self._fernet = MultiFernet(
            [Fernet(key.strip().encode()) for key in encryption_keys.split(",")]
        )
        self._hash_key = hash_key.encode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode("ascii")).decode()

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))

    def rotate(self, token: str) -> str:
        """The same plaintext encrypted with the newest key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of a normalised value.

        The purpose separates domains: the same digits as a phone number and as part of
        something else must not produce comparable hashes.
        """
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
