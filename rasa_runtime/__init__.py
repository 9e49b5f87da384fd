"""The parts of the Rasa server that are ours: how it is started (`serve`), the engine
thread that runs Rasa's message handling, the replacements of Rasa functions (`patches`),
the encrypted tracker store with erasure, retention and key rotation.

Channels live in `connectors/`; they hand every message to the engine.
"""
