"""Generated numeric code matches sympy, its Jacobian matches finite differences, batches match."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import tumordyn as td
from tumordyn.spec._model import TIME, input_symbol
from tumordyn.errors import SpecificationError, UnknownNameError
from tumordyn.numerics import compile_model

MODELS = {
    "tumor_immune_tme": td.models.tumor_immune_tme,
    "tumor_immune_tme_full": lambda: td.models.tumor_immune_tme(
        growth="gompertz", drug_induced_switching=True, stress_inhibitor=True
    ),
    "kuznetsov1994": td.models.kuznetsov1994,
    "zhang2017": td.models.zhang2017,
    "logistic": td.models.logistic_growth,
    "gompertz": td.models.gompertz_growth,
    "pk": td.models.one_compartment_pk,
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> td.Model:
    return MODELS[request.param]()


def random_point(model: td.Model, rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """A random positive state (around the defaults), parameters inside bounds, inputs >= 0."""
    c = compile_model(model)
    y = np.where(c.initial > 0, c.initial, 1.0) * rng.uniform(0.2, 3.0, c.n_states)
    p = c.defaults * rng.uniform(0.5, 1.5, c.n_params)
    p = np.clip(p, c.lower_bounds, c.upper_bounds)
    u = rng.uniform(0.0, 5.0, c.n_drugs)
    return float(rng.uniform(0, 100)), y, p, u


def sympy_functions(model: td.Model):
    syms = ([TIME] + [s.symbol for s in model.states] + [p.symbol for p in model.parameters]
            + [input_symbol(d) for d in model.drugs.names])
    rhs = sp.lambdify(syms, list(model.rhs_expressions().values()), modules="mpmath")
    obs = sp.lambdify(syms, list(model.observable_expressions().values()), modules="mpmath")
    return rhs, obs


def test_rhs_matches_sympy(model: td.Model) -> None:
    rng = np.random.default_rng(1)
    rhs_ref, _ = sympy_functions(model)
    for _ in range(5):
        t, y, p, u = random_point(model, rng)
        got = compile_model(model).rhs(t, y, p, u)
        want = np.array([float(v) for v in rhs_ref(t, *y, *p, *u)])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_observables_match_sympy(model: td.Model) -> None:
    if not len(model.observables):
        pytest.skip("no observables")
    rng = np.random.default_rng(2)
    _, obs_ref = sympy_functions(model)
    for _ in range(5):
        t, y, p, u = random_point(model, rng)
        got = compile_model(model).observe(t, y, p, u)
        want = np.array([float(v) for v in obs_ref(t, *y, *p, *u)])
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_jacobian_matches_central_differences(model: td.Model) -> None:
    rng = np.random.default_rng(3)
    c = compile_model(model)
    for _ in range(3):
        t, y, p, u = random_point(model, rng)
        J = c.jac(t, y, p, u)
        assert J.shape == (c.n_states, c.n_states)
        fd = np.empty_like(J)
        for j in range(c.n_states):
            h = 1e-6 * max(abs(y[j]), 1e-3)
            yp, ym = y.copy(), y.copy()
            yp[j] += h
            ym[j] -= h
            fd[:, j] = (c.rhs(t, yp, p, u) - c.rhs(t, ym, p, u)) / (2 * h)
        scale = np.abs(J).max(axis=1, keepdims=True) + 1e-12
        np.testing.assert_allclose(J / scale, fd / scale, atol=1e-6)
        # structurally zero entries are zero
        assert np.all(J[~c.jac_sparsity] == 0)


def test_jacobian_is_finite_at_the_default_state(model: td.Model) -> None:
    # drug concentrations start at zero: d/dC of a Hill term C**h/(EC50**h + C**h) must not be 0/0 there
    c = compile_model(model)
    y = c.initial_vector()
    with np.errstate(all="raise"):
        J = c.jac(0.0, y, c.param_vector(), np.zeros(c.n_drugs))
        f = c.rhs(0.0, y, c.param_vector(), np.zeros(c.n_drugs))
    assert np.all(np.isfinite(J)) and np.all(np.isfinite(f))
    # and it matches a one-sided difference there (states cannot go below zero)
    for j in range(c.n_states):
        h = 1e-7 * max(abs(y[j]), 1e-3)
        yp = y.copy()
        yp[j] += h
        fd = (c.rhs(0.0, yp, c.param_vector(), np.zeros(c.n_drugs)) - f) / h
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-3, atol=1e-6 * (np.abs(J[:, j]).max() + np.abs(fd).max()) + 1e-9)


def test_batch_equals_column_by_column(model: td.Model) -> None:
    rng = np.random.default_rng(4)
    c = compile_model(model)
    B = 6
    pts = [random_point(model, rng) for _ in range(B)]
    Y = np.stack([q[1] for q in pts], axis=1)
    P = np.stack([q[2] for q in pts], axis=1)
    U = np.stack([q[3] for q in pts], axis=1)
    t = 7.5
    for fname, k in (("rhs", c.n_states), ("observe", len(c.observable_names))):
        f = getattr(c, fname)
        batch = f(t, Y, P, U)
        assert batch.shape == (k, B)
        for b in range(B):
            np.testing.assert_allclose(batch[:, b], f(t, Y[:, b], P[:, b], U[:, b]), rtol=1e-12, atol=0)
    Jb = c.jac(t, Y, P, U)
    assert Jb.shape == (c.n_states, c.n_states, B)
    for b in range(B):
        np.testing.assert_allclose(Jb[:, :, b], c.jac(t, Y[:, b], P[:, b], U[:, b]), rtol=1e-12, atol=0)
    # shared parameters (m,) and inputs (n_drugs,) broadcast over the batch
    shared = c.rhs(t, Y, pts[0][2], pts[0][3])
    for b in range(B):
        np.testing.assert_allclose(shared[:, b], c.rhs(t, Y[:, b], pts[0][2], pts[0][3]), rtol=1e-12, atol=0)


def test_compiled_once_and_reused() -> None:
    m = td.models.tumor_immune_tme()
    assert compile_model(m) is compile_model(m)
    assert compile_model(m).state_names == m.states.names
    assert compile_model(m).param_names == m.parameters.names
    assert compile_model(m).drug_names == m.drugs.names
    assert compile_model(m).observable_names == m.observables.names
    assert set(compile_model(m).source) == {"rhs", "rhs_scalar", "jac", "observe", "rhs_fast", "derived"}
    # the generated code never evaluates user text, only indexes arrays and calls numpy
    for src in compile_model(m).source.values():
        assert "eval(" not in src and "import" not in src


def test_nonnegative_states_are_read_clipped() -> None:
    m = td.models.logistic_growth()
    c = compile_model(m)
    p = c.param_vector()
    # at N < 0 the clipped rhs sees N = 0: no outflow turns into an inflow of negative cells
    assert c.rhs(0.0, np.array([-1e-3]), p, np.zeros(0))[0] == 0.0


def test_vectors_from_user_input() -> None:
    m = td.models.tumor_immune_tme()
    c = compile_model(m)
    assert np.array_equal(c.param_vector(), [p.default for p in m.parameters])
    p = c.param_vector({"K": 1e10})
    assert p[c.param_names.index("K")] == 1e10
    assert not c.defaults.flags.writeable and p.flags.writeable
    with pytest.raises(UnknownNameError, match="did you mean 'K'"):
        c.param_vector({"KK": 1.0})
    with pytest.raises(SpecificationError, match="parameter 'K'"):
        c.param_vector({"K": -1.0})
    with pytest.raises(TypeError, match="mapping"):
        c.param_vector([1.0])  # type: ignore[arg-type]
    y = c.initial_vector({"S": 5.0})
    assert y[0] == 5.0
    with pytest.raises(SpecificationError, match="state 'S'"):
        c.initial_vector({"S": -5.0})
    with pytest.raises(SpecificationError, match="state 'S'"):
        c.initial_vector({"S": np.nan})
    with pytest.raises(TypeError, match="state 'S'"):
        c.initial_vector({"S": "5"})
    with pytest.raises(UnknownNameError, match="did you mean 'S'"):
        c.initial_vector({"s": 1.0})


def test_dose_jump() -> None:
    m = td.models.one_compartment_pk()
    c = compile_model(m)
    p = c.param_vector({"V": 4.0})
    assert c.dose_jump(0, 10.0, p) == (0, 2.5)
    P = np.array([[1.0, 1.0], [4.0, 5.0]])  # a batch of two subjects: volumes 4 and 5 L
    comp, inc = c.dose_jump(0, 10.0, P)
    assert comp == 0 and np.allclose(inc, [2.5, 2.0])
    with pytest.raises(SpecificationError, match="volume"):
        c.dose_jump(0, 10.0, np.array([1.0, 0.0]))
    z = compile_model(td.models.zhang2017())
    assert z.dose_jump(0, 1.0, z.param_vector()) == (-1, 0.0)


def test_time_dependent_rates() -> None:
    m = td.Model("forced", states=[td.State("x", 1.0)], parameters=[td.Parameter("a", 2.0)],
                 processes=[td.Process("g", "a*t*x", produces="x")])
    c = compile_model(m)
    np.testing.assert_allclose(c.rhs(3.0, np.array([5.0]), c.param_vector(), np.zeros(0)), [30.0])
    # a time vector broadcasts against a batch of states
    out = c.rhs(np.array([1.0, 2.0]), np.array([[5.0, 5.0]]), c.param_vector(), np.zeros(0))
    np.testing.assert_allclose(out, [[10.0, 20.0]])


@pytest.mark.parametrize("name", ["tumor_immune_tme", "kuznetsov1994", "zhang2017", "logistic_growth"])
def test_float_rhs_equals_numpy_rhs(name: str) -> None:
    """The one-patient float right-hand side is the same function as the batch numpy one."""
    m = getattr(td.models, name)()
    c = compile_model(m)
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = c.initial * rng.uniform(0.0, 3.0, c.n_states) + rng.uniform(0.0, 1.0, c.n_states)
        y[rng.integers(c.n_states)] *= -1e-3  # a slightly negative value is read clipped by both
        p = c.defaults * rng.uniform(0.5, 1.5, c.n_params)
        u = rng.uniform(0.0, 2.0, c.n_drugs)
        with np.errstate(divide="ignore", invalid="ignore"):  # zhang2017 divides by TP, here possibly 0
            np.testing.assert_allclose(c.rhs_single(1.0, y, p, u), c.rhs(1.0, y, p, u), rtol=1e-12, atol=1e-300)


def test_gamma_jacobian_gets_scipy_special_and_other_code_does_not_need_it():
    """scipy.special is bound only into generated code that calls it (d/dS Gamma(S+1) = Gamma(S+1) digamma(S+1)),
    so building a model without Gamma does not import it; the derivative matches the closed form."""
    from scipy.special import digamma, gamma

    from tumordyn.numerics._compile import _namespace

    S, k = sp.symbols("S k")
    m = td.Model("g", states=[td.State("S", 0.5)], parameters=[td.Parameter("k", 0.1)],
                 processes=[td.Process("grow", k * sp.gamma(S + 1), produces="S")])
    c = compile_model(m)
    assert [name for name, src in c.source.items() if "scipy_special" in src] == ["jac"]
    assert "scipy_special" not in _namespace(c.source["rhs"])
    jac = np.asarray(c.jac(0.0, np.array([0.5]), c.param_vector(), np.zeros(0)), dtype=float).reshape(-1)
    assert jac[0] == pytest.approx(0.1 * gamma(1.5) * digamma(1.5), rel=1e-12)
