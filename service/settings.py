"""One settings object for the whole server, read from `POSECAST_*` variables in the app factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from PIL import Image
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1 << 20


class Settings(BaseSettings):
    """Every knob of the server. Tests construct it directly; `create_app` reads the environment otherwise."""

    model_config = SettingsConfigDict(env_prefix="POSECAST_", extra="ignore")

    repository: Path = Field(
        Path("model_repository"),
        description="Model repository root: <repository>/<model>/<version>/model.onnx.",
    )
    host: str = Field("127.0.0.1", description="Interface `python -m service` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port `python -m service` listens on.")
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["auto"],
        description="onnxruntime execution providers by priority (comma list), or `auto`: CUDA then CPU.",
    )
    device_id: int = Field(0, ge=0, description="CUDA device the CUDA execution provider runs on.")
    gpu_mem_limit_mb: int | None = Field(
        None, ge=1, description="Upper bound of the CUDA memory arena per session in MiB; unset: no limit."
    )
    intra_op_threads: int = Field(0, ge=0, description="Threads inside one operator; 0: onnxruntime's default.")
    inter_op_threads: int = Field(0, ge=0, description="Threads across operators; 0: onnxruntime's default.")
    max_batch_size: int = Field(16, ge=1, description="Most samples (axis 0) the batcher joins into one run.")
    max_queue_delay_ms: float = Field(
        0.0,
        ge=0,
        description="Longest time the oldest queued request waits for others to join its batch. 0 (adaptive): a "
        "request that finds the runtime idle runs at once; those that arrive while it is busy form the next batch.",
    )
    max_queue_size: int = Field(
        256, ge=1, description="Outstanding requests per model version before new ones get 503 + Retry-After."
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Queue + compute budget of one request before 504.")
    max_request_batch_size: int | None = Field(
        None,
        ge=1,
        description="Most samples (axis 0) in one request, for every model; unset: each card's "
        "max_request_batch_size, else 64.",
    )
    max_request_elements: int = Field(
        16 * MIB, ge=1, description="Most tensor elements over all inputs of one V2 request; more get 413."
    )
    max_response_bytes: int = Field(
        64 * MIB,
        ge=1,
        description="Largest JSON response a V2 request may ask for (estimated before encoding); larger ones get "
        "413, binary output (binary_data_output) is not limited.",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="A connection's request line and headers must arrive within this; else closed."
    )
    max_head_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Longest request line and headers together; a longer head gets 431 and the connection closes.",
    )
    max_connections: int = Field(
        2048,
        ge=1,
        description="Open connections one server process keeps; one more gets 503 with Retry-After and is closed. "
        "Each may hold a request head (POSECAST_MAX_HEAD_BYTES) while it arrives.",
    )
    send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest a client may leave its answer unread, taking none of the bytes waiting in the send "
        "buffer, before the connection is dropped.",
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for the next part of a request body before 408."
    )
    body_deadline_s: float = Field(
        120.0, gt=0, description="Longest time a whole request body may take to arrive before 408 (a trickle of parts)."
    )
    max_body_bytes: int = Field(32 * MIB, ge=1, description="Largest request body accepted; larger ones get 413.")
    max_pending_body_bytes: int = Field(
        256 * MIB,
        ge=1,
        description="Most bytes that bodies still arriving may hold, over all connections of one server process; a "
        "part past it gets 503 with Retry-After. At least POSECAST_MAX_BODY_BYTES, which raises the default with it.",
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        le=Image.MAX_IMAGE_PIXELS,
        description="Most decoded pixels (width x height) the task endpoints accept in one request, over all its "
        "images; more get 413. At most Pillow's decompression-bomb limit, which also applies per image.",
    )
    max_images_per_request: int = Field(
        32, ge=1, description="Most images (or frames) in one /v1 request; more get 400."
    )
    max_eval_upload_bytes: int = Field(
        32 * MIB, ge=1, description="Largest evaluation-set upload (also bounded by POSECAST_MAX_BODY_BYTES)."
    )
    max_eval_unpacked_bytes: int = Field(
        256 * MIB, ge=1, description="Most bytes an evaluation archive may unpack to (zip and tar bombs)."
    )
    max_eval_annotation_bytes: int = Field(
        32 * MIB,
        ge=1,
        description="Largest COCO annotation JSON inside an evaluation archive (parsing costs several times it).",
    )
    max_eval_samples: int = Field(5000, ge=1, description="Most samples (people or sequences) in one evaluation set.")
    eval_sync_max_samples: int = Field(
        64, ge=0, description="Evaluation sets up to this many samples are answered at once; larger ones run as a job."
    )
    max_jobs: int = Field(
        2,
        ge=1,
        description="Evaluations in progress at once (uploads being read or scored, and jobs); more get 503 + "
        "Retry-After, before their upload is unpacked.",
    )
    job_ttl_s: float = Field(3600.0, gt=0, description="How long a finished job's result stays readable.")
    jobs_dir: Path | None = Field(
        None,
        description="A folder every process behind one address shares, so any of them answers a job's status: "
        "set by the server itself for POSECAST_WORKERS > 1; replicas may share a volume. Unset: jobs stay in-process.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port, each with its own sessions (Python-bound hosts: more "
        "processes than one event loop can feed). Metrics and statistics are per process.",
    )
    pin_workers: bool = Field(
        False,
        description="Linux, POSECAST_WORKERS > 1: each worker runs on its own share of the CPUs the server may use, "
        "and onnxruntime's default intra-op threads become that share. A process's threads then hand the GIL over "
        "on one core. For CPUs that are the server's alone (docker --cpuset-cpus, Kubernetes' static CPU manager).",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for the repository API (load/unload/index); unset: that API is refused.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma list of keys accepted on model routes (Bearer or X-API-Key); empty: no auth.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of browser origins allowed to call the API (CORS, `*` for any); empty: CORS off.",
    )
    docs_require_key: bool = Field(
        False, description="/docs, /redoc and /openapi.json need an API key (when POSECAST_API_KEYS is set)."
    )
    metrics_require_key: bool = Field(
        False, description="/metrics needs an API key (when POSECAST_API_KEYS is set); else scrape it openly."
    )
    ready_without_models: bool = Field(
        False, description="/v2/health/ready answers 200 with an empty repository; by default it needs a model."
    )
    log_format: Literal["text", "json"] = Field("text", description="`json` writes one JSON object per line.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Root log level.")
    access_log: bool = Field(
        True,
        description="One log line per request (uvicorn's access log). Off saves its CPU at high request rates "
        "(benchmarks/README.md); /metrics still counts every inference request.",
    )
    require_gpu: bool = Field(
        False, description="Refuse to start unless a GPU execution provider is available and actually active."
    )
    grace_period_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long queued and in-flight requests get to finish."
    )

    @field_validator("providers", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Environment variables carry lists as `a,b,c`, not JSON."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """`a,b`; a blank key (`POSECAST_API_KEYS=`, `' , '`) is a mistake that would turn keys off silently."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            return value
        keys = [item.get_secret_value() if isinstance(item, SecretStr) else str(item) for item in items]
        if any(not key.strip() for key in keys):
            raise ValueError("POSECAST_API_KEYS holds an empty key: unset it to turn API keys off")
        return [key.strip() for key in keys]

    @field_validator("admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Set but blank (an empty compose variable or Kubernetes secret) must not become a token of ''."""
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("POSECAST_ADMIN_TOKEN is set but empty: unset it to keep the repository API closed")
        return value

    @model_validator(mode="after")
    def _check_guards(self) -> Settings:
        for flag in ("docs_require_key", "metrics_require_key"):
            if getattr(self, flag) and not self.api_keys:
                raise ValueError(f"POSECAST_{flag.upper()} needs POSECAST_API_KEYS: there is no key to require")
        if self.max_pending_body_bytes < self.max_body_bytes:
            if "max_pending_body_bytes" in self.model_fields_set:
                raise ValueError(
                    "POSECAST_MAX_PENDING_BODY_BYTES is below POSECAST_MAX_BODY_BYTES: a body of the largest size "
                    "could never arrive"
                )
            self.max_pending_body_bytes = self.max_body_bytes  # a deployment that raised the body limit keeps working
        return self

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "POSECAST_PROVIDERS is empty: use `auto` or e.g. `CUDAExecutionProvider,CPUExecutionProvider`"
            )
        if "auto" in value and len(value) > 1:
            raise ValueError("POSECAST_PROVIDERS: `auto` cannot be combined with explicit providers")
        return value


SETTING_VARIABLES = tuple(f"POSECAST_{name.upper()}" for name in Settings.model_fields)
# The `posecast` command (cli/main.py) shares the prefix: a shell set up for it may start a server too.
CLIENT_VARIABLES = {
    "POSECAST_URL": "the server the posecast command calls",
    "POSECAST_API_KEY": "the key the posecast command sends; the server's own keys are POSECAST_API_KEYS",
}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`POSECAST_*` variables that name no setting: a misspelt one would otherwise be ignored without a word."""
    return sorted(
        name for name in environ if name.upper().startswith("POSECAST_") and name.upper() not in SETTING_VARIABLES
    )
