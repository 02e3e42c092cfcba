"""ded: a data-centric curation engine for reasoning distillation."""

__version__ = "0.1.0"
