"""The misspellings list the tokenizer reads (no model needed)."""

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
