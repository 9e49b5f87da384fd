"""Personal data rules shared by every process (Rasa, action server, status store).

Standard library only, so the status store (its own dependency set) and the Rasa side
import the same masks and the same log filter.
"""
