"""The staff console: a web application served by the status store (Chinese UI)."""
