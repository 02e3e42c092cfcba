"""Scorers: what SQL cannot express (Levenshtein diversity, k-center, student-side entropy and RSR, LIMO rule score)."""
