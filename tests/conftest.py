"""Shared pytest configuration for the tumordyn test suite.

Hypothesis profiles (choose with the environment variable ``HYPOTHESIS_PROFILE``):

* ``ci`` (default): deterministic (derandomized), 30 examples per test, no deadline;
* ``dev``: random, 100 examples per test;
* ``thorough``: random, 2000 examples per test, for local bug hunts.
"""

import os

# Headless plotting everywhere, before anything can import matplotlib.pyplot.
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis comes with the `test` extra; tests that need it will say so
    settings = None

if settings is not None:
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        max_examples=30,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.register_profile("thorough", max_examples=2000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
