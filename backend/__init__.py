"""Status store: applications and their status history, behind an HTTP API.

Run it with `python -m backend [--host H] [--port P]` from the repository root. It reads
its settings from the environment (backend/config.py): STORE_SERVICE_TOKEN,
STORE_STAFF_TOKEN, STORE_ENCRYPTION_KEY (Fernet keys, newest first) and STORE_HASH_KEY are
required; DATABASE_URL defaults to SQLite in var/store.db. Migrations are applied on start.
`python -m backend rotate-keys` re-encrypts everything with the newest key
(backend/keys.py); `python -m backend purge` anonymises closed applications past the
retention period (backend/retention.py). The API is described in backend/openapi.yaml
(also served at GET /openapi.yaml), which is also the source of the contracts shared with
the assistant (backend/contract.py).
"""
