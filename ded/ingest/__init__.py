"""Ingest of the field's question sets and trajectory dumps (see `core.ingest_paths`)."""

from ded.ingest.core import IngestReport, StrictReject, ingest_file, ingest_paths
from ded.ingest.presets import PRESETS

__all__ = ["PRESETS", "IngestReport", "StrictReject", "ingest_file", "ingest_paths"]
