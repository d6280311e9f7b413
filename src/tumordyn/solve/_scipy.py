"""The scipy engine: :class:`ScipyEngine`, ``scipy.integrate`` behind the one solve interface.

It sits above the two scipy integrators it dispatches to, so that neither imports the other: the
plan- and rule-driven loops of :mod:`._scipy_engine` (:func:`integrate`, :func:`integrate_with_rules`,
the joint system of a multi-subject fit) and the event loop of :mod:`._events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import SolverError, SpecificationError
from ._events import integrate_with_events
from ._problem import SCIPY_METHODS, Problem, Solution, SolverOptions
from ._scipy_engine import _scaled, integrate, integrate_plan, integrate_with_rules, joint_system, stack_plans

__all__ = ["ScipyEngine"]


class ScipyEngine:
    """``scipy.integrate.solve_ivp`` behind the one solve interface.

    Parameters
    ----------
    method : str
        A ``solve_ivp`` method (:data:`~tumordyn.solve._problem.SCIPY_METHODS`); implicit methods get the
        analytic Jacobian.
    joint : bool, optional
        ``False`` (default): one patient at a time. ``True``: all patients of a problem as one
        system (:func:`joint_system`), so they share one step-size sequence (what a fit's
        finite-difference Jacobian needs); a failure then fails every patient of the problem with
        the same status.
    """

    def __init__(self, method: str, joint: bool = False) -> None:
        if method not in SCIPY_METHODS:
            raise SpecificationError(f"unknown scipy method {method!r}; choose one of {', '.join(SCIPY_METHODS)}")
        self.name = method
        self.joint = bool(joint)

    def solve(self, problem: Problem, options: SolverOptions, *, detect_stiff: bool = False) -> Solution:
        """Integrate every patient of ``problem`` (see :class:`tumordyn.solve.Engine`).

        With adaptive rules (``problem.rules``), each patient goes through
        :func:`integrate_with_rules` (solver events locate the switches); the joint mode takes no rules.
        """
        if self.joint and problem.compiled.n_events:
            # events stop and restart each patient at its own times: patient by patient
            return ScipyEngine(self.name).solve(problem, options)
        if self.joint:
            if problem.dose_scale is not None:
                raise SpecificationError("the joint scipy engine takes no per-patient dose_scale; solve the "
                                         "patients one by one (joint=False)")
            if problem.rules is not None:
                raise SpecificationError("the joint scipy engine integrates fixed schedules only; "
                                         "adaptive rules are solved patient by patient")
            return self._solve_joint([problem], options)[0]
        c = problem.compiled
        opts = replace(options, method=self.name)
        B = problem.n_patients
        te = problem.t_eval
        rp = problem.rules
        ys = np.full((B, te.size, c.n_states), np.nan)
        status = np.zeros(B, dtype=np.int64)
        t_reached = np.full(B, problem.plan.t_end)
        bad_state = np.full(B, -1, dtype=np.int64)
        counts = np.zeros((B, 3), dtype=np.int64)
        messages = [""] * B
        errors: list[SolverError | None] = [None] * B
        if rp is not None:

            base = rp.baselines(c, problem.params, problem.y0)
            us = np.full((B, te.size, c.n_drugs), np.nan)
            logs: list[Any] = [([], np.zeros((rp.dosing.breaks.size, rp.n_rules), dtype=bool))] * B
            seg_dose = np.zeros((B, 2), dtype=np.int64)
        if c.n_events and rp is not None:
            raise SpecificationError(f"model {c.model_name!r} has events: adaptive dosing rules cannot be combined "
                                     "with model events yet; give a fixed schedule")
        for j in range(B):
            plan_j, rp_j = problem.plan, rp
            if problem.dose_scale is not None:  # this patient's own doses and rates
                plan_j, rp_j = _scaled(problem.plan, rp, problem.dose_scale[j])
            try:
                if c.n_events:  # model events: located triggers, a queue of executions (solve._events)
                    ys[j], counts[j], _ = integrate_with_events(c, plan_j, problem.params[j], problem.y0[j],
                                                                te, opts)
                elif rp_j is None:
                    ys[j], counts[j] = integrate(c, plan_j, problem.params[j], problem.y0[j], te, opts)
                else:
                    ys[j], us[j], cnt, ev, given = integrate_with_rules(c, rp_j, problem.params[j], problem.y0[j],
                                                                        base[j], te, opts)
                    counts[j], seg_dose[j] = cnt[:3], cnt[3:]
                    logs[j] = (ev, given)
            except SolverError as err:
                status[j] = int(err.status)
                t_reached[j] = err.t
                bad_state[j] = err.state_index
                messages[j] = err.solver_message
                errors[j] = err
                if rp is not None:
                    ys[j] = np.nan
                    us[j] = np.nan
        rule_log = None
        if rp is not None:
            from ._problem import RuleLog

            m = max([len(ev) for ev, _ in logs] + [1])
            n_ev = np.array([len(ev) for ev, _ in logs], dtype=np.int64)
            ev_t = np.zeros((B, m))
            ev_code = np.zeros((B, m), dtype=np.int64)
            ev_val = np.zeros((B, m))
            ev_thr = np.zeros((B, m))
            for j, (ev, _) in enumerate(logs):
                for e, (t, code, v, thr) in enumerate(ev):
                    ev_t[j, e], ev_code[j, e], ev_val[j, e], ev_thr[j, e] = t, code, v, thr
            rule_log = RuleLog(us, n_ev, ev_t, ev_code, ev_val, ev_thr, np.stack([g for _, g in logs]),
                               seg_dose[:, 0].copy(), seg_dose[:, 1].copy())
        return Solution(te, ys, problem.plan.rates_at(te), status, t_reached, bad_state, tuple(messages),
                        counts[:, 0], counts[:, 1], counts[:, 2], (self.name,) * B, problem.plan.n_segments,
                        problem.plan.n_doses, errors=tuple(errors), rules=rule_log)

    def solve_many(self, problems: Sequence[Problem], options: SolverOptions) -> list[Solution]:
        """Integrate several problems of one model (each with its own plan and output times).

        With ``joint=True`` all their patients are integrated as one system on the union of the
        plans' breakpoints (:func:`stack_plans`), so every patient shares one step-size sequence and
        a multi-subject fit makes one ``solve_ivp`` call per segment; a failure is then every
        patient's. Otherwise each problem is solved on its own.
        """
        if not self.joint or (problems and problems[0].compiled.n_events):
            return [self.solve(p, options) for p in problems]
        if any(p.dose_scale is not None for p in problems):
            raise SpecificationError("the joint scipy engine takes no per-patient dose_scale; solve the "
                                     "patients one by one (joint=False)")
        return self._solve_joint(list(problems), options)

    def _solve_joint(self, problems: list[Problem], options: SolverOptions) -> list[Solution]:
        c = problems[0].compiled
        opts = replace(options, method=self.name)
        n = c.n_states
        sizes = [p.n_patients for p in problems]
        B = sum(sizes)
        plan = problems[0].plan if len(problems) == 1 else stack_plans([p.plan for p in problems])
        group = np.repeat(np.arange(len(problems)), sizes)
        P = np.ascontiguousarray(np.concatenate([p.params for p in problems]).T)
        Y0 = np.concatenate([p.y0 for p in problems])
        te = problems[0].t_eval if len(problems) == 1 else np.unique(np.concatenate([p.t_eval for p in problems]))
        system = joint_system(c, P, opts, group)
        status, t_reached, bad_state = 0, plan.t_end, -1
        counts = (0, 0, 0)
        message = ""
        error: SolverError | None = None
        try:
            zs, counts = integrate_plan(system, plan, Y0.T.reshape(-1), te, opts)
            ys = zs.reshape(te.size, n, B).transpose(2, 0, 1)
        except SolverError as err:
            ys = np.full((B, te.size, n), np.nan)
            status, t_reached, bad_state = int(err.status), err.t, err.state_index
            message, error = err.solver_message, err
        out = []
        start = 0
        for p, b in zip(problems, sizes):
            ti = np.searchsorted(te, p.t_eval)
            y = ys[start:start + b][:, ti]
            start += b
            one = np.ones(b, dtype=np.int64)
            # one joint solve: its counts are reported for every patient
            out.append(Solution(p.t_eval, y, p.plan.rates_at(p.t_eval), one * status,
                                np.full(b, p.plan.t_end if status == 0 else t_reached), one * bad_state,
                                (message,) * b, one * counts[0], one * counts[1], one * counts[2], (self.name,) * b,
                                p.plan.n_segments, p.plan.n_doses, errors=(error,) * b))
        return out


# --------------------------------------------------------------------------- event-driven integration (scipy)
