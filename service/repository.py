"""The model repository: `<root>/<model>/<version>/{model.onnx, model.json}`, loaded, validated and swapped.

Every version of a model is loaded; requests without a version get the highest ready one. Load and unload
replace a model's whole version table in one assignment on the event loop (the atomic swap); versions that
were swapped out keep serving the requests that hold a lease on them, then stop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelcard import CARD_FILENAME, MODEL_FILENAME, ModelCard, file_sha256
from service.errors import ModelNotFound, ModelNotReady
from service.metrics import Metrics
from service.model import ServedModel
from service.runtime import OnnxSession
from service.settings import Settings

logger = logging.getLogger(__name__)

READY, UNAVAILABLE, LOADING = "READY", "UNAVAILABLE", "LOADING"
# Requests naming a model that is not loaded ask whether it is on disk (503) or unknown (404). Answering from a
# scan at most this old keeps a flood of such requests from walking the directory on the event loop each time.
DISK_SCAN_TTL_S = 5.0
VERSION = re.compile(r"[0-9]{1,18}")  # ASCII digits, short enough for int() on any input


def is_version(text: str) -> bool:
    """A version directory or URL segment: ASCII digits only (str.isdigit also takes other scripts' digits)."""
    return VERSION.fullmatch(text) is not None


@dataclass
class VersionRecord:
    """What the repository knows about one version: served when READY, else why not."""

    name: str
    version: int
    state: str
    reason: str = ""
    card: ModelCard | None = None
    served: ServedModel | None = None


class LoadError(Exception):
    """A version that cannot serve; carries its card when the card itself was readable."""

    def __init__(self, reason: str, card: ModelCard | None) -> None:
        super().__init__(reason)
        self.card = card


def open_version(path: Path, name: str, version: int, settings: Settings) -> tuple[ModelCard, OnnxSession]:
    """Blocking: read and check the card, hash the file, create, validate and warm up the session."""
    try:
        card = ModelCard.read(path / CARD_FILENAME)
    except Exception as exc:
        raise LoadError(f"{CARD_FILENAME}: {_first_line(exc)}", None) from exc
    try:
        if (card.name, card.version) != (name, version):
            raise ValueError(f"card says {card.name} version {card.version} but lives in {name}/{version}")
        digest = file_sha256(path / MODEL_FILENAME)
        if digest != card.sha256:
            raise ValueError(f"sha256 of {MODEL_FILENAME} is {digest}, the card says {card.sha256}")
        session = OnnxSession(path / MODEL_FILENAME, settings)
        session.validate(card)
        if settings.require_gpu and not session.on_gpu:
            raise ValueError(f"POSECAST_REQUIRE_GPU is set but the session runs on {session.provider}")
        session.warm_up(card)
    except Exception as exc:
        raise LoadError(_first_line(exc), card) from exc
    return card, session


class ModelRepository:
    """Lookup by name and version, plus the V2 repository extension's index / load / unload."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.root = settings.repository
        self._settings = settings
        self._metrics = metrics
        self._models: dict[str, dict[int, VersionRecord]] = {}
        self._lock = asyncio.Lock()
        self._scanned: tuple[float, frozenset[str]] | None = None  # (time.monotonic(), names) of the last scan
        self.initial_load_done = False

    def names_on_disk(self) -> list[str]:
        names: list[str] = []
        if self.root.is_dir():
            names = sorted(e.name for e in self.root.iterdir() if e.is_dir() and self._versions(e.name))
        self._scanned = (time.monotonic(), frozenset(names))
        return names

    def _on_disk(self, name: str) -> bool:
        """`name in names_on_disk()`, from the last scan when that is recent enough."""
        scanned = self._scanned
        if scanned is None or time.monotonic() - scanned[0] > DISK_SCAN_TTL_S:
            return name in self.names_on_disk()
        return name in scanned[1]

    def _versions(self, name: str) -> list[int]:
        folder = self.root / name
        return sorted(int(entry.name) for entry in folder.iterdir() if entry.is_dir() and is_version(entry.name))

    def record(self, name: str, version: str | None) -> VersionRecord:
        """The version a request means: the given one, else the highest ready one, else the highest."""
        versions = self._models.get(name)
        if versions is None:
            if self._on_disk(name):
                raise ModelNotReady(f"model '{name}' is not loaded")
            raise ModelNotFound(f"unknown model '{name}'")
        if version is None:
            ready = [record for record in versions.values() if record.served is not None]
            candidates = ready or list(versions.values())
            if not candidates:
                raise ModelNotReady(f"model '{name}' has no version")
            return max(candidates, key=lambda record: record.version)
        record = versions.get(int(version)) if is_version(version) else None
        if record is None:
            raise ModelNotFound(f"model '{name}' has no version '{version}'")
        return record

    def get(self, name: str, version: str | None = None) -> ServedModel:
        record = self.record(name, version)
        if record.served is None:
            raise ModelNotReady(f"model '{name}' version {record.version} is not ready: {record.reason}")
        return record.served

    @asynccontextmanager
    async def use(self, name: str, version: str | None = None) -> AsyncIterator[ServedModel]:
        """Lease a served version: a reload or unload waits for the lease before stopping that version."""
        served = self.get(name, version)
        served.acquire()
        try:
            yield served
        finally:
            served.release()

    def served(self) -> list[ServedModel]:
        return [r.served for versions in self._models.values() for r in versions.values() if r.served]

    def not_ready_reason(self) -> str | None:
        """None when the server is ready: startup loading is over and some model serves (or, when
        POSECAST_READY_WITHOUT_MODELS allows it, the repository is empty)."""
        if not self.initial_load_done:
            return "loading models"
        if not self._models and not self._settings.ready_without_models:
            return "the repository holds no model (POSECAST_READY_WITHOUT_MODELS=true makes that ready)"
        if self._models and not self.served():
            return "no model loaded successfully; see /v2/repository/index"
        return None

    async def load_all(self) -> None:
        """Startup: load every model on disk; failures are recorded, never raised."""
        names = self.names_on_disk()
        if not names:
            logger.warning("no models under %s (POSECAST_REPOSITORY)", self.root.resolve())
        for name in names:
            self._models.setdefault(name, {v: VersionRecord(name, v, LOADING) for v in self._versions(name)})
        for name in names:
            await self.load(name)
        self.initial_load_done = True

    async def load(self, name: str) -> tuple[dict[int, VersionRecord], dict[int, str]]:
        """Load or reload every version of a model, then swap them in at once.

        Returns the records now in place and, per version whose files failed to load, why: a failed reload keeps
        serving the previous copy, so its record alone would read READY.
        """
        if name not in self.names_on_disk():
            raise ModelNotFound(f"no model '{name}' in the repository")
        failed: dict[int, str] = {}
        async with self._lock:
            old = self._models.get(name, {})
            new: dict[int, VersionRecord] = {}
            for version in self._versions(name):
                record = await self._load_version(name, version)
                if record.served is None:
                    failed[version] = record.reason
                previous = old.get(version)
                if record.served is None and previous is not None and previous.served is not None:
                    previous.reason = f"reload failed, serving the previous copy: {record.reason}"
                    record = previous
                new[version] = record
            self._models[name] = new
            self._publish(name, old, new)
        kept = {id(record.served) for record in new.values()}
        await asyncio.gather(*(r.served.retire() for r in old.values() if r.served and id(r.served) not in kept))
        return new, failed

    async def unload(self, name: str) -> None:
        if name not in self._models and name not in self.names_on_disk():
            raise ModelNotFound(f"unknown model '{name}'")
        async with self._lock:
            old = self._models.pop(name, {})
            self._publish(name, old, {})
        await asyncio.gather(*(record.served.retire() for record in old.values() if record.served))

    async def close(self) -> None:
        """Shutdown: finish queued work of every served version."""
        await asyncio.gather(*(served.retire() for served in self.served()))

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """The repository extension's index: every model on disk or loaded, with state and reason."""
        entries: list[dict[str, str]] = []
        for name in sorted(set(self.names_on_disk()) | set(self._models)):
            versions = self._models.get(name)
            if versions is None:
                entries.append({"name": name, "state": UNAVAILABLE, "reason": "unloaded"})
                continue
            entries.extend(
                {"name": name, "version": str(v), "state": r.state, "reason": r.reason}
                for v, r in sorted(versions.items())
            )
        return [entry for entry in entries if not ready_only or entry["state"] == READY]

    def metadata(self, name: str, version: str | None) -> dict[str, Any]:
        """V2 model metadata plus the served version's state, reason, task and execution provider."""
        record = self.record(name, version)
        card = record.card
        tensors = {
            kind: [spec.model_dump(include={"name", "datatype", "shape"}) for spec in specs]
            for kind, specs in (
                ("inputs", card.inputs if card else []),
                ("outputs", card.outputs if card else []),
            )
        }
        return {
            "name": name,
            "versions": [str(v) for v in sorted(self._models[name])],
            "platform": "onnxruntime_onnx",
            **tensors,
            "version": str(record.version),
            "task": card.task if card else None,
            "state": record.state,
            "reason": record.reason,
            "provider": record.served.provider if record.served else None,
        }

    async def _load_version(self, name: str, version: int) -> VersionRecord:
        path = self.root / name / str(version)
        try:
            card, session = await asyncio.to_thread(open_version, path, name, version, self._settings)
        except LoadError as failure:
            logger.error("model %s version %d is not ready: %s", name, version, failure)
            return VersionRecord(name, version, UNAVAILABLE, str(failure), failure.card)
        served = ServedModel(card, session, self._settings, self._metrics.for_model(name, str(version)))
        logger.info("model %s version %d ready on %s", name, version, session.provider)
        return VersionRecord(name, version, READY, card=card, served=served)

    def _publish(self, name: str, old: dict[int, VersionRecord], new: dict[int, VersionRecord]) -> None:
        for version in old.keys() - new.keys():
            self._metrics.set_state(name, str(version), False, None)
        for version, record in new.items():
            provider = record.served.provider if record.served else None
            self._metrics.set_state(name, str(version), record.served is not None, provider)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]
