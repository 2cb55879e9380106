"""Helpers of the benchmarks that rewrite an experiment file's text (not part of the package)."""

from __future__ import annotations

from pathlib import Path

#: The embedded digital twin of Ihara et al. (8× binned).
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "insitu4d" / "examples" / "twin_ihara" / "experiment.toml"


def first_time_points(text: str, k: int) -> str:
    """The experiment text with only its first ``k`` [[timepoints]] tables (the rest of the file kept)."""
    head, *blocks = text.split("[[timepoints]]")
    kept, rest = blocks[:k], blocks[k:]
    if rest:  # tables after the last time point (e.g. [simulation]) follow the last block
        tail = rest[-1]
        cut = tail.find("\n[")
        kept[-1] = kept[-1].rstrip("\n") + "\n" + (tail[cut:] if cut >= 0 else "")
    return head + "".join("[[timepoints]]" + b for b in kept)


def replace_exactly(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced; an error when it is not there once."""
    if text.count(old) != 1:
        raise ValueError(f"expected {old!r} once in the experiment file; found it {text.count(old)} times")
    return text.replace(old, new)
