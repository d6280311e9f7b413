"""The six behaviours of the design notes (DESIGN.md §2), measured on the calibrated trial populations.

``tests/test_behaviours.py`` checks them on the default parameters, one patient each; here they are
checked on the virtual populations calibrated to published trials (``td.cohorts.trial_population``),
1,000 patients per population, all standard regimens of the same patients (docs/cohorts.md, "The design
behaviours on the calibrated populations"). Behaviour 5 (adaptive beats continuous dosing) is checked on
the Zhang 2017 population by ``tests/test_calibrated_trials.py`` (``_check_zhang``: the adaptive rule
delays resistant takeover in over 95 % of patients, on less than half the drug). Slow: about 10 s per
population on a quiet machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from tumordyn.cohorts import population_statistics, trial_population
from tumordyn.cohorts._calibrate import TRIAL_HORIZON, TRIAL_SCAN_INTERVAL
from tumordyn.readouts import ScanPlan
from tumordyn.regimens import standard_regimens

ARMS = ("untreated", "targeted", "anti-pd1", "targeted+anti-pd1", "priming>anti-pd1")
STATS = ("ORR", "median_pfs", "pseudoprogression")


def _trial(name: str):
    vp = trial_population(name, progress=False)
    regs = standard_regimens(vp.model, TRIAL_HORIZON)
    res = vp.cohort(1000, seed=1).simulate({a: regs[a] for a in ARMS}, t_end=TRIAL_HORIZON, progress=False,
                                           scans=ScanPlan(interval=TRIAL_SCAN_INTERVAL))
    assert len(res.failures) == 0
    return res, {a: population_statistics(res, a, list(STATS)) for a in ARMS}


@pytest.mark.slow
def test_untreated_population_grows_and_the_immune_response_alone_does_not_clear_it():
    """1. Untreated tumors grow: nearly every patient progresses, almost none responds."""
    res, st = _trial("untreated")
    ro = res.readouts("untreated")
    assert st["untreated"]["ORR"] < 0.02
    assert np.isfinite(ro["time_to_progression_scan"]).mean() > 0.9
    assert st["untreated"]["median_pfs"] < 4 * 30.4375


@pytest.mark.slow
def test_targeted_population_responds_deeply_then_relapses_on_resistant_cells():
    """2. Targeted monotherapy: deep response, then relapse driven by R (competitive release)."""
    res, st = _trial("flaura")
    ro = res.readouts("targeted")
    assert st["targeted"]["ORR"] > 0.6
    prog = np.isfinite(ro["time_to_progression_scan"])
    assert prog.mean() > 0.5  # relapse within two years for most
    assert np.median(ro["final_resistant_fraction"][prog]) > 0.5  # ...driven by the resistant clone
    assert st["targeted"]["median_pfs"] > 2 * st["untreated"]["median_pfs"]


@pytest.mark.slow
def test_anti_pd1_population_modest_benefit_combination_and_priming_do_better_pseudoprogression_seen():
    """3. anti-PD-1 alone: modest benefit; 4. combination beats either monotherapy and priming then
    anti-PD-1 beats anti-PD-1 alone; 6. pseudoprogression under immunotherapy."""
    _, st = _trial("keynote006")
    pd1, tgt, combo, primed, none = (st[a] for a in ("anti-pd1", "targeted", "targeted+anti-pd1",
                                                     "priming>anti-pd1", "untreated"))
    # 3: modest benefit over no treatment
    assert 0.1 < pd1["ORR"] < 0.5
    assert none["median_pfs"] < pd1["median_pfs"] < 2 * none["median_pfs"]
    # 4: the combination beats both monotherapies; priming first beats anti-PD-1 alone
    assert combo["ORR"] > max(pd1["ORR"], tgt["ORR"]) - 0.02
    assert combo["median_pfs"] > max(pd1["median_pfs"], tgt["median_pfs"])
    assert primed["ORR"] > pd1["ORR"] and primed["median_pfs"] > pd1["median_pfs"]
    # 6: some patients pseudoprogress under immunotherapy
    assert 0.01 < pd1["pseudoprogression"] < 0.2
