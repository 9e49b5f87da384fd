"""The push signature and the freshness window, on their own: what a mutant of
connectors/wechat/signature.py would let through. Digests are written out by hand
(sha1 of the sorted parts, computed once with coreutils' sha1sum)."""

from __future__ import annotations

import pytest

from connectors.wechat.signature import is_fresh, sign, verify

# sha1("123abc") and sha1("1714036504abcnonce-1token") (sorted: "1714036504" < "abc"...).
SHA1_123ABC = "4be30d9814c6d4e9800e0d2ea9ec9fb00efa887b"
PARTS = ("token", "1714036504", "nonce-1", "abc")
SIGNATURE = "14b987bf083daa432c945bb4f4d5aa04bba5783c"
NOW = 1_714_036_504.0


def test_sign_is_sha1_of_the_sorted_concatenation() -> None:
    assert sign("abc", "123") == SHA1_123ABC
    assert sign("123", "abc") == SHA1_123ABC
    assert sign(*PARTS) == SIGNATURE


def test_the_whole_signature_verifies() -> None:
    assert verify(SIGNATURE, *PARTS)
    assert verify(SIGNATURE, *reversed(PARTS))


@pytest.mark.parametrize(
    "given",
    [
        SIGNATURE[:39],  # every prefix, down to one character
        SIGNATURE[:20],
        SIGNATURE[:1],
        SIGNATURE + "0",
        SIGNATURE[1:],
        SIGNATURE.upper(),
        " " + SIGNATURE,
        "",
        None,
        "\ud800" * 40,  # a lone surrogate: refused, not an error
        "签名" * 20,
    ],
)
def test_anything_but_the_whole_signature_is_refused(given: str | None) -> None:
    assert verify(given, *PARTS) is False


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [
        ("1714036504", True),
        ("1714036204", True),  # 300 s old
        ("1714036203", False),
        ("1714036804", True),  # 300 s ahead
        ("1714036805", False),
        ("001714036504", True),  # 12 characters: still a timestamp
        ("0001714036504", False),  # 13
        ("١٧١٤٠٣٦٥٠٤", False),  # Arabic-Indic digits are digits, but not ASCII
        ("17140365O4", False),  # a letter O
        (" 1714036504", False),
        ("", False),
        (None, False),
    ],
)
def test_freshness_window(timestamp: str | None, fresh: bool) -> None:
    assert is_fresh(timestamp, NOW, 300) is fresh
