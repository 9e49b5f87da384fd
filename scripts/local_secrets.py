"""Print fresh secrets for the embedded setup (written once to var/secrets.env)."""

import secrets

from cryptography.fernet import Fernet

print(f"STORE_SERVICE_TOKEN={secrets.token_urlsafe(32)}")
print(f"STORE_STAFF_TOKEN={secrets.token_urlsafe(32)}")
print(f"STORE_HASH_KEY={secrets.token_urlsafe(32)}")
print(f"STORE_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
print(f"RASA_API_TOKEN={secrets.token_urlsafe(32)}")
