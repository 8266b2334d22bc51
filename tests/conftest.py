"""Shared test settings: one Hypothesis profile (no deadline: exact arithmetic on big integers varies in
time; slow data generation is expected), chosen with HYPOTHESIS_PROFILE: default, or thorough (500
examples where a test does not set its own)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
