"""The tilt-axis direction: which of the image axes the tilt axis runs along, decided from the reprojection
residuals of the directions tried, or by convention when they do not decide (docs/science.md §4)."""

from __future__ import annotations

from ..errors import InvalidParameter

__all__ = ["direction_contrast", "decide_direction", "MIN_DIRECTION_CONTRAST", "CONVENTIONAL_DIRECTION_DEG"]

#: Relative difference of the two directions' residuals below which the data do not decide the
#: tilt-axis direction (:func:`direction_contrast`).
MIN_DIRECTION_CONTRAST = 0.10
#: The direction taken when the data do not decide: the tilt axis along image y, this
#: project's convention for the input images (IMOD's tilt program also takes the axis along y).
CONVENTIONAL_DIRECTION_DEG = 0.0


def direction_contrast(direction_residuals) -> float:
    """How clearly the residuals of the directions tried decide the tilt axis: (r₂ − r₁) / r₁.

    Parameters
    ----------
    direction_residuals : sequence of (float, float)
        (direction in degrees, reprojection residual), at least two.

    Returns
    -------
    float
        The relative difference of the two lowest residuals (≥ 0).

    Raises
    ------
    InvalidParameter
        Fewer than two directions.
    """
    if len(direction_residuals) < 2:
        raise InvalidParameter(f"a direction contrast needs two directions tried; got {len(direction_residuals)}.")
    res = sorted(float(r) for _, r in direction_residuals)
    return (res[1] - res[0]) / max(res[0], 1e-12)


def decide_direction(direction_residuals) -> tuple[float, str]:
    """The tilt-axis direction from the residuals of the directions tried, and the rule that decided it.

    The lower residual decides when it is lower by at least :data:`MIN_DIRECTION_CONTRAST`
    (:func:`direction_contrast`); otherwise the data do not decide and the convention
    :data:`CONVENTIONAL_DIRECTION_DEG` is taken, if it was tried.

    Parameters
    ----------
    direction_residuals : sequence of (float, float)
        (direction in degrees, reprojection residual), at least one.

    Returns
    -------
    direction_deg : float
    rule : {"given", "residual", "convention"}
        "given" when only one direction was tried.

    Raises
    ------
    InvalidParameter
        No direction.
    """
    if len(direction_residuals) == 0:
        raise InvalidParameter("no tilt-axis direction was tried.")
    if len(direction_residuals) == 1:
        return float(direction_residuals[0][0]), "given"
    best = min(direction_residuals, key=lambda dr: float(dr[1]))
    tried = [float(d) for d, _ in direction_residuals]
    if direction_contrast(direction_residuals) < MIN_DIRECTION_CONTRAST and CONVENTIONAL_DIRECTION_DEG in tried:
        return CONVENTIONAL_DIRECTION_DEG, "convention"
    return float(best[0]), "residual"
