"""compose(namespaces=..., shared=...) and Module.namespaced: several copies of a module in one model."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tumordyn as td
from tumordyn.errors import SpecificationError


def lesion(K: float = 1e9) -> td.Module:
    """Logistic growth with a drug kill: the drug level C and its EC50 are not defined here (systemic)."""
    return td.Module(
        "lesion",
        states=(td.State("N", 1e6, "cells", "tumor cells", atol=1.0),),
        parameters=(td.Parameter("r", 0.05, (0, 1), "1/day", "growth rate", "test"),
                    td.Parameter("K", K, (1, 1e12), "cells", "capacity", "test")),
        processes=(td.Process("growth", "r * N * (1 - N / K)", produces="N"),
                   td.Process("kill", "k * C / (EC50 + C) * N", consumes="N")),
        observables=(td.Observable("burden", "N", "cells"), td.Observable("twice", "2 * burden", "cells")),
    )


def pk() -> td.Module:
    return td.Module(
        "pk",
        states=(td.State("C", 0.0, "mg/L", "drug"),),
        parameters=(td.Parameter("k", 0.1, (0, 1), "1/day", "kill", "test"),
                    td.Parameter("EC50", 1.0, (0.01, 10), "mg/L", "EC50", "test"),
                    td.Parameter("ke", 0.3, (0, 5), "1/day", "elimination", "test")),
        processes=(td.Process("elim", "ke * C", consumes="C"),),
        drugs=(td.Drug("d", "C", 1.0),),
    )


def test_two_copies_share_the_systemic_part_and_differ_in_their_own():
    m = td.compose("two", pk(), namespaces={"liver": lesion(), "lung": lesion()}, shared=["K"])
    assert m.states.names == ("C", "liver_N", "lung_N")
    assert set(m.parameters.names) == {"k", "EC50", "ke", "liver_r", "K", "lung_r"}
    assert {"liver_burden", "liver_twice", "lung_burden", "lung_twice"} <= set(m.observables.names)
    rhs = m.rhs_expressions()
    # the copies use the shared drug level and the shared K, and their own r and N
    assert {str(s) for s in rhs["liver_N"].free_symbols} == {"liver_r", "liver_N", "K", "k", "C", "EC50"}
    obs = m.observable_expressions()
    assert str(obs["lung_twice"]) == "2*lung_N"
    # lesions differ in their own parameters and initial state
    m2 = m.with_defaults(lung_r=0.01).with_initial(lung_N=2e6)
    tr = td.simulate(m2, t_end=20.0, t_eval=[0, 20])
    assert tr["liver_N"][-1] == pytest.approx(1e6 * math.exp(0.05 * 20), rel=2e-3)  # N << K: exponential
    assert tr["lung_N"][-1] == pytest.approx(2e6 * math.exp(0.01 * 20), rel=2e-3)


def test_one_namespace_equals_the_module_renamed():
    """A single copy simulates exactly as the un-namespaced model (names aside)."""
    plain = td.compose("plain", pk(), lesion())
    spaced = td.compose("spaced", pk(), namespaces={"site": lesion()})
    sched = td.Schedule.every("d", 5.0, 7.0, until=60.0)
    a = td.simulate(plain, sched, t_end=60.0, t_eval=np.linspace(0, 60, 7), rtol=1e-9)
    b = td.simulate(spaced, sched, t_end=60.0, t_eval=np.linspace(0, 60, 7), rtol=1e-9)
    np.testing.assert_allclose(a["N"], b["site_N"], rtol=1e-12)
    np.testing.assert_allclose(a["twice"], b["site_twice"], rtol=1e-12)


def test_several_modules_in_one_namespace_keep_their_cross_references():
    obs = td.Module("obs", observables=(td.Observable("diam", "(6 * N * 1e-6 / pi) ** (1/3)", "mm"),))
    m = td.compose("m", pk(), namespaces={"a": [lesion(), obs], "b": [lesion(), obs]})
    ex = m.observable_expressions()
    assert "a_N" in str(ex["a_diam"]) and "b_N" in str(ex["b_diam"])


def test_backward_compatible_and_errors():
    # without namespaces, compose is unchanged; clashing copies still refuse
    m = td.compose("m", pk(), lesion())
    assert m.states.names == ("C", "N")
    with pytest.raises(SpecificationError, match="defined twice"):
        td.compose("m", lesion(), td.Module("clash", states=(td.State("N", 5.0, "cells"),)))
    with pytest.raises(SpecificationError, match="systemic"):
        td.compose("m", namespaces={"a": pk()})
    with pytest.raises(SpecificationError, match="namespace"):
        lesion().namespaced("1bad")
    with pytest.raises(SpecificationError, match="namespaces="):
        td.compose("m", lesion(), shared=["r"])
    with pytest.raises(SpecificationError, match="'typo'"):
        td.compose("m", pk(), namespaces={"a": lesion()}, shared=["typo"])
    with pytest.raises(TypeError, match="mapping"):
        td.compose("m", lesion(), namespaces=[("a", lesion())])
    # a shared item that differs between copies is a clash, named
    other = lesion().namespaced("q")  # fine alone
    assert other.name == "q.lesion"
    with pytest.raises(SpecificationError, match="parameter 'K' is defined twice"):
        td.compose("m", pk(), namespaces={"a": lesion(), "b": lesion(K=2e9)}, shared=["K"])
    # not shared, the copies keep their own K
    m = td.compose("m", pk(), namespaces={"a": lesion(), "b": lesion(K=2e9)})
    assert m.defaults()["b_K"] == 2e9 and m.defaults()["a_K"] == 1e9


def test_user_input_not_mutated():
    mod = lesion()
    before = (mod.states, mod.parameters, mod.processes, mod.observables)
    td.compose("m", pk(), namespaces={"a": mod, "b": mod})
    assert (mod.states, mod.parameters, mod.processes, mod.observables) == before
