"""Encryption at rest, keyed hashes and masking of personal data."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet


class FieldCipher:
    """Encrypts personal fields and derives keyed hashes (blind indexes) for search."""

    def __init__(self, encryption_key: str, hash_key: str) -> None:
        self._fernet = Fernet(encryption_key.encode())
        self._hash_key = hash_key.encode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode("ascii")).decode()

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of a normalised value.

        The purpose separates domains: the same digits as a phone number and as part of
        something else must not produce comparable hashes.
        """
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
