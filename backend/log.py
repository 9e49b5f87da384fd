"""Logging setup with a last line of defence against unmasked personal data."""

from __future__ import annotations

import logging

from personaldata.logs import PersonalDataFilter


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
