"""Rasa's output as the run's log and percent: lines split wherever the pipe cuts them,
colours gone, and a progress bar logged once, in its final state."""

from __future__ import annotations

import pytest

from trainer.rasa_process import TrainingProgress, fragments, log_lines

BAR = "Epochs:  {percent}%|███       | {done}/40 [00:10<00:30,  1.0s/it, t_loss=3.1]"
TRAINING_OUTPUT = (
    "\x1b[0m2026-12-01 06:46:15 INFO  rasa.engine.training.hooks  - Restored component "
    "'SpellingJiebaTokenizer' from cache.\n"
    "2026-12-01 06:47:15 INFO  rasa.engine.training.hooks  - Starting to train component "
    "'DIETClassifier'.\n"
    + "".join("\r" + BAR.format(percent=done * 100 // 40, done=done) for done in range(0, 41, 10))
    + "\n2026-12-01 06:48:30 INFO  rasa.engine.training.hooks  - Finished training component "
    "'DIETClassifier'.\n"
    + "".join(f"\rProcessed trackers: {n}it [00:00, ?it/s, # examples={n}]" for n in range(50))
    + "\n\x1b[92mYour Rasa model is trained and saved at 'run-7.tar.gz'.\x1b[0m\n"
)


def chunked(text: str, size: int) -> list[bytes]:
    data = text.encode("utf-8")
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_fragments_are_the_same_however_the_output_arrives(size: int):
    expected = list(fragments(iter([TRAINING_OUTPUT.encode("utf-8")])))
    assert list(fragments(iter(chunked(TRAINING_OUTPUT, size)))) == expected


def test_each_progress_bar_is_logged_once_in_its_final_state():
    lines = list(log_lines(fragments(iter(chunked(TRAINING_OUTPUT, 5)))))
    bars = [line for line in lines if line.startswith("Epochs")]
    assert bars == [BAR.format(percent=100, done=40)]
    assert [line for line in lines if line.startswith("Processed")] == [
        "Processed trackers: 49it [00:00, ?it/s, # examples=49]"
    ]
    assert lines[-1] == "Your Rasa model is trained and saved at 'run-7.tar.gz'."
    assert not [line for line in lines if "\x1b" in line or "\r" in line]
    assert len(lines) == 6


def test_a_crlf_split_between_reads_is_one_line_end():
    assert list(fragments(iter([b"one\r", b"\ntwo\n"]))) == [
        ("one", "\n"),
        ("two", "\n"),
    ]


def test_chinese_cut_inside_a_character_survives():
    text = "训练数据校验没通过\n"
    assert list(fragments(iter(chunked(text, 2)))) == [("训练数据校验没通过", "\n")]


def test_the_percent_follows_components_and_epochs():
    progress = TrainingProgress(components=4)
    seen = []
    for text, _ in fragments(iter([TRAINING_OUTPUT.encode("utf-8")])):
        progress.feed(text)
        seen.append(progress.fraction)
    assert seen == sorted(seen)
    # One restored, DIET's 40 epochs and its end: two of four components.
    assert progress.fraction == 0.5
    assert 0.25 < max(f for f in seen if f < 0.5) <= 0.5


def test_the_percent_stops_short_of_the_end_until_the_model_is_written():
    progress = TrainingProgress(components=1)
    progress.feed("Finished training component 'TEDPolicy'.")
    assert progress.fraction == 0.99
