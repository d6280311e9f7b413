"""SBML export (Level 3 Version 2, doses as events) and import (parameters, species, reactions, rules).

libsbml (the ``sbml`` extra: ``pip install "tumordyn[sbml]"``) is imported only
inside :func:`to_sbml` and :func:`from_sbml`, so ``import tumordyn`` never needs it.

MathML is converted by walking libsbml's AST node by node into sympy (and back);
no text is ever evaluated.
"""

from __future__ import annotations

import json
import keyword
import math
import warnings
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean

from ..dosing import Schedule, check_schedule
from ..errors import SpecificationError, TumordynWarning
from ..numerics import compile_model
from ..spec import (
    ALLOWED_FUNCTIONS,
    Event,
    check_name,
    RESERVED_NAMES,
    TIME,
    Model,
    checked_exp,
    Observable,
    Parameter,
    Process,
    State,
    input_symbol,
    vanishes_at_zero,
)
from ._files import FILE_LIMITS, _parse_text, model_from_dict, model_to_dict
from ._schedules import SCHEDULE_LIMITS, schedule_from_dict, schedule_to_dict

__all__ = ["SBMLLimitError", "SBMLUnitError", "SBMLUnsupportedError", "from_sbml", "to_sbml"]


class SBMLUnsupportedError(SpecificationError):
    """An SBML construct that tumordyn cannot represent faithfully (events, delays, algebraic rules...).

    Attributes
    ----------
    construct : str
        The construct, e.g. ``"events"``, ``"delay"``, ``"algebraic rules"``, ``"piecewise"``.
    """

    def __init__(self, construct: str, message: str) -> None:
        super().__init__(message)
        self.construct = construct


class SBMLUnitError(SpecificationError):
    """The units declared in an SBML model are inconsistent or cannot be converted."""


class SBMLLimitError(SpecificationError):
    """An SBML document exceeds a documented limit (size, XML nesting depth, expression size, number size).

    The limits (module constants of ``tumordyn.io._sbml``, and the ``max_bytes`` / ``max_depth``
    arguments of :func:`from_sbml`) are checked before libsbml sees the text, so hostile
    documents are refused in bounded time and memory.
    """


#: Avogadro's number as SBML Level 3 defines the ``avogadro`` csymbol (not the 2019 SI value 6.02214076e23).
AVOGADRO = 6.02214179e23
#: Name of the constant placeholder state of a model without ODE states (``_`` appended on a clash).
NO_STATE = "sbml_no_state"
#: Largest SBML document :func:`from_sbml` reads, in bytes (``max_bytes=`` overrides).
MAX_BYTES = 50_000_000
#: Deepest XML element nesting :func:`from_sbml` accepts (``max_depth=`` overrides); SBML's own
#: structure takes about 8 levels, the rest is MathML.
MAX_DEPTH = 250
#: Largest expression (tree nodes, shared subexpressions counted each time) an import may build.
MAX_EXPRESSION_NODES = 200_000
#: Largest number (in bits) a power of two numbers may produce (as the text parser).
MAX_POWER_BITS = 4096


def _libsbml() -> Any:
    try:
        import libsbml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "SBML support needs python-libsbml: install the 'sbml' extra, pip install \"tumordyn[sbml]\""
        ) from None
    return libsbml


# =========================================================================================
# export
# =========================================================================================
_BASE_UNITS: dict[str, tuple[str, float, int]] = {
    # name: (libsbml unit kind, multiplier, scale)
    "cell": ("item", 1.0, 0),
    "cells": ("item", 1.0, 0),
    "day": ("second", 86400.0, 0),
    "days": ("second", 86400.0, 0),
    "h": ("second", 3600.0, 0),
    "s": ("second", 1.0, 0),
    "g": ("gram", 1.0, 0),
    "mg": ("gram", 1.0, -3),
    "ug": ("gram", 1.0, -6),
    "ng": ("gram", 1.0, -9),
    "L": ("litre", 1.0, 0),
    "mL": ("litre", 1.0, -3),
    "m": ("metre", 1.0, 0),
    "cm": ("metre", 1.0, -2),
    "mm": ("metre", 1.0, -3),
    "mol": ("mole", 1.0, 0),
    "mmol": ("mole", 1.0, -3),
}
_TERM = re.compile(r"^([A-Za-z]+)(?:(?:\^|\*\*)(-?\d+))?$")


def _parse_unit(text: str) -> list[tuple[str, float, int, int]] | None:
    """``"mg/L"`` -> [(kind, multiplier, scale, exponent)...]; ``[]`` for dimensionless; None if unknown."""
    s = text.strip()
    if s in ("", "1", "dimensionless"):
        return []
    num, _, den = s.partition("/")
    out: list[tuple[str, float, int, int]] = []
    for part, sign in ((num, 1), (den, -1)):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        if sign == -1 and not part:
            return None
        for term in re.split(r"[\s*·]+", part):
            if not term or term == "1":
                continue
            m = _TERM.match(term)
            if m is None or m.group(1) not in _BASE_UNITS:
                return None
            kind, mult, scale = _BASE_UNITS[m.group(1)]
            out.append((kind, mult, scale, sign * int(m.group(2) or 1)))
    return out


#: sympy functions and their MathML names (``AST_FUNCTION_<name>``), both ways.
_SYMPY_TO_MATHML = {
    sp.sin: "SIN", sp.cos: "COS", sp.tan: "TAN", sp.sec: "SEC", sp.csc: "CSC", sp.cot: "COT",
    sp.asin: "ARCSIN", sp.acos: "ARCCOS", sp.atan: "ARCTAN", sp.asec: "ARCSEC", sp.acsc: "ARCCSC",
    sp.acot: "ARCCOT", sp.sinh: "SINH", sp.cosh: "COSH", sp.floor: "FLOOR", sp.ceiling: "CEILING",
}
#: sympy relations and logical operators and their libsbml node types.
_SYMPY_TO_MATHML_LOGIC = {
    sp.StrictLessThan: "AST_RELATIONAL_LT", sp.LessThan: "AST_RELATIONAL_LEQ",
    sp.StrictGreaterThan: "AST_RELATIONAL_GT", sp.GreaterThan: "AST_RELATIONAL_GEQ",
    sp.Eq: "AST_RELATIONAL_EQ", sp.Ne: "AST_RELATIONAL_NEQ",
    sp.And: "AST_LOGICAL_AND", sp.Or: "AST_LOGICAL_OR", sp.Not: "AST_LOGICAL_NOT", sp.Xor: "AST_LOGICAL_XOR",
}


def _to_ast(libsbml: Any, expr: sp.Expr, where: str) -> Any:
    """sympy -> libsbml ASTNode, node by node."""

    def node(t: int, *children: Any) -> Any:
        n = libsbml.ASTNode(t)
        for c in children:
            n.addChild(c)
        return n

    def number(x: sp.Expr) -> Any:
        if isinstance(x, sp.Integer):
            n = libsbml.ASTNode(libsbml.AST_INTEGER)
            n.setValue(int(x))
            return n
        if isinstance(x, sp.Rational):
            return node(libsbml.AST_DIVIDE, number(sp.Integer(x.p)), number(sp.Integer(x.q)))
        n = libsbml.ASTNode(libsbml.AST_REAL)
        n.setValue(float(x))
        return n

    def conv(e: sp.Expr) -> Any:
        if isinstance(e, sp.Symbol):
            if e == TIME:
                n = libsbml.ASTNode(libsbml.AST_NAME_TIME)
                n.setName("time")
                return n
            n = libsbml.ASTNode(libsbml.AST_NAME)
            n.setName(e.name)
            return n
        if e is sp.pi:
            return libsbml.ASTNode(libsbml.AST_CONSTANT_PI)
        if e is sp.E:
            return libsbml.ASTNode(libsbml.AST_CONSTANT_E)
        if isinstance(e, sp.Number):
            if not e.is_finite:
                raise SpecificationError(f"{where}: non-finite number {e} cannot be exported to SBML")
            if e.is_negative:
                return node(libsbml.AST_MINUS, number(-e))
            return number(e)
        if isinstance(e, sp.Add):
            return node(libsbml.AST_PLUS, *(conv(a) for a in e.args))
        if isinstance(e, sp.Mul):
            num, den = [], []
            for f in e.args:
                if isinstance(f, sp.Pow) and f.exp.is_Number and f.exp.is_negative:
                    den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
                elif isinstance(f, sp.Rational) and not isinstance(f, sp.Integer):
                    if f.p != 1:
                        num.append(sp.Integer(f.p))
                    den.append(sp.Integer(f.q))
                else:
                    num.append(f)

            def prod(items: list[sp.Expr]) -> Any:
                if not items:
                    return number(sp.Integer(1))
                if len(items) == 1:
                    return conv(items[0])
                return node(libsbml.AST_TIMES, *(conv(a) for a in items))

            if not den:
                return prod(num)
            return node(libsbml.AST_DIVIDE, prod(num), prod(den))
        if isinstance(e, sp.Pow):
            if e.exp == -1:
                return node(libsbml.AST_DIVIDE, number(sp.Integer(1)), conv(e.base))
            return node(libsbml.AST_POWER, conv(e.base), conv(e.exp))
        if e is sp.true or e is sp.false:
            return libsbml.ASTNode(libsbml.AST_CONSTANT_TRUE if e is sp.true else libsbml.AST_CONSTANT_FALSE)
        if isinstance(e, sp.Piecewise):  # <piecewise>: value, condition, ..., otherwise (a True condition)
            kids = []
            for value, cond in e.args:
                kids.append(conv(value))
                if cond is not sp.true:
                    kids.append(conv(cond))
            return node(libsbml.AST_FUNCTION_PIECEWISE, *kids)
        funcs = {sp.exp: libsbml.AST_FUNCTION_EXP, sp.log: libsbml.AST_FUNCTION_LN, sp.Abs: libsbml.AST_FUNCTION_ABS,
                 sp.tanh: libsbml.AST_FUNCTION_TANH, sp.Max: libsbml.AST_FUNCTION_MAX, sp.Min: libsbml.AST_FUNCTION_MIN,
                 **{f: getattr(libsbml, f"AST_FUNCTION_{n}") for f, n in _SYMPY_TO_MATHML.items()},
                 **{f: getattr(libsbml, n) for f, n in _SYMPY_TO_MATHML_LOGIC.items()}}
        for f, t in funcs.items():
            if isinstance(e, f):
                return node(t, *(conv(a) for a in e.args))
        raise SpecificationError(f"{where}: {type(e).__name__} in {e} cannot be exported to SBML")

    return conv(expr)


def _check(code: int, what: str) -> None:
    if code not in (0, None):  # LIBSBML_OPERATION_SUCCESS == 0
        raise SpecificationError(f"libsbml refused to {what} (code {code})")


def to_sbml(model: Model, schedule: Schedule | None = None, *, params: Mapping[str, float] | None = None,
            initial: Mapping[str, float] | None = None) -> str:
    """Export a model (and optionally a schedule) as an SBML Level 3 Version 2 document.

    Encoding:

    * one compartment ``lesion`` of size 1; every state is a species with
      ``hasOnlySubstanceUnits="true"`` (its value is the state, in its own unit);
    * every process is an irreversible reaction with the process rate as kinetic
      law and its ``consumes``/``produces`` as reactants/products (so the
      species' rate of change is exactly the model's right-hand side);
    * every parameter is a constant SBML parameter; a drug's infusion input
      ``u_<drug>`` (amount/day) is a non-constant parameter feeding a reaction
      ``input_<drug>`` at rate ``u_<drug> / V``; a direct-input drug's level is a
      non-constant parameter named after the drug;
    * the schedule becomes events: one event per time with a bolus dose or an
      infusion change, trigger ``time >= t_k`` (``initialValue="false"`` so a dose
      at t = 0 fires, ``persistent="true"``, ``useValuesFromTriggerTime="true"``),
      assigning ``C = C + amount / V`` for every drug dosed at ``t_k`` (doses of one
      drug at the same time are summed into one assignment) and the infusion
      rates in force from ``t_k`` on;
    * observables become assignment rules of non-constant parameters;
    * time is in days (unit definition ``day``); states and parameters get unit
      definitions when their unit strings are built from cells, day, h, s, g, mg,
      ug, ng, L, mL, m, cm, mm, mol, mmol (e.g. ``"mg/L"``, ``"1/(cell day)"``);
    * the model as a tumordyn model file (JSON) in an annotation (namespace
      :data:`ANNOTATION_NS`), which :func:`from_sbml` uses to restore drugs, bounds,
      units and descriptions (omitted if an expression cannot be written as text).

    Parameters
    ----------
    model : Model
        The model.
    schedule : Schedule, optional
        Doses (times in days from t = 0, amounts in the drug's dose unit) and infusions.
    params : mapping, optional
        Parameter values overriding the defaults.
    initial : mapping, optional
        Initial values overriding the defaults.

    Returns
    -------
    str
        The SBML document (XML).

    Raises
    ------
    ImportError
        If python-libsbml is not installed.
    SpecificationError
        For an expression that SBML cannot hold, or an invalid schedule.
    """
    libsbml = _libsbml()
    if not isinstance(model, Model):
        raise TypeError(f"expected a tumordyn Model, got {type(model).__name__}")
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a tumordyn Schedule or None, got {type(schedule).__name__}")
    compiled = compile_model(model)
    check_schedule(compiled, schedule, t0=0.0, t_end=None, where=f"model {model.name!r}")
    pvals = dict(zip(compiled.param_names, map(float, compiled.param_vector(params))))
    yvals = dict(zip(compiled.state_names, map(float, compiled.initial_vector(initial))))

    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    mid = re.sub(r"\W", "_", model.name)
    if not re.match(r"[A-Za-z_]", mid):
        mid = "m_" + mid
    m.setId(mid)
    m.setName(model.name)
    used = set(model.states.names) | set(model.parameters.names) | set(model.drugs.names) | set(
        model.observables.names) | {str(input_symbol(d)) for d in model.drugs.names}

    units: dict[str, str] = {}

    def unit_id(text: str) -> str | None:
        if text in units:
            return units[text]
        parsed = _parse_unit(text)
        if parsed is None:
            return None
        if not parsed:
            units[text] = "dimensionless"
            return "dimensionless"
        uid = "unit_" + re.sub(r"\W", "_", text).strip("_")
        while uid in used or uid in units.values():
            uid += "_"
        ud = m.createUnitDefinition()
        ud.setId(uid)
        ud.setName(text)
        for kind, mult, scale, exp in parsed:
            u = ud.createUnit()
            u.setKind(libsbml.UnitKind_forName(kind))
            u.setExponent(exp)
            u.setScale(scale)
            u.setMultiplier(mult)
        units[text] = uid
        return uid

    day = m.createUnitDefinition()
    day.setId("day")
    u = day.createUnit()
    u.setKind(libsbml.UNIT_KIND_SECOND)
    u.setExponent(1)
    u.setScale(0)
    u.setMultiplier(86400.0)
    units["day"] = units["days"] = "day"
    m.setTimeUnits("day")

    comp = m.createCompartment()
    cid = "lesion"
    while cid in used:
        cid += "_"
    comp.setId(cid)
    comp.setSize(1.0)
    comp.setConstant(True)
    comp.setSpatialDimensions(3)
    comp.setUnits("dimensionless")

    for s in model.states:
        sp_ = m.createSpecies()
        sp_.setId(s.name)
        sp_.setName(s.description or s.name)
        sp_.setCompartment(cid)
        sp_.setInitialAmount(yvals[s.name])
        sp_.setHasOnlySubstanceUnits(True)
        sp_.setBoundaryCondition(False)
        sp_.setConstant(False)
        uid = unit_id(s.unit)
        if uid is not None:
            sp_.setSubstanceUnits(uid)
    for p in model.parameters:
        par = m.createParameter()
        par.setId(p.name)
        if p.description:
            par.setName(p.description)
        par.setValue(pvals[p.name])
        par.setConstant(True)
        uid = unit_id(p.unit)
        if uid is not None:
            par.setUnits(uid)

    rates0 = schedule.infusion_rates(0.0)
    for d in model.drugs:
        par = m.createParameter()
        pid = d.name if d.compartment is None else str(input_symbol(d.name))
        par.setId(pid)
        par.setName(f"infusion rate of {d.name}" if d.compartment is not None else f"level of {d.name}")
        par.setValue(float(rates0.get(d.name, 0.0)))
        par.setConstant(False)

    def add_reaction(rid: str, rate: sp.Expr, consumes: Mapping[str, float], produces: Mapping[str, float]) -> None:
        r = m.createReaction()
        r.setId(rid)
        r.setReversible(False)
        for k, c in consumes.items():
            ref = r.createReactant()
            ref.setSpecies(k)
            ref.setStoichiometry(float(c))
            ref.setConstant(True)
        for k, c in produces.items():
            ref = r.createProduct()
            ref.setSpecies(k)
            ref.setStoichiometry(float(c))
            ref.setConstant(True)
        kl = r.createKineticLaw()
        _check(kl.setMath(_to_ast(libsbml, rate, f"rate of process {rid!r}")), f"set the kinetic law of {rid!r}")

    for p in model.processes:
        add_reaction(p.name, p.rate, dict(p.consumes), dict(p.produces))
    for d in model.drugs:
        if d.compartment is not None:
            vol = sp.Symbol(d.volume) if isinstance(d.volume, str) else sp.Float(d.volume)
            rid = f"input_{d.name}"
            while rid in used:
                rid += "_"
            add_reaction(rid, input_symbol(d.name) / vol, {}, {d.compartment: 1.0})

    for o in model.observables:
        par = m.createParameter()
        par.setId(o.name)
        par.setName(o.description or o.name)
        par.setConstant(False)
        par.setValue(0.0)
        uid = unit_id(o.unit)
        if uid is not None:
            par.setUnits(uid)
        rule = m.createAssignmentRule()
        rule.setVariable(o.name)
        _check(rule.setMath(_to_ast(libsbml, o.expr, f"observable {o.name!r}")), f"set observable {o.name!r}")

    # events: one per time at which a bolus is given or an infusion rate changes
    times = sorted({d.time for d in schedule.doses} | {i.start for i in schedule.infusions if i.start > 0}
                   | {i.end for i in schedule.infusions})
    for k, tk in enumerate(times):
        ev = m.createEvent()
        ev.setId(f"schedule_{k}")
        ev.setName(f"t = {tk:g} days")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        trig.setMath(libsbml.parseL3Formula(f"time >= {tk!r}"))
        for drug, amount in sorted(schedule.bolus_at(tk).items()):
            d = model.drugs[drug]
            vol = sp.Symbol(d.volume) if isinstance(d.volume, str) else sp.Float(d.volume)
            ea = ev.createEventAssignment()
            ea.setVariable(d.compartment)
            ea.setMath(_to_ast(libsbml, sp.Symbol(d.compartment) + sp.Float(amount) / vol, f"dose at {tk}"))
        if any(i.start == tk or i.end == tk for i in schedule.infusions):
            rates = schedule.infusion_rates(tk)
            for d in model.drugs:
                if d.name in schedule.drugs and any(i.drug == d.name for i in schedule.infusions):
                    ea = ev.createEventAssignment()
                    ea.setVariable(d.name if d.compartment is None else str(input_symbol(d.name)))
                    ea.setMath(_to_ast(libsbml, sp.Float(rates.get(d.name, 0.0)), f"infusion at {tk}"))
    _export_events(libsbml, m, model, used)
    ann = _annotation_xml(model, schedule)
    if ann is not None:  # what SBML does not hold (drugs, bounds, units, descriptions), for from_sbml
        _check(m.setAnnotation(ann), "set the tumordyn annotation")
    text = libsbml.writeSBMLToString(doc)
    return text


def _export_events(libsbml: Any, m: Any, model: Model, used: set[str]) -> None:
    """The model's own events as SBML events (trigger, assignments to the states' species, delay, priority,
    the three flags), after the schedule's."""
    taken = set(used) | {m.getEvent(k).getId() for k in range(m.getNumEvents())}
    for e in model.events:
        eid = e.name
        while eid in taken:
            eid += "_"
        taken.add(eid)
        where = f"event {e.name!r}"
        ev = m.createEvent()
        ev.setId(eid)
        if e.description:
            ev.setName(e.description)
        ev.setUseValuesFromTriggerTime(e.use_values_from_trigger_time)
        trig = ev.createTrigger()
        trig.setInitialValue(e.initial_value)
        trig.setPersistent(e.persistent)
        _check(trig.setMath(_to_ast(libsbml, e.trigger, f"trigger of {where}")), f"set the trigger of {where}")
        if e.delay is not None:
            _check(ev.createDelay().setMath(_to_ast(libsbml, e.delay, f"delay of {where}")), f"set the delay of {where}")
        if e.priority is not None:
            _check(ev.createPriority().setMath(_to_ast(libsbml, e.priority, f"priority of {where}")),
                   f"set the priority of {where}")
        for k, v in e.assignments:
            ea = ev.createEventAssignment()
            ea.setVariable(k)
            _check(ea.setMath(_to_ast(libsbml, v, f"assignment to {k!r} of {where}")), f"set an assignment of {where}")


# =========================================================================================
# import
# =========================================================================================
def _unsupported(construct: str, detail: str) -> SBMLUnsupportedError:
    return SBMLUnsupportedError(
        construct, f"unsupported SBML construct: {construct} ({detail}); tumordyn imports parameters, "
        "compartments, species, reactions (variable stoichiometry too), assignment/rate rules, linear algebraic "
        "rules, function definitions, initial assignments and hierarchical (comp) models"
    )


def _ast_names(libsbml: Any) -> dict[int, str]:
    return {getattr(libsbml, n): n for n in dir(libsbml) if n.startswith("AST_")}


def _truncate(q: sp.Expr) -> sp.Expr:
    """``q`` rounded toward zero (MathML's integer part), as a piecewise of floor and ceiling."""
    if q.is_number:
        return sp.floor(q) if q >= 0 else sp.ceiling(q)
    return sp.Piecewise((sp.floor(q), q >= 0), (sp.ceiling(q), True))


#: Largest n whose factorial n! is a finite float.
_MAX_FACTORIAL = 170


def _from_ast(libsbml: Any, ast: Any, names: Mapping[str, sp.Expr], funcs: Mapping[str, tuple[list[str], Any, Any]],
              where: str, local: Mapping[str, sp.Basic] | None = None, condition_ok: bool = False,
              budget: list[int] | None = None, calls: dict[tuple[Any, ...], sp.Basic] | None = None,
              nonfinite: bool = False) -> sp.Expr:
    """libsbml ASTNode -> sympy, node by node (never evaluates text).

    ``nonfinite``: INF and NaN become sympy's ``oo``, ``-oo``, ``nan`` (``from_sbml(allow_nonfinite=True)``;
    the importer then refuses them anywhere but in the values of constants nothing simulated uses) instead
    of :class:`SBMLUnsupportedError`.

    ``condition_ok``: the result may be a condition (a function definition's body), not only a number.
    ``budget``: MathML nodes left to convert, shared with the conversions of the function bodies called
    (each call converts its body), so nested calls cannot expand without bound.
    """
    if budget is None:
        budget = [MAX_EXPRESSION_NODES]
    if calls is None:
        calls = {}  # (function, argument values) -> converted body, shared with the nested conversions
    L = libsbml
    tnames = _ast_names(libsbml)
    named_unsupported = {
        L.AST_FUNCTION_DELAY: "delay",
    }
    trig = {getattr(L, f"AST_FUNCTION_{n}"): f for f, n in _SYMPY_TO_MATHML.items()
            if n not in ("SINH", "COSH")}  # sinh/cosh: exactly through exp, below
    relations = {L.AST_RELATIONAL_LT: sp.StrictLessThan, L.AST_RELATIONAL_LEQ: sp.LessThan,
                 L.AST_RELATIONAL_GT: sp.StrictGreaterThan, L.AST_RELATIONAL_GEQ: sp.GreaterThan,
                 L.AST_RELATIONAL_EQ: sp.Eq}
    logical = {L.AST_LOGICAL_AND: (sp.And, sp.true), L.AST_LOGICAL_OR: (sp.Or, sp.false),
               L.AST_LOGICAL_XOR: (sp.Xor, sp.false)}
    rate_of = getattr(L, "AST_FUNCTION_RATE_OF", None)

    def exp_(x: sp.Expr) -> sp.Expr:
        return checked_exp(x, where)

    # hyperbolic functions and their inverses, exactly, in terms of exp, log and sqrt
    hyperbolic = {
        "AST_FUNCTION_SINH": lambda x: (exp_(x) - exp_(-x)) / 2,
        "AST_FUNCTION_COSH": lambda x: (exp_(x) + exp_(-x)) / 2,
        "AST_FUNCTION_SECH": lambda x: 2 / (exp_(x) + exp_(-x)),
        "AST_FUNCTION_CSCH": lambda x: 2 / (exp_(x) - exp_(-x)),
        "AST_FUNCTION_COTH": lambda x: (exp_(x) + exp_(-x)) / (exp_(x) - exp_(-x)),
        "AST_FUNCTION_ARCSINH": lambda x: sp.log(x + sp.sqrt(x**2 + 1)),
        "AST_FUNCTION_ARCCOSH": lambda x: sp.log(x + sp.sqrt(x - 1) * sp.sqrt(x + 1)),
        "AST_FUNCTION_ARCTANH": lambda x: (sp.log(1 + x) - sp.log(1 - x)) / 2,
        "AST_FUNCTION_ARCSECH": lambda x: sp.log((1 + sp.sqrt(1 - x**2)) / x),
        "AST_FUNCTION_ARCCSCH": lambda x: sp.log(1 / x + sp.sqrt(1 / x**2 + 1)),
        "AST_FUNCTION_ARCCOTH": lambda x: sp.log((x + 1) / (x - 1)) / 2,  # real for x < -1 too
    }
    hyper = {getattr(L, k): f for k, f in hyperbolic.items() if hasattr(L, k)}

    # SBML Level 3 Version 2 MathML mixes the two: a condition used as a number is 1 (true) or 0 (false), a
    # number used as a condition is true when it is not 0 (as the SBML Test Suite and libRoadRunner do)
    def walk(a: Any) -> sp.Expr:
        out = walk_any(a)
        if not isinstance(out, sp.Expr):
            if not isinstance(out, Boolean):
                raise SpecificationError(f"{where}: {_short(out)} is neither a number nor a condition")
            return sp.Piecewise((sp.Integer(1), out), (sp.Integer(0), True))
        return out

    def walk_cond(a: Any) -> sp.Basic:
        out = walk_any(a)
        if isinstance(out, sp.Expr):
            return sp.Ne(out, 0)
        if not isinstance(out, Boolean):
            raise SpecificationError(f"{where}: {_short(out)} is neither a number nor a condition")
        return out

    def walk_any(a: Any) -> sp.Basic:
        budget[0] -= 1
        if budget[0] < 0:
            raise SBMLLimitError(f"{where}: the expression expands beyond {MAX_EXPRESSION_NODES} MathML nodes once "
                                 "its function calls are inlined (limit tumordyn.io._sbml.MAX_EXPRESSION_NODES)")
        t = a.getType()
        kids = [a.getChild(i) for i in range(a.getNumChildren())]
        if t == L.AST_FUNCTION_PIECEWISE:
            pairs = [(walk(kids[k]), walk_cond(kids[k + 1])) for k in range(0, len(kids) - 1, 2)]
            if len(kids) % 2:
                pairs.append((walk(kids[-1]), sp.true))
            if not pairs:
                raise SpecificationError(f"{where}: empty piecewise")
            return sp.Piecewise(*pairs)  # without otherwise: NaN where no condition holds
        if t in relations:
            if len(kids) < 2:
                raise SpecificationError(f"{where}: relational operator with fewer than two arguments")
            vals = [walk(k) for k in kids]  # lt(a, b, c) is a < b < c
            return sp.And(*(relations[t](x, y) for x, y in zip(vals, vals[1:])))
        if t == L.AST_RELATIONAL_NEQ:
            if len(kids) != 2:
                raise SpecificationError(f"{where}: neq takes two arguments")
            return sp.Ne(walk(kids[0]), walk(kids[1]))
        if t in logical:
            func, empty = logical[t]
            return func(*(walk_cond(k) for k in kids)) if kids else empty
        if t == L.AST_LOGICAL_IMPLIES:
            if len(kids) != 2:
                raise SpecificationError(f"{where}: implies takes two arguments")
            return sp.Or(sp.Not(walk_cond(kids[0])), walk_cond(kids[1]))
        if t == L.AST_LOGICAL_NOT:
            if len(kids) != 1:
                raise SpecificationError(f"{where}: not takes one argument")
            return sp.Not(walk_cond(kids[0]))
        if t == L.AST_CONSTANT_TRUE:
            return sp.true
        if t == L.AST_CONSTANT_FALSE:
            return sp.false
        if t in trig and len(kids) == 1:
            return trig[t](walk(kids[0]))
        if t == L.AST_FUNCTION_FACTORIAL and len(kids) == 1:
            x = walk(kids[0])
            if not x.is_number:  # Gamma(x + 1): equal to x! on the integers MathML defines it for
                return sp.gamma(x + 1)
            try:
                n = float(x)
            except (TypeError, ValueError, OverflowError):
                n = math.nan
            if not (n >= 0 and n == int(n) and n <= _MAX_FACTORIAL):
                raise SpecificationError(f"{where}: factorial({x}) is not the factorial of an integer 0..."
                                         f"{_MAX_FACTORIAL} (a finite float)")
            return sp.factorial(int(n))
        if t in (L.AST_FUNCTION_QUOTIENT, L.AST_FUNCTION_REM) and len(kids) == 2:
            x, y = walk(kids[0]), walk(kids[1])
            q = _truncate(x / y)  # MathML: the integer part of x/y; rem = x - y*quotient (sign of x)
            return q if t == L.AST_FUNCTION_QUOTIENT else x - y * q
        if t == L.AST_PLUS:
            return sp.Add(*(walk(k) for k in kids)) if kids else sp.Integer(0)
        if t == L.AST_TIMES:
            return sp.Mul(*(walk(k) for k in kids)) if kids else sp.Integer(1)
        if t == L.AST_MINUS:
            if len(kids) == 1:
                return -walk(kids[0])
            return walk(kids[0]) - walk(kids[1])
        if t == L.AST_DIVIDE:
            return walk(kids[0]) / walk(kids[1])
        if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
            base, exponent = walk(kids[0]), walk(kids[1])
            if isinstance(exponent, sp.Float) and float(exponent).is_integer() and abs(float(exponent)) < 1e6:
                exponent = sp.Integer(int(float(exponent)))  # x^2.0 -> x**2 (same value, simpler code)
            return _power(base, exponent, where)
        if t == L.AST_INTEGER:
            return sp.Integer(a.getInteger())
        if t in (L.AST_REAL, L.AST_REAL_E):
            v = a.getReal()
            if not math.isfinite(v):
                if nonfinite:
                    return sp.nan if math.isnan(v) else (sp.oo if v > 0 else -sp.oo)
                raise _unsupported("non-finite number", f"{v} in {where}")
            return sp.Float(v)
        if t == L.AST_RATIONAL:
            return sp.Rational(a.getNumerator(), a.getDenominator())
        if t == L.AST_NAME_TIME:
            return TIME
        if t == L.AST_NAME_AVOGADRO:
            return sp.Float(AVOGADRO)
        if t == L.AST_CONSTANT_PI:
            return sp.pi
        if t == L.AST_CONSTANT_E:
            return sp.E
        if t == L.AST_NAME:
            n = a.getName()
            if local is not None and n in local:
                return local[n]
            if n in names:
                return names[n]
            raise SpecificationError(f"{where}: unknown SBML identifier {n!r}")
        if t == L.AST_FUNCTION_EXP:
            return exp_(walk(kids[0]))
        if t == L.AST_FUNCTION_LN:
            return sp.log(walk(kids[0]))
        if t == L.AST_FUNCTION_LOG:
            if len(kids) == 1:
                return sp.log(walk(kids[0])) / sp.log(10)
            return sp.log(walk(kids[1])) / sp.log(walk(kids[0]))
        if t == L.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                return sp.sqrt(walk(kids[0]))
            return walk(kids[1]) ** (1 / walk(kids[0]))
        if t == L.AST_FUNCTION_ABS:
            return sp.Abs(walk(kids[0]))
        if t == L.AST_FUNCTION_TANH:
            return sp.tanh(walk(kids[0]))
        if hasattr(L, "AST_FUNCTION_MAX") and t == L.AST_FUNCTION_MAX:
            return sp.Max(*(walk(k) for k in kids))
        if hasattr(L, "AST_FUNCTION_MIN") and t == L.AST_FUNCTION_MIN:
            return sp.Min(*(walk(k) for k in kids))
        if t in hyper and len(kids) == 1:
            return hyper[t](walk(kids[0]))
        if rate_of is not None and t == rate_of:
            if len(kids) != 1 or kids[0].getType() != L.AST_NAME:
                raise _unsupported("rateOf", f"rateOf of an expression (not an identifier) in {where}")
            n = kids[0].getName()
            if local is not None and n in local:
                return sp.Integer(0)  # a kinetic law's local parameters are constants
            if n not in names:
                raise _unsupported("rateOf", f"rateOf({n}) of a local or unknown identifier in {where}")
            return RATE_OF(sp.Symbol(RATE_OF_PREFIX + n))  # the SBML id, kept out of substitutions
        if t == L.AST_FUNCTION:
            fname = a.getName()
            if fname not in funcs:
                raise SpecificationError(f"{where}: call of undefined function {fname!r}")
            args, body, visible = funcs[fname]
            if len(args) != len(kids):
                raise SpecificationError(f"{where}: function {fname!r} takes {len(args)} arguments, got {len(kids)}")
            # the body is converted with the arguments bound to their values (numbers or conditions), so each
            # argument is checked where the body uses it; it sees only the functions defined before it
            values = tuple(walk_any(k) for k in kids)
            key = (fname, values)
            if key in calls:
                return calls[key]
            out = _from_ast(libsbml, body, {}, visible, f"function {fname!r} called in {where}",
                            local=dict(zip(args, values)), condition_ok=True, budget=budget, calls=calls,
                            nonfinite=nonfinite)
            if _tree_size(out, {}) > MAX_EXPRESSION_NODES:
                raise SBMLLimitError(f"{where}: the call of function {fname!r} expands beyond "
                                     f"{MAX_EXPRESSION_NODES} nodes (limit tumordyn.io._sbml.MAX_EXPRESSION_NODES)")
            calls[key] = out
            return out
        if t in named_unsupported:
            construct = named_unsupported[t]
            raise _unsupported(construct, f"in {where}")
        label = tnames.get(t, str(t))
        if label.startswith(("AST_RELATIONAL", "AST_LOGICAL")):
            raise _unsupported(f"logical operator {label.split('_')[-1].lower()}", f"in {where}")
        if label.startswith("AST_FUNCTION_"):
            fn = label[len("AST_FUNCTION_"):].lower()
            raise _unsupported(f"function {fn}", f"in {where}; supported: exp, ln, log, power, root, abs, "
                                                 "max, min, floor, ceiling, quotient, rem, factorial (of a "
                                                 "constant), piecewise, the trigonometric and hyperbolic "
                                                 "functions and their inverses, rateOf and function definitions")
        raise _unsupported(label[4:].lower() if label.startswith("AST_") else label, f"in {where}")

    try:
        return walk_any(ast) if condition_ok else walk(ast)
    except RecursionError:
        raise SBMLLimitError(f"{where}: MathML nested too deeply to convert") from None
    except (ZeroDivisionError, TypeError, ValueError) as exc:
        if isinstance(exc, SpecificationError):  # already named (a ValueError)
            raise
        # sympy evaluating constant math it cannot: rem(x, 0), 0/0 compared, a comparison of a non-real number
        raise SpecificationError(f"{where}: the math cannot be evaluated ({type(exc).__name__}: {exc}); "
                                 "a division by zero or a comparison of an undefined or complex constant") from None


def _short(x: sp.Basic) -> str:
    text = str(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_references(m: Any, where: str) -> None:
    """Refuse references to ids the model does not declare (libsbml reads such a document without error)."""
    compartments = {c.getId() for c in m.getListOfCompartments()}
    species = {s.getId() for s in m.getListOfSpecies()}
    declared = compartments | species | {p.getId() for p in m.getListOfParameters()} | {
        r.getId() for r in m.getListOfReactions()} | {
        ref.getId() for r in m.getListOfReactions() for ref in list(r.getListOfReactants()) + list(r.getListOfProducts())
        if ref.isSetId()}
    for s in m.getListOfSpecies():
        if s.getCompartment() not in compartments:
            raise SpecificationError(f"{where}: species {s.getId()!r} is in compartment {s.getCompartment()!r}, "
                                     "which the model does not declare")
    for r in m.getListOfReactions():
        for ref in list(r.getListOfReactants()) + list(r.getListOfProducts()) + list(r.getListOfModifiers()):
            if ref.getSpecies() not in species:
                raise SpecificationError(f"{where}: reaction {r.getId()!r} refers to species {ref.getSpecies()!r}, "
                                         "which the model does not declare")
    for rule in m.getListOfRules():
        if not rule.isAlgebraic() and rule.getVariable() not in declared:
            raise SpecificationError(f"{where}: a rule sets {rule.getVariable()!r}, which the model does not declare")
    for ia in m.getListOfInitialAssignments():
        if ia.getSymbol() not in declared:
            raise SpecificationError(f"{where}: an initial assignment sets {ia.getSymbol()!r}, which the model does "
                                     "not declare")


def _tree_size(e: sp.Expr, memo: dict[sp.Expr, int]) -> int:
    """Number of nodes of ``e`` as a tree (shared subexpressions counted every time), memoised."""
    stack = [e]
    while stack:
        x = stack[-1]
        if x in memo:
            stack.pop()
            continue
        todo = [a for a in x.args if a not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[x] = min(1 + sum(memo[a] for a in x.args), 1 << 62)
    return memo[e]


def _resolve(defs: Mapping[sp.Symbol, sp.Expr], label: str, what: str,
             max_nodes: int | None = None) -> dict[sp.Symbol, sp.Expr]:
    """Substitute definitions into each other in dependency order (one pass each, cycles refused).

    Symbols without a definition stay as they are (for initial values, the caller checks that
    what it needs evaluated to a number). The result's expressions are limited to ``max_nodes`` tree nodes
    (default :data:`MAX_EXPRESSION_NODES`): chained rules such as ``x_k+1 = x_k * (x_k + 1)`` grow
    exponentially.
    """
    limit = MAX_EXPRESSION_NODES if max_nodes is None else max_nodes
    deps = {k: [d for d in e.free_symbols if d in defs and d != k] for k, e in defs.items()}
    for k, e in defs.items():
        if k in e.free_symbols:
            raise SpecificationError(f"{label}: {what}: {k.name!r} depends on itself")
    done: dict[sp.Symbol, sp.Expr] = {}
    state: dict[sp.Symbol, int] = {}
    memo: dict[sp.Expr, int] = {}
    for root in defs:
        if root in done:
            continue
        stack = [root]
        while stack:
            k = stack[-1]
            if k in done:
                stack.pop()
                continue
            state[k] = 1
            pending = [d for d in deps[k] if d not in done]
            for d in pending:
                if state.get(d) == 1:
                    raise SpecificationError(f"{label}: {what} depend on each other in a cycle "
                                             f"({d.name!r} and {k.name!r})")
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            e = defs[k].xreplace({d: done[d] for d in deps[k]})  # may keep free symbols: the caller decides
            if _tree_size(e, memo) > limit:
                raise SBMLLimitError(f"{label}: {what}: the expression of {k.name!r} grows beyond {limit} "
                                     "nodes once the definitions it uses are substituted (limit "
                                     "tumordyn.io._sbml.MAX_EXPRESSION_NODES)")
            done[k] = e
            state[k] = 2
    return done


class _Proc(NamedTuple):
    name: str
    rate: sp.Expr
    consumes: tuple[tuple[str, float], ...]
    produces: tuple[tuple[str, float], ...]
    description: str


#: ``rateOf(x)`` while importing: replaced by x's rate of change once the processes are known.
RATE_OF = sp.Function("sbml_rateOf")
RATE_OF_PREFIX = "rateOf:"


def _rate_of_id(x: sp.Expr) -> str | None:
    name = getattr(x, "name", "")
    return name[len(RATE_OF_PREFIX):] if name.startswith(RATE_OF_PREFIX) else None


def _power(base: sp.Expr, exponent: sp.Expr, where: str) -> sp.Expr:
    """``base ** exponent``, refusing a power of two numbers too large to hold (sympy computes it exactly)."""
    if base == sp.E:
        return checked_exp(exponent, where)
    if base.is_number and exponent.is_number and not (isinstance(base, sp.Number) and isinstance(exponent, sp.Number)):
        try:
            b, e = abs(float(base)), float(exponent)
            overflows = b not in (0.0, 1.0) and e * math.log(b) > math.log(1.7e308)
        except (OverflowError, TypeError, ValueError):
            overflows = True
        if overflows:
            raise SBMLLimitError(f"{where}: the number {base}^{exponent} overflows a float")
    if isinstance(base, sp.Number) and isinstance(exponent, sp.Number) and base not in (0, 1, -1):
        if isinstance(base, sp.Rational):
            bits = max(int(base.p).bit_length(), int(base.q).bit_length())
        else:
            bits = abs(int(sp.Float(base)._mpf_[2])) + 53
        if abs(float(exponent)) * bits > MAX_POWER_BITS:
            raise SBMLLimitError(f"{where}: the number {base}^{exponent} is too large "
                                 f"(over {MAX_POWER_BITS} bits)")
    return base**exponent


def _name_map(ids: list[str]) -> dict[str, str]:
    """SBML id -> tumordyn name: ids that are not valid tumordyn names get the prefix ``sbml_``."""
    taken = set(ids)
    out: dict[str, str] = {}
    for i in ids:
        ok = (i.isidentifier() and not keyword.iskeyword(i) and not i.startswith("_") and i not in RESERVED_NAMES
              and i not in ALLOWED_FUNCTIONS)
        if ok:
            out[i] = i
            continue
        new = "sbml_" + i.lstrip("_")
        if not new.isidentifier():
            new = "sbml_" + re.sub(r"\W", "_", i.lstrip("_"))
        while new in taken:
            new += "_"
        taken.add(new)
        out[i] = new
    return out


def _check_xml(data: bytes | str, label: str, max_depth: int) -> None:
    """Stream the XML through expat before libsbml sees it: refuse nesting deeper than ``max_depth``
    and any document type declaration (DTDs and entities have no place in SBML and are the vehicle
    of entity-expansion attacks). Malformed XML is left for libsbml to report."""
    import xml.parsers.expat

    parser = xml.parsers.expat.ParserCreate()
    depth = 0

    class _Stop(Exception):
        pass

    def start(name: str, attrs: Any) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise SBMLLimitError(f"{label}: XML elements nested deeper than {max_depth} levels (line "
                                 f"{parser.CurrentLineNumber}, element <{name}>); raise max_depth= to accept it")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*args: Any) -> None:
        raise SBMLLimitError(f"{label}: document type declaration (DTD) at line {parser.CurrentLineNumber}: "
                             "SBML does not use DTDs or entities")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise SpecificationError(f"{label}: malformed SBML (not well-formed XML: {exc})") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise SpecificationError(f"{label}: malformed SBML (the XML declaration's encoding: {exc})") from None


def _read_document(libsbml: Any, source: str | os.PathLike[str], max_bytes: int = MAX_BYTES,
                   max_depth: int = MAX_DEPTH) -> tuple[Any, str]:
    for n, v in (("max_bytes", max_bytes), ("max_depth", max_depth)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise SpecificationError(f"{n} must be a positive integer, got {v!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"from_sbml() takes a path or an SBML string, got {type(source).__name__}")
    text = os.fspath(source)
    if isinstance(text, bytes):
        raise TypeError("from_sbml() takes a path or an SBML string, got a bytes path")
    if isinstance(source, str) and text.lstrip().startswith("<"):
        label = "SBML string"
        if len(text) > max_bytes:
            raise SBMLLimitError(f"{label}: {len(text)} characters, over the limit of {max_bytes} bytes "
                                 "(max_bytes=)")
        _check_xml(text, label, max_depth)
        return libsbml.readSBMLFromString(text), label
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"SBML file {text!r} does not exist (pass a path or an XML string)")
    label = path.name
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise SpecificationError(f"SBML file {text!r} is not a regular file (a device, FIFO or directory)")
    if st.st_size > max_bytes:
        raise SBMLLimitError(f"{label}: {st.st_size} bytes, over the limit of {max_bytes} bytes (max_bytes=)")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SBMLLimitError(f"{label}: over the limit of {max_bytes} bytes (max_bytes=)")
    _check_xml(data, label, max_depth)
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        # not UTF-8: let libsbml read the file with the encoding it declares
        return libsbml.readSBMLFromFile(str(path)), label
    return libsbml.readSBMLFromString(decoded), label


#: Most model instances a hierarchical (``comp``) model may flatten to (submodels of submodels counted
#: each time they are instantiated), checked before flattening: nesting multiplies instances.
MAX_COMP_INSTANCES = 1000


def _flatten_comp(libsbml: Any, doc: Any, label: str) -> None:
    """Flatten a hierarchical model (SBML package ``comp``) in place with libsbml's CompFlatteningConverter.

    Refused with :class:`SBMLUnsupportedError` (construct ``"comp external model definitions"``):
    submodels defined in other files (tumordyn reads one document and never follows file references).
    Refused with :class:`SBMLLimitError`: a hierarchy instantiating more than
    :data:`MAX_COMP_INSTANCES` models. Any other failure of the converter is a
    :class:`SBMLUnsupportedError` (construct ``"SBML package 'comp'"``) quoting libsbml's messages.
    """
    cp = doc.getPlugin("comp")
    if cp is None or doc.getModel() is None:
        return
    if cp.getNumExternalModelDefinitions():
        e = cp.getExternalModelDefinition(0)
        raise _unsupported("comp external model definitions",
                           f"{cp.getNumExternalModelDefinitions()} in {label}, e.g. {e.getId()!r} from "
                           f"{e.getSource()!r}; tumordyn does not read other files: paste the model definition "
                           "into the document")
    defs = {cp.getModelDefinition(k).getId(): cp.getModelDefinition(k) for k in range(cp.getNumModelDefinitions())}
    count: dict[str, int] = {}

    def instances(model: Any, key: str, path: tuple[str, ...]) -> int:
        if key in count:
            return count[key]
        if key in path:
            raise SpecificationError(f"{label}: comp submodels instantiate each other in a cycle ({key!r})")
        mp = model.getPlugin("comp")
        n = 1
        for k in range(mp.getNumSubmodels() if mp is not None else 0):
            ref = mp.getSubmodel(k).getModelRef()
            if ref not in defs:
                raise SpecificationError(f"{label}: comp submodel {mp.getSubmodel(k).getId()!r} refers to model "
                                         f"{ref!r}, which the document does not define")
            n += instances(defs[ref], ref, path + (key,))
            if n > MAX_COMP_INSTANCES:
                raise SBMLLimitError(f"{label}: the comp hierarchy instantiates more than {MAX_COMP_INSTANCES} "
                                     "models (limit tumordyn.io._sbml.MAX_COMP_INSTANCES)")
        count[key] = n
        return n

    instances(doc.getModel(), "\0main", ())
    props = libsbml.ConversionProperties()
    props.addOption("flatten comp", True)
    props.addOption("leavePorts", False)
    props.addOption("performValidation", False)
    n_before = doc.getNumErrors()
    code = doc.convert(props)
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        msgs = "; ".join(doc.getError(i).getMessage().strip().replace("\n", " ")
                         for i in range(n_before, doc.getNumErrors())
                         if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR)
        raise _unsupported("SBML package 'comp'", f"libsbml could not flatten the hierarchical model in {label} "
                           f"(code {code}): {msgs[:400] or 'no message'}")


def _algebraic_to_assignments(m: Any, rules: list[tuple[int, sp.Expr]], assign: Mapping[str, sp.Expr],
                               rate_rules: Mapping[str, sp.Expr], kinetic: Mapping[str, sp.Expr],
                               sym: Mapping[str, sp.Symbol], ref_ids: Mapping[str, Any], label: str,
                               event_targets: set[str] | frozenset[str] = frozenset()) -> dict[str, sp.Expr]:
    """Algebraic rules ``0 = f(...)`` solved for the variables they determine, as assignment rules.

    The variables an algebraic rule can determine are those nothing else determines: non-constant
    compartments, parameters, species (not changed by a reaction) and species references without a rule.
    The rules must be as many as those of these variables they contain. They are solved one at a time:
    a rule with one variable left (the others solved by earlier rules) must be linear in it with a
    coefficient that is not 0, and gives its assignment rule (the variables solved before stay symbols);
    rules left coupled (each with several variables) are solved together if linear, with a coefficient
    matrix that is not identically singular, in blocks of at most :data:`MAX_COUPLED_ALGEBRAIC`. Each
    solution holds wherever its coefficient (determinant) is not 0. When the rules contain more such
    variables than there are rules (SBML leaves the choice open), the variables with a value set from
    elsewhere are taken as given — those an event assigns and boundary species — if that leaves exactly
    one variable per rule (SBML Test Suite 01589, 01787). Anything else (nonlinear, under- or
    over-determined, a larger coupled block) is refused with :class:`SBMLUnsupportedError` (construct
    ``"algebraic rules"``) naming the rules and the variables.
    """
    determined = set(assign) | set(rate_rules)
    for r in m.getListOfReactions():
        for ref in list(r.getListOfReactants()) + list(r.getListOfProducts()):
            s = m.getSpecies(ref.getSpecies())
            if s is not None and not s.getBoundaryCondition():
                determined.add(s.getId())
    cands = [x.getId() for x in list(m.getListOfCompartments()) + list(m.getListOfSpecies())
             + list(m.getListOfParameters()) if not x.getConstant() and x.getId() not in determined]
    cands += [k for k, ref in ref_ids.items() if not ref.getConstant() and k not in determined]
    by_symbol = {sym[c]: c for c in cands}
    # what the rules contain once assignment rules and reaction rates are substituted
    defs = {sym[v]: e for v, e in assign.items()}
    defs.update({sym[rid]: e for rid, e in kinetic.items()})
    subs = _resolve(defs, label, "assignment rules")
    exprs = [e.xreplace(subs) for _, e in rules]
    names = ", ".join(f"algebraic rule {k + 1}" for k, _ in rules)
    variables = sorted({x for e in exprs for x in e.free_symbols if x in by_symbol}, key=lambda x: x.name)
    if len(variables) > len(rules):
        # under-determined as SBML states it: the quantities set from elsewhere (an event's target, a boundary
        # species) are given, if what is left is one variable per rule
        given = set(event_targets) | {x.getId() for x in m.getListOfSpecies() if x.getBoundaryCondition()}
        rest = [x for x in variables if by_symbol[x] not in given]
        if len(rest) == len(rules):
            variables = rest
            by_symbol = {x: c for x, c in by_symbol.items() if c not in given}
    if len(variables) != len(rules):
        raise _unsupported("algebraic rules", f"{names} of {label} contain{'s' if len(rules) == 1 else ''} "
                           f"{len(variables)} variable(s) nothing else determines "
                           f"({', '.join(by_symbol[x] for x in variables) or 'none'}), not one per rule; tumordyn "
                           "solves algebraic rules only when each determines one variable")
    # peel the rules off one by one: a rule with one variable left is solved for it (the variables solved
    # before stay symbols: they are assignment rules too); what is left is a block of coupled rules
    out: dict[str, sp.Expr] = {}
    pending = list(zip([k for k, _ in rules], exprs))
    solved: set[sp.Symbol] = set()

    def linear(es: list[sp.Expr], xs: list[sp.Symbol], what: str) -> list[sp.Expr]:
        try:
            a, b = sp.linear_eq_to_matrix(es, xs)
        except ValueError:  # sympy's NonlinearError
            raise _unsupported("algebraic rules", f"{what} of {label} not linear in "
                               f"{', '.join(by_symbol[x] for x in xs)}; tumordyn solves only linear "
                               "algebraic rules") from None
        det = a[0, 0] if len(xs) == 1 else sp.simplify(a.det())
        if det == 0 or det.is_zero:
            raise _unsupported("algebraic rules", f"{what} of {label} do not determine "
                               f"{', '.join(by_symbol[x] for x in xs)} (the coefficient is 0)")
        return [b[0, 0] / a[0, 0]] if len(xs) == 1 else list(a.LUsolve(b))

    while pending:  # bounded: each pass solves at least one rule or raises
        for n, (k, e) in enumerate(pending):
            left = sorted((e.free_symbols & set(by_symbol)) - solved, key=lambda x: x.name)
            if len(left) == 1:
                x = left[0]
                out[by_symbol[x]] = linear([e], [x], f"algebraic rule {k + 1}")[0]
                solved.add(x)
                del pending[n]
                break
            if not left:
                raise _unsupported("algebraic rules", f"algebraic rule {k + 1} of {label} contains no variable "
                                   "the other rules leave undetermined (over-determined)")
        else:
            xs = sorted({x for _, e in pending for x in e.free_symbols if x in by_symbol} - solved,
                        key=lambda x: x.name)
            what = ", ".join(f"algebraic rule {k + 1}" for k, _ in pending)
            if len(xs) != len(pending) or len(xs) > MAX_COUPLED_ALGEBRAIC:
                raise _unsupported("algebraic rules", f"{what} of {label} couple {len(xs)} variables "
                                   f"({', '.join(by_symbol[x] for x in xs)}); tumordyn solves coupled blocks of "
                                   f"at most {MAX_COUPLED_ALGEBRAIC} rules with one variable each")
            for x, v in zip(xs, linear([e for _, e in pending], xs, what)):
                out[by_symbol[x]] = v
            pending = []
    return out


#: Largest block of algebraic rules that must be solved together (each rule has more than one variable
#: the others leave undetermined); a symbolic determinant grows factorially with the size of the block.
MAX_COUPLED_ALGEBRAIC = 4


def _stoichiometry_math(ref: Any) -> Any:
    """The MathML of a species reference's ``stoichiometryMath`` (SBML Level 2), or None."""
    if not (hasattr(ref, "isSetStoichiometryMath") and ref.isSetStoichiometryMath()):
        return None
    return ref.getStoichiometryMath().getMath()


def _seconds_per_unit(libsbml: Any, ud: Any) -> float | None:
    if ud is None or ud.getNumUnits() != 1:
        return None
    u = ud.getUnit(0)
    if u.getKind() != libsbml.UNIT_KIND_SECOND or u.getExponent() != 1:
        return None
    return u.getMultiplier() * 10.0 ** u.getScale()


@overload
def from_sbml(source: str | os.PathLike[str], *, name: str | None = ..., nonnegative: bool | str = ...,
              time_unit: float | None = ..., check_units: bool = ..., max_bytes: int = ..., max_depth: int = ...,
              with_schedule: Literal[False] = ..., allow_nonfinite: bool = ...) -> Model: ...


@overload
def from_sbml(source: str | os.PathLike[str], *, name: str | None = ..., nonnegative: bool | str = ...,
              time_unit: float | None = ..., check_units: bool = ..., max_bytes: int = ..., max_depth: int = ...,
              with_schedule: Literal[True], allow_nonfinite: bool = ...) -> tuple[Model, Schedule]: ...


def from_sbml(
    source: str | os.PathLike[str],
    *,
    name: str | None = None,
    nonnegative: bool | str = "auto",
    time_unit: float | None = None,
    check_units: bool = False,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    with_schedule: bool = False,
    allow_nonfinite: bool = False,
) -> Model | tuple[Model, Schedule]:
    """Import an SBML model (any level/version libsbml reads) as a tumordyn :class:`~tumordyn.Model`.

    Supported: parameters, compartments (constant parameters unless a rule
    changes them; species in a compartment that changes size are held as
    amounts ``<id>_amount``, as SBML prescribes), species (amounts or
    concentrations, respecting ``hasOnlySubstanceUnits`` and compartment sizes;
    boundary/constant species become parameters and never receive a reaction's
    flux), reactions (one process each; kinetic-law local parameters become
    global parameters named ``<reaction>_<parameter>``; a reaction id in math is
    its rate), species references with ids (constant stoichiometry), variable
    stoichiometry (L2 stoichiometryMath, a rule on a species reference's id: the
    expression multiplies the rate; a rate rule makes it a state), conversion
    factors, rate rules (one process ``rate_rule_<x>`` producing ``x``),
    assignment rules (substituted into every expression and kept as
    observables), algebraic rules linear in the variables nothing else
    determines (solved into assignment rules), function definitions (inlined),
    initial assignments (evaluated in dependency order with the assignment rules
    at t = 0), hierarchical models (the ``comp`` package, flattened by libsbml's
    CompFlatteningConverter; submodel ids prefix their elements' ids, e.g.
    ``A__x``), the hyperbolic functions and their inverses, and ``rateOf``. A
    model without ODE states gets one constant placeholder state
    ``sbml_no_state``. Refused with :class:`SBMLUnsupportedError` naming the
    construct: algebraic rules that are nonlinear or do not determine
    one variable each, delays, fast reactions, comp external model definitions
    (other files are never read), constraints with math, non-finite values
    (unless ``allow_nonfinite``, below) and
    other SBML packages. Piecewise, relational and logical operators, the
    trigonometric functions, floor, ceiling, quotient, rem and factorial
    (Gamma(x + 1) of a non-constant) are imported. Hostile documents (too
    large, nested too deep, with a DTD, numbers or expressions that explode, a
    comp hierarchy over :data:`MAX_COMP_INSTANCES` models) are refused with
    :class:`SBMLLimitError` in bounded time (before libsbml reads them; a comp
    hierarchy before it is flattened).

    A document written by :func:`to_sbml` comes back as the exported model (drugs, bounds,
    units, descriptions and the model's own events restored from its annotation, parameter and
    initial values from the SBML) if the SBML still describes it (without events: its ODEs match
    the annotation at random points; with events: exporting the annotation's model and schedule
    with the document's values gives a document that imports to the same model); otherwise a
    :class:`~tumordyn.errors.TumordynWarning` says the annotation is ignored. A document exported
    *with a schedule* describes the model under that schedule: ``with_schedule=True`` returns
    the model and its :class:`~tumordyn.Schedule` (``simulate(model, schedule=schedule)``
    reproduces the document); without it the document is imported as it reads (doses are
    events, infusion rates and drug levels states; no drugs, bounds, units or descriptions)
    with a :class:`~tumordyn.errors.TumordynWarning` pointing to ``with_schedule=True``.

    Names: SBML ids that are not valid tumordyn names (a leading underscore, a
    Python keyword, ``t`` or a function name such as ``exp``) get the prefix
    ``sbml_`` (e.g. ``_100000_SR`` -> ``sbml_100000_SR``, ``lambda`` -> ``sbml_lambda``).

    Time: the result is in days. A declared time unit (L3 ``timeUnits``, L2
    unit definition ``time``) that is a multiple of seconds is converted
    (rates scaled, ``t`` rescaled); an undeclared one is taken as one day
    (curated BioModels of tumor growth are written in days), unless
    ``time_unit`` says otherwise.

    Parameters
    ----------
    source : str or path-like
        A file path, or the SBML document itself as a string (starting with ``<``).
    name : str, optional
        Name of the model (default: the SBML model id).
    nonnegative : bool or "auto", optional
        Which species states are non-negative. ``"auto"`` (default): a species
        is non-negative unless a reaction consumes it at a rate that does not
        vanish when it is zero (so structurally positive parts are checked and
        published models that are not still import). ``True``: all species
        (the model is refused if the positivity check fails, naming the
        reaction); ``False``: none. Rate-rule states are non-negative only with
        ``True``.
    time_unit : float, optional
        Length of the model's time unit in days (overrides the declaration).
    check_units : bool, optional
        Run libsbml's unit-consistency check and raise :class:`SBMLUnitError`
        listing the inconsistencies (undeclared units are not errors).
    max_bytes : int, optional
        Largest document accepted (default :data:`MAX_BYTES`, 50 MB), checked before reading.
    max_depth : int, optional
        Deepest XML nesting accepted (default :data:`MAX_DEPTH`, 250 levels), checked by a
        streaming pass of the stdlib's expat before libsbml sees the text (libsbml's reader
        crashes on MathML nested thousands deep). Document type declarations are refused.
    with_schedule : bool, optional
        Return ``(model, schedule)``: for a document :func:`to_sbml` wrote with a schedule, the
        exported model (its own events included, not the doses) and the schedule; for any other
        document, the model as without this option and an empty :class:`~tumordyn.Schedule`.
    allow_nonfinite : bool, optional
        ``False`` (default): an INF or NaN value anywhere is refused (:class:`SBMLUnsupportedError`,
        construct ``"non-finite number"``). ``True``: constants (parameters, constant or boundary
        species, compartments, stoichiometries) whose value is INF, -INF or NaN are accepted if nothing
        simulated uses them (no rate, assignment rule or event): they are left out of the model (a
        tumordyn model holds finite values only) and listed with their values in a
        :class:`~tumordyn.errors.TumordynWarning`. One that is used is still refused, naming the use, so
        no result is ever NaN or infinite because of it.

    Returns
    -------
    Model, or (Model, Schedule) with ``with_schedule=True``

    Raises
    ------
    ImportError
        If python-libsbml is not installed.
    FileNotFoundError
        If ``source`` is neither an existing file nor an XML string.
    SpecificationError
        For a document libsbml reports errors in, missing values, or an invalid model.
    SBMLUnsupportedError
        For a construct outside the supported subset (attribute ``construct`` names it).
    SBMLUnitError
        For a time unit that is not a multiple of seconds, or (with
        ``check_units``) inconsistent units.
    SBMLLimitError
        For a document over ``max_bytes``, nested deeper than ``max_depth``, with a DTD, with a
        power of two numbers over :data:`MAX_POWER_BITS` bits, whose assignment rules expand
        to expressions over :data:`MAX_EXPRESSION_NODES` nodes, or a comp hierarchy of more than
        :data:`MAX_COMP_INSTANCES` model instances.
    """
    if not isinstance(with_schedule, bool):
        raise TypeError(f"with_schedule must be True or False, got {with_schedule!r}")
    if not isinstance(allow_nonfinite, bool):
        raise TypeError(f"allow_nonfinite must be True or False, got {allow_nonfinite!r}")
    model, _, schedule = _import_document(source, name=name, nonnegative=nonnegative, time_unit=time_unit,
                                          check_units=check_units, max_bytes=max_bytes, max_depth=max_depth,
                                          with_schedule=with_schedule, allow_nonfinite=allow_nonfinite)
    return (model, schedule) if with_schedule else model


def _import_sbml(source: str | os.PathLike[str], **options: Any
                 ) -> tuple[Model, dict[str, tuple[sp.Expr, sp.Expr | None, bool]]]:
    """:func:`from_sbml`, also returning how to read every SBML id back from a trajectory.

    The mapping is ``id -> (value, compartment size, has_only_substance_units)``: ``value`` is the
    id's SBML value (a species' amount or concentration as its ``hasOnlySubstanceUnits`` says) as an
    expression of the model's states, parameters and ``t``; ``compartment size`` likewise for species
    (None otherwise). Used by ``benchmarks/sbml_test_suite.py``.
    """
    model, outputs, _ = _import_document(source, **options)
    return model, outputs


def _import_document(
    source: str | os.PathLike[str],
    *,
    name: str | None = None,
    nonnegative: bool | str = "auto",
    time_unit: float | None = None,
    check_units: bool = False,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    with_schedule: bool = False,
    annotation: bool = True,
    allow_nonfinite: bool = False,
) -> tuple[Model, dict[str, tuple[sp.Expr, sp.Expr | None, bool]], Schedule]:
    """:func:`from_sbml`, also returning the outputs of :func:`_import_sbml` and the schedule (empty unless
    ``with_schedule`` and the annotation holds one). ``annotation=False`` ignores the tumordyn annotation."""
    libsbml = _libsbml()
    doc, label = _read_document(libsbml, source, max_bytes, max_depth)
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        msgs = "; ".join(f"line {e.getLine()}: {e.getMessage().strip()}" for e in errors[:3])
        raise SpecificationError(f"{label}: malformed SBML ({len(errors)} error(s)): {msgs}")
    m = doc.getModel()
    if m is None:
        raise SpecificationError(f"{label}: the SBML document has no model")
    where0 = f"{label}"
    if doc.getLevel() >= 3 and doc.getPlugin("comp") is not None:  # (even if marked not required)
        _flatten_comp(libsbml, doc, label)  # hierarchical model -> one flat model
        m = doc.getModel()
    # -- unsupported constructs ------------------------------------------------------------
    for i in range(doc.getNumPlugins()):
        plugin = doc.getPlugin(i)
        pkg = plugin.getPackageName() if plugin is not None else ""
        # packages that do not change the math (layout, render...) are declared required="false"
        if pkg not in ("", "core", "l3v2extendedmath") and doc.getLevel() >= 3 and doc.getPackageRequired(pkg):
            raise _unsupported(f"SBML package '{pkg}'", where0)
    event_targets = _event_targets(m, doc.getLevel(), where0)  # ids events assign (they become states)
    checked = [c for c in m.getListOfConstraints() if c.isSetMath()]  # without math (L3V2) it has no effect
    if checked:
        raise _unsupported("constraints", f"{len(checked)} constraint(s) in {where0}")
    for r in m.getListOfReactions():
        if r.isSetFast() and r.getFast():
            raise _unsupported("fast reactions", f"reaction {r.getId()!r} in {where0}")
        if not r.isSetKineticLaw():
            raise SpecificationError(f"{where0}: reaction {r.getId()!r} has no kinetic law")
        for ref in list(r.getListOfReactants()) + list(r.getListOfProducts()):
            # stoichiometryMath (L2) and a rule on the reference's id (L3): the stoichiometry is an
            # expression multiplying the rate (see the processes below); constant="false" alone changes nothing
            if ref.isSetStoichiometryMath() and _stoichiometry_math(ref) is None:
                raise SpecificationError(f"{where0}: reaction {r.getId()!r}: the stoichiometryMath of "
                                         f"{ref.getSpecies()!r} has no math")

    _check_references(m, where0)

    if check_units:
        doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
        for cat in (libsbml.LIBSBML_CAT_IDENTIFIER_CONSISTENCY, libsbml.LIBSBML_CAT_GENERAL_CONSISTENCY,
                    libsbml.LIBSBML_CAT_SBO_CONSISTENCY, libsbml.LIBSBML_CAT_MATHML_CONSISTENCY,
                    libsbml.LIBSBML_CAT_OVERDETERMINED_MODEL, libsbml.LIBSBML_CAT_MODELING_PRACTICE):
            doc.setConsistencyChecks(cat, False)
        doc.checkConsistency()
        # 105xx: the units of a kinetic law, rule or assignment disagree with its target's;
        # undeclared units ("cannot be fully checked") are not inconsistencies
        bad = [doc.getError(i) for i in range(doc.getNumErrors())
               if doc.getError(i).getCategory() == libsbml.LIBSBML_CAT_UNITS_CONSISTENCY
               and 10500 < doc.getError(i).getErrorId() < 10600]
        if bad:
            msgs = "; ".join(f"line {e.getLine()}: {e.getMessage().strip()}" for e in bad[:5])
            raise SBMLUnitError(f"{label}: {len(bad)} unit inconsistenc{'y' if len(bad) == 1 else 'ies'}: {msgs}")

    # -- time unit -------------------------------------------------------------------------
    if time_unit is None:
        if doc.getLevel() >= 3 and m.isSetTimeUnits():
            tu = m.getTimeUnits()
            ud = m.getUnitDefinition(tu)
            spu = {"second": 1.0}.get(tu) if ud is None else _seconds_per_unit(libsbml, ud)
        else:
            ud = m.getUnitDefinition("time")
            spu = None if ud is None else _seconds_per_unit(libsbml, ud)
            if ud is None:
                spu = 86400.0  # undeclared: taken as days (see docstring)
        if spu is None:
            raise SBMLUnitError(f"{label}: the model's time unit is not a multiple of seconds; pass time_unit= (days)")
        time_unit = spu / 86400.0
    if not (isinstance(time_unit, (int, float)) and math.isfinite(time_unit) and time_unit > 0):
        raise SpecificationError(f"time_unit must be a positive number of days, got {time_unit!r}")
    per_day = 1.0 / float(time_unit)  # model time units per day

    # -- names -----------------------------------------------------------------------------
    ids = ([c.getId() for c in m.getListOfCompartments()] + [s.getId() for s in m.getListOfSpecies()]
           + [p.getId() for p in m.getListOfParameters()] + [r.getId() for r in m.getListOfReactions()])
    # species references with an id (L3, constant="true"): their stoichiometry is a constant parameter
    ref_ids = {ref.getId(): ref for r in m.getListOfReactions()
               for ref in list(r.getListOfReactants()) + list(r.getListOfProducts())
               if doc.getLevel() >= 3 and ref.isSetId()}
    ids += list(ref_ids)
    local_ids = []
    for r in m.getListOfReactions():
        kl = r.getKineticLaw()
        lps = list(kl.getListOfLocalParameters()) if doc.getLevel() >= 3 else list(kl.getListOfParameters())
        local_ids += [f"{r.getId()}_{lp.getId()}" for lp in lps]
    nm = _name_map(ids + local_ids)
    sym = {i: sp.Symbol(nm[i]) for i in ids}
    if per_day != 1.0:
        time_expr: sp.Expr = TIME * sp.Float(per_day)
    else:
        time_expr = TIME

    funcs: dict[str, tuple[list[str], Any, dict[str, Any]]] = {}
    for fd in m.getListOfFunctionDefinitions():
        math_ = fd.getMath()
        if math_ is None and not fd.isSetMath():
            continue  # L3V2: a function definition without math (an error only where it is called)
        if math_ is None or not math_.isLambda():
            raise SpecificationError(f"{label}: function definition {fd.getId()!r} is not a lambda")
        nargs = math_.getNumBvars()
        if math_.getNumChildren() != nargs + 1:
            raise SpecificationError(f"{label}: function definition {fd.getId()!r} has no body")
        # (argument names, body, the functions defined before it): converted where it is called
        funcs[fd.getId()] = ([math_.getChild(k).getName() for k in range(nargs)], math_.getChild(nargs), dict(funcs))

    def conv(ast: Any, where: str, local: Mapping[str, sp.Expr] | None = None) -> sp.Expr:
        if ast is None:
            raise SpecificationError(f"{label}: {where} has no math")
        e = _from_ast(libsbml, ast, sym, funcs, f"{where} of {label}", local=local, nonfinite=allow_nonfinite)
        return e.xreplace({TIME: time_expr}) if per_day != 1.0 else e

    # -- kinetic laws (an SBML reaction id used in math stands for the reaction's rate) ---------
    level3 = doc.getLevel() >= 3
    reactions = list(m.getListOfReactions())
    kinetic: dict[str, sp.Expr] = {}
    for r in reactions:
        kl = r.getKineticLaw()
        lps = list(kl.getListOfLocalParameters()) if level3 else list(kl.getListOfParameters())
        local = {lp.getId(): sp.Symbol(nm[f"{r.getId()}_{lp.getId()}"]) for lp in lps}
        kinetic[r.getId()] = conv(kl.getMath(), f"kinetic law of reaction {r.getId()!r}", local=local)

    # -- rules -----------------------------------------------------------------------------
    assign: dict[str, sp.Expr] = {}
    rate_rules: dict[str, sp.Expr] = {}
    for r in m.getListOfRules():
        v = r.getVariable()
        if not r.isSetMath():
            continue  # L3V2: a rule without math has no effect
        if r.isAssignment():
            assign[v] = conv(r.getMath(), f"assignment rule for {v!r}")
        elif r.isRate():
            rate_rules[v] = conv(r.getMath(), f"rate rule for {v!r}")
    algebraic = [(k, conv(r.getMath(), f"algebraic rule {k + 1}")) for k, r in enumerate(m.getListOfRules())
                 if r.isAlgebraic() and r.isSetMath()]  # L3V2: an algebraic rule without math has no effect
    if algebraic:
        assign.update(_algebraic_to_assignments(m, algebraic, assign, rate_rules, kinetic, sym, ref_ids, label,
                                                 event_targets))
    for v in list(assign) + list(rate_rules):
        if v not in sym or m.getReaction(v) is not None:
            raise SpecificationError(f"{label}: rule for {v!r}, which is not a compartment, species or parameter")

    # -- compartments: constant unless a rule changes them (events are refused above) -----------
    species = list(m.getListOfSpecies())
    species_ids = {s.getId() for s in species}
    varying = {c.getId() for c in m.getListOfCompartments()
               if c.getId() in assign or c.getId() in rate_rules or c.getId() in event_targets}
    for c in m.getListOfCompartments():
        if (c.isSetSpatialDimensions() and c.getSpatialDimensions() == 0 and c.getId() in varying
                and any(s.getCompartment() == c.getId() for s in species)):
            raise _unsupported("non-constant compartments", f"zero-dimensional compartment {c.getId()!r} with a rule "
                               "holding species")
    taken = set(nm.values())

    def fresh(base: str) -> str:
        n = base
        while n in taken:
            n += "_"
        taken.add(n)
        return n

    # species whose SBML value is a concentration in a compartment that changes size are held as
    # amounts (SBML keeps the amount when the size changes, also for constant and boundary species):
    # a state, or a parameter for constant/boundary species, named <id>_amount
    amount_name: dict[str, str] = {}
    for s in species:
        i = s.getId()
        if (s.getCompartment() in varying and not s.getHasOnlySubstanceUnits() and i not in assign
                and i not in rate_rules):
            amount_name[i] = fresh(f"{nm[i]}_amount")

    # -- definitions: assignment rules, reaction rates, amounts -> resolved expressions ------------
    defs: dict[sp.Symbol, sp.Expr] = {sym[v]: e for v, e in assign.items()}
    defs.update({sym[rid]: e for rid, e in kinetic.items()})
    for i, an in amount_name.items():
        defs[sym[i]] = sp.Symbol(an) / sym[m.getSpecies(i).getCompartment()]
    subs = _resolve(defs, label, "assignment rules")
    for rid in kinetic:
        kinetic[rid] = subs[sym[rid]]

    # -- values at t = 0 ---------------------------------------------------------------------------
    init: dict[sp.Symbol, sp.Expr] = {}
    for c in m.getListOfCompartments():
        init[sym[c.getId()]] = sp.Float(c.getSize()) if c.isSetSize() else sp.Float(1.0)
    for p in m.getListOfParameters():
        if p.isSetValue():
            init[sym[p.getId()]] = sp.Float(p.getValue())
    for s in species:
        size = sym[s.getCompartment()]
        hosu = s.getHasOnlySubstanceUnits()
        if s.isSetInitialAmount():
            a0 = sp.Float(s.getInitialAmount())
            init[sym[s.getId()]] = a0 if hosu else a0 / size
        elif s.isSetInitialConcentration():
            c0 = sp.Float(s.getInitialConcentration())
            init[sym[s.getId()]] = c0 * size if hosu else c0
    for k, ref in ref_ids.items():
        init[sym[k]] = sp.Float(ref.getStoichiometry()) if ref.isSetStoichiometry() else sp.Float(1.0)
    for ia in m.getListOfInitialAssignments():
        k = ia.getSymbol()
        if not ia.isSetMath():
            continue  # L3V2: an initial assignment without math has no effect
        if k not in sym:
            raise _unsupported("initial assignment of a species reference",
                               f"initial assignment of {k!r} in {where0}")
        init[sym[k]] = conv(ia.getMath(), f"initial assignment of {k!r}")
    for v, e in assign.items():
        init[sym[v]] = e
    for rid, e in kinetic.items():
        init[sym[rid]] = e
    # rateOf of a constant is 0 (rateOf of what changes needs the processes: refused in initial values)
    constant_syms = {sym[c.getId()] for c in m.getListOfCompartments() if c.getId() not in varying}
    constant_syms |= {sym[p.getId()] for p in m.getListOfParameters() if p.getId() not in assign
                      and p.getId() not in rate_rules}
    constant_syms |= {sym[s.getId()] for s in species if s.getId() not in assign and s.getId() not in rate_rules
                      and (s.getConstant() or s.getBoundaryCondition()) and s.getId() not in amount_name}
    constant_syms |= {sym[k] for k in ref_ids if k not in assign and k not in rate_rules}


    def rate_of_constant(x: sp.Expr) -> sp.Expr:
        """rateOf(x) at t = 0 in SBML terms: 0 for a constant, the rate rule, or the reactions' net flux."""
        i = _rate_of_id(x)
        if i not in sym:
            return RATE_OF(x)
        if sym[i] in constant_syms:
            return sp.Integer(0)
        if i in rate_rules and i not in amount_name:
            return rate_rules[i]
        sp_ = m.getSpecies(i) if i is not None else None
        if sp_ is None or i in assign or i in amount_name or sp_.getBoundaryCondition():
            return RATE_OF(x)
        net: sp.Expr = sp.Integer(0)
        for r in reactions:
            for ref, sign in [(ref, -1) for ref in r.getListOfReactants()] + [(ref, 1) for ref in r.getListOfProducts()]:
                if ref.getSpecies() != i:
                    continue
                if level3 and ref.isSetId():
                    st: sp.Expr = sym[ref.getId()]
                elif not level3 or ref.isSetStoichiometry():
                    st = sp.Float(ref.getStoichiometry())
                else:
                    return RATE_OF(x)
                net += sign * st * kinetic[r.getId()]
        cf = sp_.getConversionFactor() if level3 and sp_.isSetConversionFactor() else (
            m.getConversionFactor() if level3 and m.isSetConversionFactor() else "")
        if cf:
            net = net * sym[cf]
        if not sp_.getHasOnlySubstanceUnits():
            net = net / sym[sp_.getCompartment()]
        return net

    for r in reactions:
        kl = r.getKineticLaw()
        for lp in (list(kl.getListOfLocalParameters()) if level3 else list(kl.getListOfParameters())):
            init[sp.Symbol(nm[f"{r.getId()}_{lp.getId()}"])] = sp.Float(lp.getValue())
    for k in list(init):
        if init[k].has(RATE_OF):
            init[k] = init[k].replace(RATE_OF, rate_of_constant)
        init[k] = init[k].xreplace({TIME: sp.Integer(0)})
    init_order = _resolve(init, label, "initial assignments and assignment rules")
    values: dict[str, float] = {}
    for i in ids:
        v0 = init_order.get(sym[i])
        if v0 is not None and not v0.free_symbols and not v0.has(RATE_OF):
            try:
                values[i] = float(v0)
            except TypeError:
                raise SpecificationError(f"{label}: the initial value of {i!r} is not a real number") from None
    for i, an in amount_name.items():
        c = m.getSpecies(i).getCompartment()
        if i in values and c in values:
            values[an] = values[i] * values[c]

    # -- states, parameters ----------------------------------------------------------------
    states: list[State] = []
    state_ids: list[str] = []
    params: list[Parameter] = []

    def no_value(i: str) -> None:
        e = init_order.get(sym[i]) if i in sym else None
        if e is not None and e.has(RATE_OF):
            raise _unsupported("rateOf", f"rateOf in the initial value of {i!r} in {where0}")
        raise SpecificationError(f"{label}: {i!r} has no (finite) value")

    set_aside: dict[str, tuple[str, float]] = {}  # allow_nonfinite: name -> (SBML id, INF/NaN value)

    def param(i: str, unit: str = "", desc: str = "", pname_: str | None = None) -> None:
        if i in values and not math.isfinite(values[i]):
            if allow_nonfinite:  # a constant, left out of the model; refused below if anything uses it
                set_aside[pname_ or nm[i]] = (i, values[i])
                return
            raise _unsupported("non-finite number", f"value {values[i]} of {i!r} in {where0} (pass "
                               "allow_nonfinite=True to import constants with INF/NaN values that nothing "
                               "simulated uses)")
        if i not in values:
            no_value(i)
            raise SpecificationError(f"{label}: {i!r} has no (finite) value")
        v = float(values[i])
        params.append(Parameter(pname_ or nm[i], v, (0.0, math.inf) if v >= 0 else (-math.inf, math.inf),
                                unit or "1", desc, f"SBML {label}"))

    for c in m.getListOfCompartments():
        i = c.getId()
        if i in rate_rules or i in event_targets:
            state_ids.append(i)
        elif i not in assign:
            param(i, "1", f"size of compartment {c.getName() or i}")
    for s in species:
        i = s.getId()
        if i in assign:
            continue
        if i not in values and i not in init:
            raise SpecificationError(f"{label}: species {i!r} has no initial value")
        desc = s.getName() or i
        if i in amount_name:
            if (s.getBoundaryCondition() or s.getConstant()) and i not in event_targets:
                values.setdefault(amount_name[i], math.nan)
                param(amount_name[i], "1", f"amount of boundary species {desc}", pname_=amount_name[i])
            else:
                state_ids.append(i)
        elif i in rate_rules or i in event_targets or not (s.getBoundaryCondition() or s.getConstant()):
            state_ids.append(i)
        else:
            param(i, "1", f"boundary species {desc}")
    for p in m.getListOfParameters():
        i = p.getId()
        if i in assign:
            continue
        if i in rate_rules or i in event_targets:  # a parameter an event changes is a state (no process)
            state_ids.append(i)
        else:
            param(i, p.getUnits(), p.getName() if p.getName() != i else "")
    for k, ref in ref_ids.items():
        if k in rate_rules or k in event_targets:
            state_ids.append(k)  # a stoichiometry changed by a rate rule or an event is a state, as a parameter
        elif k not in assign:
            param(k, "1", f"stoichiometry of {ref.getSpecies()!r} in a reaction")
    for r in reactions:
        kl = r.getKineticLaw()
        lps = list(kl.getListOfLocalParameters()) if level3 else list(kl.getListOfParameters())
        for lp in lps:
            gid = f"{r.getId()}_{lp.getId()}"
            values[gid] = lp.getValue()
            param(gid, "1", f"local parameter {lp.getId()!r} of reaction {r.getId()!r}")

    # -- processes -------------------------------------------------------------------------
    procs: list[Any] = []
    reversible: set[str] = set()
    scale = sp.Float(per_day) if per_day != 1.0 else sp.Integer(1)
    proc_names = set()
    state_name = {i: amount_name.get(i, nm[i]) for i in state_ids}

    def pname(base: str) -> str:
        n = base
        while n in proc_names:
            n += "_"
        proc_names.add(n)
        return n

    def factor(i: str) -> sp.Expr:
        """Conversion factor of species ``i`` (SBML L3: species', else the model's, else 1), as a symbol."""
        s = m.getSpecies(i)
        cf = s.getConversionFactor() if level3 and s.isSetConversionFactor() else (
            m.getConversionFactor() if level3 and m.isSetConversionFactor() else "")
        if not cf:
            return sp.Integer(1)
        p = m.getParameter(cf)
        if p is None or not p.getConstant() or cf not in values:
            raise _unsupported("non-constant conversion factors", f"conversion factor {cf!r} of species {i!r}")
        return sym[cf]

    dynamic = set(state_ids)
    for r in reactions:
        rate = kinetic[r.getId()]
        refs = [(ref, -1) for ref in r.getListOfReactants()] + [(ref, 1) for ref in r.getListOfProducts()]
        # boundary species (even with a rate rule) and rule-driven species get no flux
        refs = [(ref, sign) for ref, sign in refs if ref.getSpecies() in dynamic
                and ref.getSpecies() not in rate_rules and not m.getSpecies(ref.getSpecies()).getBoundaryCondition()]
        # each species' change is rate * multiplier * coefficient: the multiplier (conversion factor,
        # stoichiometry given by id, 1/compartment size for concentrations) stays symbolic, so that
        # parameters changed at simulation time act as SBML says; one process per distinct multiplier
        groups: dict[sp.Expr, tuple[dict[str, float], dict[str, float]]] = {}
        for ref, sign in refs:
            i = ref.getSpecies()
            s = m.getSpecies(i)
            mult = factor(i)
            st_math = _stoichiometry_math(ref)
            if st_math is not None:  # L2: the stoichiometry is an expression, as a rule on the id in L3
                c = 1.0
                mult = mult * conv(st_math, f"stoichiometryMath of {i!r} in reaction {r.getId()!r}").xreplace(subs)
            elif level3 and ref.isSetId():
                c = 1.0
                mult = mult * subs.get(sym[ref.getId()], sym[ref.getId()])  # a parameter, state or rule
            elif not level3 or ref.isSetStoichiometry():
                c = float(ref.getStoichiometry())
            else:
                raise _unsupported("variable stoichiometry", f"species reference to {i!r} in reaction "
                                   f"{r.getId()!r} has no stoichiometry")
            if not s.getHasOnlySubstanceUnits() and i not in amount_name:
                mult = mult / sym[s.getCompartment()]
            if c == 0 or not math.isfinite(c):
                if c == 0:
                    continue
                raise _unsupported("non-finite number", f"stoichiometry {c} in reaction {r.getId()!r}")
            consumes, produces = groups.setdefault(mult, ({}, {}))
            target = consumes if (sign < 0) == (c > 0) else produces
            target[state_name[i]] = target.get(state_name[i], 0.0) + abs(c)
        for k, (mult, (consumes, produces)) in enumerate(groups.items()):
            if not consumes and not produces:
                continue
            pn = pname(nm[r.getId()] if k == 0 else f"{nm[r.getId()]}_{k + 1}")
            if r.getReversible():
                reversible.add(pn)
            procs.append(_Proc(pn, rate * mult * scale, tuple(consumes.items()), tuple(produces.items()),
                               r.getName() or r.getId()))
    for v, e in rate_rules.items():
        if v not in dynamic:
            raise SpecificationError(f"{label}: rate rule for {v!r}, which is not a species or parameter")
        procs.append(_Proc(pname(f"rate_rule_{nm[v]}"), e.xreplace(subs) * scale, (), ((state_name[v], 1.0),),
                           f"SBML rate rule for {v}"))

    # -- rateOf(x): x's rate of change, in model time units ---------------------------------
    def has_rate_of(e: sp.Expr) -> bool:
        return e.has(RATE_OF)

    replace_rate_of = None
    if (any(has_rate_of(p.rate) for p in procs) or any(has_rate_of(subs[sym[v]]) for v in assign)
            or _events_use_rate_of(libsbml, m)):
        rhs: dict[str, sp.Expr] = {}
        for p in procs:
            for k, c in p.produces:
                rhs[k] = rhs.get(k, sp.Integer(0)) + sp.Float(c) * p.rate
            for k, c in p.consumes:
                rhs[k] = rhs.get(k, sp.Integer(0)) - sp.Float(c) * p.rate

        def rate_of_value(x: sp.Expr) -> sp.Expr:
            i = _rate_of_id(x)
            if i not in sym:
                raise _unsupported("rateOf", f"rateOf of {x} in {where0}")
            if i in amount_name:
                raise _unsupported("rateOf", f"rateOf({i}) of a species in a compartment that changes size "
                                   f"in {where0}")
            if i in assign:
                # d/dt e(states, t) = sum of de/dx * dx/dt + de/dt (t is model time times per_day)
                e = subs[sym[i]]
                d = sp.diff(e, TIME)
                for k in e.free_symbols:
                    if k.name in rhs:
                        d += sp.diff(e, k) * rhs[k.name]
                if d.has(sp.Derivative, sp.Heaviside, sp.sign, sp.Subs, sp.DiracDelta):
                    raise _unsupported("rateOf", f"rateOf({i}) of an assignment rule that is not differentiable "
                                       f"everywhere in {where0}")
                return d / scale
            if i in state_name:
                return rhs.get(state_name[i], sp.Integer(0)) / scale
            return sp.Integer(0)  # a constant

        def replace_rate_of(e: sp.Expr) -> sp.Expr:  # type: ignore[no-redef]
            for _ in range(len(rhs) + 2):
                if not has_rate_of(e):
                    return e
                e = e.replace(RATE_OF, rate_of_value)
            raise _unsupported("rateOf", f"rateOf terms that depend on each other in a cycle in {where0}")

        procs = [p._replace(rate=replace_rate_of(p.rate)) for p in procs]
        for v in assign:
            subs[sym[v]] = replace_rate_of(subs[sym[v]])
    if allow_nonfinite:  # INF/NaN constants (or numbers) in a rate or a rule are refused, naming them
        _check_nonfinite_unused(set_aside, procs, [(v, subs[sym[v]]) for v in assign], [], where0)
    procs = [Process(p.name, p.rate, consumes=dict(p.consumes), produces=dict(p.produces), description=p.description)
             for p in procs]

    nonneg: dict[str, bool] = {}
    for i in state_ids:
        is_species = i in species_ids and i not in rate_rules
        if nonnegative is True:
            nonneg[i] = True
        elif nonnegative is False:
            nonneg[i] = False
        elif nonnegative == "auto":  # an event may assign any value: its targets are not clipped
            nonneg[i] = is_species and values[i] >= 0 and i not in event_targets
        else:
            raise SpecificationError(f"nonnegative must be True, False or 'auto', got {nonnegative!r}")
    if nonnegative == "auto":
        for p in procs:
            # a reversible reaction's products are consumed when its rate is negative
            for k, _ in p.consumes + (p.produces if p.name in reversible else ()):
                orig = next(i for i in state_ids if state_name[i] == k)
                if nonneg[orig] and not vanishes_at_zero(p.rate, sp.Symbol(k)):
                    nonneg[orig] = False
    for i in state_ids:
        s = m.getSpecies(i) if i in species_ids else None
        obj = s if s is not None else (m.getParameter(i) or m.getCompartment(i) or ref_ids.get(i))
        desc = obj.getName() or i
        v = values.get(amount_name.get(i, i))
        if v is None or not math.isfinite(v):
            no_value(i)
        if i in amount_name:
            desc = f"amount of {desc} (SBML species in a compartment that changes size)"
        states.append(State(state_name[i], float(v), "1", desc, nonneg[i], atol=1e-10 * max(1.0, abs(v))))
    if not states:
        # nothing changes by a reaction or a rate rule (e.g. only assignment rules of t): a tumordyn
        # model needs a state, so one constant placeholder carries the time course of the observables
        states.append(State(fresh(NO_STATE), 0.0, "1", "placeholder state (the SBML model has no ODE state; "
                            "its values are the observables)", False))

    observables = []
    known = {sp.Symbol(p.name) for p in params} | {sp.Symbol(n) for n in state_name.values()} | {TIME}
    for v in assign:
        e = subs[sym[v]]
        if e.free_symbols <= known:
            observables.append(Observable(nm[v], e, "", f"SBML assignment rule for {v}"))
    outputs: dict[str, tuple[sp.Expr, sp.Expr | None, bool]] = {}
    for i in ids:
        val = subs.get(sym[i], sym[i])
        s_ = m.getSpecies(i)
        if s_ is not None:
            c_ = sym[s_.getCompartment()]
            outputs[i] = (val, subs.get(c_, c_), bool(s_.getHasOnlySubstanceUnits()))
        else:
            outputs[i] = (val, None, False)
    events = _import_events(libsbml, m, sym, funcs, subs, nm, amount_name, per_day, label, assign, rate_rules,
                            replace_rate_of)
    if allow_nonfinite:
        _check_nonfinite_unused(set_aside, [], [], events, where0)
        for n, (i, v) in set_aside.items():
            outputs[i] = (sp.nan if math.isnan(v) else (sp.oo if v > 0 else -sp.oo), None, False)
        if set_aside:
            warnings.warn(f"{label}: constants with non-finite values left out of the model (nothing simulated uses "
                          "them; SBML defines them as: " + ", ".join(f"{i} = {v}" for i, v in set_aside.values())
                          + ")", TumordynWarning, stacklevel=3)
    model = Model(
        name or (m.getId() or "sbml_model"),
        states=states,
        parameters=params,
        processes=procs,
        observables=observables,
        description=f"Imported from SBML ({label}): {m.getName() or m.getId()}",
        check_units=False,  # unit text from SBML unit ids, not checked by tumordyn (libsbml's: check_units=True)
        events=events,
    )
    schedule = Schedule()
    if annotation and not events:
        annotated = _annotated_model(m, model, label)
        if annotated is not None:
            model = annotated if name is None else annotated.replace(name=name)
    elif annotation:
        options = dict(name=name, nonnegative=nonnegative, time_unit=time_unit, max_bytes=max_bytes,
                       max_depth=max_depth)
        found = _annotated_with_events(m, model, label, options)
        if found is not None and not found[1].doses and not found[1].infusions:
            model = found[0] if name is None else found[0].replace(name=name)  # the model's own events only
        elif found is not None and with_schedule:
            model, schedule = found[0] if name is None else found[0].replace(name=name), found[1]
        elif found is not None:
            warnings.warn(f"{label} holds a tumordyn model exported with a schedule: imported as it reads (the doses "
                          "are events, the infusion rates and drug levels states; drugs, bounds, units and "
                          "descriptions not restored); from_sbml(..., with_schedule=True) returns the model and its "
                          "Schedule instead", TumordynWarning, stacklevel=3)
    return model, outputs, schedule


def _check_nonfinite_unused(set_aside: Mapping[str, tuple[str, float]], procs: list[Any],
                            rules: list[tuple[str, sp.Expr]], events: list[Event], where: str) -> None:
    """With ``allow_nonfinite``: refuse an INF/NaN constant (or literal) that a rate, an assignment rule or an
    event uses (a tumordyn model holds finite values only: the results would be NaN or infinite)."""
    names = {sp.Symbol(n) for n in set_aside}
    bad = (sp.oo, -sp.oo, sp.nan, sp.zoo)
    parts: list[tuple[str, sp.Basic]] = [(f"the rate of process {p.name!r}", p.rate) for p in procs]
    parts += [(f"the assignment rule of {v!r}", e) for v, e in rules]
    for e in events:
        parts += [(f"event {e.name!r}", x) for x in (e.trigger, *(v for _, v in e.assignments), e.delay, e.priority)
                  if x is not None]
    for what, x in parts:
        used = sorted(str(y) for y in x.free_symbols & names)
        if used or x.has(*bad):
            detail = f"{', '.join(used)} (INF/NaN)" if used else "an INF/NaN number"
            raise _unsupported("non-finite number", f"{detail} used in {what} in {where}: a tumordyn model holds "
                               "finite values only")


def _event_targets(m: Any, level: int, where: str) -> set[str]:
    """The ids SBML events assign (compartments, species, parameters, species references' stoichiometries
    in L3: they become states with no process).

    Raises
    ------
    SpecificationError
        For an assignment to an id the model does not declare.
    """
    refs = {ref.getId() for r in m.getListOfReactions() for ref in list(r.getListOfReactants())
            + list(r.getListOfProducts()) if level >= 3 and ref.isSetId()}
    declared = ({c.getId() for c in m.getListOfCompartments()} | {s.getId() for s in m.getListOfSpecies()}
                | {p.getId() for p in m.getListOfParameters()} | refs)
    out: set[str] = set()
    for k, e in enumerate(m.getListOfEvents()):
        for ea in e.getListOfEventAssignments():
            v = ea.getVariable()
            if v not in declared:
                raise SpecificationError(f"{where}: event {e.getId() or k!r} assigns {v!r}, which the model does not "
                                         "declare as a compartment, species, parameter or species reference")
            out.add(v)
    return out


def _events_use_rate_of(libsbml: Any, m: Any) -> bool:
    """Whether some event's math (trigger, assignment, delay, priority) calls ``rateOf``."""
    code = getattr(libsbml, "AST_FUNCTION_RATE_OF", None)
    if code is None:
        return False

    def uses(ast: Any) -> bool:
        stack, n = [ast], 0
        while stack and n < MAX_EXPRESSION_NODES:
            a = stack.pop()
            n += 1
            if a is None:
                continue
            if a.getType() == code:
                return True
            stack.extend(a.getChild(k) for k in range(a.getNumChildren()))
        return False

    for e in m.getListOfEvents():
        parts = [e.getTrigger(), e.getDelay(), e.getPriority() if m.getLevel() >= 3 else None]
        parts += list(e.getListOfEventAssignments())
        if any(x is not None and x.isSetMath() and uses(x.getMath()) for x in parts):
            return True
    return False


def _import_events(libsbml: Any, m: Any, sym: Mapping[str, sp.Symbol], funcs: Mapping[str, Any],
                   subs: Mapping[sp.Symbol, sp.Expr], nm: Mapping[str, str], amount_name: Mapping[str, str],
                   per_day: float, label: str, assign: Mapping[str, sp.Expr],
                   rate_rules: Mapping[str, sp.Expr], rate_of: Any = None) -> list[Event]:
    """SBML events as :class:`~tumordyn.spec.Event` s (SBML L3 semantics; L2 defaults for the flags).

    Trigger, assigned values, delay and priority are converted like any math (assignment rules
    substituted, model time scaled to days); a delay in model time units becomes days. A species held as
    an amount (its compartment changes size) is assigned its SBML value times the compartment size before
    the event (also when the same event assigns the compartment, as SBML computes every value first).
    """
    level = m.getLevel()
    events: list[Event] = []
    used: set[str] = set()

    def conv(ast: Any, where: str, condition: bool = False) -> sp.Basic:
        if ast is None:
            raise SpecificationError(f"{label}: {where} has no math")
        e = _from_ast(libsbml, ast, sym, funcs, f"{where} of {label}", condition_ok=condition)
        if condition and isinstance(e, sp.Expr):
            e = sp.Ne(e, 0)  # a number used as a condition is true unless 0
        if per_day != 1.0:
            e = e.xreplace({TIME: TIME * sp.Float(per_day)})
        e = e.xreplace(dict(subs))
        if e.has(RATE_OF):  # the importer's rateOf: x's right-hand side, 0 for a constant, the chain rule
            if rate_of is None:
                raise _unsupported("rateOf", f"rateOf in {where} in {label}")
            e = rate_of(e)
        return e

    for k, ev in enumerate(m.getListOfEvents()):
        eid = ev.getId() or f"event_{k + 1}"
        where = f"event {eid!r}"
        if not ev.isSetTrigger() or not ev.getTrigger().isSetMath():
            continue  # L3V2: an event without a trigger never fires
        trig = ev.getTrigger()
        trigger = conv(trig.getMath(), f"trigger of {where}", condition=True)
        values: dict[str, sp.Expr] = {}
        for ea in ev.getListOfEventAssignments():
            if not ea.isSetMath():
                continue  # L3V2: an assignment without math has no effect
            values[ea.getVariable()] = conv(ea.getMath(), f"assignment to {ea.getVariable()!r} in {where}")
        out: dict[str, sp.Expr] = {}
        for v, e in values.items():
            if v in assign:
                raise SpecificationError(f"{label}: {where} assigns {v!r}, which an assignment rule determines")
            if v in amount_name:
                # the concentration times the size before the event (all values are computed first, also
                # when the same event assigns the compartment: SBML Test Suite 01779)
                out[amount_name[v]] = e * sym[m.getSpecies(v).getCompartment()]
            else:
                out[nm[v]] = e
        # a species held as a concentration (it has a rate rule) in a compartment the event resizes keeps its
        # amount: its concentration is scaled by old size / new size (SBML Test Suite 01506)
        for s in m.getListOfSpecies():
            i, c = s.getId(), s.getCompartment()
            if c in values and i in rate_rules and not s.getHasOnlySubstanceUnits() and i not in amount_name:
                out[nm[i]] = values.get(i, sym[i]) * sym[c] / values[c]
        delay = None
        if ev.isSetDelay() and ev.getDelay().isSetMath():
            delay = conv(ev.getDelay().getMath(), f"delay of {where}") / sp.Float(per_day) if per_day != 1.0 \
                else conv(ev.getDelay().getMath(), f"delay of {where}")
        priority = None
        if level >= 3 and ev.isSetPriority() and ev.getPriority().isSetMath():
            priority = conv(ev.getPriority().getMath(), f"priority of {where}")
        persistent = bool(trig.getPersistent()) if level >= 3 else True
        initial_value = bool(trig.getInitialValue()) if level >= 3 else True
        from_trigger = bool(ev.getUseValuesFromTriggerTime()) if (level >= 3 or ev.isSetUseValuesFromTriggerTime()) \
            else True
        try:
            name = check_name(eid, "event")
        except SpecificationError:  # e.g. a leading underscore, which tumordyn names may not have
            name = f"event_{eid.lstrip('_')}" if eid.lstrip("_").isidentifier() else f"event_{k + 1}"
        while name in used:
            name += "_"
        used.add(name)
        events.append(Event(name, trigger, out, delay=delay, priority=priority, persistent=persistent,
                            initial_value=initial_value, use_values_from_trigger_time=from_trigger,
                            description=ev.getName() or f"SBML event {eid}"))
    return events


#: XML namespace of the tumordyn model annotation written by :func:`to_sbml`.
ANNOTATION_NS = "https://tumordyn.readthedocs.io/sbml-annotation/1"

#: XML namespace of the schedule annotation written by :func:`to_sbml` with a schedule (SBML allows one
#: top-level annotation element per namespace).
SCHEDULE_ANNOTATION_NS = "https://tumordyn.readthedocs.io/sbml-annotation/1/schedule"


def _annotation_xml(model: Model, schedule: Schedule) -> str | None:
    """The model as a tumordyn model file (JSON) in an SBML annotation, with the schedule (a schedule file's
    JSON) when it has doses or infusions; None if the model cannot be written as text."""
    try:
        data = model_to_dict(model)
    except SpecificationError:
        return None
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    out = f'<tumordyn:model xmlns:tumordyn="{ANNOTATION_NS}">{xml_escape(text)}</tumordyn:model>'
    if schedule.doses or schedule.infusions:
        sched = json.dumps(schedule_to_dict(schedule), separators=(",", ":"), allow_nan=False)
        out += (f'<tumordyn_schedule:schedule xmlns:tumordyn_schedule="{SCHEDULE_ANNOTATION_NS}">'
                f'{xml_escape(sched)}</tumordyn_schedule:schedule>')
    return f"<annotation>{out}</annotation>"


def _annotation_text(m: Any, name: str) -> str | None:
    """The text of the tumordyn annotation element ``name`` (``model``, ``schedule``), None if absent."""
    ann = m.getAnnotation() if m.isSetAnnotation() else None
    if ann is None:
        return None
    node = None
    for k in range(ann.getNumChildren()):
        child = ann.getChild(k)
        if child.getURI() == (ANNOTATION_NS if name == "model" else SCHEDULE_ANNOTATION_NS) \
                and child.getName() == name:
            node = child
    if node is None:
        return None
    return "".join(node.getChild(k).getCharacters() for k in range(node.getNumChildren()) if node.getChild(k).isText())


def _annotated_with_events(m: Any, imported: Model, label: str, options: Mapping[str, Any]
                           ) -> tuple[Model, Schedule] | None:
    """For a document with events: the annotation's model (with its own events) and schedule, if exporting
    them with the document's parameter and initial values gives a document that imports to the same model
    (same states, processes, observables and events, schedule's included); otherwise None, with a warning.
    """
    text = _annotation_text(m, "model")
    if text is None:
        return None
    where = f"{label}: tumordyn annotation"
    try:
        saved = model_from_dict(_parse_text(text, "json", where, FILE_LIMITS), source=where)
        stext = _annotation_text(m, "schedule")
        schedule = Schedule() if stext is None else schedule_from_dict(
            _parse_text(stext, "json", f"{where} (schedule)", SCHEDULE_LIMITS), source=f"{where} (schedule)")
        values = {**imported.initial_state(), **imported.defaults()}
        missing = [x for x in (*saved.parameters.names, *saved.states.names) if x not in values]
        if missing:
            raise SpecificationError(f"{', '.join(map(repr, missing))} missing from the SBML model")
        saved = saved.with_defaults(**{p: values[p] for p in saved.parameters.names}).with_initial(
            **{x: values[x] for x in saved.states.names})
        again = _import_document(to_sbml(saved, schedule), annotation=False, **options)[0]
        if again.replace(name=imported.name, description=imported.description) != imported:
            raise SpecificationError("the SBML model (its reactions, rules or events) differs from the export of "
                                     "the annotation's model and schedule")
    except SpecificationError as exc:
        warnings.warn(f"{where} ignored (drugs, bounds, units, descriptions and the schedule not restored): {exc}",
                      TumordynWarning, stacklevel=4)
        return None
    return saved, schedule


def _annotated_model(m: Any, imported: Model, label: str) -> Model | None:
    """The tumordyn model kept in the document's annotation, if it describes the same ODEs as ``imported``.

    The annotation restores what SBML does not hold (drugs, bounds, units, descriptions, non-negativity,
    tolerances). It is used only if it has the same states, the same parameters with the same values (taken
    from the SBML, which another tool may have changed) and right-hand sides and observables equal to the
    imported ones at random points; otherwise (the SBML was edited) it is ignored with a warning.
    """
    text = _annotation_text(m, "model")
    if text is None:
        return None
    where = f"{label}: tumordyn annotation"
    try:
        data = _parse_text(text, "json", where, FILE_LIMITS)
        saved = model_from_dict(data, source=where)
        if saved.events or _annotation_text(m, "schedule") is not None:
            raise SpecificationError("the annotation's events or schedule are missing from the SBML model")
        values = imported.defaults()
        direct = {d.name for d in saved.drugs if d.compartment is None}
        inputs = {str(input_symbol(d.name)) for d in saved.drugs if d.compartment is not None}
        compartments = {c.getId() for c in m.getListOfCompartments()}  # the export's one compartment, size 1
        if set(saved.states.names) != set(imported.states.names) or set(saved.parameters.names) | direct | inputs \
                != set(imported.parameters.names) - compartments:
            raise SpecificationError("the states or parameters differ from the SBML model's")
        saved = saved.with_defaults(**{p: values[p] for p in saved.parameters.names}).with_initial(
            **imported.initial_state())
        to_input = {sp.Symbol(d): input_symbol(d) for d in direct}
        mine, theirs = saved.rhs_expressions(), {k: v.xreplace(to_input) for k, v in imported.rhs_expressions().items()}
        pairs = [(mine[k], theirs[k]) for k in mine]
        obs = imported.observable_expressions()
        pairs += [(e, obs[k].xreplace(to_input)) for k, e in saved.observable_expressions().items() if k in obs]
        if set(saved.observables.names) - set(obs):
            raise SpecificationError("an observable is missing from the SBML model")
        rng = np.random.default_rng(0)
        free = sorted(set().union(*(a.free_symbols | b.free_symbols for a, b in pairs)), key=str)
        for _ in range(3):
            point = {x: sp.Float(rng.uniform(0.5, 2.0)) for x in free}
            for a, b in pairs:
                va, vb = complex(a.evalf(subs=point)), complex(b.evalf(subs=point))
                if not abs(va - vb) <= 1e-9 * max(1.0, abs(va)):
                    raise SpecificationError(f"a right-hand side differs ({a} vs {b})")
    except SpecificationError as exc:
        warnings.warn(f"{where} ignored (drugs, bounds, units and descriptions not restored): {exc}",
                      TumordynWarning, stacklevel=4)
        return None
    return saved
