"""The conversation around a captured question, as staff see it (masked, in order)."""

from __future__ import annotations

from datetime import datetime, timezone

from backend.console.conversations import AFTER, BEFORE, around, messages_of

ID_NUMBER = "510304195503120042"


def events(*turns: tuple[str, str, float]) -> list[dict]:
    return [{"event": kind, "text": text, "timestamp": at} for kind, text, at in turns]


def test_only_what_was_said_is_shown_masked() -> None:
    messages = messages_of(
        events(("user", f"我的身份证{ID_NUMBER}", 10), ("bot", "收到", 11))
        + [{"event": "action", "name": "action_listen", "timestamp": 12}, {"event": "user"}]
    )
    assert [(m.from_resident, m.text) for m in messages] == [
        (True, "我的身份证5103**********0042"),
        (False, "收到"),
    ]


def test_the_excerpt_is_centred_on_the_residents_message_nearest_the_moment() -> None:
    turns = []
    for index in range(20):
        turns.append(("user", f"问{index}", index * 10.0))
        turns.append(("bot", f"答{index}", index * 10.0 + 1))
    messages = messages_of(events(*turns))
    moment = datetime.fromtimestamp(100.4, timezone.utc)  # 问10
    excerpt = around(messages, moment)
    texts = [message.text for message in excerpt]
    assert texts[BEFORE] == "问10"
    assert len(texts) == BEFORE + AFTER + 1
    assert texts[0] == "问7" and texts[-1] == "问12"


def test_a_conversation_without_resident_messages_shows_its_end() -> None:
    messages = messages_of(events(("bot", "您好", 1.0)))
    assert [m.text for m in around(messages, datetime.now(timezone.utc))] == ["您好"]
