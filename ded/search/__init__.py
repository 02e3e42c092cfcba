"""Similarity search over question and trajectory vectors (LanceDB), with the indexes it uses."""

from ded.search.flat import RowSet, row_set
from ded.search.index import ensure_fts_index, ensure_vector_index, has_vector_index
from ded.search.query import Hit, SearchError, filter_rows, rrf, search, vector_search

__all__ = ["Hit", "RowSet", "SearchError", "ensure_fts_index", "ensure_vector_index", "filter_rows", "has_vector_index",
           "row_set", "rrf", "search", "vector_search"]
