"""The files the package ships: the default model and the protocol recipes.

In the repository they live in the top-level ``models/`` and ``stimuli/`` folders; this package
links to them, and the wheel carries them as package data, so an installed package never reads
the source tree.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
MODELS_DIR = SHIPPED_DIR / "models"
"""Folder of the shipped models, one sub-folder per name."""
PROTOCOL_DIR = SHIPPED_DIR / "stimuli"
"""Folder of the shipped stimulus recipes (TOML), one per protocol."""
