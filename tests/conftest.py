"""Shared pytest settings.

``pytest.approx`` adds an absolute tolerance of 1e-12 to every comparison by default. Energies,
times and capacitances here are SI numbers far below that (a pJ is 1e-12 J, a fF 1e-15 F), so
with the default an energy comparison accepts almost any value and cannot fail. Every test in
this project compares relatively unless it names an ``abs`` tolerance itself.
"""
import pytest

type(pytest.approx(1.0)).DEFAULT_ABSOLUTE_TOLERANCE = 0.0  # the scalar class, wherever pytest keeps it
