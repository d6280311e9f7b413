"""Schedule search: grid and bounded searches against a closed form, with an exposure budget."""

from __future__ import annotations

import math

import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError, UnknownNameError

R, K, N0, T = 0.05, 0.15, 1e6, 60.0


def kill_model() -> td.Model:
    return td.Model(
        "kill",
        states=[td.State("N", N0, "cells", "tumor cells", atol=1e-6)],
        parameters=[td.Parameter("r", R, (0, 1), "1/day", "growth", "test"),
                    td.Parameter("k", K, (0, 1), "1/day", "kill", "test")],
        processes=[td.Process("growth", "r * N", produces="N"), td.Process("kill", "k * cure * N", consumes="N")],
        drugs=[td.Drug("cure", None, dose_unit="1")],
        observables=[td.Observable("tumor_burden", "N", "cells")],
    )


def build(duration: float) -> td.Schedule:
    """Drug on from day 0 for `duration` days (level 1): N(T) = N0 exp(r T - k duration)."""
    return td.Schedule.infusion("cure", 1.0, 0, duration) if duration > 0 else td.Schedule()


def log_final(traj) -> float:
    return math.log(traj["N"][-1])


def test_grid_search_respects_the_budget_and_returns_the_surface():
    res = td.comparison.search_schedule(kill_model(), build, grid=[5, 10, 20, 30, 40], t_end=T, readout=log_final,
                             maximize=False, budget={"cure": 30.0}, parameter="days on drug")
    assert res.best_x == 30.0  # the longest course within the budget
    assert res.best_value == pytest.approx(math.log(N0) + R * T - K * 30.0, abs=1e-5)
    s = res.surface
    assert s["x"].tolist() == [5, 10, 20, 30, 40]
    assert s["feasible"].tolist() == [True, True, True, True, False]
    assert s["total_cure"].tolist() == pytest.approx([5, 10, 20, 30, 40])
    assert s["value"].to_numpy() == pytest.approx([math.log(N0) + R * T - K * x for x in s["x"]], abs=1e-5)
    assert res.best_schedule == build(30.0)
    ax = res.plot()
    assert ax.get_xlabel() == "days on drug"
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_bounded_search_refines_with_scipy():
    # the readout falls until the budget bites at 23.5 days: the optimum is the budget edge
    res = td.comparison.search_schedule(kill_model(), build, bounds=(0, 40), t_end=T, readout=log_final, maximize=False,
                             budget={"cure": 23.5}, xtol=0.05)
    assert res.best_x == pytest.approx(23.5, abs=0.3)
    assert res.best_x <= 23.5
    assert len(res.surface) > 9  # coarse grid plus the refinement


def test_maximise_a_comparison_column():
    res = td.comparison.search_schedule(kill_model(), build, grid=[0, 10, 20], t_end=T, readout="best_change_burden_pct",
                             maximize=True)
    assert res.best_x == 0  # without the drug the tumor never shrinks: best % change 0 is the maximum


def test_search_errors():
    m = kill_model()
    with pytest.raises(SpecificationError, match="exactly one"):
        td.comparison.search_schedule(m, build, t_end=T)
    with pytest.raises(SpecificationError, match="exactly one"):
        td.comparison.search_schedule(m, build, grid=[1], bounds=(0, 1), t_end=T)
    with pytest.raises(UnknownNameError, match="did you mean 'cure'"):
        td.comparison.search_schedule(m, build, grid=[1], t_end=T, budget={"cur": 1}, readout=log_final)
    with pytest.raises(SpecificationError, match="no candidate is within the budget"):
        td.comparison.search_schedule(m, build, grid=[10, 20], t_end=T, budget={"cure": 5}, readout=log_final)
    with pytest.raises(UnknownNameError, match="readout"):
        td.comparison.search_schedule(m, build, grid=[10], t_end=T, readout="ttp")


def test_solver_object_is_honoured():
    seen = []

    def final(traj) -> float:
        seen.append(traj.stats.method)
        return log_final(traj)

    res = td.comparison.search_schedule(kill_model(), build, grid=[5, 10], t_end=T, readout=final, maximize=False,
                             solver=td.Solver(method="Radau", rtol=1e-9))
    assert seen and set(seen) == {"Radau"}
    assert res.best_value == pytest.approx(math.log(N0) + R * T - K * 10.0, abs=1e-6)
    with pytest.raises(TypeError, match="Solver"):
        td.comparison.search_schedule(kill_model(), build, grid=[5], t_end=T, readout=log_final, solver="LSODA")
