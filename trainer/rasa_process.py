"""Running rasa as a subprocess whose output becomes the run's log, and reading a
percent from `rasa train`'s output.

Rasa's progress bars (tqdm) redraw one line with carriage returns, pipe or not: each
redraw is a fragment ending in "\r". Only the bar's last state, ended by "\n" when it
closes, is a log line; the redraws only move the percent.
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LINE_END = re.compile(r"\r\n|\r|\n")
# "Epochs:  45%|████▌     | 18/40 [00:40<00:39, ...]"
EPOCHS = re.compile(r"Epochs:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)")
COMPONENT_DONE = re.compile(r"Restored component '[^']+' from cache|Finished training component")
READ_BYTES = 1 << 16

Fragment = tuple[str, str]  # text, and what ended it ("\n", "\r" or "" at the end)


def fragments(chunks: Iterator[bytes]) -> Iterator[Fragment]:
    """The output split at line ends and carriage returns, ANSI colours removed."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, (pending, _) = _split(pending)
        yield from complete
    pending += decoder.decode(b"", final=True)
    if pending:
        yield ANSI.sub("", pending), ""


def _split(text: str) -> list[Fragment]:
    parts, start = [], 0
    # "\r" at the very end may be the first half of "\r\n": kept for the next chunk.
    for match in LINE_END.finditer(text.removesuffix("\r")):
        parts.append((ANSI.sub("", text[start : match.start()]), match.group()[-1]))
        start = match.end()
    parts.append((text[start:], ""))
    return parts


def log_lines(source: Iterator[Fragment]) -> Iterator[str]:
    """The fragments worth keeping in the log: every line but a progress bar's redraws
    (epochs, trackers, actions), which end in a carriage return."""
    for text, end in source:
        if text.strip() and end != "\r":
            yield text.rstrip()


class TrainingProgress:
    """How far `rasa train` is, from its own output: the components done (trained, or
    restored from Rasa's cache) out of those the config names, plus the epochs of the
    one training now. Coarse: a restored featurizer counts as much as DIET's epochs."""

    def __init__(self, components: int) -> None:
        self._components = max(1, components)
        self._done = 0
        self._epochs = 0.0

    def feed(self, text: str) -> None:
        if COMPONENT_DONE.search(text):
            self._done += 1
            self._epochs = 0.0
            return
        match = EPOCHS.search(text)
        if match:
            done, total = int(match.group(1)), int(match.group(2))
            self._epochs = done / total if total else 0.0

    @property
    def fraction(self) -> float:
        """0 to 0.99: the last percent is the model file, written after the components."""
        return min(0.99, (self._done + self._epochs) / self._components)


class RasaProcess:
    """One rasa command at a time, which another thread may kill (lease lost, stop)."""

    def __init__(self, rasa: Path, cwd: Path, env: Mapping[str, str]) -> None:
        self._rasa = rasa
        self._cwd = cwd
        self._env = dict(env)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._killed = False

    def run(self, arguments: list[str], on_fragment: Callable[[Fragment], None]) -> int:
        """Runs `rasa <arguments>` in the repository root; returns its exit status."""
        with self._lock:
            if self._killed:
                return -signal.SIGKILL
            # Its own process group: a kill reaches any child rasa starts too.
            self._process = subprocess.Popen(
                [str(self._rasa), *arguments],
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self._process
        assert process.stdout is not None
        for fragment in fragments(_chunks(process.stdout.fileno())):
            on_fragment(fragment)
        status = process.wait()
        with self._lock:
            self._process = None
        return status

    def kill(self) -> None:
        """Stops the running command, and any started after, for good."""
        with self._lock:
            self._killed = True
            if self._process is not None and self._process.poll() is None:
                os.killpg(self._process.pid, signal.SIGKILL)


def _chunks(fd: int) -> Iterator[bytes]:
    while chunk := os.read(fd, READ_BYTES):
        yield chunk
