"""Static checks of the training data and the knowledge base (no model needed)."""

from __future__ import annotations

import datetime
from collections import Counter

import jieba
import pytest
import yaml

from connectors.wechat.menu import MENU_ITEMS
from tests.trainingdata import (
    DATA,
    ROOT,
    contract_labels,
    examples_by_label,
    load,
    plain,
    responses,
    yaml_files,
)

INTENTS, TOPICS, ENTITIES = contract_labels()
EXAMPLES = examples_by_label()
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
DICTIONARY = DATA / "dictionary"
MIN_EXAMPLES = 15


def test_contract_is_complete_in_domain_and_data():
    domain = load(ROOT / "domain.yml")
    assert set(INTENTS) <= set(domain["intents"])
    assert "faq" in domain["intents"]
    assert set(ENTITIES) <= set(domain["entities"])
    assert set(INTENTS + TOPICS) <= set(EXAMPLES), set(INTENTS + TOPICS) - set(EXAMPLES)


@pytest.mark.parametrize("label", INTENTS + TOPICS)
def test_every_label_has_enough_varied_examples(label):
    examples = [plain(e) for e in EXAMPLES[label]]
    minimum = 60 if label == "out_of_scope" else MIN_EXAMPLES
    assert len(set(examples)) >= minimum


def test_no_example_is_given_two_labels():
    owners: dict[str, set[str]] = {}
    for label, examples in EXAMPLES.items():
        for example in examples:
            owners.setdefault(plain(example), set()).add(label)
    clashes = {text: labels for text, labels in owners.items() if len(labels) > 1}
    assert not clashes


def test_every_entity_is_carried_by_inform_examples():
    inform = " ".join(EXAMPLES["inform"])
    for entity in ENTITIES:
        assert inform.count(f"({entity})") + inform.count(f'"{entity}"') >= 5, entity


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_one_reviewed_sourced_short_answer(topic):
    variations = responses()[f"utter_{topic}"]
    assert len(variations) == 1
    answer = variations[0]
    assert 0 < len(answer["text"]) <= 200
    metadata = answer["metadata"]
    assert metadata["source"].strip()
    reviewed = datetime.date.fromisoformat(str(metadata["reviewed"]))
    assert reviewed <= datetime.date.today()
    # The title is offered as a "did you mean" button, so it must lead back here.
    assert metadata["title"] in {plain(e) for e in EXAMPLES[topic]}


def test_every_button_payload_is_understood_as_training_data():
    known = {plain(e) for examples in EXAMPLES.values() for e in examples}
    payloads = {
        button["payload"]
        for variations in responses().values()
        for variation in variations
        for button in variation.get("buttons") or []
        if "{" not in button["payload"]  # filled from slots at run time
    }
    assert payloads, "no buttons found"
    assert not payloads - known
    assert not [p for p in payloads if p.startswith("/")]


def test_every_wechat_menu_key_is_understood_as_training_data():
    known = {plain(e) for examples in EXAMPLES.values() for e in examples}
    keys = {key for items in MENU_ITEMS.values() for _, key in items}
    assert not keys - known


def test_heldout_questions_are_never_training_examples():
    heldout = examples_by_label([HELDOUT])
    heldout_texts = {plain(e) for examples in heldout.values() for e in examples}
    training_texts = {plain(e) for examples in EXAMPLES.values() for e in examples}
    assert len(heldout_texts) >= 200
    assert set(heldout) == set(INTENTS + TOPICS)
    assert not heldout_texts & training_texts


def user_tokenizer() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    for path in sorted(DICTIONARY.iterdir()):
        tokenizer.load_userdict(str(path))
    return tokenizer


def test_every_township_name_is_in_the_user_dictionary():
    words = {line.split()[0] for line in (DICTIONARY / "userdict.txt").read_text().splitlines()}
    townships = yaml.safe_load((DATA / "core" / "townships.yml").read_text())
    lookup = next(block for block in townships["nlu"] if block.get("lookup") == "township")
    names = {line[2:] for line in lookup["examples"].splitlines() if line.startswith("- ")}
    assert len(names) >= 18
    assert names <= words


def test_entity_annotations_coincide_with_jieba_tokens():
    """Rasa only warns and drops an entity whose span cuts through a token."""
    from rasa.shared.nlu.training_data.loading import load_data

    tokenizer = user_tokenizer()
    misaligned = []
    for path in yaml_files():
        if "nlu" not in load(path):
            continue
        for message in load_data(str(path)).training_examples:
            tokens = list(tokenizer.tokenize(message.get("text")))
            starts = {start for _, start, _ in tokens}
            ends = {end for _, _, end in tokens}
            for entity in message.get("entities") or []:
                if entity["start"] not in starts or entity["end"] not in ends:
                    misaligned.append((message.get("text"), entity["entity"]))
    assert not misaligned


def test_no_example_is_repeated_within_a_label():
    for label, examples in EXAMPLES.items():
        repeated = [e for e, n in Counter(map(plain, examples)).items() if n > 1]
        assert not repeated, (label, repeated)


def test_no_example_is_wrapped_in_quotes():
    """Inside a YAML block scalar quotes are literal text the model would learn."""
    quoted = [
        e for examples in EXAMPLES.values() for e in examples if e[:1] in "'\"" and e[-1:] in "'\""
    ]
    assert not quoted
