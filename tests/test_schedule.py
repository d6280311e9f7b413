"""Tests for tumordyn.dosing._schedule: doses, infusions and schedules (times in days)."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumordyn.dosing._schedule import Dose, Infusion, Schedule
from tumordyn.errors import SpecificationError, UnknownNameError

FAST = settings(max_examples=50, deadline=None)

# --------------------------------------------------------------------------- strategies
# Dyadic values (multiples of 1/4) keep sums exact, so structural equality is exact.

quarter = st.integers(0, 400).map(lambda k: k / 4)
drug_names = st.sampled_from(["a", "b", "chemo"])
doses = st.builds(Dose, time=quarter, drug=drug_names, amount=st.integers(0, 20).map(lambda k: k / 2))
infusions = st.builds(
    lambda drug, start, dur, rate: Infusion(drug, start, start + dur, rate),
    drug_names,
    quarter,
    st.integers(1, 40).map(lambda k: k / 4),
    st.integers(0, 10).map(lambda k: k / 2),
)
schedules = st.lists(st.one_of(doses, infusions), max_size=8).map(Schedule)


# --------------------------------------------------------------------------- Dose


def test_dose_coerces_to_float():
    d = Dose(np.int64(3), "x", np.float32(2.5))
    assert d == Dose(3.0, "x", 2.5)
    assert type(d.time) is float and type(d.amount) is float
    assert Dose(np.array(1.0), "x", 1).time == 1.0


def test_negative_zero_is_normalized():
    assert repr(Dose(-0.0, "x", -0.0)) == "Dose(time=0.0, drug='x', amount=0.0)"


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        (dict(time=math.nan, drug="x", amount=1), SpecificationError, ["time", "'x'", "finite"]),
        (dict(time=math.inf, drug="x", amount=1), SpecificationError, ["time", "finite"]),
        (dict(time=-1, drug="x", amount=1), SpecificationError, ["time", ">= 0", "-1"]),
        (dict(time=0, drug="x", amount=-2), SpecificationError, ["amount", ">= 0", "-2"]),
        (dict(time=0, drug="x", amount=math.nan), SpecificationError, ["amount", "nan"]),
        (dict(time=0, drug="x", amount=-math.inf), SpecificationError, ["amount"]),
        (dict(time=0, drug="x", amount="5"), TypeError, ["amount", "'5'", "str"]),
        (dict(time="0", drug="x", amount=5), TypeError, ["time", "str"]),
        (dict(time=True, drug="x", amount=5), TypeError, ["time", "bool"]),
        (dict(time=0, drug="x", amount=False), TypeError, ["amount", "bool"]),
        (dict(time=0, drug="x", amount=np.bool_(True)), TypeError, ["amount"]),
        (dict(time=0, drug="x", amount=None), TypeError, ["amount", "None"]),
        (dict(time=0, drug="", amount=1), SpecificationError, ["drug", "identifier"]),
        (dict(time=0, drug="anti pd1", amount=1), SpecificationError, ["drug", "'anti pd1'"]),
        (dict(time=0, drug="1x", amount=1), SpecificationError, ["drug"]),
        (dict(time=0, drug=3, amount=1), TypeError, ["drug", "str"]),
    ],
)
def test_dose_rejects_bad_values(kwargs, exc, words):
    with pytest.raises(exc) as info:
        Dose(**kwargs)
    for w in words:
        assert w in str(info.value)


def test_zero_dose_allowed_and_inert():
    s = Schedule.at("x", 0, [5]) + Schedule.at("x", 1, [0])
    assert Dose(1, "x", 0).amount == 0.0
    assert s.bolus_at(5) == {}
    assert list(s.breakpoints(0, 10)) == [0.0, 10.0]
    assert len(s) == 2


def test_dose_shifted():
    assert Dose(3, "x", 1).shifted(4) == Dose(7, "x", 1)
    assert Dose(3, "x", 1).shifted(-3).time == 0.0
    with pytest.raises(SpecificationError, match=r"'x'.*t=3.*-2"):
        Dose(3, "x", 1).shifted(-5)
    with pytest.raises(SpecificationError, match="dt"):
        Dose(3, "x", 1).shifted(math.nan)
    with pytest.raises(TypeError):
        Dose(3, "x", 1).shifted("1")


def test_frozen():
    d = Dose(0, "x", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.time = 2.0  # type: ignore[misc]
    inf = Infusion("x", 0, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inf.rate = 2.0  # type: ignore[misc]
    s = Schedule([d, inf])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.doses = ()  # type: ignore[misc]
    assert isinstance(s.doses, tuple) and isinstance(s.infusions, tuple)


# --------------------------------------------------------------------------- Infusion


def test_infusion_basics():
    inf = Infusion("il2", 1, 4, 2)
    assert (inf.duration, inf.total) == (3.0, 6.0)
    assert [inf.rate_at(t) for t in (0.999, 1, 3.999, 4, 10)] == [0.0, 2.0, 2.0, 0.0, 0.0]
    assert inf.shifted(2) == Infusion("il2", 3, 6, 2)
    with pytest.raises(SpecificationError, match=r"infusion of 'il2'.*-1"):
        inf.shifted(-2)


@pytest.mark.parametrize(
    ("args", "exc", "words"),
    [
        (("x", 2, 2, 1), SpecificationError, ["end", "start", "'x'"]),
        (("x", 3, 2, 1), SpecificationError, ["end > start"]),
        (("x", -1, 2, 1), SpecificationError, ["start", ">= 0"]),
        (("x", 0, math.inf, 1), SpecificationError, ["end", "finite"]),
        (("x", 0, 1, -1), SpecificationError, ["rate", "amount/day"]),
        (("x", 0, 1, math.nan), SpecificationError, ["rate"]),
        (("x", 0, 1, True), TypeError, ["rate", "bool"]),
        (("x", 0, 1, "1"), TypeError, ["rate"]),
        (("", 0, 1, 1), SpecificationError, ["drug"]),
    ],
)
def test_infusion_rejects_bad_values(args, exc, words):
    with pytest.raises(exc) as info:
        Infusion(*args)
    for w in words:
        assert w in str(info.value)


def test_infusion_for_duration():
    assert Infusion.for_duration("x", 1, 2, rate=3) == Infusion("x", 1, 3, 3)
    assert Infusion.for_duration("x", 0, 4, total=2).rate == 0.5
    with pytest.raises(SpecificationError, match="exactly one of rate"):
        Infusion.for_duration("x", 0, 4)
    with pytest.raises(SpecificationError, match="both"):
        Infusion.for_duration("x", 0, 4, rate=1, total=4)
    with pytest.raises(SpecificationError, match="duration"):
        Infusion.for_duration("x", 0, 0, rate=1)
    with pytest.raises(SpecificationError, match="total"):
        Infusion.for_duration("x", 0, 1, total=-1)


# --------------------------------------------------------------------------- construction


def test_schedule_construction_and_canonical_order():
    items = [Dose(7, "x", 1), Infusion("y", 0, 2, 1), Dose(0, "x", 1)]
    original = list(items)
    s = Schedule(items)
    assert items == original  # input not mutated
    assert [d.time for d in s.doses] == [0.0, 7.0]
    assert list(s) == [Dose(0, "x", 1), Dose(7, "x", 1), Infusion("y", 0, 2, 1)]
    assert Schedule(list(s)) == s
    assert Schedule(s) == s
    assert Schedule(Dose(0, "x", 1)) == Schedule([Dose(0, "x", 1)])
    assert Schedule(iter(items)) == s  # any iterable, including generators
    assert len(s) == 3 and bool(s) and not Schedule()


def test_schedule_rejects_bad_items():
    with pytest.raises(TypeError, match="item 1"):
        Schedule([Dose(0, "x", 1), (0, "x", 1)])
    with pytest.raises(TypeError, match="iterable"):
        Schedule("x")
    with pytest.raises(TypeError, match="iterable"):
        Schedule(5)
    with pytest.raises(TypeError, match=r"doses\[0\]"):
        Schedule(doses=[Infusion("x", 0, 1, 1)])


def test_duplicates_kept_and_summed():
    s = Schedule([Dose(1, "x", 2), Dose(1, "x", 2), Dose(1, "x", 3), Dose(1, "y", 1)])
    assert len(s) == 4 and s.n_doses("x") == 3
    assert s.bolus_at(1) == {"x": 7.0, "y": 1.0}
    assert s.bolus_at(1.0000000001) == {}
    assert s.bolus_at(0) == {}


def test_dataclass_replace_pickle_copy_hash():
    s = Schedule.every("x", 1, 7, count=3) + Schedule.infusion("y", 1, 0, 2)
    assert dataclasses.replace(s, infusions=()) == s.only("x")
    assert pickle.loads(pickle.dumps(s)) == s
    assert pickle.loads(pickle.dumps(s)).bolus_at(7) == {"x": 1.0}
    assert copy.deepcopy(s) == s
    assert len({s, Schedule(reversed(list(s)))}) == 1


def test_cached_unit_check_is_per_schedule_and_not_pickled():
    # whether a schedule has doses in a unit of their own is remembered on the (immutable) schedule, never
    # carried by a pickle, and a schedule without units is resolved as itself
    plain = Schedule.every("x", 1, 7, count=3)
    per_kg = plain + Dose(2, "x", 1.5, unit="mg/kg")
    assert not plain._has_units() and per_kg._has_units()
    assert not plain._has_units() and per_kg._has_units()  # the remembered answers
    assert "_units" not in pickle.loads(pickle.dumps(per_kg)).__dict__
    assert pickle.loads(pickle.dumps(per_kg))._has_units()
    assert plain.resolved(object()) is plain


def test_repr_table():
    s = Schedule.at("chemo", 50, [0, 7]) + Schedule.infusion("il2", 0.5, 0, 14)
    text = repr(s)
    assert text.splitlines()[0] == "Schedule(2 doses, 1 infusion)"
    assert "time (days)" in text and "chemo" in text and "0.5/day" in text
    assert repr(Schedule()) == "Schedule()"
    long = Schedule.every("x", 1, 1, count=100)
    lines = repr(long).splitlines()
    assert len(lines) < 25 and "85 more rows not shown" in lines[-1]
    assert str(s) == repr(s)


# --------------------------------------------------------------------------- algebra


@FAST
@given(schedules, schedules)
def test_addition_commutes(a, b):
    assert a + b == b + a
    assert hash(a + b) == hash(b + a)
    assert len(a + b) == len(a) + len(b)


@FAST
@given(schedules, schedules, schedules)
def test_addition_associates(a, b, c):
    assert (a + b) + c == a + (b + c)
    assert sum([a, b, c], Schedule()) == a + b + c == sum([a, b, c])


@FAST
@given(schedules)
def test_empty_is_identity(a):
    assert a + Schedule() == a == Schedule() + a


def test_add_items_and_unsupported():
    d, i = Dose(0, "x", 1), Infusion("x", 0, 1, 1)
    s = Schedule([d])
    assert d + s == s + d == Schedule([d, d])
    assert i + d == d + i == Schedule([d, i])
    assert sum([d, i], Schedule()) == Schedule([d, i])
    with pytest.raises(TypeError):
        s + 1  # noqa: B018
    with pytest.raises(TypeError):
        1 + s  # noqa: B018
    with pytest.raises(TypeError):
        d + 1  # noqa: B018


@FAST
@given(schedules, quarter, quarter)
def test_shift_composes(s, a, b):
    assert s.shift(a).shift(b) == s.shift(a + b)
    assert s.shift(a).shift(-a) == s
    assert s.shift(0) == s


@FAST
@given(schedules, quarter, quarter, quarter)
def test_shift_then_between(s, dt, t0, width):
    t1 = t0 + width
    assert s.shift(dt).between(t0 + dt, t1 + dt) == s.between(t0, t1).shift(dt)


@FAST
@given(schedules, quarter)
def test_between_splits_amounts(s, m):
    left, right = s.between(0, m), s.between(m, math.inf)
    assert left.doses + right.doses == s.doses
    assert left.amount_total() + right.amount_total() == pytest.approx(s.amount_total())
    assert all(d.time < m for d in left.doses) and all(d.time >= m for d in right.doses)
    assert all(i.end <= m for i in left.infusions) and all(i.start >= m for i in right.infusions)


def test_shift_negative_names_the_dose():
    s = Schedule.at("x", 1, [5]) + Schedule.at("chemo", 2, [1])
    with pytest.raises(SpecificationError, match=r"'chemo'.*t=1.*-1"):
        s.shift(-2)
    with pytest.raises(SpecificationError, match="dt"):
        s.shift(math.inf)


def test_between_clips_infusions_and_validates():
    s = Schedule.infusion("y", 2, 0, 10) + Schedule.at("x", 1, [0, 5, 10])
    w = s.between(5, 10)
    assert w.infusions == (Infusion("y", 5, 10, 2),)
    assert [d.time for d in w.doses] == [5.0]
    assert s.between(10, 20).infusions == ()
    assert s.between(3, 3) == Schedule()
    with pytest.raises(SpecificationError, match="t1 must be >= t0"):
        s.between(5, 1)
    with pytest.raises(SpecificationError, match="t0"):
        s.between(math.nan, 1)


# --------------------------------------------------------------------------- selection and queries


def test_drugs_only_without():
    s = Schedule.at("x", 1, [0]) + Schedule.at("y", 1, [0]) + Schedule.infusion("z", 1, 0, 1)
    assert s.drugs == frozenset({"x", "y", "z"})
    assert s.only("x", "z").drugs == {"x", "z"}
    assert s.without("x", "z").drugs == {"y"}
    assert s.only("nope") == Schedule() and s.without("nope") == s
    assert s.only("x") + s.without("x") == s
    with pytest.raises(TypeError, match="separate arguments"):
        s.only(["x", "y"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.without(3)  # type: ignore[arg-type]


def test_breakpoints():
    s = Schedule.at("x", 1, [3, 3, 50]) + Schedule.infusion("y", 1, 5, 8) + Schedule.infusion("y", 1, 6, 12)
    bp = s.breakpoints(0, 10)
    assert isinstance(bp, np.ndarray) and bp.dtype == float
    assert bp.tolist() == [0.0, 3.0, 5.0, 6.0, 8.0, 10.0]
    assert s.breakpoints(3, 3).tolist() == [3.0]
    assert s.breakpoints(4, 5).tolist() == [4.0, 5.0]
    assert Schedule().breakpoints(0, 1).tolist() == [0.0, 1.0]
    with pytest.raises(SpecificationError, match="t1"):
        s.breakpoints(2, 1)
    with pytest.raises(SpecificationError, match="t1"):
        s.breakpoints(0, math.inf)


@FAST
@given(schedules, quarter)
def test_breakpoints_property(s, t1):
    bp = s.breakpoints(0, t1)
    assert bp[0] == 0 and bp[-1] == t1
    assert np.all(np.diff(bp) > 0)
    # every nonzero dose in [0, t1] is a breakpoint, and its bolus is found there
    for d in s.doses:
        if d.amount > 0 and d.time <= t1:
            assert d.time in bp
            assert s.bolus_at(d.time)[d.drug] >= d.amount
    # infusion rates are constant between breakpoints
    for lo, hi in zip(bp[:-1], bp[1:]):
        mid = (lo + hi) / 2
        assert s.infusion_rates(lo) == s.infusion_rates(mid)


def test_infusion_rates_overlap_and_right_open():
    s = (
        Schedule.infusion("x", 1, 0, 10)
        + Schedule.infusion("x", 2, 5, 6)
        + Schedule.infusion("y", 4, 5, 7)
        + Schedule.infusion("z", 0, 0, 10)
    )
    assert s.infusion_rates(0) == {"x": 1.0}
    assert s.infusion_rates(5) == {"x": 3.0, "y": 4.0}
    assert s.infusion_rates(6) == {"x": 1.0, "y": 4.0}
    assert s.infusion_rates(10) == {}
    assert s.infusion_rates(-1) == {}


def test_amount_total_n_doses_last_time():
    s = Schedule.every("x", 2, 7, count=3) + Schedule.infusion("x", 0.5, 0, 4) + Schedule.at("y", 1, [30])
    assert s.amount_total("x") == 8.0
    assert s.amount_total("y") == 1.0
    assert s.amount_total() == 9.0
    assert s.amount_total("nope") == 0.0
    assert s.n_doses() == 4 and s.n_doses("x") == 3 and s.n_doses("nope") == 0
    assert s.last_time == 30.0
    assert (Schedule.infusion("x", 1, 0, 40) + Dose(30, "x", 1)).last_time == 40.0
    assert Schedule().last_time == 0.0


# --------------------------------------------------------------------------- builders


def test_every_weekly_for_a_year():
    s = Schedule.every("x", 1, 7, until=364)
    assert s.n_doses() == 53
    assert [d.time for d in s.doses] == [7.0 * k for k in range(53)]
    assert Schedule.every("x", 1, 7, until=363.9).n_doses() == 52
    assert Schedule.every("x", 1, 7, count=53) == s


def test_every_until_tolerance_snaps_to_until():
    s = Schedule.every("x", 1, 0.1, until=0.7)
    assert s.n_doses() == 8
    assert s.last_time == 0.7  # not 0.7000000000000001
    s.validate({"x"}, t_end=0.7)
    assert Schedule.every("x", 1, 3, start=2, until=2).n_doses() == 1


def test_every_start_and_count():
    s = Schedule.every("x", 5, interval=0.5, start=1, count=3)
    assert [d.time for d in s.doses] == [1.0, 1.5, 2.0]
    assert s.amount_total() == 15.0


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        (dict(count=3, until=10), SpecificationError, ["exactly one", "both"]),
        (dict(), SpecificationError, ["exactly one", "neither"]),
        (dict(interval=0, count=3), SpecificationError, ["interval", "> 0"]),
        (dict(interval=-7, count=3), SpecificationError, ["interval"]),
        (dict(interval=math.inf, count=3), SpecificationError, ["interval"]),
        (dict(count=0), SpecificationError, ["count", ">= 1"]),
        (dict(count=2.0), TypeError, ["count"]),
        (dict(count=True), TypeError, ["count"]),
        (dict(until=-1), SpecificationError, ["until"]),
        (dict(start=5, until=1), SpecificationError, ["until", "start"]),
        (dict(amount=-1, count=1), SpecificationError, ["amount"]),
        (dict(amount="1", count=1), TypeError, ["amount"]),
        (dict(drug="", count=1), SpecificationError, ["drug"]),
        (dict(interval=1e-9, until=1), SpecificationError, ["limit"]),
    ],
)
def test_every_rejects_bad_arguments(kwargs, exc, words):
    args = dict(drug="x", amount=1, interval=7)
    args.update(kwargs)
    with pytest.raises(exc) as info:
        Schedule.every(**args)
    assert "Schedule.every" in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_at():
    times = [14, 0, 7, 7]
    s = Schedule.at("x", 5, times)
    assert times == [14, 0, 7, 7]  # not mutated
    assert [d.time for d in s.doses] == [0.0, 7.0, 7.0, 14.0]
    arr = np.array([3.0, 1.0])
    assert Schedule.at("x", 1, arr).n_doses() == 2 and arr.tolist() == [3.0, 1.0]
    assert Schedule.at("x", 1, 4) == Schedule([Dose(4, "x", 1)])
    assert Schedule.at("x", [1, 2], [0, 1]).bolus_at(1) == {"x": 2.0}
    assert Schedule.at("x", 1, []) == Schedule()
    with pytest.raises(SpecificationError, match=r"times\[1\]"):
        Schedule.at("x", 1, [0, math.nan])
    with pytest.raises(SpecificationError, match=r"times\[0\].*>= 0"):
        Schedule.at("x", 1, [-1])
    with pytest.raises(SpecificationError, match="one per time"):
        Schedule.at("x", [1, 2, 3], [0, 1])
    with pytest.raises(TypeError, match="times"):
        Schedule.at("x", 1, "0, 7")


def test_repeat():
    cycle = Schedule.at("chemo", 10, [0, 1, 2]) + Schedule.infusion("il2", 1, 0, 3)
    six = cycle.repeat(21, 6)
    assert six.n_doses() == 18 and len(six.infusions) == 6
    assert six.last_time == 108.0
    assert six.amount_total("chemo") == 180.0
    assert cycle.repeat(21, 1) == cycle
    assert Schedule().repeat(7, 3) == Schedule()
    assert Schedule.at("x", 1, [0]).repeat(7, 53) == Schedule.every("x", 1, 7, until=364)
    # overlapping copies are allowed and add up
    assert Schedule.at("x", 1, [0, 2]).repeat(2, 2).bolus_at(2) == {"x": 2.0}
    with pytest.raises(SpecificationError, match="interval"):
        cycle.repeat(0, 2)
    with pytest.raises(SpecificationError, match="count"):
        cycle.repeat(7, 0)
    with pytest.raises(TypeError, match="count"):
        cycle.repeat(7, 2.5)


def test_infusion_builder():
    assert Schedule.infusion("il2", 2, 0, 3).infusions == (Infusion("il2", 0, 3, 2),)
    with pytest.raises(SpecificationError, match="end"):
        Schedule.infusion("il2", 2, 3, 3)


# --------------------------------------------------------------------------- validate


def test_validate_unknown_drug_suggests_close_name():
    s = Schedule.every("anti_pd_1", 10, 7, count=3)
    with pytest.raises(UnknownNameError) as info:
        s.validate({"anti_pd1", "chemo"}, where="model 'tumor_immune'")
    assert isinstance(info.value, KeyError)
    msg = str(info.value)
    assert "'anti_pd_1'" in msg and "did you mean 'anti_pd1'" in msg and "tumor_immune" in msg
    s.validate(["anti_pd_1"])
    s.validate("anti_pd_1")  # a single name
    with pytest.raises(UnknownNameError):
        Schedule.infusion("il_2", 1, 0, 1).validate({"il2"})


def test_validate_horizon():
    s = Schedule.every("x", 10, 7, count=3)  # 0, 7, 14
    s.validate({"x"}, t_end=14)  # a dose exactly at the horizon is allowed
    with pytest.raises(SpecificationError, match=r"'x'.*t=14.*t_end=13"):
        s.validate({"x"}, t_end=13)
    with pytest.raises(SpecificationError, match=r"before.*t0=1"):
        s.validate({"x"}, t_end=20, t0=1)
    s.shift(1).validate({"x"}, t_end=15, t0=1)
    with pytest.raises(SpecificationError, match="t_end must be >= t0"):
        s.validate({"x"}, t_end=1, t0=2)


def test_validate_infusion_window():
    s = Schedule.infusion("x", 1, 2, 10)
    s.validate({"x"}, t_end=10)  # may end exactly at t_end
    with pytest.raises(SpecificationError, match=r"infusion of 'x'.*ends after"):
        s.validate({"x"}, t_end=9)
    with pytest.raises(SpecificationError, match="starts before"):
        s.validate({"x"}, t0=3)


# --------------------------------------------------------------------------- to_dataframe


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    s = Schedule.at("x", 2, [0, 7]) + Schedule.infusion("y", 1, 0, 3)
    df = s.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (3, 6)
    assert list(df.columns) == ["kind", "drug", "start", "end", "amount", "rate"]
    assert df["kind"].tolist() == ["dose", "dose", "infusion"]
    assert df["amount"].tolist() == [2.0, 2.0, 3.0]
    assert df["rate"].isna().tolist() == [True, True, False]
    empty = Schedule().to_dataframe()
    assert empty.shape == (0, 6) and empty["start"].dtype == float
