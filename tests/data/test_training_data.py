"""Static checks of the training data and the knowledge base (no model needed)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import jieba
import pytest
import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

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
from trainer.checks import (
    MAX_ANSWER_CHARS,
    MAX_REFERRAL_CHARS,
    answer_problems,
    china_today,
    knowledge_base_problems,
    texts_under_several_labels,
    unanswered_labels,
)

INTENTS, TOPICS, ENTITIES = contract_labels()
EXAMPLES = examples_by_label()
HELDOUT_FILES = [
    ROOT / "tests" / "nlu" / "heldout.yml",
    ROOT / "tests" / "nlu" / "heldout_residents.yml",
]
# Messages residents reported misunderstood: held out too, but not a scored set.
REPORTED_FILE = ROOT / "tests" / "nlu" / "heldout_reported.yml"
MAX_EDITS = 2
DICTIONARY = DATA / "dictionary"
MIN_EXAMPLES = 15

# `out_of_scope` is a retrieval intent like `faq`: its examples are labelled
# `out_of_scope/<topic>` and each topic has a referral `utter_out_of_scope/<topic>`.
# The intent name the model predicts (and the contract names) stays `out_of_scope`.
REFERRALS = sorted(label for label in EXAMPLES if label.startswith("out_of_scope/"))
REFERRAL_TOPICS = {
    "hukou_transfer",
    "id_card",
    "vaccination",
    "marriage_registration",
    "electricity",
    "water_gas",
    "driving_licence",
    "passport",
    "housing_fund",
    "property_registration",
    "school_enrolment",
    "other",
}
MIN_REFERRAL_EXAMPLES = 12
# The only numbers a referral may give: national hotlines (and the 交管12123 app).
NATIONAL_NUMBERS = {"12345", "95598", "12329", "12123"}


def examples_of(label: str) -> list[str]:
    """Examples of a label; for a retrieval intent, those of all its sub-intents too."""
    return [
        example
        for name, examples in EXAMPLES.items()
        if name == label or name.startswith(f"{label}/")
        for example in examples
    ]


def test_contract_is_complete_in_domain_and_data():
    domain = load(ROOT / "domain.yml")
    assert set(INTENTS) <= set(domain["intents"])
    assert "faq" in domain["intents"]
    # An entry is a name, or {name: options} for one kept out of the dialogue state.
    entities = {
        entry if isinstance(entry, str) else next(iter(entry)) for entry in domain["entities"]
    }
    assert set(ENTITIES) <= entities
    labelled = set(EXAMPLES) | {name.split("/")[0] for name in EXAMPLES}
    assert set(INTENTS + TOPICS) <= labelled, set(INTENTS + TOPICS) - labelled


@pytest.mark.parametrize("label", INTENTS + TOPICS)
def test_every_label_has_enough_varied_examples(label):
    examples = [plain(e) for e in examples_of(label)]
    minimum = 60 if label == "out_of_scope" else MIN_EXAMPLES
    assert len(set(examples)) >= minimum


def test_no_example_is_given_two_labels():
    assert not texts_under_several_labels(EXAMPLES)


def test_every_retrieval_label_has_its_answer():
    assert not unanswered_labels(EXAMPLES, responses())


def test_the_training_worker_would_train_on_the_repository_data():
    """The worker refuses a run whose merged data breaks a rule: never the repository's."""
    documents = [load(ROOT / "domain.yml"), *map(load, yaml_files())]
    assert not knowledge_base_problems(documents, china_today())


def test_every_entity_is_carried_by_inform_examples():
    inform = " ".join(EXAMPLES["inform"])
    for entity in ENTITIES:
        assert inform.count(f"({entity})") + inform.count(f'"{entity}"') >= 5, entity


def check_one_reviewed_sourced_short_answer(topic: str, max_length: int) -> dict:
    name = f"utter_{topic}"
    variations = responses()[name]
    assert len(variations) == 1
    answer = variations[0]
    assert not answer_problems(name, answer, china_today(), max_length)
    # The title is offered as a "did you mean" button, so it must lead back here.
    assert answer["metadata"]["title"] in {plain(e) for e in EXAMPLES[topic]}
    return answer


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_one_reviewed_sourced_short_answer(topic):
    check_one_reviewed_sourced_short_answer(topic, MAX_ANSWER_CHARS)


def test_out_of_scope_is_a_retrieval_intent_with_the_referral_topics():
    assert {label.split("/", 1)[1] for label in REFERRALS} >= REFERRAL_TOPICS
    answers = {name for name in responses() if name.startswith("utter_out_of_scope/")}
    assert answers == {f"utter_{label}" for label in REFERRALS}
    # A plain utter_out_of_scope response would be dead text beside the retrieval action.
    assert "utter_out_of_scope" not in responses()


@pytest.mark.parametrize("topic", REFERRALS)
def test_every_referral_topic_has_enough_varied_examples(topic):
    assert len({plain(e) for e in EXAMPLES[topic]}) >= MIN_REFERRAL_EXAMPLES


@pytest.mark.parametrize("topic", REFERRALS)
def test_every_referral_is_reviewed_sourced_short_and_ends_with_12345(topic):
    answer = check_one_reviewed_sourced_short_answer(topic, MAX_REFERRAL_CHARS)
    text = answer["text"]
    # No invented local phone numbers: only national hotlines.
    assert set(re.findall(r"[0-9]{3,}", text)) <= NATIONAL_NUMBERS, text
    if topic != "out_of_scope/other":  # keeps the generic reply's wording and buttons
        last_sentence = [part for part in re.split(r"[。！？]", text) if part.strip()][-1]
        assert "12345" in last_sentence, text


def test_every_button_payload_is_understood_as_training_data():
    known = {plain(e) for examples in EXAMPLES.values() for e in examples}
    payloads = {
        button["payload"]
        for name, variations in responses().items()
        # A notice's buttons (the rating levels) are read by the store before Rasa.
        if not name.startswith("utter_notice_")
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


def comparable(text: str) -> str:
    """Text as a near-copy would be compared: width, case, punctuation and spaces gone."""
    text = unicodedata.normalize("NFKC", plain(text)).lower()
    return "".join(char for char in text if char.isalnum())


def too_close_to_training(texts: list[str]) -> list[tuple[str, str]]:
    """Held-out texts within 2 edits of a training example (a typo is not a new question)."""
    training = sorted({comparable(e) for examples in EXAMPLES.values() for e in examples})
    close = []
    for text in texts:
        match = process.extractOne(
            comparable(text), training, scorer=Levenshtein.distance, score_cutoff=MAX_EDITS
        )
        if match:
            close.append((text, match[0]))
    return close


@pytest.mark.parametrize("path", HELDOUT_FILES, ids=lambda p: p.name)
def test_heldout_questions_are_not_near_copies_of_training_examples(path):
    texts = [e for examples in examples_by_label([path]).values() for e in examples]
    assert len(texts) >= 300
    assert not too_close_to_training(texts)


def test_reported_messages_are_not_near_copies_of_training_examples():
    texts = [e for examples in examples_by_label([REPORTED_FILE]).values() for e in examples]
    assert texts
    assert not too_close_to_training(texts)


def test_the_heldout_files_cover_every_label_of_the_contract():
    labels = set()
    for path in HELDOUT_FILES:
        labels |= set(examples_by_label([path]))
    assert labels == set(INTENTS + TOPICS)


def test_near_copies_are_found_through_typos_punctuation_and_width():
    example = plain(next(iter(EXAMPLES["faq/subsistence_materials"])))
    variants = [example + "？", "  " + example.replace(example[1], "某", 1), example[:-1]]
    assert all(too_close_to_training([variant]) for variant in variants)


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


def emergency_pattern() -> re.Pattern[str]:
    regexes = load(DATA / "core" / "regexes.yml")["nlu"]
    block = next(block for block in regexes if block.get("regex") == "emergency")
    patterns = [line[2:] for line in block["examples"].splitlines() if line.startswith("- ")]
    assert len(patterns) == 1
    # As RegexEntityExtractor uses it: case_sensitive false, no word boundaries.
    return re.compile(patterns[0], flags=re.IGNORECASE)


@pytest.mark.parametrize(
    "text",
    [
        "屋头遭火烧了 啥子都莫得了 咋个办",
        "家里着火了 人没事 东西全烧了 怎么办",
        "昨晚上涨水把屋头淹了",
        "我老汉儿突然中风住院了 钱不够",
        "房子后墙裂了好宽的缝 怕要垮了",
        "后山滑坡把灶房埋了",
        "我老公前天突然去世了",
    ],
)
def test_emergency_regex_finds_emergencies(text):
    assert emergency_pattern().search(text)


@pytest.mark.parametrize(
    "text",
    [
        "医保报销住院",
        "住院能报销好多",
        "这几天河头会不会涨水",
        "上班受伤了咋办",
        "发烧了吃啥子药",
        "房子裂缝了算不算危房",
        "五保户过世了丧事哪个办",
        "得了癌症家里拖垮了 够得上低保不",
    ],
)
def test_emergency_regex_leaves_ordinary_questions_alone(text):
    assert not emergency_pattern().search(text)


def test_emergency_regex_hardly_matches_other_examples():
    """Only the apply intents describe emergencies; FAQ and referral examples must not look like one."""
    pattern = emergency_pattern()
    emergency_intents = {"apply_temporary_relief", "apply_housing_renovation"}
    matched = [
        (label, plain(example))
        for label, examples in EXAMPLES.items()
        if label not in emergency_intents
        for example in examples
        if pattern.search(plain(example))
    ]
    assert len(matched) <= 2, matched
    for intent, minimum in (("apply_temporary_relief", 40), ("apply_housing_renovation", 20)):
        found = [e for e in EXAMPLES[intent] if pattern.search(plain(e))]
        assert len(found) >= minimum, intent


def test_emergency_entity_is_annotated_where_the_regex_matches():
    """RegexEntityExtractor only keeps a regex whose name is an entity annotated in the data."""
    pattern = emergency_pattern()
    annotated = [
        (label, match.group(1))
        for label, examples in EXAMPLES.items()
        for example in examples
        for match in re.finditer(r"\[([^\]]+)\]\(emergency\)", example)
    ]
    assert annotated
    assert all(pattern.fullmatch(word) for _, word in annotated), annotated
    assert {label for label, _ in annotated} <= {
        "apply_temporary_relief",
        "apply_housing_renovation",
    }


# A yuan amount or a percentage in an answer (3600元, 400 元, 70%), which changes yearly.
FIGURE = re.compile(r"[0-9]+(?:\.[0-9]+)?\s*(?:元|万元|块|%|％)")
YEAR = re.compile(r"(?:19|20)[0-9]{2}")


def test_every_answer_quoting_a_figure_names_its_year():
    quoting = {
        name: variation["text"]
        for name, variations in responses().items()
        for variation in variations
        if FIGURE.search(unicodedata.normalize("NFKC", variation.get("text", "")))
    }
    assert quoting, "no answer quotes a figure: the check would prove nothing"
    assert not [name for name, text in quoting.items() if not YEAR.search(text)]
