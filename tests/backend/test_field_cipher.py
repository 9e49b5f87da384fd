"""Encryption at rest and keyed hashes, pinned from outside: keyed hashes are the HMAC
values computed once with `openssl dgst -sha256 -hmac`, and tokens are read back with
plain Fernet keys, not through the class under test."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, InvalidToken

from backend.crypto import FieldCipher, constant_time_equals

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
HASH_KEY = "hash-key-0123456789"
# printf 'phone\x0013812345678' | openssl dgst -sha256 -hmac hash-key-0123456789
PHONE_HASH = "349376869395878c240e7d681a838c3e7bc23903a233eaf81a09e6b4f0c3a133"
ID_HASH = "9e23de78e091e2edccde06ff078d4ecae5128134de73c32ca51915e517b95552"


def test_keyed_hashes_are_hmac_sha256_of_purpose_nul_value() -> None:
    cipher = FieldCipher(NEW, HASH_KEY)
    assert cipher.keyed_hash("phone", "13812345678") == PHONE_HASH
    assert cipher.keyed_hash("id_number", "13812345678") == ID_HASH


def test_the_newest_key_encrypts_and_every_key_decrypts() -> None:
    cipher = FieldCipher(f" {NEW} , {OLD} ", HASH_KEY)
    token = cipher.encrypt("王秀英")
    assert token.isascii()
    assert Fernet(NEW.encode()).decrypt(token.encode()).decode() == "王秀英"
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(token.encode())
    old_token = Fernet(OLD.encode()).encrypt(b"13812345678").decode()
    assert cipher.decrypt(old_token) == "13812345678"


def test_rotation_moves_a_token_to_the_newest_key() -> None:
    old_token = FieldCipher(OLD, HASH_KEY).encrypt("510304196211081234")
    rotated = FieldCipher(f"{NEW},{OLD}", HASH_KEY).rotate(old_token)
    assert Fernet(NEW.encode()).decrypt(rotated.encode()) == b"510304196211081234"
    assert FieldCipher(NEW, HASH_KEY).decrypt(rotated) == "510304196211081234"


def test_json_is_stored_canonical_and_unescaped() -> None:
    cipher = FieldCipher(NEW, HASH_KEY)
    token = cipher.encrypt_json({"incident": "房子垮了", "household_size": 3})
    assert Fernet(NEW.encode()).decrypt(token.encode()).decode() == (
        '{"household_size": 3, "incident": "房子垮了"}'
    )
    assert cipher.decrypt_json(token) == {"household_size": 3, "incident": "房子垮了"}
    plain = Fernet(NEW.encode()).encrypt(json.dumps(["a", 1]).encode()).decode()
    assert cipher.decrypt_json(plain) == ["a", 1]


def test_a_token_of_another_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        FieldCipher(NEW, HASH_KEY).decrypt(FieldCipher(OLD, HASH_KEY).encrypt("x"))


def test_constant_time_equals() -> None:
    assert constant_time_equals("service-token", "service-token")
    assert not constant_time_equals("service-token", "service-toke")
    assert not constant_time_equals("service-token", "service-tokeN")
    assert constant_time_equals("令牌", "令牌")
    assert not constant_time_equals("令牌", "令")
