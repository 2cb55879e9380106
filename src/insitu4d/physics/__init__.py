"""Physics: sintering geometry models (and, later, sintering laws, dose and beam damage)."""

from .geometry import (
    model_c_com_distance,
    model_c_distance,
    model_c_distance_unequal,
    model_c_neck_radius,
    truncated_sphere,
)

__all__ = ["model_c_distance", "model_c_neck_radius", "model_c_distance_unequal", "model_c_com_distance",
           "truncated_sphere"]
