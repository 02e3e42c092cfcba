"""taco: TACO (BAAI/TACO) rows, APPS's shape."""

from __future__ import annotations

from ded.ingest.presets._shape import Preset
from ded.ingest.presets.apps import apps

PRESET = Preset(name="taco", parse=apps, problem_keys=("question",), doc="TACO: APPS's shape (question, solutions, input_output)")
