"""Several lesions: RECIST 1.1 sums, new lesions, disappearance, iRECIST, and models.multilesion.

Hand-built trajectories fix the lesions' diameters (mm) and tumor cells exactly, so each RECIST 1.1 rule
(Eisenhauer et al. 2009) and iRECIST rule (Seymour et al. 2017) is checked against numbers worked out by
hand; the built-in multi-lesion model is checked for mixed responses, a micrometastasis turning into a new
lesion, and agreement between td.readouts and td.Cohort.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tumordyn as td
from tumordyn import readouts as ro
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.readouts import _recist as core

LIMIT = ro.DETECTION_LIMIT


def cells(d):
    """Cells of a sphere of diameter d mm at 1e6 cells/mm^3."""
    return np.pi / 6 * np.asarray(d, dtype=float) ** 3 * 1e6


def lesions_traj(lesions: dict, interval: float = 56.0, t=None) -> td.Trajectory:
    """A trajectory of lesions ``{name: diameters}`` or ``{name: (diameters, cells)}`` at scans ``interval`` apart."""
    names = list(lesions)
    cols, states, obs = [], [], []
    for nm in names:
        v = lesions[nm]
        d, c = (v if isinstance(v, tuple) else (v, None))
        d = np.asarray(d, dtype=float)
        cols += [d, cells(d) if c is None else np.asarray(c, dtype=float)]
        states += [td.State(f"D_{nm}", 1.0, "mm"), td.State(f"N_{nm}", 1.0, "cells")]
        obs += [td.Observable(f"{nm}_lesion_diameter", f"D_{nm}", "mm"),
                td.Observable(f"{nm}_tumor_burden", f"N_{nm}", "cells")]
    model = td.Model("hand_lesions", states=states, parameters=[], processes=[], observables=obs)
    y = np.column_stack(cols)
    tt = interval * np.arange(y.shape[0]) if t is None else np.asarray(t, dtype=float)
    stats = td.solve.SolverStats("hand", 0, 0, 0, 0, 0, 0.0)
    return td.Trajectory(tt, y, np.zeros((tt.size, 0)), np.array([]), model, td.Schedule(), stats)


# ----------------------------------------------------------------------------- RECIST 1.1 rules


def test_sum_of_diameters_pd_needs_twenty_percent_and_five_mm_over_the_nadir_of_the_sum():
    # sum 20 -> 24 (+20 %, +4 mm): SD; -> 25 (+25 %, +5 mm): PD. One lesion going 10 -> 14 would be +4 mm too.
    res = ro.recist(lesions_traj({"liver_1": [10, 11, 12.5], "lung_1": [10, 13, 12.5]}))
    assert res.table["diameter"].tolist() == pytest.approx([20, 24, 25])
    assert list(res.table["response"]) == ["baseline", "SD", "PD"]
    assert res.target_lesions == ("liver_1", "lung_1")
    # the nadir is the sum's: 30 -> 18 (PR, -40 %) -> 22 (+4 mm, +22 %): SD; -> 23.5 (+5.5 mm, +31 %): PD
    res = ro.recist(lesions_traj({"a": [15, 9, 11, 12], "b": [15, 9, 11, 11.5]}))
    assert list(res.table["nadir"]) == pytest.approx([30, 30, 18, 18])
    assert list(res.table["response"]) == ["baseline", "PR", "SD", "PD"]
    assert res.time_to_progression == 168.0


def test_cr_only_when_every_lesion_is_below_detectability():
    gone = LIMIT / 2
    # lesion a disappears, b shrinks to 3 mm but is still detectable (1.4e7 cells): recorded 5 mm, PR, not CR
    res = ro.recist(lesions_traj({"a": ([12, 4, 4], [cells(12), gone, gone]),
                                  "b": ([12, 3, 3], [cells(12), 1.4e7, gone])}))
    assert res.table["diameter_a"].tolist() == [12, 0, 0]
    assert res.table["diameter_b"].tolist() == [12, 5, 0]
    assert list(res.table["response"]) == ["baseline", "PR", "CR"]
    # a non-target lesion (8 mm: not measurable) still seen: the targets are gone but it is not a CR
    res = ro.recist(lesions_traj({"a": ([12, 1], [cells(12), gone]), "small": [8, 8]}))
    assert res.target_lesions == ("a",)
    assert list(res.table["response"]) == ["baseline", "PR"]
    assert res.table["diameter"].iloc[-1] == 0.0
    # ... and a CR once it is gone too
    res = ro.recist(lesions_traj({"a": ([12, 1], [cells(12), gone]), "small": ([8, 1], [cells(8), gone])}))
    assert list(res.table["response"]) == ["baseline", "CR"]


def test_detection_limit_is_a_parameter():
    tr = lesions_traj({"a": ([12, 2], [cells(12), cells(2)])})  # 4.2e6 cells at 2 mm
    assert ro.recist(tr).best_overall_response == "CR"  # below the default 1e7
    assert ro.recist(tr, detection_limit=1e6).best_overall_response == "PR"  # seen: recorded 5 mm
    assert ro.recist(tr, detection_limit=1e6, too_small=3.0).table["diameter"].iloc[-1] == 3.0


def test_a_new_lesion_is_progression_whatever_the_sum():
    # the targets respond (-50 %), a lesion absent at baseline becomes detectable at day 112: PD there
    tr = lesions_traj({"liver_1": [20, 10, 10, 10], "bone_1": ([0.5, 1, 3, 6], [1e5, 1e6, cells(3), cells(6)])})
    res = ro.recist(tr)
    assert res.target_lesions == ("liver_1",)
    assert res.table["new_lesions"].tolist() == [0, 0, 1, 1]
    assert list(res.table["response"]) == ["baseline", "PR", "PD", "PD"]
    assert res.best_overall_response == "PR" and res.time_to_progression == 112.0
    assert res.table["diameter"].tolist() == [20, 10, 10, 10]  # a new lesion is not added to the target sum
    # continuously: the first time its cells cross the limit (linear between output times)
    t = np.linspace(0, 168, 169)
    c_bone = np.where(t < 100, 1e5, 1e5 + (t - 100) * 1e6)  # crosses 1e7 at t = 109.9
    tr = lesions_traj({"liver_1": np.full(t.size, 20.0), "bone_1": (np.full(t.size, 1.0), c_bone)}, t=t)
    assert ro.time_to_progression(tr) == pytest.approx(100 + (LIMIT - 1e5) / 1e6, abs=1e-9)


def test_reappearance_after_cr_is_progression():
    gone = LIMIT / 2
    res = ro.recist(lesions_traj({"a": ([12, 1, 4], [cells(12), gone, 2e7])}))
    assert list(res.table["response"]) == ["baseline", "CR", "PD"]  # 0 -> 5 mm: +5 mm over a nadir of 0


def test_target_selection_five_in_all_two_per_organ_largest_first():
    les = {"liver_1": [30, 30], "liver_2": [25, 25], "liver_3": [40, 40], "lung_1": [11, 11], "lung_2": [9, 9],
           "bone_1": [20, 20], "node_1": [15, 15], "node_2": [14, 14]}
    res = ro.recist(lesions_traj(les))
    # liver: the two largest (liver_3, liver_1); lung_2 is not measurable; 5 in all, the largest first
    assert set(res.target_lesions) == {"liver_3", "liver_1", "bone_1", "node_1", "node_2"}
    assert res.table["diameter"].iloc[0] == 40 + 30 + 20 + 15 + 14


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0.0, 50.0)), min_size=1, max_size=9))
def test_target_selection_properties(lesions):
    organs = tuple(f"o{o}" for o, _ in lesions)
    d0 = np.array([[d] for _, d in lesions])
    tgt = core.select_targets(d0, np.ones_like(d0, dtype=bool), organs)[:, 0]
    assert tgt.sum() <= 5
    for o in set(organs):
        assert sum(t for t, org in zip(tgt, organs) if org == o) <= 2
    assert not np.any(tgt & (d0[:, 0] < 10))
    # greedy by size: a measurable lesion left out has a full organ or a full list of larger-or-equal targets
    for i, (o, d) in enumerate(lesions):
        if d >= 10 and not tgt[i]:
            mine = [lesions[j][1] for j in np.flatnonzero(tgt) if organs[j] == organs[i]]
            if tgt.sum() < 5:
                assert len(mine) == 2 and min(mine) >= d
            else:
                assert min(lesions[j][1] for j in np.flatnonzero(tgt)) >= d or (len(mine) == 2 and min(mine) >= d)


@given(st.lists(st.floats(10.0, 40.0), min_size=1, max_size=4),
       st.lists(st.floats(0.5, 2.0), min_size=2, max_size=6))
def test_one_lesion_is_a_sum_of_one_and_duplicates_add(d0, factors):
    """Splitting a lesion's course into two identical lesions doubles the sum and keeps the responses
    whenever the 5-mm rule does not bind (it is absolute: a sum of two reaches +5 mm sooner)."""
    d = np.array([d0[0], *[d0[0] * f for f in factors]])
    one = ro.recist(lesions_traj({"a": d}))
    two = ro.recist(lesions_traj({"a": d, "b": d.copy()}))
    np.testing.assert_allclose(two.table["diameter"], 2 * one.table["diameter"])
    np.testing.assert_allclose(two.table["change_from_baseline"], one.table["change_from_baseline"], atol=1e-9)
    rel_one = [r for r in one.table["response"]]
    rel_two = [r for r in two.table["response"]]
    for a, b, x in zip(rel_one[1:], rel_two[1:], one.table["diameter"].iloc[1:] - one.table["nadir"].iloc[1:]):
        if x >= 5 or x < 2.5:  # the +5 mm rule decides alike for one (x) and two (2x) lesions
            assert a == b


# ----------------------------------------------------------------------------- iRECIST


def test_irecist_new_lesion_iupd_confirmed_by_another_new_lesion():
    tr = lesions_traj({"a": [20, 18, 18, 18], "n1": ([1, 6, 6, 6], [1e5, cells(6), cells(6), cells(6)]),
                       "n2": ([1, 1, 1, 6], [1e5, 1e5, 1e5, cells(6)])})
    res = ro.irecist(tr)
    assert list(res.table["response"]) == ["baseline", "iUPD", "iUPD", "iCPD"]
    assert res.time_to_progression == 56.0
    assert res.table["new_lesions"].tolist() == [0, 1, 1, 2]


def test_irecist_new_lesion_confirmed_by_its_growth_and_pseudoprogression_when_it_regresses():
    tr = lesions_traj({"a": [20, 18, 18], "n1": ([1, 6, 11], [1e5, cells(6), cells(11)])})
    res = ro.irecist(tr)
    assert list(res.table["response"]) == ["baseline", "iUPD", "iCPD"]  # new-lesion sum +5 mm
    # the new lesion disappears and the target responds: pseudoprogression
    tr = lesions_traj({"a": [20, 18, 12], "n1": ([1, 6, 1], [1e5, cells(6), 1e5])})
    res = ro.irecist(tr)
    assert list(res.table["response"]) == ["baseline", "iUPD", "iPR"]
    assert res.pseudoprogression and math.isinf(res.time_to_progression)
    rec = ro.recist(tr)  # RECIST 1.1 stops at the first PD (the new lesion at day 56)
    assert list(rec.table["response"]) == ["baseline", "PD", "PR"] and rec.best_overall_response == "PD"


# ----------------------------------------------------------------------------- backward compatibility


def _old_rule(d, response=0.3, increase=0.2, min_increase=5.0):
    """The single-lesion rule on the raw diameter, as before (valid where no scan reads below 5 mm)."""
    out, low = [], d[0]
    for x in d[1:]:
        if x >= low * (1 + increase) and x - low >= min_increase:
            out.append("PD")
        elif x <= d[0] * (1 - response):
            out.append("PR")
        else:
            out.append("SD")
        low = min(low, x)
    return out


def test_single_lesion_default_model_unchanged_where_the_definition_did_not_change():
    model = td.models.tumor_immune_tme()
    checked = 0
    for name, reg in td.regimens.standard_regimens(model, 365.0).items():
        tr = td.simulate(model, reg, t_end=365.0)
        res = ro.recist(tr)
        raw = ro.values_at(np.asarray(tr.t), tr["lesion_diameter"], res.table["time"].to_numpy())[:, 0]
        if raw.min() < 5.0 or tr["tumor_burden"].min() < LIMIT:
            continue  # the CR / 5-mm rules apply here: the definition changed
        checked += 1
        np.testing.assert_array_equal(res.table["diameter"], raw)
        assert list(res.table["response"].iloc[1:]) == _old_rule(raw), name
    assert checked >= 3


# ----------------------------------------------------------------------------- the built-in model


@pytest.fixture(scope="module")
def mixed():
    """Lesion a: the default lesion; lesion b: mostly resistant cells. Weekly targeted drug."""
    model = td.models.multilesion({"a_1": {}, "b_1": {"S": 1e7, "R": 1e9}})
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=224.0)
    return model, td.simulate(model, sched, t_end=224.0)


def test_multilesion_spec():
    m = td.models.multilesion()
    lesions = ro.lesions_of(td.simulate(m, t_end=1.0))
    assert [x.organ for x in lesions] == ["liver", "liver", "lung", "bone"]
    assert [x.cells for x in lesions] == [f"{x.name}_tumor_burden" for x in lesions]
    # shared: drug PK and the patient's parameters; per lesion: growth, capacity, infiltration, TME production
    assert m.states.names.count("C_targeted") == 1 and "E_blood" in m.states.names
    assert {"k_T", "p_E", "v_cell"} <= set(m.parameters.names) and "liver_1_r_S" in m.parameters.names
    assert "r_S" not in m.parameters.names
    # the pool starts at its steady state
    init, p = m.initial_state(), m.defaults()
    flux_in = p["q_out"] * sum(init[f"{x.name}_E"] for x in lesions)
    assert flux_in == pytest.approx((p["d_B"] + 4 * p["q_in"]) * init["E_blood"])
    with pytest.raises(UnknownNameError, match="k_T"):
        td.models.multilesion({"a": {"k_T": 1.0}})
    with pytest.raises(SpecificationError):
        td.models.multilesion({})
    # total burden is the lesions' sum
    tr = td.simulate(m, t_end=10.0, t_eval=[0, 10])
    np.testing.assert_allclose(tr["tumor_burden"], sum(tr[f"{x.name}_tumor_burden"] for x in lesions), rtol=1e-12)


def test_one_lesion_without_pool_is_the_default_model():
    one = td.models.multilesion({"site": {}}, t_cell_pool=False)
    ref = td.models.tumor_immune_tme()
    reg = td.regimens.standard_regimens(ref, 200.0)["targeted+anti-pd1"]
    a = td.simulate(ref, reg, t_end=200.0, t_eval=np.linspace(0, 200, 11), rtol=1e-9)
    b = td.simulate(one, reg, t_end=200.0, t_eval=np.linspace(0, 200, 11), rtol=1e-9)
    np.testing.assert_allclose(b["site_lesion_diameter"], a["lesion_diameter"], rtol=1e-7)
    assert ro.recist(b).table["response"].tolist() == ro.recist(a).table["response"].tolist()


def test_mixed_response(mixed):
    _, tr = mixed
    res = ro.recist(tr)
    tab = res.table
    # at the first follow-up scan lesion a has shrunk by more than 30 % while b grew under the same drug
    assert tab["diameter_a_1"].iloc[1] < 0.7 * tab["diameter_a_1"].iloc[0]
    assert np.all(np.diff(tab["diameter_b_1"]) > 0)
    assert tab["response"].iloc[1] == "SD"  # the sum: -22 %, neither PR nor PD
    # the readout follows the sum of the recorded target diameters
    np.testing.assert_allclose(tab["diameter"], tab["diameter_a_1"] + tab["diameter_b_1"])
    raw = ro.values_at(np.asarray(tr.t), np.column_stack([tr["a_1_lesion_diameter"], tr["b_1_lesion_diameter"]]),
                       tab["time"].to_numpy())
    np.testing.assert_allclose(tab["diameter_a_1"], np.maximum(raw[:, 0], 5.0))
    np.testing.assert_allclose(tab["diameter_b_1"], raw[:, 1])


def test_micrometastasis_becomes_a_new_lesion():
    # a responding lesion and a resistant, fast-growing micrometastasis (1e5 cells) under the targeted drug
    model = td.models.multilesion({"liver_1": {},
                                   "bone_1": {"S": 0.0, "R": 1e5, "E": 1e3, "X": 0.0, "P": 0.0, "r_R": 0.06}})
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=365.0)
    tr = td.simulate(model, sched, t_end=365.0)
    res = ro.recist(tr)
    assert res.target_lesions == ("liver_1",)
    t_cross = float(np.interp(LIMIT, tr["bone_1_tumor_burden"], tr.t))  # increasing: when it becomes detectable
    first_scan_after = float(res.table["time"][res.table["time"] >= t_cross].iloc[0])
    assert res.time_to_progression == first_scan_after
    pd_row = res.table.set_index("time").loc[first_scan_after]
    assert pd_row["response"] == "PD" and pd_row["new_lesions"] == 1
    assert pd_row["diameter"] - pd_row["nadir"] < 5.0  # the target sum alone would not be PD
    assert ro.time_to_progression(tr) == pytest.approx(t_cross, abs=0.5)  # continuous, 1-day output grid


def test_cohort_agrees_with_readouts_on_several_lesions(mixed):
    model, _ = mixed
    cohort = td.Cohort(model, {"b_1_r_R": td.cohorts.LogNormal(0.02, 0.3)}, n=3, seed=3)
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=224.0)
    res = cohort.simulate({"targeted": sched}, t_end=224.0, keep_trajectories=True, method="batch", rtol=1e-8,
                          progress=False)
    r = res.readouts()
    for j in range(3):
        tr = res.trajectory(j)
        rec, irec = ro.recist(tr), ro.irecist(tr)
        assert r["best_overall_response"][j] == rec.best_overall_response
        assert r["time_to_progression_scan"][j] == rec.time_to_progression
        assert r["best_percent_change"][j] == pytest.approx(rec.best_percent_change, rel=1e-9)
        assert r["pseudoprogression"][j] == irec.pseudoprogression
        assert r["irecist_best_overall_response"][j] == irec.best_overall_response
        assert r["time_to_progression"][j] == pytest.approx(ro.time_to_progression(tr), abs=1e-9)
    # priming then anti-PD-1 (a swelling at day 40) and no planned scan 4-8 weeks after it: iRECIST adds one
    plan = ro.ScanPlan(times=(0.0, 40.0, 140.0, 200.0))
    immuno = td.regimens.standard_regimens(td.models.tumor_immune_tme(), 224.0)["priming>anti-pd1"]
    # an inflamed lesion (edema and bystander cells: 2e-5 mm³ of lesion per infiltrating T cell), as in the
    # pseudoprogression behaviour; with a lymphocyte's volume alone (2e-7 mm³) no lesion swells by 20 %
    cohort = td.Cohort(model, {"b_1_r_R": td.cohorts.LogNormal(0.02, 0.3), "v_inf": td.cohorts.Fixed(2e-5)}, n=3,
                       seed=3)
    res84 = cohort.simulate({"immuno": immuno}, t_end=224.0, scans=plan, keep_trajectories=True, method="batch",
                            rtol=1e-8, progress=False)
    r84 = res84.readouts()
    added = 0
    for j in range(3):
        irec = ro.irecist(res84.trajectory(j), plan)
        added += int((~irec.table["scheduled"]).sum())
        assert r84["irecist_best_overall_response"][j] == irec.best_overall_response
        assert r84["time_to_progression_irecist"][j] == irec.time_to_progression
        assert r84["pseudoprogression"][j] == irec.pseudoprogression
    assert added >= 1
    rates = res.response_rates()
    assert {"pseudoprogression", "pseudoprogression_low", "pseudoprogression_high"} <= set(rates.columns)
    cmp = td.compare(model, {"targeted": sched}, t_end=224.0, progress=False)
    assert cmp.to_dataframe().loc["targeted", "recist_bor"] == ro.recist(cmp["targeted"]).best_overall_response


def test_errors():
    tr = lesions_traj({"a": [20, 20]})
    with pytest.raises(SpecificationError, match="cr_below"):
        ro.recist(tr, cr_below=5.0)
    with pytest.raises(SpecificationError, match="cr_below"):
        ro.irecist(tr, cr_below=5.0)
    with pytest.raises(SpecificationError, match="nope"):
        ro.recist(tr, observable=ro.Lesion("a", "a_lesion_diameter", cells="nope"))
    with pytest.raises(SpecificationError, match="distinct"):
        ro.recist(tr, observable=[ro.Lesion("a", "a_lesion_diameter"), ro.Lesion("a", "a_lesion_diameter")])
    with pytest.raises(SpecificationError, match="measurable target"):
        ro.recist(lesions_traj({"a": [8, 8]}))
    m = td.models.logistic_growth()
    cohort = td.Cohort(m, {m.parameters.names[0]: m.defaults()[m.parameters.names[0]]}, n=1)
    with pytest.raises(SpecificationError, match="cr_below"):
        cohort.simulate(td.Schedule(), t_end=60.0, measure="N", cr_below=5.0, progress=False)
    assert ro.Lesion("liver_12", "x").organ == "liver" and ro.Lesion("liver", "x").organ == "liver"
    assert ro.Lesion("a", "x", organ="lung").organ == "lung"


def test_cohort_not_measurable_patient_keeps_its_waterfall_value():
    """A lesion below 10 mm: NE for RECIST, but its best change is still that of td.readouts (scans)."""
    model = td.models.tumor_immune_tme().with_initial(S=2e8, R=0.0)
    cohort = td.Cohort(model, {"r_S": 0.03}, n=1, seed=0)
    sched = td.Schedule.every("targeted", 100.0, 7.0, until=168.0)
    res = cohort.simulate({"t": sched}, t_end=168.0, keep_trajectories=True, method="batch", rtol=1e-8,
                          progress=False)
    r = res.readouts()
    tr = res.trajectory(0)
    assert r["best_overall_response"][0] == "NE"
    with pytest.raises(SpecificationError, match="measurable"):
        ro.recist(tr)
    assert r["best_percent_change"][0] == pytest.approx(ro.best_percent_change(tr, "lesion_diameter",
                                                                               scans=ro.ScanPlan()), rel=1e-9)
    assert 5.0 < r["baseline_diameter"][0] < 10.0


def test_the_t_cell_pool_couples_the_lesions_and_only_it():
    t_eval = np.linspace(0, 60, 7)
    for pool in (False, True):
        # lesion names "a"/"b" would clash: "a" + memory state "M" is the parameter a_M (a named error)
        base = td.simulate(td.models.multilesion({"la": {}, "lb": {}}, t_cell_pool=pool), t_end=60.0,
                           t_eval=t_eval, rtol=1e-9)
        primed = td.simulate(td.models.multilesion({"la": {}, "lb": {"E": 8e7}}, t_cell_pool=pool), t_end=60.0,
                             t_eval=t_eval, rtol=1e-9)
        if pool:  # effectors primed in b reach a through the blood
            assert np.all(primed["la_E"][1:] > 1.05 * base["la_E"][1:])
        else:  # without the pool, the lesions share only the drugs: a is unaffected by b (to the solver's
            # accuracy: the joint system takes other steps; rtol 1e-9 gives a global error well below 1e-6)
            np.testing.assert_allclose(primed["la_E"], base["la_E"], rtol=1e-6)
    m = td.models.multilesion({"la": {}}, drug_induced_switching=True)
    assert "sigma_max" in m.parameters.names and "la_S" in m.states.names
    with pytest.raises(td.errors.SpecificationError, match="a_M"):
        td.models.multilesion({"a": {}})
