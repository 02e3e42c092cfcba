"""Similarity search over question and trajectory vectors (LanceDB), with the indexes it uses."""

from ded.search.index import ensure_fts_index, ensure_vector_index, has_vector_index
from ded.search.query import Hit, SearchError, rrf, search, vector_search

__all__ = ["Hit", "SearchError", "ensure_fts_index", "ensure_vector_index", "has_vector_index", "rrf", "search",
           "vector_search"]
