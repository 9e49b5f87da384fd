"""Handoff: a resident asks for a person; staff take the conversation, then hand it back."""
