"""A schedule turned once into the array form every engine consumes.

:class:`DosingPlan` is the immutable dosing of one simulation window: the breakpoints (dose times,
infusion starts and ends, ``t0`` and ``t_end``), the summed bolus amount of each drug due at each
breakpoint, and the infusion rates in force from each breakpoint to the next. No engine reads a
:class:`~tumordyn.Schedule` while it integrates; each reads a plan, so all of them apply the same
doses and count them by one rule (a dose of amount 0 is no dose).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._schedule import Schedule
from ..errors import SpecificationError

if TYPE_CHECKING:
    from ..numerics import CompiledModel

__all__ = ["DosingPlan", "check_schedule"]


@dataclass(frozen=True, eq=False)
class DosingPlan:
    """The dosing of one simulation window as read-only arrays.

    Attributes
    ----------
    t0, t_end : float
        The window (days).
    drug_names : tuple of str
        Drug order of the columns of ``bolus`` and ``rates``.
    breaks : numpy.ndarray
        Breakpoints, shape ``(n_b,)``, strictly increasing, first ``t0`` and last ``t_end`` (days).
    bolus : numpy.ndarray
        Summed bolus amount per drug due at each breakpoint, shape ``(n_b, n_drugs)`` (dose units).
    rates : numpy.ndarray
        Infusion rate per drug in force from each breakpoint to the next, shape ``(n_b, n_drugs)``
        (dose units per day); infusions are right-open ``[start, end)``.
    n_doses : int
        Bolus doses applied in ``[t0, t_end]`` (amount > 0; a dose at ``t_end`` included; two doses at
        one time count as two).
    """

    t0: float
    t_end: float
    drug_names: tuple[str, ...]
    breaks: np.ndarray
    bolus: np.ndarray
    rates: np.ndarray
    n_doses: int

    @classmethod
    def build(cls, drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float) -> DosingPlan:
        """The plan of ``schedule`` over ``[t0, t_end]`` days for a model with drugs ``drug_names``.

        Memoised on the (immutable, hashable) schedule and window: a schedule shared by many solves is
        turned into arrays once.

        Parameters
        ----------
        drug_names : tuple of str
            The model's drugs (``model.compiled.drug_names``).
        schedule : Schedule
            Doses and infusions, already validated against the model (:func:`check_schedule`).
        t0, t_end : float
            The window (days), ``t0 <= t_end``.

        Returns
        -------
        DosingPlan
        """
        return _build(tuple(drug_names), schedule, float(t0), float(t_end))

    @property
    def n_segments(self) -> int:
        """Number of integration segments (between consecutive breakpoints)."""
        return max(0, self.breaks.size - 1)

    def rates_at(self, times: np.ndarray) -> np.ndarray:
        """Infusion rates in force at ``times`` (right-continuous), shape ``(len(times), n_drugs)``."""
        idx = np.clip(np.searchsorted(self.breaks, times, side="right") - 1, 0, self.breaks.size - 1)
        return self.rates[idx]


@functools.lru_cache(maxsize=256)
def _build(drug_names: tuple[str, ...], schedule: Schedule, t0: float, t_end: float) -> DosingPlan:
    n_drugs = len(drug_names)
    drug_index = {d: i for i, d in enumerate(drug_names)}
    breaks = np.ascontiguousarray(schedule.breakpoints(t0, t_end), dtype=float)
    bolus = np.zeros((breaks.size, n_drugs))
    rates = np.zeros((breaks.size, n_drugs))
    doses = [d for d in schedule.doses if d.amount > 0 and t0 <= d.time <= t_end]
    if doses:
        rows = np.searchsorted(breaks, np.array([d.time for d in doses], dtype=float))
        cols = np.array([drug_index[d.drug] for d in doses], dtype=np.int64)
        np.add.at(bolus, (rows, cols), np.array([d.amount for d in doses], dtype=float))
    for inf in schedule.infusions:
        if inf.rate > 0:
            on = (breaks >= inf.start) & (breaks < inf.end)
            rates[on, drug_index[inf.drug]] += inf.rate
    for arr in (breaks, bolus, rates):
        arr.flags.writeable = False
    return DosingPlan(t0, t_end, drug_names, breaks, bolus, rates, len(doses))


def check_schedule(compiled: CompiledModel, schedule: Schedule, *, t0: float, t_end: float | None,
                   where: str) -> None:
    """Check a schedule against a model: known drugs, times within the window, no bolus of a direct-input drug.

    Parameters
    ----------
    compiled : CompiledModel
        ``model.compiled``.
    schedule : Schedule
        The doses and infusions.
    t0 : float
        Start of the window (days).
    t_end : float or None
        End of the window (days); ``None`` skips the upper check.
    where : str
        What is checked, for messages (e.g. ``"model 'x'"`` or ``"schedule of subject 'A'"``).

    Raises
    ------
    UnknownNameError
        For a drug the model does not have.
    SpecificationError
        For a dose outside the window, or a bolus dose of a direct-input drug (which takes infusions).
    """
    schedule.validate(compiled.drug_names, t_end=t_end, t0=t0, where=where)
    for dose in schedule.doses:
        if compiled.dose_compartment[compiled.drug_names.index(dose.drug)] < 0:
            raise SpecificationError(
                f"{where}: drug {dose.drug!r} is a direct-input drug (no compartment): "
                f"it takes Infusion items, not the bolus Dose at t = {dose.time} days"
            )
