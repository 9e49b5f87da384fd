"""The only module that talks to the status store: the training routes of the contract.

Each call is a fresh request (no shared session): the heartbeat thread reports while the
main thread uploads, and requests' sessions are not made for two threads at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

CHUNK_BYTES = 1 << 20


class StoreUnavailable(Exception):
    """The store could not be reached or failed (5xx): worth trying again later."""


class LeaseLost(Exception):
    """409 lease_lost: the run is no longer this worker's; stop working on it."""


class StoreRefused(Exception):
    """Any other refusal (4xx): trying the same request again will not help."""


@dataclass(frozen=True)
class LiveModel:
    id: int
    sha256: str


@dataclass(frozen=True)
class Claim:
    run_id: int
    lease_seconds: int
    console_data: str
    live_model: LiveModel | None


class StoreClient:
    def __init__(
        self, base_url: str, token: str, timeout: float = 30.0, transfer_timeout: float = 300.0
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._transfer_timeout = transfer_timeout

    def claim(self, worker: str) -> Claim | None:
        """The next queued run, leased to this worker; None when nothing is queued."""
        response = self._request("POST", "/training/claim", json={"worker": worker[:64]})
        if response.status_code == 204:
            return None
        run = response.json()["run"]
        live = run.get("live_model")
        return Claim(
            run_id=int(run["id"]),
            lease_seconds=int(run.get("lease_seconds") or 120),
            console_data=run.get("console_data") or "",
            live_model=None if live is None else LiveModel(int(live["id"]), str(live["sha256"])),
        )

    def progress(self, run_id: int, stage: str, percent: int, log: str) -> None:
        """Reports (and renews the lease); raises LeaseLost when the run is gone."""
        body = {"stage": stage, "percent": int(percent), "log": log}
        self._request("POST", f"/training/runs/{run_id}/progress", json=body)

    def fail(self, run_id: int, stage: str, error: str, log: str) -> None:
        body = {"stage": stage, "error": error, "log": log}
        self._request("POST", f"/training/runs/{run_id}/fail", json=body)

    def download_model(self, model_id: int, destination: Path) -> str:
        """Writes the model file to `destination` and returns its sha256."""
        digest = hashlib.sha256()
        response = self._request(
            "GET", f"/training/models/{model_id}/file", stream=True, timeout=self._transfer_timeout
        )
        with response, destination.open("wb") as file:
            for chunk in response.iter_content(CHUNK_BYTES):
                digest.update(chunk)
                file.write(chunk)
        return digest.hexdigest()

    def upload_model(self, run_id: int, model: Path, manifest: dict[str, Any]) -> int:
        """Uploads the trained model with its data manifest; returns the store's model id."""
        headers = {
            "Content-Type": "application/gzip",
            # The contract: ASCII JSON in the header, not percent-encoded.
            "X-Data-Manifest": json.dumps(manifest, ensure_ascii=True, separators=(",", ":")),
        }
        with model.open("rb") as file:
            response = self._request(
                "PUT",
                f"/training/runs/{run_id}/model",
                data=file,
                headers=headers,
                timeout=self._transfer_timeout,
            )
        return int(response.json()["model_id"])

    def finish(
        self,
        run_id: int,
        model_id: int,
        candidate: dict[str, Any],
        live: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Both models' scores; returns the store's gate verdict."""
        body = {"model_id": model_id, "candidate": candidate, "live": live}
        response = self._request("POST", f"/training/runs/{run_id}/finish", json=body)
        return response.json().get("gate", {})

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", self._timeout)
        try:
            response = requests.request(method, self._base_url + path, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise StoreUnavailable(f"{method} {path}: {type(error).__name__}") from error
        if response.status_code < 400:
            return response
        code = _error_code(response)
        response.close()
        if response.status_code == 409 and code == "lease_lost":
            raise LeaseLost(path)
        if response.status_code >= 500:
            raise StoreUnavailable(f"{method} {path}: HTTP {response.status_code}")
        raise StoreRefused(f"{method} {path}: HTTP {response.status_code} {code}".rstrip())


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
