"""States of training runs, models and console answers."""

from __future__ import annotations

# A run waits for the worker, runs under its lease, and ends trained or failed.
QUEUED = "queued"
RUNNING = "running"
TRAINED = "trained"
FAILED = "failed"
RUN_STATES = (QUEUED, RUNNING, TRAINED, FAILED)
STAGES = ("prepare", "validate", "train", "evaluate", "upload")

# A model is a candidate until activated; the one active model is what replicas pull.
CANDIDATE = "candidate"
ACTIVE = "active"
RETIRED = "retired"
MODEL_STATES = (CANDIDATE, ACTIVE, RETIRED)

# Built by `make train` from the repository alone, or by a console training run.
REPOSITORY = "repository"
CONSOLE = "console"
ORIGINS = (REPOSITORY, CONSOLE)

ACTIVATE = "activate"
ROLLBACK = "rollback"
MODEL_ACTIONS = (ACTIVATE, ROLLBACK)

# An answer for a topic the model does not know yet adds a label: it waits for an admin.
PROPOSED = "proposed"
APPROVED = "approved"
ANSWER_STATES = (PROPOSED, APPROVED)
