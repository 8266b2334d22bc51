"""Shared test settings: one Hypothesis profile (no deadline: exact arithmetic on big integers varies in
time; slow data generation is expected), chosen with HYPOTHESIS_PROFILE: default, or thorough (500
examples where a test does not set its own)."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def figure_layout(monkeypatch):
    """Every figure saved through the reports' figure helper while the test runs: stem name -> the layout
    problems the renderer measured on it (empty for a good figure)."""
    from memcap.reports import figures

    found, real_save = {}, figures.save

    def save(fig, stem):
        paths = real_save(fig, stem)
        found[stem.name] = figures.layout_problems(fig)
        return paths

    monkeypatch.setattr(figures, "save", save)
    return found
