"""Embedded example data (see each folder's README for provenance and licence)."""
