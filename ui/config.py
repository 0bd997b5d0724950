"""Configuration of the Gradio app: command-line flags and environment variables in one frozen dataclass.

Flags win over environment variables, which win over the defaults::

    python app.py --models demo --catalog products.csv --port 7861
    SCALP_MODELS=me SCALP_MODELS_REVISION=v1 gradio app.py

| flag | env | default |
|---|---|---|
| ``--models`` | ``SCALP_MODELS`` | ``demo`` (Hub namespace, local folder or ``demo``) |
| ``--models-revision`` | ``SCALP_MODELS_REVISION`` | none |
| ``--catalog`` | ``SCALP_CATALOG`` | the bundled demo catalog |
| ``--openai-model`` | ``SCALP_OPENAI_MODEL`` | recommendation's default (key: ``OPENAI_API_KEY``) |
| ``--host`` | ``GRADIO_SERVER_NAME`` | ``0.0.0.0`` on a Space, else ``127.0.0.1`` |
| ``--port`` | ``GRADIO_SERVER_PORT`` | 7860 |
| ``--share`` | ``GRADIO_SHARE`` | off |
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AppConfig:
    models: str = field(
        default="demo",
        metadata={"help": "where the six models come from: a Hub namespace (repos NS/scalp-<suffix>), "
                  "a local folder holding six <symptom key>/ model folders, or 'demo'"},
    )
    models_revision: str | None = field(default=None, metadata={"help": "Hub revision (tag, branch or commit) to pin"})
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
    session_ttl_s: int = field(default=3600, metadata={"help": "forget a session's photo and answers after this long"})

    def __post_init__(self):
        if not self.models or not self.models.strip():
            raise ValueError("--models/SCALP_MODELS must be a Hub namespace, a local folder or 'demo'")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"--port must be 1..65535, got {self.port}")
        if self.session_ttl_s < 60:
            raise ValueError(f"session_ttl_s must be at least 60 seconds, got {self.session_ttl_s}")

    @property
    def uses_demo_models(self) -> bool:
        return self.models.strip().lower() == "demo"

    @classmethod
    def from_env(cls) -> AppConfig:
        port = os.environ.get("GRADIO_SERVER_PORT")
        host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else None)
        return cls(
            models=os.environ.get("SCALP_MODELS") or "demo",
            models_revision=os.environ.get("SCALP_MODELS_REVISION") or None,
            catalog=os.environ.get("SCALP_CATALOG") or None,
            openai_model=os.environ.get("SCALP_OPENAI_MODEL") or None,
            host=host,
            port=int(port) if port else None,
            share=_env_bool("GRADIO_SHARE"),
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Scalp diagnosis and scalp-care recommendation (Gradio app).")
    helps = {f.name: f.metadata.get("help", "") for f in fields(AppConfig)}
    parser.add_argument("--models", help=helps["models"] + " [env SCALP_MODELS]")
    parser.add_argument("--models-revision", help=helps["models_revision"] + " [env SCALP_MODELS_REVISION]")
    parser.add_argument("--catalog", help=helps["catalog"] + " [env SCALP_CATALOG]")
    parser.add_argument("--openai-model", help=helps["openai_model"] + " [env SCALP_OPENAI_MODEL]")
    parser.add_argument("--host", help=helps["host"] + " [env GRADIO_SERVER_NAME]")
    parser.add_argument("--port", type=int, help=helps["port"] + " [env GRADIO_SERVER_PORT]")
    parser.add_argument("--share", action="store_true", default=None, help=helps["share"] + " [env GRADIO_SHARE]")
    return parser


def parse_config(argv: list[str] | None = None) -> AppConfig:
    """Environment first, then the flags given in ``argv`` on top."""
    args = build_parser().parse_args(argv)
    base = AppConfig.from_env()
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return AppConfig(**{**base.__dict__, **overrides})
