"""The launcher: no secret on the command line, personal data masked in every log line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from personaldata.masks import mask_id_number, mask_phone
from rasa_runtime import serve
from tests.servers import ROOT

ID_NUMBER, PHONE = "510304195503120042", "13812345678"

# Logs as Rasa, its channels and libraries do, after the launcher's set-up; a handler
# added afterwards stands for Sanic's, which replace the root logger's.
LOGGING = f"""
import logging, sys
import structlog
from rasa_runtime import serve
serve.configure_logging(serve.parse_arguments(["--enable-api"]))
structlog.get_logger().error("rest.message.received.timeout", text="身份证{ID_NUMBER}")
logging.getLogger("rasa.core.channels.rest").error("handling '电话%s'", "{PHONE}")
late = logging.getLogger("sanic.error")
late.addHandler(logging.StreamHandler(sys.stdout))
try:
    raise ValueError("{ID_NUMBER}")
except ValueError:
    late.exception("failed for {PHONE}")
"""


def test_id_and_phone_numbers_are_masked_in_every_log_line() -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_API_TOKEN": "t"}
    result = subprocess.run(
        [sys.executable, "-c", LOGGING], env=environment, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert ID_NUMBER not in output and PHONE not in output
    # The lines were written, masked.
    assert output.count(mask_id_number(ID_NUMBER)) >= 2
    assert output.count(mask_phone(PHONE)) >= 2


def test_the_api_token_never_comes_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RASA_API_TOKEN", "from-the-environment")
    with pytest.raises(SystemExit):
        serve.parse_arguments(["--enable-api", "--auth-token", "secret"])
    assert serve.parse_arguments(["--enable-api"]).auth_token == "from-the-environment"
    monkeypatch.delenv("RASA_API_TOKEN")
    with pytest.raises(SystemExit):
        serve.parse_arguments(["--enable-api"])
