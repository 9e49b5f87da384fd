"""Status store: applications and their status history, behind an HTTP API.

Run it with `python -m backend [--host H] [--port P]` from the repository root. It reads
its settings from the environment (backend/config.py): STORE_SERVICE_TOKEN,
STORE_STAFF_TOKEN, STORE_ENCRYPTION_KEY (a Fernet key) and STORE_HASH_KEY are required;
DATABASE_URL defaults to SQLite in var/store.db. Migrations are applied on start.
The API is described in backend/openapi.yaml (also served at GET /openapi.yaml).
"""
