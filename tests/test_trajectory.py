"""Trajectory: labelled read-only results, export and plotting."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tumordyn as td  # noqa: E402
from tumordyn import Dose, Infusion, Schedule  # noqa: E402
from tumordyn.errors import UnknownNameError  # noqa: E402


@pytest.fixture(scope="module")
def traj() -> td.Trajectory:
    m = td.models.tumor_immune_tme()
    schedule = Schedule([Dose(0.0, "targeted", 100.0), Dose(10.0, "anti_pd1", 200.0),
                         Infusion("priming", 2.0, 6.0, 5.0)])
    return td.simulate(m, schedule, t_end=20.0, t_eval=np.linspace(0, 20, 41), method="LSODA")


@pytest.fixture(scope="module")
def zhang() -> td.Trajectory:
    return td.simulate(td.models.zhang2017(), Schedule([Infusion("abiraterone", 0.0, 30.0, 1.0)]), t_end=60.0,
                       t_eval=np.linspace(0, 60, 13), method="LSODA")


def test_arrays_are_read_only(traj: td.Trajectory) -> None:
    for a in (traj.t, traj.y, traj.u, traj["S"], traj["tumor_burden"], traj["u_priming"]):
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 1.0
    with pytest.raises(TypeError):
        traj.params["K"] = 1.0  # type: ignore[index]


def test_shapes(traj: td.Trajectory) -> None:
    assert traj.t.shape == (41,)
    assert traj.y.shape == (41, 9)
    assert traj.u.shape == (41, 3)
    assert len(traj) == 41
    assert set(traj.params) == set(traj.model.parameters.names)


def test_lookup_states_observables_inputs(traj: td.Trajectory) -> None:
    m = traj.model
    np.testing.assert_array_equal(traj["S"], traj.y[:, 0])
    np.testing.assert_array_equal(traj["C_priming"], traj.y[:, m.states.index("C_priming")])
    np.testing.assert_allclose(traj["tumor_burden"], traj["S"] + traj["R"], rtol=1e-15)
    np.testing.assert_allclose(traj["resistant_fraction"], traj["R"] / (traj["S"] + traj["R"]), rtol=1e-12)
    v = traj.params["v_cell"] * (traj["S"] + traj["R"])
    np.testing.assert_allclose(traj["tumor_diameter"], (6 * v / np.pi) ** (1 / 3), rtol=1e-12)
    # infusion input in force (amount/day): on during [2, 6)
    u = traj["u_priming"]
    np.testing.assert_array_equal(u, np.where((traj.t >= 2.0) & (traj.t < 6.0), 5.0, 0.0))
    assert np.all(traj["u_targeted"] == 0.0)
    for name in traj.names:
        assert name in traj
        assert traj[name].shape == traj.t.shape


def test_direct_input_drug_level(zhang: td.Trajectory) -> None:
    np.testing.assert_array_equal(zhang["abiraterone"], np.where(zhang.t < 30.0, 1.0, 0.0))
    np.testing.assert_array_equal(zhang["u_abiraterone"], zhang["abiraterone"])
    assert "abiraterone" in zhang.names


def test_unknown_name_suggests_closest(traj: td.Trajectory) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tumor_burden'"):
        traj["tumour_burden"]
    with pytest.raises(KeyError):
        traj["u_nothing"]
    with pytest.raises(UnknownNameError):
        traj["targeted"]  # a drug with a compartment: its level is C_targeted
    with pytest.raises(TypeError):
        traj[0]  # type: ignore[index]
    assert "nope" not in traj


def test_final_and_value_at(traj: td.Trajectory) -> None:
    assert traj.final == {n: float(traj[n][-1]) for n in traj.state_names}
    assert traj.value_at("S", 10.0) == traj["S"][20]
    assert traj.value_at("tumor_burden", 0.0) == traj["tumor_burden"][0]
    # value at a dose time is after the dose: 200 mg into 5 L (default volume of anti-PD-1)
    before = traj.value_at("C_anti_pd1", 9.5)
    after = traj.value_at("C_anti_pd1", 10.0)
    assert before == 0.0
    assert after == pytest.approx(200.0 / traj.params["V_anti_pd1"], rel=1e-12)
    with pytest.raises(ValueError, match="not an output time"):
        traj.value_at("S", 10.25)
    with pytest.raises(UnknownNameError):
        traj.value_at("Q", 10.0)


def test_to_dataframe(traj: td.Trajectory) -> None:
    df = traj.to_dataframe()
    assert list(df.columns) == list(traj.state_names + traj.observable_names)
    assert df.index.name == "time"
    np.testing.assert_array_equal(df.index.to_numpy(), traj.t)
    np.testing.assert_array_equal(df["S"].to_numpy(), traj["S"])
    df["S"] = 0.0  # the frame is a copy: editing it leaves the trajectory alone
    assert traj["S"][0] > 0.0
    sub = traj.to_dataframe(["tumor_burden", "u_priming"])
    assert list(sub.columns) == ["tumor_burden", "u_priming"]
    with pytest.raises(UnknownNameError):
        traj.to_dataframe(["nope"])


def test_plot(traj: td.Trajectory) -> None:
    import matplotlib.pyplot as plt

    ax = traj.plot()
    assert ax.get_xlabel() == "time (days)"
    labels = [line.get_label() for line in ax.get_lines()]
    cells = [s.name for s in traj.model.states if s.unit == "cells"]
    for name in cells:
        assert name in labels
    line_S = ax.get_lines()[labels.index("S")]
    np.testing.assert_array_equal(line_S.get_ydata(), traj["S"])
    assert any(lab.startswith("dose: ") for lab in labels)
    plt.close(ax.figure)

    fig, given = plt.subplots()
    out = traj.plot("tumor_burden", ax=given, logy=False, show_doses=False)
    assert out is given
    assert [line.get_label() for line in out.get_lines()] == ["tumor_burden"]
    assert out.get_yscale() == "linear"
    plt.close(fig)
    with pytest.raises(UnknownNameError):
        traj.plot(["nope"])
    plt.close("all")


def test_repr(traj: td.Trajectory) -> None:
    text = repr(traj)
    assert "tumor_immune_tme" in text and "41 times" in text
