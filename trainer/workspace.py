"""A run's workspace: the repository's training data as it was when the run started,
merged with the console's file, and the manifest that says what went into the model.

Layout of var/training/run-<id>/:
    data/            a copy of bot/data, plus data/console.yml (the run's console_data)
    domain.yml       copies of the repository's
    config.yml
    models/          where rasa train writes run-<id>.tar.gz

The config is copied unchanged: its dictionary and misspellings paths are relative to
the repository root, so rasa runs there with --data/--domain/--config pointing here. A
changed path would also change every component's fingerprint and cost Rasa's training
cache, which `make train` and the worker share.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelError

CONSOLE_FILE = "console.yml"
DATA_DIGEST_FILES = ("domain.yml", "config.yml", "bot/lexicon/misspellings.yml")
# What a model is trained from, for `git status`: the data, and the lexicon the tokenizer reads.
TRACKED_INPUTS = ("bot/data", "domain.yml", "config.yml", "bot/lexicon")


@dataclass(frozen=True)
class Manifest:
    """The contract's data manifest, sent with the model (X-Data-Manifest)."""

    git_commit: str | None
    git_dirty: bool
    data_digest: str
    console_digest: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Workspace:
    folder: Path
    run_id: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def domain(self) -> Path:
        return self.folder / "domain.yml"

    @property
    def config(self) -> Path:
        return self.folder / "config.yml"

    @property
    def console(self) -> Path:
        return self.data / CONSOLE_FILE

    @property
    def models(self) -> Path:
        return self.folder / "models"

    @property
    def model_name(self) -> str:
        return f"run-{self.run_id}"

    @property
    def model(self) -> Path:
        return self.models / f"{self.model_name}.tar.gz"


def workspace_for(workspaces: Path, run_id: int) -> Workspace:
    return Workspace(workspaces / f"run-{run_id}", run_id)


def prepare(root: Path, workspace: Workspace, console_data: str) -> Manifest:
    """Builds the workspace from the repository at `root` and returns its manifest.

    A response the console file defines replaces the repository's (an answer edited in
    the console): the repository's is removed from the workspace's copy of its file.
    """
    remove(workspace)
    workspace.folder.mkdir(parents=True)
    workspace.models.mkdir()
    data_digest = copy_repository_data(root, workspace)
    workspace.console.write_text(console_data, encoding="utf-8")
    remove_responses(workspace.data, console_response_names(console_data), skip=workspace.console)
    commit, dirty = git_state(root)
    return Manifest(commit, dirty, data_digest, sha256_text(console_data))


def copy_repository_data(root: Path, workspace: Workspace) -> str:
    """Copies bot/data, domain.yml and config.yml; returns the data digest of the bytes
    copied (read once, so the digest is of exactly what is trained, even if someone edits
    the repository meanwhile). The misspellings list is read from the repository by the
    tokenizer, so it is digested but not copied."""
    sources = sorted((root / "bot" / "data").rglob("*"))
    sources += [root / name for name in DATA_DIGEST_FILES]
    digest = hashlib.sha256()
    for source in sources:
        if not source.is_file():
            continue
        relative = source.relative_to(root).as_posix()
        content = source.read_bytes()
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
        target = _workspace_path(workspace, relative)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return digest.hexdigest()


def _workspace_path(workspace: Workspace, relative: str) -> Path | None:
    if relative.startswith("bot/data/"):
        return workspace.data / relative.removeprefix("bot/data/")
    if relative in ("domain.yml", "config.yml"):
        return workspace.folder / relative
    return None


def console_response_names(console_data: str) -> set[str]:
    """The response names the console file defines. A file Rasa could not read either
    names none here: `rasa data validate` then reports it, with Rasa's own message."""
    try:
        document = yaml.safe_load(console_data)
    except yaml.YAMLError:
        return set()
    responses = document.get("responses") if isinstance(document, dict) else None
    return set(responses) if isinstance(responses, dict) else set()


def remove_responses(data: Path, names: set[str], skip: Path) -> list[Path]:
    """Removes the named responses from every data file but `skip`; returns the files
    changed. Only those files are rewritten, with ruamel's round trip (the parser Rasa
    reads them with), so comments, block literals and key order stay as they were."""
    changed = []
    if not names:
        return changed
    for path in sorted(data.rglob("*.yml")):
        if path == skip:
            continue
        text = path.read_text(encoding="utf-8")
        if not any(name in text for name in names):
            continue
        rewritten = _without_responses(text, names)
        if rewritten is not None:
            path.write_text(rewritten, encoding="utf-8")
            changed.append(path)
    return changed


def _round_trip() -> YAML:
    parser = YAML()
    parser.preserve_quotes = True
    parser.width = 4096
    # `active_loop: null` stays `null`, as written (ruamel writes an empty value).
    parser.representer.add_representer(
        type(None),
        lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
    )
    return parser


def _without_responses(text: str, names: set[str]) -> str | None:
    """The file's text without those responses, or None when it defines none of them."""
    parser = _round_trip()
    try:
        document = parser.load(text)
    except RuamelError:
        return None  # left for rasa data validate to report
    responses = document.get("responses") if isinstance(document, dict) else None
    if not isinstance(responses, dict) or not names & set(responses):
        return None
    for name in names & set(responses):
        del responses[name]
    if not responses:
        del document["responses"]
    out = io.StringIO()
    parser.dump(document, out)
    return out.getvalue()


def git_state(root: Path) -> tuple[str | None, bool]:
    """(HEAD's commit, whether the training inputs differ from it). Outside a git checkout
    (an exported tree) the commit is unknown: None, and the data counts as changed."""
    try:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--", *TRACKED_INPUTS)
    except (OSError, subprocess.CalledProcessError):
        return None, True
    return commit.strip() or None, bool(status.strip())


def _git(root: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=root, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def remove(workspace: Workspace) -> None:
    """Deletes the workspace (model, copies and all); nothing else depends on it."""
    shutil.rmtree(workspace.folder, ignore_errors=True)
