"""Parameter distributions of a virtual patient cohort and their seeded sampling.

Each distribution maps a uniform number ``q`` in (0, 1) to a value through its
quantile function (``ppf``). Sampling draws uniform points in the unit cube
(scrambled Sobol, Latin hypercube or plain pseudo-random, all seeded), turns them
into standard normal scores ``z = Φ⁻¹(q)``, correlates the scores with the
requested correlation matrix (a Gaussian copula: ``z ← z Lᵀ`` with ``L Lᵀ = R``),
maps them back to uniforms ``Φ(z)`` and through each marginal's ``ppf``. For
log-normal and normal marginals the correlation is exactly the correlation of
``log x`` (log-normal) or ``x`` (normal); for other marginals it is the
correlation of the normal scores.

Any other object with a quantile function ``ppf`` (a frozen ``scipy.stats`` distribution such as
``scipy.stats.gamma(a=2, scale=0.01)``, or a user's own class) is accepted too, wrapped in
:class:`FromPPF`: it is sampled the same way, from the cohort's own seeded uniforms, so the
patients depend on the cohort's seed only (never on the object's random state) and are the same
bit for bit on every run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .._validate import real_number as _real
from ..errors import SpecificationError

__all__ = [
    "Distribution",
    "Empirical",
    "LogNormal",
    "Normal",
    "TruncatedNormal",
    "Uniform",
    "Fixed",
    "FromPPF",
    "SAMPLING_METHODS",
    "correlation_matrix",
    "sample",
]

#: Ways of drawing the uniform points: scrambled Sobol, Latin hypercube, plain pseudo-random.
SAMPLING_METHODS = ("sobol", "lhs", "random")





class Distribution:
    """Base class of the marginal distributions (a quantile function ``ppf``)."""

    def ppf(self, q: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        """Values at the probabilities ``q`` in (0, 1) (in the parameter's unit)."""
        raise NotImplementedError

    @property
    def fixed(self) -> bool:
        """True if the distribution is a single value (not sampled)."""
        return False


@dataclass(frozen=True)
class LogNormal(Distribution):
    r"""Log-normal distribution given by its median and coefficient of variation.

    :math:`\log x \sim N(\log m, \sigma^2)` with :math:`\sigma^2 = \log(1 + CV^2)`,
    so that the mean is :math:`m\sqrt{1+CV^2}` and the standard deviation is
    :math:`CV` times the mean. The usual model of between-patient variability of
    rate constants (always positive, right-skewed).

    Parameters
    ----------
    median : float
        Median, > 0 (parameter unit).
    cv : float
        Coefficient of variation (standard deviation / mean), >= 0 (dimensionless;
        0.3 means 30%).

    Examples
    --------
    >>> import tumordyn as td
    >>> d = td.cohorts.LogNormal(median=0.03, cv=0.3)
    >>> round(float(d.ppf(0.5)), 6)
    0.03
    """

    median: float
    cv: float

    def __post_init__(self) -> None:
        m = _real(self.median, "LogNormal `median`")
        cv = _real(self.cv, "LogNormal `cv`")
        if m <= 0:
            raise SpecificationError(f"LogNormal `median` must be > 0, got {m}")
        if cv < 0:
            raise SpecificationError(f"LogNormal `cv` must be >= 0 (0.3 means 30%), got {cv}")
        object.__setattr__(self, "median", m)
        object.__setattr__(self, "cv", cv)

    @property
    def sigma(self) -> float:
        """Standard deviation of ``log x``."""
        return math.sqrt(math.log1p(self.cv**2))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Values at the probabilities ``q`` (parameter unit)."""
        from scipy import stats  # imported on first use: scipy.stats takes 0.4-0.8 s to import
        return self.median * np.exp(self.sigma * stats.norm.ppf(q))


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal distribution.

    Parameters
    ----------
    mean : float
        Mean (parameter unit).
    sd : float
        Standard deviation, >= 0 (parameter unit).
    """

    mean: float
    sd: float

    def __post_init__(self) -> None:
        mu = _real(self.mean, "Normal `mean`")
        sd = _real(self.sd, "Normal `sd`")
        if sd < 0:
            raise SpecificationError(f"Normal `sd` must be >= 0, got {sd}")
        object.__setattr__(self, "mean", mu)
        object.__setattr__(self, "sd", sd)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Values at the probabilities ``q`` (parameter unit)."""
        from scipy import stats  # imported on first use: scipy.stats takes 0.4-0.8 s to import
        return self.mean + self.sd * stats.norm.ppf(q)


@dataclass(frozen=True)
class TruncatedNormal(Distribution):
    """Normal distribution truncated to ``[lower, upper]``.

    Parameters
    ----------
    mean : float
        Mean of the untruncated normal (parameter unit).
    sd : float
        Standard deviation of the untruncated normal, > 0 (parameter unit).
    lower, upper : float, optional
        Truncation bounds, ``lower < upper`` (either may be infinite; parameter unit).
    """

    mean: float
    sd: float
    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self) -> None:
        from scipy import stats  # imported on first use: scipy.stats takes 0.4-0.8 s to import
        mu = _real(self.mean, "TruncatedNormal `mean`")
        sd = _real(self.sd, "TruncatedNormal `sd`")
        if sd <= 0:
            raise SpecificationError(f"TruncatedNormal `sd` must be > 0, got {sd}")
        for nm in ("lower", "upper"):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"TruncatedNormal `{nm}` must be a real number, got {v!r}")
        lo, hi = float(self.lower), float(self.upper)
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise SpecificationError(f"TruncatedNormal needs lower < upper, got lower={lo}, upper={hi}")
        a, b = (lo - mu) / sd, (hi - mu) / sd
        if stats.norm.cdf(b) - stats.norm.cdf(a) < 1e-12 and stats.norm.sf(a) - stats.norm.sf(b) < 1e-12:
            raise SpecificationError(
                f"TruncatedNormal: [{lo}, {hi}] holds no probability mass of N({mu}, {sd}^2); widen the bounds"
            )
        for nm, v in (("mean", mu), ("sd", sd), ("lower", lo), ("upper", hi)):
            object.__setattr__(self, nm, v)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Values at the probabilities ``q`` (parameter unit)."""
        from scipy import stats  # imported on first use: scipy.stats takes 0.4-0.8 s to import
        a, b = (self.lower - self.mean) / self.sd, (self.upper - self.mean) / self.sd
        x = stats.truncnorm.ppf(q, a, b, loc=self.mean, scale=self.sd)
        return np.clip(x, self.lower, self.upper)


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform distribution on ``[low, high]``.

    Parameters
    ----------
    low, high : float
        Bounds, ``low < high`` (parameter unit).
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        lo = _real(self.low, "Uniform `low`")
        hi = _real(self.high, "Uniform `high`")
        if not lo < hi:
            raise SpecificationError(f"Uniform needs low < high, got low={lo}, high={hi}")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Values at the probabilities ``q`` (parameter unit)."""
        return self.low + (self.high - self.low) * np.asarray(q, dtype=float)


@dataclass(frozen=True)
class Fixed(Distribution):
    """A single value shared by every patient (not sampled).

    Parameters
    ----------
    value : float
        The value (parameter unit).
    """

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _real(self.value, "Fixed `value`"))

    @property
    def fixed(self) -> bool:
        """Always True."""
        return True

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """``value`` everywhere."""
        return np.full(np.shape(q), self.value)


@dataclass(frozen=True)
class Empirical(Distribution):
    """The empirical distribution of given values (e.g. a selected virtual population).

    Parameters
    ----------
    values : tuple of float
        The values (parameter unit), at least one, all finite.
    """

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        vals = tuple(float(_real(v, "Empirical `values`")) for v in self.values)
        if not vals:
            raise SpecificationError("Empirical `values` must hold at least one value")
        object.__setattr__(self, "values", vals)

    @property
    def fixed(self) -> bool:
        """True if every value is the same."""
        return min(self.values) == max(self.values)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """The empirical quantiles (inverse of the step CDF)."""
        return np.quantile(np.asarray(self.values), np.asarray(q, dtype=float), method="inverted_cdf")

    def __repr__(self) -> str:
        return f"Empirical(n={len(self.values)}, median={float(np.median(self.values)):.6g})"


@dataclass(frozen=True)
class FromPPF(Distribution):
    """Any distribution given by its quantile function: a frozen ``scipy.stats`` distribution or any object
    with a ``ppf`` method.

    The cohort draws its own seeded uniforms ``q`` and takes ``source.ppf(q)`` (inverse-CDF sampling),
    so the object's random-number generator is never used. A number or a tumordyn distribution passed
    to :class:`~tumordyn.Cohort` is used as is; anything else with a callable ``ppf`` is wrapped here.

    Parameters
    ----------
    source : object
        Has ``ppf(q)`` taking an array of probabilities in (0, 1) and returning an array of the same
        shape of finite values (parameter unit).
    name : str
        The parameter or state it is for (named in errors).

    Raises
    ------
    TypeError
        If ``source`` has no callable ``ppf``.

    Examples
    --------
    >>> import numpy as np, tumordyn as td
    >>> from scipy import stats
    >>> d = td.cohorts.FromPPF(stats.gamma(a=4.0, scale=0.01), "r_S")
    >>> bool(np.isclose(d.ppf(np.array([0.5]))[0], stats.gamma(a=4.0, scale=0.01).median()))
    True
    """

    source: object
    name: str = "?"

    def __post_init__(self) -> None:
        if not callable(getattr(self.source, "ppf", None)):
            raise TypeError(f"distribution of {self.name!r}: {type(self.source).__name__} has no callable `ppf` "
                            "(quantile function)")

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """``source.ppf(q)``, checked: the shape of ``q`` and finite (parameter unit).

        Raises
        ------
        SpecificationError
            If the values are not finite or not one per probability, naming the parameter.
        """
        q = np.asarray(q, dtype=float)
        try:
            x = np.asarray(self.source.ppf(q), dtype=float)
        except (TypeError, ValueError) as err:
            raise SpecificationError(f"distribution of {self.name!r}: {self._label()}.ppf failed: {err}") from err
        if x.shape != q.shape:
            try:
                x = np.broadcast_to(x, q.shape).astype(float)
            except ValueError:
                raise SpecificationError(f"distribution of {self.name!r}: {self._label()}.ppf returned shape "
                                         f"{x.shape} for {q.shape} probabilities; it must return one value per "
                                         "probability") from None
        bad = ~np.isfinite(x)
        if np.any(bad):
            j = int(np.argmax(bad))
            raise SpecificationError(
                f"distribution of {self.name!r}: {self._label()}.ppf returned {int(bad.sum())} non-finite "
                f"value(s) (e.g. {x.flat[j]} at probability {q.flat[j]:.6g}); check its parameters (a scale "
                "of 0, NaN, an unbounded quantile)"
            )
        return x

    def _label(self) -> str:
        dist = getattr(self.source, "dist", None)  # a frozen scipy.stats distribution: its family's name
        return f"scipy.stats.{dist.name}" if dist is not None and hasattr(dist, "name") else type(self.source).__name__

    def __repr__(self) -> str:
        args = getattr(self.source, "args", ())
        kwds = getattr(self.source, "kwds", {})
        if getattr(self.source, "dist", None) is not None:
            inner = ", ".join([*(f"{a!r}" for a in args), *(f"{k}={v!r}" for k, v in kwds.items())])
            return f"FromPPF({self._label()}({inner}))"
        return f"FromPPF({self.source!r})"


DistributionLike = Union[Distribution, float, int, Any]


def as_distribution(value: DistributionLike, name: str) -> Distribution:
    """A distribution from a distribution, a number (a :class:`Fixed` value) or an object with ``ppf``
    (a :class:`FromPPF`, e.g. a frozen ``scipy.stats`` distribution)."""
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating)):
        return Fixed(float(value))
    family = callable(getattr(value, "freeze", None))  # scipy.stats.lognorm itself, not lognorm(s=..., scale=...)
    if isinstance(value, type) or family or not callable(getattr(value, "ppf", None)):
        hint = (" (a scipy.stats distribution must be frozen with its parameters, e.g. scipy.stats.lognorm(s=0.3, "
                "scale=0.05), not the family scipy.stats.lognorm)" if hasattr(value, "ppf") else "")
        raise TypeError(
            f"distribution of {name!r} must be a tumordyn distribution (LogNormal, Normal, TruncatedNormal, "
            f"Uniform, Fixed), a number, or an object with a quantile function `ppf` such as a frozen "
            f"scipy.stats distribution, got {type(value).__name__} {value!r}{hint}"
        )
    return FromPPF(value, name)


def correlation_matrix(
    correlation: np.ndarray | Sequence[Sequence[float]] | Mapping[tuple[str, str], float] | None,
    names: Sequence[str],
) -> np.ndarray:
    """Validate a correlation specification and return the full matrix in the order of ``names``.

    Parameters
    ----------
    correlation : array_like or mapping or None
        A square matrix in the order of ``names``, or a mapping ``{(a, b): rho}``
        of pairwise correlations (the others are zero), or ``None`` (independent).
    names : sequence of str
        Names of the distributions, in order.

    Returns
    -------
    numpy.ndarray
        Symmetric, unit diagonal, positive semi-definite, shape ``(d, d)``.

    Raises
    ------
    SpecificationError
        If the matrix is not square of the right size, not symmetric, has entries
        outside [-1, 1] or a diagonal other than 1, or is not positive semi-definite.
    """
    d = len(names)
    if correlation is None:
        return np.eye(d)
    if isinstance(correlation, Mapping):
        R = np.eye(d)
        for key, rho in correlation.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise SpecificationError(f"correlation keys must be pairs of names (a, b), got {key!r}")
            for nm in key:
                if nm not in names:
                    raise SpecificationError(
                        f"correlation names {nm!r}, which has no distribution; distributions: {', '.join(names)}"
                    )
            i, j = names.index(key[0]), names.index(key[1])
            if i == j:
                raise SpecificationError(f"correlation of {key[0]!r} with itself is 1 by definition; drop {key!r}")
            r = _real(rho, f"correlation {key!r}")
            R[i, j] = R[j, i] = r
    else:
        try:
            R = np.array(correlation, dtype=float)
        except (TypeError, ValueError):
            raise TypeError("`correlation` must be a square matrix or a mapping {(a, b): rho}") from None
        if R.shape != (d, d):
            raise SpecificationError(
                f"`correlation` must be {d}x{d} (one row per distribution: {', '.join(names)}), got shape {R.shape}"
            )
        if not np.all(np.isfinite(R)):
            raise SpecificationError("`correlation` has non-finite entries")
        if not np.allclose(R, R.T, atol=1e-12):
            i, j = np.unravel_index(np.argmax(np.abs(R - R.T)), R.shape)
            raise SpecificationError(
                f"`correlation` must be symmetric: entry ({names[i]}, {names[j]}) = {R[i, j]} but "
                f"({names[j]}, {names[i]}) = {R[j, i]}"
            )
        if not np.allclose(np.diag(R), 1.0, atol=1e-12):
            i = int(np.argmax(np.abs(np.diag(R) - 1)))
            raise SpecificationError(f"`correlation` must have a unit diagonal; entry for {names[i]!r} is {R[i, i]}")
    off = np.abs(R) > 1 + 1e-12
    if np.any(off):
        i, j = np.argwhere(off)[0]
        raise SpecificationError(f"correlation of {names[i]!r} and {names[j]!r} is {R[i, j]}, outside [-1, 1]")
    w = np.linalg.eigvalsh(R) if d else np.array([])
    if d and w.min() < -1e-10:
        raise SpecificationError(
            f"`correlation` is not positive semi-definite (smallest eigenvalue {w.min():.3g}): no set of "
            "variables can have these correlations; check the signs and sizes of the pairwise entries"
        )
    R.flags.writeable = False
    return R


def _factor(R: np.ndarray) -> np.ndarray:
    """A matrix L with L Lᵀ = R: Cholesky (keeps the first variable's stratification), or from the
    eigen-decomposition when R is only semi-definite (e.g. a correlation of exactly 1)."""
    try:
        return np.linalg.cholesky(R)
    except np.linalg.LinAlgError:
        pass
    w, V = np.linalg.eigh(R)
    return V * np.sqrt(np.clip(w, 0.0, None))


def sample(
    distributions: Mapping[str, Distribution],
    n: int,
    *,
    seed: int | np.random.SeedSequence | None,
    method: str = "sobol",
    correlation: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Draw ``n`` values of each distribution (seeded; same seed, same values).

    Parameters
    ----------
    distributions : mapping of str to Distribution
        Marginals by name.
    n : int
        Number of draws (>= 1).
    seed : int or numpy.random.SeedSequence or None
        Seed of the scrambling / random generator.
    method : {"sobol", "lhs", "random"}
        Scrambled Sobol points (``scipy.stats.qmc.Sobol``; ``2**ceil(log2 n)``
        points are drawn and the first ``n`` kept), a Latin hypercube
        (``scipy.stats.qmc.LatinHypercube``) or pseudo-random uniforms.
    correlation : numpy.ndarray, optional
        Validated correlation matrix in the order of ``distributions`` (Gaussian
        copula); rows and columns of fixed values must be zero off the diagonal.

    Returns
    -------
    dict of str to numpy.ndarray
        Values of shape ``(n,)`` by name.
    """
    from scipy import stats  # imported on first use: scipy.stats takes 0.4-0.8 s to import
    from scipy.stats import qmc
    names = list(distributions)
    sampled = [nm for nm in names if not distributions[nm].fixed]
    out: dict[str, np.ndarray] = {}
    if sampled:
        d = len(sampled)
        rng = np.random.default_rng(seed)
        if method == "sobol":
            m = max(0, math.ceil(math.log2(n)))
            U = qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:n]
        elif method == "lhs":
            U = qmc.LatinHypercube(d, seed=rng).random(n)
        elif method == "random":
            U = rng.random((n, d))
        else:
            raise SpecificationError(f"unknown sampling method {method!r}; choose one of {', '.join(SAMPLING_METHODS)}")
        eps = np.finfo(float).eps
        U = np.clip(U, eps, 1 - eps)
        if correlation is not None:
            idx = [names.index(nm) for nm in sampled]
            R = np.asarray(correlation)[np.ix_(idx, idx)]
            if not np.allclose(R, np.eye(d)):
                Z = stats.norm.ppf(U) @ _factor(R).T
                U = np.clip(stats.norm.cdf(Z), eps, 1 - eps)
        for j, nm in enumerate(sampled):
            out[nm] = np.asarray(distributions[nm].ppf(U[:, j]), dtype=float)
    for nm in names:
        if nm not in out:
            out[nm] = np.full(n, distributions[nm].ppf(0.5), dtype=float)
    return {nm: out[nm] for nm in names}
