"""Jieba tokenization that reads residents' known misspellings as the words they meant.

The model learns words from examples; a typo it has never seen (「抵保咋个申情」 for
「低保咋个申请」) shares almost nothing with them. The pairs are a staff-edited list,
bot/lexicon/misspellings.yml. Only the tokens change: the message keeps the text as
typed (entities, the conversation), and since each misspelling is as long as its word,
every token keeps its position in that text.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


@functools.lru_cache(maxsize=4)
def load_misspellings(path: str) -> dict[str, str]:
    """Misspelling → word, longest first; refuses a pair that would move positions."""
    pairs = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["misspellings"]
    for wrong, right in pairs.items():
        if len(wrong) != len(right):
            raise ValueError(f"misspelling {wrong!r} and word {right!r} differ in length")
    return dict(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True))


def corrected(text: str, misspellings: dict[str, str]) -> str:
    for wrong, right in misspellings.items():
        text = text.replace(wrong, right)
    return text


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class SpellingJiebaTokenizer(JiebaTokenizer):
    """JiebaTokenizer (user dictionary and all) on the text with misspellings corrected."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**JiebaTokenizer.get_default_config(), "misspellings_path": None}

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        import jieba

        text = message.get(attribute)
        path = self._config["misspellings_path"]
        if path is not None:
            text = corrected(text, load_misspellings(path))
        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(text)]
        return self._apply_token_pattern(tokens)
