"""Jieba tokenization that reads residents' known misspellings as the words they meant.

The model learns words from examples; a typo it has never seen (「抵保咋个申情」 for
「低保咋个申请」) shares almost nothing with them. The pairs are a staff-edited list,
bot/lexicon/misspellings.yml. Only the tokens change: the message keeps the text as
typed (entities, the conversation), and since each misspelling is as long as its word,
every token keeps its position in that text.

The list and the user dictionary are stored in the model itself: a replica that pulls a
model from the model server tokenizes as the model was trained, whatever its own disk
holds, and the model's fingerprint changes when either file does (Rasa's cache would
otherwise reuse a tokenizer trained with the old words).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Inside the model's resource: the user dictionary's files, and the misspellings list.
DICTIONARY_FOLDER = "dictionary"
MISSPELLINGS_FILE = "misspellings.yml"


@functools.lru_cache(maxsize=4)
def load_misspellings(path: str) -> dict[str, str]:
    """The list on disk (training); read once per process."""
    return parse_misspellings(Path(path).read_text(encoding="utf-8"))


def parse_misspellings(document: str) -> dict[str, str]:
    """Misspelling → word, longest first; refuses a pair that would move positions."""
    pairs = yaml.safe_load(document)["misspellings"]
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

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        misspellings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(config, model_storage, resource)
        path = config["misspellings_path"]
        if misspellings is None and path is not None:
            misspellings = load_misspellings(path)
        self._misspellings = misspellings or {}

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**JiebaTokenizer.get_default_config(), "misspellings_path": None}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The content of the dictionary and the list, not only their paths."""
        digest = hashlib.sha256()
        for path in _source_files(config):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def train(self, training_data: TrainingData) -> Resource:
        with self._model_storage.write_to(self._resource) as folder:
            dictionary = config_path(self._config, "dictionary_path")
            if dictionary is not None:
                shutil.copytree(dictionary, folder / DICTIONARY_FOLDER)
            misspellings = config_path(self._config, "misspellings_path")
            if misspellings is not None:
                shutil.copy2(misspellings, folder / MISSPELLINGS_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SpellingJiebaTokenizer:
        """The dictionary and the list stored in the model, never those on this disk."""
        with model_storage.read_from(resource) as folder:
            if (folder / DICTIONARY_FOLDER).is_dir():
                cls._load_custom_dictionary(str(folder / DICTIONARY_FOLDER))
            stored = folder / MISSPELLINGS_FILE
            misspellings = (
                parse_misspellings(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
            )
        return cls(config, model_storage, resource, misspellings)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        import jieba

        text = corrected(message.get(attribute), self._misspellings)
        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(text)]
        return self._apply_token_pattern(tokens)


def config_path(config: dict[str, Any], key: str) -> Path | None:
    value = config.get(key)
    return None if value is None else Path(value)


def _source_files(config: dict[str, Any]) -> list[Path]:
    dictionary = config_path(config, "dictionary_path")
    files = sorted(dictionary.iterdir()) if dictionary is not None else []
    misspellings = config_path(config, "misspellings_path")
    return files + ([misspellings] if misspellings is not None else [])
