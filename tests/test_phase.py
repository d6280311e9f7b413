"""Phase portraits: nullclines, equilibria and trajectories of the Kuznetsov model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import tumordyn as td
from test_equilibria import KUZ


def _contour_vertices(ax):
    from matplotlib.contour import ContourSet

    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    return [np.vstack([p.vertices for p in cs.get_paths() if len(p.vertices)]) for cs in sets]


def test_phase_portrait_nullclines_and_equilibria():
    m = td.models.kuznetsov1994()
    ax = td.analysis.phase_portrait(m, x="T", y="E", x_range=(1e6, 5.5e8), y_range=(1e4, 2e6), starts=3, t_end=200.0)
    t_null, e_null = _contour_vertices(ax)
    # T-nullcline (T > 0): E = a (1 - b T) / n, derived by hand
    T, E = t_null[:, 0], t_null[:, 1]
    np.testing.assert_allclose(E, KUZ["a"] * (1 - KUZ["b"] * T) / KUZ["n"], rtol=2e-2, atol=2e3)
    # E-nullcline: E = s / (d + m T - p T / (g + T))
    T, E = e_null[:, 0], e_null[:, 1]
    ok = E < 1.9e6
    ref = KUZ["s"] / (KUZ["d"] + KUZ["m"] * T - KUZ["p"] * T / (KUZ["g"] + T))
    np.testing.assert_allclose(E[ok], ref[ok], rtol=2e-2, atol=2e3)
    # the three interior equilibria are marked at their positions
    eq = td.analysis.equilibria(m)
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    xy = np.array([[ln.get_xdata()[0], ln.get_ydata()[0]] for ln in marks])
    for E0, T0 in eq.states[1:]:
        assert np.min(np.hypot((xy[:, 0] - T0) / T0, (xy[:, 1] - E0) / E0)) < 1e-9
    traj = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 100]
    assert len(traj) == 3
    plt.close(ax.figure)


def test_phase_portrait_log_and_explicit_starts():
    m = td.models.kuznetsov1994()
    fig, ax = plt.subplots()
    out = td.analysis.phase_portrait(m, "T", "E", log=True, x_range=(1e5, 1e9), y_range=(1e4, 1e7),
                            starts=[(5e6, 3.2e5)], t_end=50.0, field="quiver", ax=ax)
    assert out is ax
    assert "log10" in ax.get_xlabel()
    traj = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 100]
    # the trajectory from (5e6, 3.2e5) agrees with td.simulate
    sim = td.simulate(m, t_end=50.0, t_eval=np.linspace(0, 50.0, 600), rtol=1e-8)
    np.testing.assert_allclose(10 ** traj[0].get_xdata(), sim["T"], rtol=1e-4)
    plt.close(fig)


def test_phase_portrait_bad_input():
    m = td.models.kuznetsov1994()
    with pytest.raises(td.errors.UnknownNameError):
        td.analysis.phase_portrait(m, "T", "Q")
    with pytest.raises(td.errors.SpecificationError, match="different"):
        td.analysis.phase_portrait(m, "T", "T")
    with pytest.raises(td.errors.SpecificationError, match="field"):
        td.analysis.phase_portrait(m, "T", "E", field="arrows")
    with pytest.raises(td.errors.SpecificationError, match="positive"):
        td.analysis.phase_portrait(m, "T", "E", log=True, x_range=(0.0, 1e9))
    with pytest.raises(td.errors.SpecificationError, match="t_end"):
        td.analysis.phase_portrait(m, "T", "E", t_end=-1.0)
