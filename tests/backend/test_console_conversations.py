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
    assert len(texts) == BEFORE + AFTER + 2  # and the answer to the last question shown
    assert texts[0] == "问7" and texts[-2:] == ["问12", "答12"]


def test_a_conversation_without_resident_messages_shows_its_end() -> None:
    messages = messages_of(events(("bot", "您好", 1.0)))
    assert [m.text for m in around(messages, datetime.now(timezone.utc))] == ["您好"]


def test_the_excerpt_never_ends_on_a_question_without_its_answer() -> None:
    """A trial: the assistant's reply to the last message shown was left out."""
    turns = [("user", "问0", 0.0)]
    for index in range(1, 8):
        turns += [("user", f"问{index}", index * 10.0), ("bot", f"答{index}", index * 10.0 + 1)]
    turns.append(("bot", "答7还有", 72.0))
    messages = messages_of(events(*turns))
    excerpt = around(messages, datetime.fromtimestamp(40.0, timezone.utc))  # 问4
    assert [m.text for m in excerpt][-1] == "答6"
    end_of_talk = around(messages, datetime.fromtimestamp(70.0, timezone.utc))  # 问7
    assert [m.text for m in end_of_talk][-2:] == ["答7", "答7还有"]


def test_referrals_are_labelled_as_referrals_not_by_their_example_question() -> None:
    from backend.console.labels import OTHER_REFERRALS, REFERRAL, read_labels

    titles = {label.name: label.title for label in read_labels()}
    assert titles["out_of_scope/other"] == OTHER_REFERRALS
    referrals = [name for name in titles if name.startswith("out_of_scope/")]
    assert len(referrals) > 3
    assert all(titles[name].startswith(REFERRAL) for name in referrals)
    assert not titles["faq/subsistence_process"].startswith(REFERRAL)
