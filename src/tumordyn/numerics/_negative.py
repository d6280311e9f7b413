"""The one rule for when a non-negative state's undershoot below zero is an error.

Every engine reads it from here, so the scipy path, the compiled path and the fit path agree.
"""

from __future__ import annotations

__all__ = ["NEGATIVE_SLACK"]

#: Undershoots below zero up to this many times a state's error tolerance
#: ``atol_i + rtol * max |y_i|`` (the maximum over the current dose segment) are solver noise: the
#: global error of an adaptive solve is several times its local tolerance, and LSODA was seen
#: oscillating around zero by 10-11 atol after a drug washed out at rtol 1e-10 (the clipped right-hand
#: side does not pull a slightly negative value back). Structural positivity rules out real negative
#: solutions, so anything beyond this band is a numerical failure or a rate that pushes a state out of
#: the non-negative range (a modelling error): :class:`~tumordyn.errors.NegativeStateError`.
#: The compiled path projects its steps onto the non-negative states and counts, per segment, the
#: amount it removed while the rate at zero pointed below zero; the same band applies to that amount.
NEGATIVE_SLACK = 100.0
