"""Reading JSON request bodies within bounds: every malformed body is a 400, never a 500.

The size of a body is capped by the application (`client_max_size`, a 413); these
bounds keep what fits in it harmless: Python's parser recurses once per nesting level
(5,000 levels overflow the stack) and refuses to turn more than 4,300 digits into an
int. No request of the store needs more than these limits.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from backend.errors import ApiError

MAX_DEPTH = 8
# Larger integers lose precision in JavaScript clients and no field needs them.
MAX_NUMBER_DIGITS = 15
MAX_STRING_LENGTH = 4096

_STRUCTURE = re.compile(r'["\\\[\]{}]')
# A lone UTF-16 surrogate is a valid JSON escape (\ud800) but no character: it cannot be
# stored or encrypted. The widget's socket.io and signed REST integrations let one
# through; refused, a resident's question would be lost, so it becomes U+FFFD.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def invalid_json(message: str = "请求体不是有效的 JSON") -> ApiError:
    return ApiError(400, "invalid_json", message)


def parse_json_body(raw: bytes) -> Any:
    """The parsed body, or ApiError 400 `invalid_json` naming which bound it broke."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_json("请求体应为 UTF-8 编码的 JSON") from exc
    if _nesting_exceeds(text, MAX_DEPTH):
        raise invalid_json(f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）")
    try:
        value = json.loads(
            text, parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_constant
        )
    except ValueError as exc:  # JSONDecodeError included
        raise invalid_json() from exc
    if _has_long_string(value):
        raise invalid_json(f"JSON 文本过长（每项最多 {MAX_STRING_LENGTH} 个字符）")
    return _without_lone_surrogates(value)


def _without_lone_surrogates(value: Any) -> Any:
    """Recursion is safe here: the nesting was bounded before parsing."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key): _without_lone_surrogates(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets in strings ignored.

    A scan instead of a regular expression for strings: escaped quotes in an unterminated
    string would make one backtrack over the whole body from every quote.
    """
    depth, in_string, skip = 0, False, -1
    for match in _STRUCTURE.finditer(text):
        position, char = match.start(), match.group()
        if position == skip:
            continue
        if in_string:
            if char == "\\":
                skip = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError("integer too long")
    return int(literal)


def _bounded_float(literal: str) -> float:
    # Mantissa, sign, point and exponent: a few characters more than the digits.
    if len(literal) > MAX_NUMBER_DIGITS + 10:
        raise ValueError("number too long")
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _constant(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON")


def _has_long_string(value: Any) -> bool:
    """Recursion is safe here: the nesting was bounded before parsing."""
    if isinstance(value, str):
        return len(value) > MAX_STRING_LENGTH
    if isinstance(value, dict):
        return any(_has_long_string(key) or _has_long_string(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_long_string(item) for item in value)
    return False
