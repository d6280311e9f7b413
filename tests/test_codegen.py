"""Generated code: forms stiff solvers handle, Jacobians finite at zero, the compiled RHS and its disk cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.numerics import compile_model, jacobian_expressions
from tumordyn.solve import _compiled as _fast

SRC = str(Path(td.__file__).resolve().parents[1])


def stiff_exchange_model(k: float = 1e12) -> td.Model:
    """A <-> B exchanged at rate k (B -> A at k * 0.001), B drained slowly into C: stiff for k = 1e12."""
    return td.Model(
        "stiff_exchange",
        states=[td.State("A", 1.0, "mg", "fast pool", atol=1e-9), td.State("B", 0.0, "mg", "slow pool", atol=1e-9),
                td.State("C", 0.0, "mg", "sink", atol=1e-9)],
        parameters=[td.Parameter("k", k, (0.0, 1e15), "1/day", "exchange rate", "test"),
                    td.Parameter("r", 1.0, (0.0, 10.0), "1/day", "drain rate", "test")],
        processes=[td.Process("forward", "k * A", consumes="A", produces="B"),
                   td.Process("back", "k * 0.001 * B", consumes="B", produces="A"),
                   td.Process("drain", "r * B", consumes="B", produces="C")],
        drugs=[],
        observables=[td.Observable("total", "A + B + C", "mg")],
    )


@pytest.mark.parametrize("method", ["BDF", "LSODA"])
def test_stiff_model_solved_by_implicit_methods_in_bounded_work(method: str) -> None:
    m = stiff_exchange_model()
    traj = td.simulate(m, t_end=100.0, t_eval=[0.0, 1.0, 100.0], method=method)
    # a stiff solver needs a few hundred evaluations here; a factored RHS k*(x - 0.001*y) cost BDF ~300,000 steps
    assert traj.stats.nfev < 20_000
    total = traj.y.sum(axis=1)
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)  # mass conserved
    # after the fast exchange A = 0.001 B; then B + A drains at r * B: B(t) ~ exp(-r t / 1.001) / 1.001
    B = traj.y[:, 1]
    np.testing.assert_allclose(B[1:], np.exp(-np.array([1.0, 100.0]) / 1.001) / 1.001, rtol=1e-3, atol=1e-9)


def test_generated_rhs_does_not_factor_across_states() -> None:
    """Each state's flux keeps its own term: no k*(x - 0.001*y) that cancels before it is multiplied by k."""
    c = compile_model(stiff_exchange_model())
    for name in ("rhs", "rhs_scalar", "rhs_fast"):
        src = c.source[name]
        assert "*(-_s0 + 0.001*_s1)" not in src and "*(_s0 - 0.001*_s1)" not in src, src


def test_jacobian_finite_at_zero_concentration() -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    y = np.array(c.initial, dtype=float)
    y[[c.state_names.index(s) for s in ("C_targeted", "C_anti_pd1", "C_priming")]] = 0.0
    p = c.param_vector()
    for h in (1.0, 2.0, 2.5):
        p[c.param_names.index("h_T")] = h
        J = c.jac(0.0, y, p, np.zeros(c.n_drugs))
        assert np.all(np.isfinite(J)), h
    # with respect to the parameters too (the Hill exponent: C**h * log(C) at C = 0)
    xs = [s.symbol for s in m.states]
    ps = [q.symbol for q in m.parameters]
    us = [sp.Symbol(f"u_{d}") for d in c.drug_names]
    dfdp = sp.lambdify([xs, ps, us], jacobian_expressions(list(m.rhs_expressions().values()), ps), "numpy")
    with np.errstate(all="raise"):
        assert np.all(np.isfinite(np.array(dfdp(y, c.param_vector(), np.zeros(c.n_drugs)), dtype=float)))


def test_finite_at_zero_keeps_genuine_singularities_and_values() -> None:
    x, a = sp.symbols("x a")
    J = jacobian_expressions([x**a, sp.log(x)], [a, x])
    f = sp.lambdify([x, a], J, "numpy")
    with np.errstate(all="ignore"):
        at0 = np.array(f(np.float64(0.0), np.float64(2.0)), dtype=float)
    assert at0[0, 0] == 0.0  # d(x**a)/da at x = 0, a > 0
    assert not np.isfinite(at0[1, 1])  # d(log x)/dx = 1/x is singular at 0 and stays so
    np.testing.assert_allclose(np.array(f(0.3, 2.0), dtype=float)[0, 0], 0.3**2 * np.log(0.3), rtol=1e-15)


@pytest.mark.slow
def test_sensitivity_finite_under_every_standard_regimen() -> None:
    m = td.models.tumor_immune_tme()
    for name, regimen in td.regimens.standard_regimens(m, 365).items():
        s = td.analysis.sensitivity(m, regimen, t_end=365.0)
        assert np.all(np.isfinite(s.derivatives)), name


def test_extended_params_match_for_one_patient_and_a_batch() -> None:
    c = compile_model(td.models.tumor_immune_tme())
    P = np.tile(c.param_vector(), (3, 1))
    P[:, 0] *= [0.5, 1.0, 2.0]
    batch = c.extended_params(P)
    assert batch.shape == (3, c.n_params + c.n_derived)
    for j in range(3):
        np.testing.assert_allclose(c.extended_params(P[j]), batch[j], rtol=1e-14)
    np.testing.assert_array_equal(batch[:, : c.n_params], P)


def test_compiled_rhs_with_integer_and_fractional_hill_exponent() -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    ff = _fast.fast_functions(c)
    y = np.array(c.initial, dtype=float)
    y[c.state_names.index("C_targeted")] = 1.7
    u = np.zeros(c.n_drugs)
    for h in (1.0, 2.0, 3.0, 4.0, 1.5, 2.7):
        p = c.param_vector({"h_T": h})
        np.testing.assert_allclose(ff.evaluate(0.0, y, p, u), c.rhs(0.0, y, p, u), rtol=1e-13, atol=1e-13)


_FIRST = textwrap.dedent(
    """
    import json
    import tumordyn as td
    from tumordyn.numerics import compile_model
    from tumordyn.solve import _compiled as F
    m = td.models.tumor_immune_tme()
    tr = td.simulate(m, td.Schedule.every("targeted", 100.0, 7.0, until=20.0), t_end=21.0, method="dopri5")
    ff = F.fast_functions(compile_model(m))
    print(json.dumps({"hits": ff.rhs.cache_hits, "y": tr.y[-1].tolist()}))
    """
)


def _run(env_dir: str | None) -> dict:
    import json

    env = dict(os.environ, PYTHONPATH=SRC)
    if env_dir is None:
        env.pop("TUMORDYN_CACHE_DIR", None)
    else:
        env["TUMORDYN_CACHE_DIR"] = env_dir
    out = subprocess.run([sys.executable, "-c", _FIRST], env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_process_loads_the_compiled_rhs_from_the_disk_cache(tmp_path: Path) -> None:
    first = _run(str(tmp_path))
    second = _run(str(tmp_path))
    assert first["hits"] == 0 and second["hits"] == 1  # the second process compiled nothing
    assert first["y"] == second["y"]  # bit for bit
    written = sorted(p.name for p in tmp_path.rglob("*.py"))
    assert written and all(n.startswith("rhs_") for n in written)
    # a tampered file is never executed: it is rewritten with the generated source, results unchanged
    for f in tmp_path.rglob("rhs_*.py"):
        f.write_text("raise SystemExit('tampered')\n")
    third = _run(str(tmp_path))
    assert third["y"] == first["y"]
    assert all("tampered" not in f.read_text() for f in tmp_path.rglob("rhs_*.py"))


@pytest.mark.slow
def test_disk_cache_can_be_disabled(tmp_path: Path) -> None:
    off = _run("off")
    assert off["hits"] == 0
    assert off["y"] == _run(str(tmp_path))["y"]
    assert not list(Path.cwd().glob("rhs_*.py"))


def test_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUMORDYN_CACHE_DIR", str(tmp_path / "c"))
    assert _fast.cache_dir() == str(tmp_path / "c")
    for off in ("", "0", "off", "none"):
        monkeypatch.setenv("TUMORDYN_CACHE_DIR", off)
        assert _fast.cache_dir() is None
    monkeypatch.delenv("TUMORDYN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _fast.cache_dir() == str(tmp_path / "tumordyn")


def _lsoda_model_zoo() -> list[td.Model]:
    return [td.models.tumor_immune_tme(), td.models.kuznetsov1994(), td.models.zhang2017(),
            td.models.logistic_growth(), td.models.gompertz_growth(), td.models.multilesion(),
            stiff_exchange_model()]


@pytest.mark.parametrize("model", _lsoda_model_zoo(), ids=lambda m: m.name)
def test_lsoda_bound_rhs_from_the_hoisted_source_matches_the_model(model: td.Model) -> None:
    """The pure-scipy path's float right-hand side (built from the numba source, parameter-only terms
    computed once per solve) gives the model's derivatives to rounding, states below zero read as 0."""
    from tumordyn.solve._problem import SolverOptions
    from tumordyn.solve._scipy_engine import Budget, _bind_factory_fast, bound_rhs

    c = compile_model(model)
    assert _bind_factory_fast(c.source["rhs_fast"], c.model_name, c.n_states) is not None  # the fast form is used
    rng = np.random.default_rng(7)
    p = c.param_vector()
    for _ in range(20):
        y = c.initial_vector() * rng.uniform(0.0, 3.0, c.n_states) + rng.uniform(-1e-3, 5.0, c.n_states)
        u = rng.uniform(0.0, 10.0, c.n_drugs)
        f = bound_rhs(c, p)(u, Budget(SolverOptions("LSODA", 1e-6, c.atol, np.inf)))
        got = np.asarray(f(3.0, y), dtype=float)
        want = c.rhs_single(3.0, y, p, u)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (1.0 + np.abs(want).max()))


def test_lsoda_bound_rhs_falls_back_where_a_parameter_term_is_not_finite() -> None:
    """A parameter-only term that divides by zero (a half-life of 0 days) is not hoisted into an inf: the
    scalar path's own checks run, and the solve ends in the named error with the time reached."""
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    p = c.param_vector()
    p[c.param_names.index("t_half_targeted")] = 0.0
    from tumordyn.solve._problem import SolverOptions
    from tumordyn.solve._scipy_engine import Budget, _NonFiniteDerivative, bound_rhs

    f = bound_rhs(c, p)(np.zeros(c.n_drugs), Budget(SolverOptions("LSODA", 1e-6, c.atol, np.inf)))
    y = c.initial_vector().astype(float)
    y[c.state_names.index("C_targeted")] = 1.0
    with pytest.raises(_NonFiniteDerivative):  # raised from the callback: the engine names the state and time
        f(0.0, y)
