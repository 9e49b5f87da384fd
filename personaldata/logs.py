"""The last line of defence: no ID or mobile number leaves a process through its logs."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from personaldata.masks import mask_personal_data


class PersonalDataFilter(logging.Filter):
    """Masks ID and mobile numbers in every record, whoever logged it (third-party
    libraries included), and in the traceback of a logged exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: the handler reports it as usual
            return True
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_personal_data(
                logging.Formatter().formatException(record.exc_info)
            )
        return True


def mask_structlog_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor doing the same for Rasa's structured log lines."""
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = mask_personal_data(value)
        elif value is not None and not isinstance(value, (int, float, bool)):
            event[key] = mask_personal_data(repr(value))
    return event


def mask_every_record() -> None:
    """Masks every record of this process as it is created, whichever handler writes
    it: for processes whose frameworks replace the root handlers after start-up (Sanic
    and Rasa do), where a filter on the handlers would be undone. Idempotent."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "masks_personal_data", False):
        return
    personal_data = PersonalDataFilter()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        personal_data.filter(record)
        return record

    masked_record.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)
