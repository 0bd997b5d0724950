"""Configuration of the Gradio app: command-line flags and environment variables in one frozen dataclass.

Flags win over environment variables, which win over the defaults::

    python app.py --models demo --catalog products.csv --port 7861
    SCALP_MODELS=me SCALP_MODELS_REVISION=v1 gradio app.py

Every option has a flag and an environment variable (:data:`ENV_VARS`; ``python app.py --help``
lists them): where the models come from (``--models``/``SCALP_MODELS``, pinned with
``--models-revision``: a tag, a commit or a JSON file of per-repo pins), the catalog (``--catalog``,
``--catalog-revision``), OpenAI (``--openai-model``; the key is ``OPENAI_API_KEY``; at most
``--openai-per-minute`` guides a minute overall and ``--openai-per-client-per-minute`` per client),
serving limits (``--queue-size``, ``--max-sessions``, ``--session-ttl-s`` ≤ 900), how the models run
(``--backend``/``SCALP_BACKEND``: ``onnx``, ``int8`` or ``torch``; ``--model-threads`` per diagnosis and
``--model-concurrency`` diagnoses at once) and where to listen
(``--host``/``GRADIO_SERVER_NAME``, ``0.0.0.0`` on a Space; ``--port``; ``--share``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields

MAX_SESSION_TTL_S = 900  # a session (its photo and answers) is forgotten after at most 15 idle minutes
# How the six models run: scalp_models.diagnoser.BACKENDS (repeated here so that reading the
# configuration imports no torch; tests/test_quantize.py checks the two agree).
BACKENDS = ("int8", "onnx", "torch")
DEFAULT_BACKEND = "onnx"


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AppConfig:
    models: str = field(
        default="demo",
        metadata={"help": "where the six models come from: a Hub namespace (repos NS/scalp-<suffix>), "
                  "a local folder holding six <symptom key>/ model folders, or 'demo'"},
    )
    models_revision: str | None = field(
        default=None,
        metadata={"help": "Hub revision (tag, branch or commit) of all six repos, or a JSON file of per-repo pins "
                  "written by `hub_upload models --pins`"},
    )
    catalog: str | None = field(
        default=None,
        metadata={"help": "product catalog: CSV/Parquet path or Hub dataset id (default: the bundled demo catalog)"},
    )
    openai_model: str | None = field(
        default=None, metadata={"help": "OpenAI chat model for the care guide (needs OPENAI_API_KEY)"}
    )
    host: str | None = field(default=None, metadata={"help": "address to listen on"})
    port: int | None = field(default=None, metadata={"help": "port to listen on"})
    share: bool = field(default=False, metadata={"help": "ask Gradio for a public share link"})
    catalog_revision: str | None = field(default=None, metadata={"help": "Hub revision of a Hub-dataset catalog"})
    session_ttl_s: int = field(
        default=MAX_SESSION_TTL_S, metadata={"help": "forget a session's photo and answers after this long idle"})
    max_sessions: int = field(default=300, metadata={"help": "sessions kept in memory at most (oldest dropped)"})
    queue_size: int = field(default=64, metadata={"help": "requests waiting at most; more get 'busy, try again'"})
    backend: str = field(
        default=DEFAULT_BACKEND,
        metadata={"help": "how the six models run: onnx (ONNX Runtime fp32, exported once and cached), int8 (its "
                  "statically quantized copy, built once, checked against fp32 before it serves; fp32 serves "
                  "meanwhile) or torch (eager PyTorch)"})
    model_concurrency: int = field(
        default=2, metadata={"help": "model-bound requests run at once (2 measured best on 2 cores: bench/load.py "
                             "served 10.2-11.2 diagnoses/s under 16 clients against 8.1-9.5 with 1, at the same "
                             "single-user latency)"})
    model_threads: int | None = field(
        default=None, metadata={"help": "CPU threads one diagnosis uses (the six models in that many concurrent "
                                "groups; 1: one model after another on one thread). Default: 1 with --backend "
                                "int8, 2 otherwise (bench/load.py, 2 cores, 16 clients: int8 served 22.8 "
                                "diagnoses/s on 1 thread against 18.9 on 2, at 74 vs 66 ms single-user p50; "
                                "fp32 16.0 against 15.5, at 104 vs 87 ms)"})
    openai_per_minute: int = field(default=10, metadata={"help": "OpenAI guide requests per minute, all clients"})
    openai_per_client_per_minute: int = field(default=5, metadata={"help": "OpenAI guide requests per minute, per client"})

    def __post_init__(self):
        if not self.models or not self.models.strip():
            raise ValueError("--models/SCALP_MODELS must be a Hub namespace, a local folder or 'demo'")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"--port must be 1..65535, got {self.port}")
        if not 60 <= self.session_ttl_s <= MAX_SESSION_TTL_S:
            raise ValueError(f"session_ttl_s must be 60..{MAX_SESSION_TTL_S} seconds, got {self.session_ttl_s}")
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend/SCALP_BACKEND must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        for name in ("max_sessions", "queue_size", "model_concurrency", "model_threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("openai_per_minute", "openai_per_client_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def threads_per_diagnosis(self) -> int:
        """``model_threads``, or the measured best for the backend when it is not set."""
        if self.model_threads is not None:
            return self.model_threads
        return 1 if self.backend == "int8" else 2

    @property
    def uses_demo_models(self) -> bool:
        return self.models.strip().lower() == "demo"

    @classmethod
    def from_env(cls) -> AppConfig:
        """The configuration the environment gives (see :data:`ENV_VARS`); a bad number is a clear ValueError."""
        values = {}
        for name, var in ENV_VARS.items():
            raw = os.environ.get(var, "").strip()
            if not raw:
                continue
            if name == "share":
                values[name] = _env_bool(var)
            elif name in INT_FIELDS:
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ValueError(f"{var} must be a whole number, got {raw!r}") from None
            else:
                values[name] = raw
        if "host" not in values and os.environ.get("SPACE_ID"):
            values["host"] = "0.0.0.0"
        return cls(**values)


# Each option's environment variable (flags win over these, which win over the defaults).
ENV_VARS = {
    "models": "SCALP_MODELS",
    "models_revision": "SCALP_MODELS_REVISION",
    "catalog": "SCALP_CATALOG",
    "catalog_revision": "SCALP_CATALOG_REVISION",
    "openai_model": "SCALP_OPENAI_MODEL",
    "host": "GRADIO_SERVER_NAME",
    "port": "GRADIO_SERVER_PORT",
    "share": "GRADIO_SHARE",
    "session_ttl_s": "SCALP_SESSION_TTL_S",
    "max_sessions": "SCALP_MAX_SESSIONS",
    "queue_size": "SCALP_QUEUE_SIZE",
    "backend": "SCALP_BACKEND",
    "model_concurrency": "SCALP_MODEL_CONCURRENCY",
    "model_threads": "SCALP_MODEL_THREADS",
    "openai_per_minute": "SCALP_OPENAI_PER_MINUTE",
    "openai_per_client_per_minute": "SCALP_OPENAI_PER_CLIENT_PER_MINUTE",
}
INT_FIELDS = {f.name for f in fields(AppConfig) if f.type in ("int", "int | None")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Scalp diagnosis and scalp-care recommendation (Gradio app).")
    for f in fields(AppConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} [env {ENV_VARS[f.name]}]"
        if f.name == "share":
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=int if f.name in INT_FIELDS else str, default=None, help=help_text)
    return parser


def parse_config(argv: list[str] | None = None) -> AppConfig:
    """Environment first, then the flags given in ``argv`` on top."""
    args = build_parser().parse_args(argv)
    base = AppConfig.from_env()
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return AppConfig(**{**base.__dict__, **overrides})
