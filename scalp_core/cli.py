"""Helpers shared by the command-line entry points (``python -m datasets_prep``, ``scalp_models``, ...).

Options are frozen dataclasses whose fields carry their help text, read by transformers'
``HfArgumentParser`` in each ``main``::

    @dataclass(frozen=True)
    class TrainConfig:
        data: str = help_field("Build output folder of `datasets_prep build`.")
        seed: int = help_field("Seed of model init and training.", default=42)
"""

from __future__ import annotations

from dataclasses import field


def help_field(text: str, **kwargs):
    """A dataclass ``field`` whose ``--help`` text is ``text`` (other keyword arguments pass through)."""
    return field(metadata={"help": text}, **kwargs)
