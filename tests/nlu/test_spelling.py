"""The misspellings list the tokenizer reads, and the copy each model carries."""

from __future__ import annotations

import jieba
import pytest
import yaml

from bot.nlu.tokenizer import corrected, load_misspellings
from tests.conftest import ROOT

MISSPELLINGS = ROOT / "bot" / "lexicon" / "misspellings.yml"


def test_the_pipeline_reads_the_list():
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    tokenizer = config["pipeline"][0]
    assert tokenizer["name"] == "bot.nlu.tokenizer.SpellingJiebaTokenizer"
    assert (ROOT / tokenizer["misspellings_path"]) == MISSPELLINGS


def test_a_misspelt_question_reads_as_the_words_meant():
    assert corrected("抵保咋个申情", load_misspellings(str(MISSPELLINGS))) == "低保咋个申请"


@pytest.mark.parametrize("wrong, right", load_misspellings(str(MISSPELLINGS)).items())
def test_every_misspelling_keeps_positions_and_is_no_word_of_its_own(wrong, right):
    assert len(wrong) == len(right)
    jieba.dt.initialize()
    assert not jieba.dt.FREQ.get(wrong) and jieba.dt.FREQ.get(right) is not None


def test_a_pair_that_would_move_positions_is_refused(tmp_path):
    path = tmp_path / "misspellings.yml"
    path.write_text("misspellings:\n  老年正证: 老年证\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_misspellings(str(path))


def test_a_model_tokenizes_with_the_list_it_was_trained_with(model_path, monkeypatch):
    """A replica pulls models from the model server: its own disk's list may be older or
    missing, and must not be read."""
    from rasa.core.agent import Agent

    import bot.nlu.tokenizer as tokenizer

    def disk_is_not_read(path: str) -> dict[str, str]:
        raise AssertionError(f"read {path} from disk")

    monkeypatch.setattr(tokenizer, "load_misspellings", disk_is_not_read)
    agent = Agent.load(str(model_path))
    component = next(
        node
        for node in agent.processor.graph_runner._instantiated_nodes.values()
        if isinstance(getattr(node, "_component", None), tokenizer.SpellingJiebaTokenizer)
    )._component
    from rasa.shared.nlu.training_data.message import Message

    tokens = component.tokenize(Message(data={"text": "抵保咋个申情"}), "text")
    assert "低保" in [token.text for token in tokens]


def test_the_models_fingerprint_follows_the_lists_content(tmp_path):
    from bot.nlu.tokenizer import SpellingJiebaTokenizer

    listing = tmp_path / "misspellings.yml"
    listing.write_text("misspellings:\n  抵保: 低保\n", encoding="utf-8")
    config = {"dictionary_path": str(ROOT / "bot" / "data" / "dictionary"),
              "misspellings_path": str(listing)}  # fmt: skip
    before = SpellingJiebaTokenizer.fingerprint_addon(config)
    listing.write_text("misspellings:\n  抵保: 低保\n  申情: 申请\n", encoding="utf-8")
    assert SpellingJiebaTokenizer.fingerprint_addon(config) != before
