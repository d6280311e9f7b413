"""The public surface: a small top level, each name exported once, deprecated aliases that warn."""

import importlib
import warnings

import pytest

import tumordyn as td
from tumordyn.numerics import compile_model


def test_top_level_is_small_and_each_name_is_exported_once():
    assert len(td.__all__) == len(set(td.__all__))
    names = [n for n in td.__all__ if not isinstance(getattr(td, n), type(td))]
    assert len(names) <= 25, names
    for n in td.__all__:
        assert getattr(td, n) is not None


def test_each_public_object_is_exported_by_one_subpackage_all():
    """A name appears in at most one subpackage's ``__all__`` (no two homes for one concept)."""
    homes: dict[str, list[str]] = {}
    for sub in ("models", "regimens", "readouts", "comparison", "fitting", "cohorts", "analysis", "datasets", "io",
                "errors"):
        mod = importlib.import_module(f"tumordyn.{sub}")
        for n in getattr(mod, "__all__", ()):
            if not isinstance(getattr(mod, n), type(td)):  # submodules (e.g. each package's `plots`) aside
                homes.setdefault(n, []).append(sub)
    twice = {n: h for n, h in homes.items() if len(h) > 1}
    assert not twice, twice


@pytest.mark.parametrize("name", sorted(td._MOVED))
def test_moved_names_warn_and_resolve_to_their_new_home(name):
    new = importlib.import_module(td._MOVED[name])
    with pytest.warns(DeprecationWarning, match=rf"tumordyn\.{name} moved to {td._MOVED[name]}\.{name}"):
        old = getattr(td, name)
    assert old is getattr(new, name)


@pytest.mark.parametrize("name", sorted(td._MOVED_MODULES))
def test_moved_modules_warn_and_resolve(name):
    with pytest.warns(DeprecationWarning, match="moved to"):
        mod = getattr(td, name)
    assert mod is importlib.import_module(td._MOVED_MODULES[name])


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        td.no_such_name  # noqa: B018


def test_model_compiled_is_a_deprecated_alias_of_compile_model():
    m = td.models.logistic_growth()
    with pytest.warns(DeprecationWarning, match="compile_model"):
        c = m.compiled
    assert c is compile_model(m)


def test_public_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in td.__all__:
            getattr(td, n)
        td.fitting.FitResult, td.cohorts.LogNormal, td.analysis.equilibria, td.errors.SolverStatus  # noqa: B018
        td.solve.SolverStats, td.dosing.RuleEvent, td.readouts.ScanPlan, td.comparison.Comparison  # noqa: B018


def test_renamed_keywords_warn_once_and_refuse_both_names():
    from tumordyn._validate import renamed_keyword

    assert renamed_keyword("new", None, new="algorithm", old="method", where="f") == "new"
    with pytest.warns(DeprecationWarning, match="`method` of f is deprecated.*use `algorithm`"):
        assert renamed_keyword(None, "old", new="algorithm", old="method", where="f") == "old"
    with pytest.warns(DeprecationWarning), pytest.raises(td.errors.SpecificationError, match="not both"):
        renamed_keyword("new", "old", new="algorithm", old="method", where="f")


def test_import_tumordyn_is_lazy_and_the_first_use_loads_the_layers_a_simulation_needs():
    """`import tumordyn` imports no layer (so `tumordyn --help` needs neither numpy nor sympy); the first public
    name used loads the core layers (spec to trajectory, with the Model.compiled alias), and each other
    subpackage (io, readouts, comparison, fitting, cohorts, analysis, datasets) loads when first named: a
    script that only simulates never imports them (issue 13: a faster start)."""
    import subprocess
    import sys

    code = (
        "import sys, warnings, tumordyn\n"
        "heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'sympy'))\n"
        "assert heavy() == [], heavy()\n"
        "assert not any(m.startswith('tumordyn.') for m in sys.modules)\n"
        "from tumordyn import Model, simulate\n"
        "simulate(tumordyn.models.tumor_immune_tme(), tumordyn.Schedule([]), t_end=1.0, method='LSODA')\n"
        "assert heavy() and all('tumordyn.' + s in sys.modules for s in tumordyn._CORE)\n"
        "leaves = [s for s in tumordyn._SUBPACKAGES if s not in tumordyn._CORE]\n"
        "assert set(leaves) == {'io', 'readouts', 'comparison', 'fitting', 'cohorts', 'analysis', 'datasets'}\n"
        "assert not any('tumordyn.' + s in sys.modules for s in ('io', 'fitting', 'cohorts', 'analysis', 'datasets')), "
        "sorted(m for m in sys.modules if m.startswith('tumordyn.'))\n"
        "assert Model is tumordyn.spec.Model and simulate is tumordyn.trajectory.simulate and hasattr(Model, 'compiled')\n"
        "from tumordyn import io, fit, Cohort\n"
        "assert io is tumordyn.io and fit is tumordyn.fitting.fit and Cohort is tumordyn.cohorts.Cohort\n"
        "for s in leaves:\n"
        "    assert getattr(tumordyn, s) is sys.modules['tumordyn.' + s]\n"
        "assert set(tumordyn.__all__) <= set(dir(tumordyn))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_fit_population_is_top_level_and_lives_in_fitting():
    assert td.fit_population is td.fitting.fit_population
    assert "fit_population" in td.__all__ and "fit_population" in td.fitting.__all__
