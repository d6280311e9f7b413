"""Continuation of equilibria (folds, branch points, stability) and two-parameter outcome maps."""

from __future__ import annotations

import numpy as np
import pytest

import tumordyn as td
from tumordyn.numerics import compile_model
from test_equilibria import KUZ, kuznetsov_reference


def _count(d: float) -> int:
    return len(kuznetsov_reference(**dict(KUZ, d=d))[0])


def _bisect_change(a: float, b: float) -> float:
    """Where the number of equilibria of the hand-derived cubic changes (independent of the continuation)."""
    ca = _count(a)
    for _ in range(60):
        mid = 0.5 * (a + b)
        if _count(mid) == ca:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


@pytest.fixture(scope="module")
def scan_d():
    return td.analysis.bifurcation(td.models.kuznetsov1994(), "d", (0.005, 0.2), log=True)


def test_folds_and_branch_point_along_d(scan_d):
    sp_ = scan_d.special_points
    folds = np.sort(sp_.loc[sp_["kind"] == "fold", "d"].to_numpy())
    bps = sp_.loc[sp_["kind"] == "branch point", "d"].to_numpy()
    # independent: the number of equilibria changes 2 -> 4 and 4 -> 2 at the folds
    ref = [_bisect_change(0.015, 0.03), _bisect_change(0.06, 0.1)]
    assert _count(0.015) == 2 and _count(0.05) == 4 and _count(0.1) == 2
    np.testing.assert_allclose(folds, ref, rtol=1e-5)
    # transcritical: the interior branch crosses T = 0 where a = n s / d
    np.testing.assert_allclose(bps, [KUZ["n"] * KUZ["s"] / KUZ["a"]], rtol=1e-5)
    # there the dormant branch reaches T = 0 with E = a / n (= s / d)
    bp = sp_[sp_["kind"] == "branch point"].iloc[0]
    assert bp["E"] == pytest.approx(KUZ["a"] / KUZ["n"], rel=1e-5)
    assert bp["T"] == pytest.approx(0.0, abs=1.0)
    assert "fold" in repr(scan_d)


def test_branch_points_are_steady_states_with_the_right_stability(scan_d):
    m = td.models.kuznetsov1994()
    df = scan_d.branches
    assert set(df.columns) >= {"branch", "d", "E", "T", "stable", "stability", "max_real"}
    rng = np.random.default_rng(1)
    for idx in rng.choice(len(df), 12, replace=False):
        row = df.iloc[idx]
        pars = dict(KUZ, d=row["d"])
        y = np.array([row["E"], row["T"]])
        p = compile_model(m).param_vector({"d": row["d"]})
        f = compile_model(m).rhs(0.0, y, p, np.zeros(0))
        assert np.all(np.abs(f) <= 1e-6 * np.maximum(np.abs(y), 1.0) * 1e-1 + 1e-3), (row, f)
        ref, eigs = kuznetsov_reference(**pars)
        k = int(np.argmin(np.abs(ref[:, 1] - row["T"]) + np.abs(ref[:, 0] - row["E"])))
        if abs(ref[k, 1] - row["T"]) < 1e-4 * max(row["T"], 1.0):
            assert row["stable"] == bool(np.all(eigs[k].real < 0))
    # between the folds both the dormant and the escape states are stable: bistability
    mid = df[(df["d"] > 0.03) & (df["d"] < 0.07) & df["stable"] & (df["T"] > 0)]
    assert mid["T"].min() < 5e7 and mid["T"].max() > 3e8


def test_plot_draws_stable_and_unstable(scan_d):
    import matplotlib.pyplot as plt

    ax = scan_d.plot(log=True, logx=True)
    styles = {ln.get_linestyle() for ln in ax.get_lines()}
    assert "-" in styles and "--" in styles
    labels = ax.get_legend_handles_labels()[1]
    assert {"stable", "unstable", "fold", "branch point"} <= set(labels)
    plt.close(ax.figure)


def test_bifurcation_bad_input():
    m = td.models.kuznetsov1994()
    with pytest.raises(td.errors.UnknownNameError, match="'dd'"):
        td.analysis.bifurcation(m, "dd", (0.01, 0.1))
    with pytest.raises(td.errors.SpecificationError, match="outside its bounds"):
        td.analysis.bifurcation(m, "d", (0.01, 2.0))
    with pytest.raises(td.errors.SpecificationError, match="low < high"):
        td.analysis.bifurcation(m, "d", (0.1, 0.01))
    with pytest.raises(td.errors.SpecificationError, match="positive"):
        td.analysis.bifurcation(m, "s", (0.0, 1e4), log=True)
    with pytest.raises(TypeError, match="pair"):
        td.analysis.bifurcation(m, "d", 0.1)
    with pytest.raises(td.errors.UnknownNameError):
        td.analysis.bifurcation(m, "d", (0.01, 0.1)).plot(state="Q")


def test_outcome_map_basins_match_the_stable_states():
    m = td.models.kuznetsov1994()
    om = td.analysis.outcome_map(m, "T", (1e6, 1e9), "E", (1e4, 3e6), n=4, log_x=True, log_y=True, t_end=3000.0,
                        threshold=1e8)
    eq = td.analysis.equilibria(m)
    dormant, escape = eq.states[1, 1], eq.states[3, 1]
    assert om.escape.shape == (4, 4) and om.n_failed == 0
    # every simulation ends near one of the two stable states; escape iff near the escape node
    near_escape = np.abs(om.final - escape) < 0.05 * escape
    near_dormant = np.abs(om.final - dormant) < 0.5 * dormant
    assert np.all(near_escape | near_dormant)
    np.testing.assert_array_equal(om.escape.astype(bool), near_escape)
    assert 0 < om.escape_fraction < 1
    # more effectors at the same tumor size never turn control into escape
    assert np.all(np.diff(om.escape, axis=0) <= 0)
    df = om.to_dataframe()
    assert len(df) == 16 and set(df.columns) == {"T", "E", "escape", "final"}
    import matplotlib.pyplot as plt

    ax = om.plot()
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)


def test_outcome_map_parameters_and_bad_input():
    m = td.models.kuznetsov1994()
    om = td.analysis.outcome_map(m, "n", (1e-8, 1e-5), "s", (1e3, 5e4), n=(3, 2), log_x=True, t_end=2000.0, threshold=1e8)
    assert om.escape.shape == (2, 3)
    # strong killing (n = 1e-5) controls the tumor at any influx
    assert np.all(om.escape[:, -1] == 0)
    with pytest.raises(td.errors.UnknownNameError):
        td.analysis.outcome_map(m, "zz", (0, 1), "s", (1e3, 2e3), n=2)
    with pytest.raises(td.errors.SpecificationError, match="outside its bounds"):
        td.analysis.outcome_map(m, "a", (0.1, 10.0), "s", (1e3, 2e3), n=2)
    with pytest.raises(td.errors.SpecificationError, match="differ"):
        td.analysis.outcome_map(m, "s", (1e3, 2e3), "s", (1e3, 2e3), n=2)
    with pytest.raises(td.errors.UnknownNameError, match="readout"):
        td.analysis.outcome_map(m, "s", (1e3, 2e3), "n", (1e-8, 1e-7), n=2, readout="size")


def test_outcome_map_solver_object_is_honoured():
    m = td.models.kuznetsov1994()
    seen = []

    def escape(traj) -> bool:
        seen.append(traj.stats.method)
        return bool(traj["T"][-1] > 1e8)

    om = td.analysis.outcome_map(m, "n", (1e-8, 1e-5), "s", (1e3, 5e4), n=(3, 2), log_x=True, t_end=2000.0,
                        criterion=escape, solver=td.Solver(method="BDF", rtol=1e-8))
    ref = td.analysis.outcome_map(m, "n", (1e-8, 1e-5), "s", (1e3, 5e4), n=(3, 2), log_x=True, t_end=2000.0, threshold=1e8)
    assert set(seen) == {"BDF"} and len(seen) == 6
    np.testing.assert_array_equal(om.escape, ref.escape)
    with pytest.raises(td.errors.SpecificationError, match="not both"):
        td.analysis.outcome_map(m, "n", (1e-8, 1e-5), "s", (1e3, 5e4), n=2, solver=td.Solver(), rtol=1e-6)
