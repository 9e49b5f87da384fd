"""A run's workspace: the repository's data copied, the console's merged in, and the
manifest saying what the model is trained from."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.trainer.console_files import (
    BROKEN_CONSOLE_DATA,
    CONSOLE_DATA,
    EDITED_TEXT,
    EDITED_TOPIC,
    NEW_EXAMPLES,
)
from trainer import checks
from trainer.workspace import Workspace, prepare, remove, workspace_for

EDITED_FILE = Path("insurance") / "faq.yml"


def copy_of_repository(folder: Path) -> Path:
    """The inputs a model is trained from, in a folder of their own (no git)."""
    shutil.copytree(ROOT / "bot" / "data", folder / "bot" / "data")
    (folder / "bot" / "lexicon").mkdir(parents=True)
    shutil.copy(ROOT / "bot" / "lexicon" / "misspellings.yml", folder / "bot" / "lexicon")
    shutil.copy(ROOT / "domain.yml", folder)
    shutil.copy(ROOT / "config.yml", folder)
    return folder


@pytest.fixture
def space(tmp_path: Path) -> Workspace:
    return workspace_for(tmp_path / "training", 7)


def definitions(data: Path, name: str) -> list[tuple[Path, list[dict]]]:
    found = []
    for path in sorted(data.rglob("*.yml")):
        responses = checks.load(path).get("responses") or {}
        if name in responses:
            found.append((path.relative_to(data), responses[name]))
    return found


def test_the_workspace_holds_the_repository_data_and_the_console_file(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    assert space.folder.name == "run-7"
    assert space.console.read_text(encoding="utf-8") == CONSOLE_DATA
    assert space.domain.read_bytes() == (ROOT / "domain.yml").read_bytes()
    assert space.config.read_bytes() == (ROOT / "config.yml").read_bytes()
    assert space.models.is_dir()
    repository = sorted(
        p.relative_to(ROOT / "bot" / "data") for p in (ROOT / "bot/data").rglob("*")
    )
    copied = sorted(p.relative_to(space.data) for p in space.data.rglob("*"))
    assert set(copied) == set(repository) | {Path("console.yml")}


def test_an_edited_answer_replaces_the_repositorys(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    [(where, variations)] = definitions(space.data, f"utter_{EDITED_TOPIC}")
    assert where == Path("console.yml")
    assert variations[0]["text"] == EDITED_TEXT
    assert definitions(ROOT / "bot" / "data", f"utter_{EDITED_TOPIC}")[0][0] == EDITED_FILE


def without_answer(text: str, name: str) -> list[str]:
    """The file's lines without one response's block (up to the next response)."""
    lines = text.splitlines()
    start = lines.index(f"  {name}:")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("  utter_")), len(lines)
    )
    return lines[:start] + lines[end:]


def test_the_edited_file_keeps_everything_else(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    original = (ROOT / "bot" / "data" / EDITED_FILE).read_text(encoding="utf-8")
    rewritten = (space.data / EDITED_FILE).read_text(encoding="utf-8")
    # Only the answer's lines are gone: comments, quoting and layout stay as written.
    assert rewritten.splitlines() == without_answer(original, f"utter_{EDITED_TOPIC}")
    for path in (ROOT / "bot" / "data").rglob("*"):
        relative = path.relative_to(ROOT / "bot" / "data")
        if path.is_file() and relative != EDITED_FILE:
            assert (space.data / relative).read_bytes() == path.read_bytes(), relative


def test_console_examples_are_added_to_their_label(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    examples = checks.examples_by_label(checks.read_documents(space.data))
    repository = checks.examples_by_label(checks.read_documents(ROOT / "bot" / "data"))
    assert set(NEW_EXAMPLES) <= set(examples[EDITED_TOPIC])
    assert len(examples[EDITED_TOPIC]) == len(repository[EDITED_TOPIC]) + len(NEW_EXAMPLES)


def test_the_merged_data_passes_the_knowledge_base_checks(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    documents = [checks.load(space.domain), *checks.read_documents(space.data)]
    assert not checks.knowledge_base_problems(documents, checks.china_today())


def test_a_console_file_rasa_cannot_read_is_kept_for_validation_to_report(space: Workspace):
    prepare(ROOT, space, BROKEN_CONSOLE_DATA)
    assert space.console.read_text(encoding="utf-8") == BROKEN_CONSOLE_DATA
    assert f"utter_{EDITED_TOPIC}" in checks.load(space.data / EDITED_FILE)["responses"]


def test_the_manifest_names_the_commit_and_the_console_file(space: Workspace):
    manifest = prepare(ROOT, space, CONSOLE_DATA)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert manifest.git_commit == head
    assert manifest.console_digest == hashlib.sha256(CONSOLE_DATA.encode()).hexdigest()
    assert set(manifest.as_dict()) == {"git_commit", "git_dirty", "data_digest", "console_digest"}


def test_the_data_digest_follows_the_repository_data(tmp_path: Path, space: Workspace):
    root = copy_of_repository(tmp_path / "repository")
    first = prepare(root, space, CONSOLE_DATA)
    assert prepare(root, space, CONSOLE_DATA) == first
    # The console's data has a digest of its own; the repository's does not change with it.
    other_console = prepare(root, space, CONSOLE_DATA.replace(NEW_EXAMPLES[1], "养老保险咋个办"))
    assert other_console.data_digest == first.data_digest
    assert other_console.console_digest != first.console_digest

    faq = root / "bot" / "data" / "elderly" / "faq.yml"
    faq.write_text(faq.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    edited_data = prepare(root, space, CONSOLE_DATA)
    assert edited_data.data_digest != first.data_digest

    misspellings = root / "bot" / "lexicon" / "misspellings.yml"
    misspellings.write_text(misspellings.read_text(encoding="utf-8") + "  申清: 申请\n")
    assert prepare(root, space, CONSOLE_DATA).data_digest != edited_data.data_digest


def test_outside_git_the_commit_is_unknown_and_the_data_not_clean(tmp_path: Path, space: Workspace):
    manifest = prepare(copy_of_repository(tmp_path / "export"), space, CONSOLE_DATA)
    assert (manifest.git_commit, manifest.git_dirty) == (None, True)


def test_the_workspace_is_removed_after_the_run(space: Workspace):
    prepare(ROOT, space, CONSOLE_DATA)
    remove(space)
    assert not space.folder.exists()
