"""Logging setup with a last line of defence against unmasked personal data."""

from __future__ import annotations

import logging
import re

from backend.crypto import mask_id_number, mask_phone

_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask_personal_data(text: str) -> str:
    text = _ID_NUMBER.sub(lambda match: mask_id_number(match.group()), text)
    return _MOBILE.sub(lambda match: mask_phone(match.group()), text)


class PersonalDataFilter(logging.Filter):
    """Masks ID and mobile numbers in every record, whoever logged it.

    The store never logs them on purpose; this catches third-party messages and mistakes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_personal_data(
                logging.Formatter().formatException(record.exc_info)
            )
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
