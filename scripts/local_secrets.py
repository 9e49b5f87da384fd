"""Make sure the embedded setup's secrets file holds every secret it needs.

Missing secrets are generated and added; existing ones are kept, so data encrypted
with them stays readable after an upgrade adds a new one. The file is readable by its
owner only. Which process receives which of them is decided by scripts/processes.py.
"""

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def token() -> str:
    return secrets.token_urlsafe(32)


def fernet_key() -> str:
    return Fernet.generate_key().decode()


GENERATORS = {
    "STORE_SERVICE_TOKEN": token,
    "STORE_STAFF_TOKEN": token,
    "STORE_TRAINER_TOKEN": token,
    "STORE_HASH_KEY": token,
    "STORE_ENCRYPTION_KEY": fernet_key,
    "RASA_API_TOKEN": token,
    "RASA_TRACKER_KEY": fernet_key,
    "ACTION_SERVER_TOKEN": token,
    "WEBCHAT_SESSION_KEY": token,
}


def main(path: Path) -> None:
    existing = path.read_text().splitlines() if path.exists() else []
    names = {line.split("=", 1)[0] for line in existing if "=" in line}
    added = [f"{name}={make()}" for name, make in GENERATORS.items() if name not in names]
    if not added:
        return
    os.umask(0o077)
    path.write_text("\n".join([*existing, *added]) + "\n")
    path.chmod(0o600)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
