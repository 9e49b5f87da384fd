"""Mutation testing of the security-critical modules (`make mutation`).

Each module is mutated by mutmut in a scratch copy of the working tree, so the tree
others work in is never changed, and only the tests that cover it run, under the venv
those tests belong to. Prints a score per module and writes it, with the surviving
mutants, to results/mutation.txt.

    python scripts/mutation.py                               # every module below
    python scripts/mutation.py connectors/wechat/signature.py  # some of them
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "mutation.txt"

# The tests listed below use no shared fixtures, so they run bare: no conftest files and
# no plugins loaded from entry points (schemathesis, hypothesis ...), which took two
# thirds of each run. The store's tests run in their own venv.
BARE = ("env", "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1")
MAIN_PYTEST = (
    *BARE,
    ".venv/bin/python",
    "-m",
    "pytest",
    "--noconftest",
    "-p",
    "pytest_asyncio.plugin",
)
STORE_PYTEST = (*BARE, ".venv-store/bin/python", "-m", "pytest", "--noconftest")
# The second look at survivors, with the suites' fixtures (PostgreSQL, running servers).
MAIN_SUITE = (".venv/bin/python", "-m", "pytest")
STORE_SUITE = (".venv-store/bin/python", "-m", "pytest", "--confcutdir=tests/backend")
# Stop at the first failing test: one is enough to kill a mutant.
PYTEST_OPTIONS = ("-x", "-q", "-p", "no:cacheprovider")
# A mutant can make a test hang (a lock never released). The tests are stopped here
# after HANG_SECONDS and the mutant counts as killed: mutmut's own timeout kills only
# the shell around them, and then waited forever on their output. Its timeout (seconds
# added to twice the clean run's time) is set beyond ours.
HANG_SECONDS = 180
TIMEOUT_BASE_SECONDS = str(HANG_SECONDS + 30)
# No verdict for this long (longer than any one mutant may take): mutmut is stuck.
STALL_SECONDS = HANG_SECONDS + 120
MAX_RESTARTS = 5


@dataclass(frozen=True)
class Target:
    """`tests` judge every mutant quickly; the survivors are judged again by `more`,
    slower tests that need the suite's fixtures (a real PostgreSQL, running servers)."""

    pytest: tuple[str, ...]
    tests: tuple[str, ...]
    suite: tuple[str, ...] = ()
    more: tuple[str, ...] = ()


# The security-critical modules and the tests that cover each: the one list.
TARGETS: dict[str, Target] = {
    # ID, phone and proof validation in the actions,
    # and the word lists the forms read answers with.
    "bot/actions/validation.py": Target(
        MAIN_PYTEST,
        tuple(
            f"tests/actions/test_{name}.py"
            for name in (
                "validation_edges",
                "validation",
                "form_reading",
                "form_replies",
                "reader_properties",
            )
        ),
    ),
    "backend/validation.py": Target(
        STORE_PYTEST,
        ("tests/backend/test_validation_rules.py", "tests/backend/test_store_units.py"),
    ),
    "backend/lifecycle.py": Target(
        STORE_PYTEST,
        ("tests/backend/test_lifecycle_rules.py", "tests/backend/test_store_units.py"),
    ),
    "backend/crypto.py": Target(
        STORE_PYTEST, ("tests/backend/test_field_cipher.py", "tests/backend/test_store_units.py")
    ),
    # Proof throttling, and the proof checks and idempotency of the store itself.
    "backend/throttling.py": Target(STORE_PYTEST, ("tests/backend/test_throttle_policy.py",)),
    "backend/store.py": Target(
        STORE_PYTEST,
        ("tests/backend/test_store_operations.py",),
        STORE_SUITE,
        tuple(
            f"tests/backend/test_store_{name}.py"
            for name in (
                "duplicates",
                "throttling",
                "by_key",
                "lifecycle",
                "applications",
                "find",
                "staff",
                "meta",
            )
        ),
    ),
    "connectors/wechat/signature.py": Target(
        MAIN_PYTEST, ("tests/connectors/test_wechat_signature.py",)
    ),
    "connectors/wechat/crypto.py": Target(
        MAIN_PYTEST, ("tests/connectors/test_wechat_envelopes.py",)
    ),
    # The survivors again with the handoff routing, through a real store process.
    "connectors/guard.py": Target(
        MAIN_PYTEST,
        ("tests/connectors/test_guard.py",),
        MAIN_SUITE,
        ("tests/connectors/test_handoff_routing.py",),
    ),
    "rasa_runtime/trackers.py": Target(MAIN_PYTEST, ("tests/rasa_runtime/test_trackers.py",)),
}

# mutmut's verdicts: a slow failing run still killed its mutant, and a run that hung
# was stopped by the mutant (counted as detected, shown apart).
KILLED = {"ok_killed", "ok_suspicious"}
TIMEOUT = "bad_timeout"
SURVIVED = "bad_survived"


def scratch_copy(destination: Path) -> None:
    """The working tree as it is now (tracked and new files, not ignored ones), with the
    venvs and trained models linked rather than copied."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in filter(None, listing.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.rmtree(destination / "bot" / "models", ignore_errors=True)
    for linked in (".venv", ".venv-store", "bot/models"):
        (destination / linked).symlink_to(ROOT / linked)


def forget_baseline_time(workdir: Path) -> None:
    """mutmut caches the clean run's time by a hash of the whole tests folder, so the
    next module would inherit the first one's (a fraction of a second for some) and its
    mutants would all time out."""
    cache = workdir / ".mutmut-cache"
    if cache.exists():
        with sqlite3.connect(cache) as connection:
            connection.execute(
                "DELETE FROM MiscData WHERE key IN ('baseline_time_elapsed', 'hash_of_tests')"
            )


def mutmut_run(
    workdir: Path, module: str, pytest: tuple[str, ...], mutant: str = "", timed: bool = False
) -> int:
    """Run mutmut on one module (or one of its mutants) with these tests; returns its
    exit code. `timed`: the clean run of these tests was timed by the previous call.

    mutmut 2 sometimes stops making progress for good (its worker process gone, the main
    one waiting on it): on a whole module, after STALL_SECONDS without a verdict it is
    stopped, the module restored from its backup, and run again; it goes on with the
    mutants not yet judged.
    """
    stop_hung = ("timeout", "--kill-after=5", str(HANG_SECONDS))
    tests = shlex.join([*stop_hung, *pytest])
    # mutmut 2 takes only exit status 1 for failed tests: a mutant that breaks an import
    # (pytest exits with 2) would count as surviving.
    runner = f"sh -c {shlex.quote(tests + ' || exit 1')}"
    command = [str(ROOT / ".venv" / "bin" / "mutmut"), "run", *filter(None, [mutant])]
    command += ["--paths-to-mutate", module, "--runner", runner, "--tests-dir", "tests"]
    command += ["--test-time-base", TIMEOUT_BASE_SECONDS, "--simple-output", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    if not timed:
        forget_baseline_time(workdir)
    for _ in range(MAX_RESTARTS + 1):
        process = subprocess.Popen(command, cwd=workdir, env=env, start_new_session=True)
        judged, since = judged_count(workdir, module), time.monotonic()
        while process.poll() is None:
            time.sleep(5)
            now_judged = judged_count(workdir, module)
            if now_judged != judged:
                judged, since = now_judged, time.monotonic()
            elif not mutant and time.monotonic() - since > STALL_SECONDS:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                restore_backup(workdir / module)
                print(f"mutmut made no progress for {STALL_SECONDS} s: restarted", flush=True)
        if process.returncode >= 0:
            return process.returncode
    return 1


def judged_count(workdir: Path, module: str) -> int:
    cache = workdir / ".mutmut-cache"
    if not cache.exists():
        return 0
    with sqlite3.connect(cache, timeout=30) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM Mutant AS mutant JOIN Line ON mutant.line = Line.id"
            " JOIN SourceFile ON Line.sourcefile = SourceFile.id"
            " WHERE SourceFile.filename = ? AND mutant.status != 'untested'",
            (module,),
        ).fetchone()
    return int(count)


def restore_backup(source: Path) -> None:
    """Put back the module mutmut was changing when it was stopped."""
    backup = source.with_name(source.name + ".bak")
    if backup.exists():
        backup.replace(source)


def forget_verdict(workdir: Path, mutant: str) -> None:
    """mutmut keeps a verdict while the tests folder is unchanged, and would not run the
    mutant against the slower tests at all."""
    with sqlite3.connect(workdir / ".mutmut-cache") as cache:
        cache.execute("UPDATE Mutant SET status = 'untested' WHERE id = ?", (mutant,))


def surviving_ids(workdir: Path, module: str) -> list[str]:
    with sqlite3.connect(workdir / ".mutmut-cache") as cache:
        rows = cache.execute(
            "SELECT mutant.id FROM Mutant AS mutant JOIN Line ON mutant.line = Line.id"
            " JOIN SourceFile ON Line.sourcefile = SourceFile.id"
            " WHERE SourceFile.filename = ? AND mutant.status = ?",
            (module, SURVIVED),
        ).fetchall()
    return [str(mutant) for (mutant,) in rows]


def mutate(module: str, target: Target, workdir: Path) -> int:
    """Judge every mutant with the quick tests, then the survivors with the slower ones;
    returns the first stage's mutmut exit code."""
    status = mutmut_run(workdir, module, (*target.pytest, *PYTEST_OPTIONS, *target.tests))
    if status & 1 or not target.more:
        return status
    slower = (*target.suite, *PYTEST_OPTIONS, *target.tests, *target.more)
    for number, mutant in enumerate(surviving_ids(workdir, module)):
        forget_verdict(workdir, mutant)
        # The clean run of the slower tests is timed once, not before each survivor.
        mutmut_run(workdir, module, slower, mutant, timed=number > 0)
    return status


def verdicts(workdir: Path, module: str) -> Counter[str]:
    """Mutant statuses of one module, from mutmut's cache."""
    with sqlite3.connect(workdir / ".mutmut-cache") as cache:
        rows = cache.execute(
            "SELECT mutant.status, count(*) FROM Mutant AS mutant"
            " JOIN Line ON mutant.line = Line.id"
            " JOIN SourceFile ON Line.sourcefile = SourceFile.id"
            " WHERE SourceFile.filename = ? GROUP BY mutant.status",
            (module,),
        ).fetchall()
    return Counter(dict(rows))


def score_line(module: str, counts: Counter[str]) -> str:
    killed = sum(counts[status] for status in KILLED)
    judged = killed + counts[TIMEOUT] + counts[SURVIVED]
    score = f"{100 * (killed + counts[TIMEOUT]) / judged:5.1f} %" if judged else "    —  "
    return (
        f"{module:34} {score}  {judged:4} mutants: {killed} killed,"
        f" {counts[TIMEOUT]} timed out, {counts[SURVIVED]} survived"
    )


def survivors(workdir: Path) -> str:
    shown = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mutmut"), "show", "all"],
        cwd=workdir,
        check=False,
        capture_output=True,
        text=True,
    )
    return shown.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all listed)")
    modules = parser.parse_args().modules or list(TARGETS)
    unknown = [module for module in modules if module not in TARGETS]
    if unknown:
        parser.error(f"not in the list of security-critical modules: {', '.join(unknown)}")

    lines, failed = [], False
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        workdir = Path(scratch)
        scratch_copy(workdir)
        for module in modules:
            target = TARGETS[module]
            needed = (module, *target.tests, *target.more)
            missing = [path for path in needed if not (workdir / path).is_file()]
            if missing:
                lines.append(f"{module:34} not run: missing {', '.join(missing)}")
                failed = True
                continue
            print(f"== mutmut {module}", flush=True)
            # Bit 1 is a fatal error (e.g. the tests fail without any mutation); the
            # other bits only report surviving or slow mutants.
            if mutate(module, target, workdir) & 1:
                lines.append(f"{module:34} not scored: mutmut failed (see its output)")
                failed = True
                continue
            lines.append(score_line(module, verdicts(workdir, module)))
        report = "\n".join(["Mutation score (killed or timed out / mutants)", *lines])
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(f"{report}\n\nSurviving mutants\n\n{survivors(workdir)}")
    print(f"\n{report}\n(details and surviving mutants: {RESULTS.relative_to(ROOT)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
