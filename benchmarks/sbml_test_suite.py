"""tumordyn on the SBML Test Suite's semantic (time-course) cases: the conformance yardstick of issue 16.

Usage::

    python benchmarks/sbml_test_suite.py DIR [--csv out.csv] [--timeout S] [--jobs N]
                                         [--cases 1-200,471] [--roadrunner] [--method dopri5]

``DIR`` is the suite's ``cases/semantic`` directory (the folders ``00001`` ... each holding
``NNNNN-sbml-l3v2.xml`` (or l3v1, l2v4), ``NNNNN-settings.txt``, ``NNNNN-results.csv`` and
``NNNNN-model.m``), or a ``.tar.gz`` of it, which is unpacked to a temporary directory.

Each case is run the suite's way: imported with ``td.io.from_sbml(..., time_unit=1,
allow_nonfinite=True)`` (model time is simulation time; INF/NaN constants read out as such), simulated
with LSODA (``--method``: another of tumordyn's methods, e.g. the compiled ``dopri5``; a case the method
refuses by status is a crash) from ``start`` for ``duration`` with output at the
``steps + 1`` times, the listed variables read as amounts or concentrations as the settings say,
and judged by ``|sim - expected| <= absolute + relative * |expected|`` at every point.

Classes: ``pass``; ``wrong`` (simulated, outside the tolerance: the worst outcome); ``refused``
(``SBMLUnsupportedError`` naming the construct); ``crash`` (any other exception, type and
message kept); ``timeout`` (the case's worker is killed after ``--timeout`` seconds). Every case
runs in a worker process, so a hang or a crash of one case does not stop the run.

The CSV has one row per time-course case: id, class, construct (refused) or error, largest
scaled error (``max |sim - expected| / (absolute + relative |expected|)``, pass when <= 1),
seconds, component and test tags, and whether every tag is one tumordyn supports
(``SUPPORTED_TAGS``). Printed: the pass rate overall and on the all-supported cases, the counts
per class and per first refused construct. ``--roadrunner`` runs libRoadRunner on the same cases
(same judging) for the side-by-side rate.
"""

from __future__ import annotations

import argparse
import collections
import csv
import math
import multiprocessing as mp
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

#: Tags of constructs tumordyn imports (see docs/io.md); a case all of whose tags are in this set
#: is expected to pass.
SUPPORTED_TAGS = frozenset({
    # component tags
    "Compartment", "Species", "Reaction", "Parameter", "RateRule", "AssignmentRule", "InitialAssignment",
    "FunctionDefinition", "CSymbolTime", "CSymbolAvogadro", "CSymbolRateOf",
    # test tags
    "Amount", "Concentration", "InitialValueReassigned", "NonConstantParameter", "NonUnityStoichiometry",
    "NonUnityCompartment", "BoundaryCondition", "HasOnlySubstanceUnits", "LocalParameters", "DefaultValue",
    "ConversionFactors", "ReversibleReaction", "ConstantSpecies", "MultiCompartment",
    "0D-Compartment", "NoMathML", "VolumeConcentrationRates", "L3v2MathML",
    "NonConstantCompartment",
    # variable stoichiometry (an expression multiplying the rate), linear algebraic rules (solved into
    # assignment rules), MathML such as factorial of a variable, hierarchical models (flattened by libsbml)
    "AssignedConstantStoichiometry", "AssignedVariableStoichiometry", "StoichiometryMath", "SpeciesReferenceInMath",
    "AlgebraicRule", "BoolNumericSwap", "UncommonMathML",
    "comp:ModelDefinition", "comp:Submodel", "comp:SubmodelOutput", "comp:ReplacedElement", "comp:ReplacedBy",
    "comp:Port", "comp:Deletion", "comp:SBaseRef", "comp:ConversionFactor", "comp:ExtentConversionFactor",
    "comp:TimeConversionFactor",
    # events (component and test tags)
    "EventNoDelay", "EventWithDelay", "EventPriority", "EventIsPersistent", "EventIsNotPersistent",
    "EventT0Firing", "EventUsesTriggerTimeValues", "EventUsesAssignmentTimeValues", "RandomEventExecution",
})

LEVELS = ("l3v2", "l3v1", "l2v4", "l2v3", "l2v2", "l2v1", "l1v2")


def parse_settings(path: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for line in path.read_text().splitlines():
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if not key:
            continue
        if key in ("variables", "amount", "concentration"):
            out[key] = [v.strip() for v in val.split(",") if v.strip()]
        elif key in ("start", "duration", "absolute", "relative"):
            out[key] = float(val)
        elif key == "steps":
            out[key] = int(float(val))
        else:
            out[key] = val
    return out


def parse_tags(path: Path) -> tuple[list[str], list[str], str]:
    text = path.read_text(errors="replace")

    def field(name: str) -> str:
        m = re.search(rf"^{name}:[ \t]*(.*)$", text, re.MULTILINE)  # an empty field is empty (not the next line)
        return m.group(1).strip() if m else ""

    split = lambda s: [t.strip() for t in s.split(",") if t.strip()]
    return split(field("componentTags")), split(field("testTags")), field("testType")


def read_expected(path: Path) -> tuple[list[str], list[list[float]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    data = [[float(x) for x in r] for r in rows[1:] if r]
    return header, data


def judge(sim: list[list[float]], expected: list[list[float]], atol: float, rtol: float) -> float:
    """Largest ``|sim - expected| / (atol + rtol |expected|)``; NaN/inf must match exactly (0 if so)."""
    worst = 0.0
    for srow, erow in zip(sim, expected):
        for s, e in zip(srow, erow):
            if math.isnan(e) or math.isinf(e):
                if not (s == e or (math.isnan(e) and math.isnan(s))):
                    return math.inf
                continue
            if not math.isfinite(s):
                return math.inf
            worst = max(worst, abs(s - e) / (atol + rtol * abs(e)))
    return worst


def case_files(case_dir: Path) -> tuple[Path | None, Path, Path, Path]:
    cid = case_dir.name
    xml = next((case_dir / f"{cid}-sbml-{lv}.xml" for lv in LEVELS if (case_dir / f"{cid}-sbml-{lv}.xml").exists()),
               None)
    return xml, case_dir / f"{cid}-settings.txt", case_dir / f"{cid}-results.csv", case_dir / f"{cid}-model.m"


# -------------------------------------------------------------------------------------------
# engines (run inside a worker)
# -------------------------------------------------------------------------------------------
def _np_max(*args):
    import numpy as np

    return np.maximum.reduce(np.broadcast_arrays(*args))


def _np_min(*args):
    import numpy as np

    return np.minimum.reduce(np.broadcast_arrays(*args))


#: Max/Min of arrays and scalars alike (sympy 1.12 prints them as ``amax((-5, t), axis=0)``).
_NP_MINMAX = {"Max": _np_max, "Min": _np_min,
              "amax": lambda seq, axis=0: _np_max(*seq), "amin": lambda seq, axis=0: _np_min(*seq)}


#: The method the workers simulate with (set by ``--method``; read in each worker process).
_METHOD_ENV = "TUMORDYN_SUITE_METHOD"


def run_tumordyn(xml: Path, settings: dict) -> list[list[float]]:
    import numpy as np
    import sympy as sp

    import tumordyn as td
    from tumordyn.io._sbml import (
        _import_sbml,  # the importer plus its id -> expression map
    )
    from tumordyn.spec import TIME

    # allow_nonfinite: constants the suite sets to INF/NaN (00950, 00951, 01811, 01813) are read out as such;
    # one that a rate, rule or event uses is still refused
    model, outputs = _import_sbml(str(xml), time_unit=1.0, allow_nonfinite=True)
    start, duration, steps = settings["start"], settings["duration"], settings["steps"]
    times = np.linspace(start, start + duration, steps + 1)
    amount = set(settings.get("amount", []))
    conc = set(settings.get("concentration", []))
    exprs = []
    for v in settings["variables"]:
        if v not in outputs:
            raise KeyError(f"variable {v!r} is not an SBML id of the imported model")
        val, size, hosu = outputs[v]
        if size is not None:
            if v in amount and not hosu:
                val = val * size
            elif v in conc and hosu:
                val = val / size
        exprs.append(val)
    # events: some cases execute one every 0.01 time units (10,000 in a run), beyond the default cap
    traj = td.simulate(model, t_end=float(start + duration), t0=float(start), t_eval=times,
                       solver=td.Solver(method=os.environ.get(_METHOD_ENV, "LSODA"), rtol=1e-10, atol=1e-14,
                                        max_switches=1_000_000))
    env = {sp.Symbol(n): traj.y[:, k] for k, n in enumerate(traj.state_names)}
    for n, val in traj.params.items():
        env[sp.Symbol(n)] = np.full(len(times), float(val))
    env[TIME] = np.asarray(traj.t, dtype=float)
    syms = list(env)
    cols = []
    for e in exprs:
        f = sp.lambdify(syms, e, modules=[_NP_MINMAX, "numpy"])
        cols.append(np.broadcast_to(np.asarray(f(*(env[s] for s in syms)), dtype=float), (len(times),)))
    return [list(map(float, row)) for row in np.column_stack(cols)] if cols else [[] for _ in times]


def run_roadrunner(xml: Path, settings: dict) -> list[list[float]]:
    import roadrunner

    rr = roadrunner.RoadRunner(str(xml))
    rr.integrator.absolute_tolerance = 1e-12
    rr.integrator.relative_tolerance = 1e-10
    amount = set(settings.get("amount", []))
    species = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds())
    sel = ["time"]
    for v in settings["variables"]:
        if v in species:
            sel.append(v if v in amount else f"[{v}]")
        else:
            sel.append(v)
    rr.timeCourseSelections = sel
    start, duration, steps = settings["start"], settings["duration"], settings["steps"]
    res = rr.simulate(start, start + duration, steps + 1)
    return [list(map(float, row[1:])) for row in res]


def run_case(case_dir: str, engine: str) -> dict:
    case_dir_p = Path(case_dir)
    xml, settings_p, results_p, _ = case_files(case_dir_p)
    out = {"class": "", "construct": "", "error": "", "scaled_error": ""}
    t0 = time.perf_counter()
    try:
        if xml is None:
            raise FileNotFoundError("no SBML file")
        settings = parse_settings(settings_p)
        header, expected = read_expected(results_p)
        cols = [1 + header[1:].index(v) for v in settings["variables"]]  # column 0 is time (a variable may be "Time")
        expected = [[row[c] for c in cols] for row in expected]
        sim = (run_tumordyn if engine == "tumordyn" else run_roadrunner)(xml, settings)
        if len(sim) != len(expected):
            raise RuntimeError(f"{len(sim)} output rows, expected {len(expected)}")
        worst = judge(sim, expected, settings["absolute"], settings["relative"])
        out["scaled_error"] = f"{worst:.3g}"
        out["class"] = "pass" if worst <= 1.0 else "wrong"
    except Exception as exc:  # noqa: BLE001 - classifying every outcome is the point
        construct = getattr(exc, "construct", None)
        if engine == "tumordyn" and construct is not None:
            out["class"] = "refused"
            out["construct"] = construct
        elif engine == "roadrunner" and "roadrunner" in type(exc).__module__.lower() or (
                engine == "roadrunner" and isinstance(exc, RuntimeError)):
            out["class"] = "refused"
            out["construct"] = "cannot load"
        else:
            out["class"] = "crash"
        msg = str(exc).replace("\n", " ")
        out["error"] = f"{type(exc).__name__}: {msg[:300]}"
        if os.environ.get("SBML_SUITE_TRACEBACK"):
            traceback.print_exc()
    out["seconds"] = f"{time.perf_counter() - t0:.2f}"
    return out


# -------------------------------------------------------------------------------------------
# worker pool with a per-case time limit
# -------------------------------------------------------------------------------------------
def _worker(conn, engine: str) -> None:  # pragma: no cover - runs in a child
    import warnings

    warnings.simplefilter("ignore")
    if engine == "tumordyn":
        import tumordyn  # noqa: F401  (import once per worker)
    else:  # libRoadRunner's integrator writes its warnings to the C stdout and stderr
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    while True:
        case_dir = conn.recv()
        if case_dir is None:
            return
        conn.send(run_case(case_dir, engine))


class _Slot:
    def __init__(self, ctx, engine: str) -> None:
        self.ctx, self.engine = ctx, engine
        self.start()

    def start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.engine), daemon=True)
        self.proc.start()
        self.case: str | None = None
        self.since = 0.0
        self.fresh = True
        self.first = False

    def submit(self, case_dir: str) -> None:
        self.first = self.case is None and self.fresh
        self.fresh = False
        self.case, self.since = case_dir, time.monotonic()
        self.conn.send(case_dir)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()


def run_all(case_dirs: list[Path], engine: str, jobs: int, timeout: float, progress: bool = True) -> dict[str, dict]:
    ctx = mp.get_context("spawn")
    slots = [_Slot(ctx, engine) for _ in range(max(1, jobs))]
    todo = [str(c) for c in case_dirs]
    todo.reverse()
    results: dict[str, dict] = {}
    done = 0
    warmup = 60.0  # first case of a worker also pays the import
    while todo or any(s.case for s in slots):
        for s in slots:
            if s.case is None and todo:
                s.submit(todo.pop())
        for s in slots:
            if s.case is None:
                continue
            if s.conn.poll(0.02):
                try:
                    res = s.conn.recv()
                except EOFError:
                    res = {"class": "crash", "construct": "", "error": f"worker died (exit {s.proc.exitcode})",
                           "scaled_error": "", "seconds": f"{time.monotonic() - s.since:.2f}"}
                    s.kill()
                    s.start()
                results[Path(s.case).name] = res
                s.case = None
                done += 1
            elif not s.proc.is_alive() or time.monotonic() - s.since > timeout + (warmup if s.first else 0.0):
                alive = s.proc.is_alive()
                results[Path(s.case).name] = {
                    "class": "timeout" if alive else "crash", "construct": "",
                    "error": f"killed after {timeout:g} s" if alive else f"worker died (exit {s.proc.exitcode})",
                    "scaled_error": "", "seconds": f"{time.monotonic() - s.since:.2f}"}
                s.kill()
                s.start()
                done += 1
            if progress and done and done % 100 == 0 and s.case is None:
                print(f"  {engine}: {done}/{len(case_dirs)}", file=sys.stderr, flush=True)
    for s in slots:
        try:
            s.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        s.proc.join(timeout=5)
        if s.proc.is_alive():
            s.kill()
    return results


START, END = "<!-- sbml-test-suite:start -->", "<!-- sbml-test-suite:end -->"


def markdown_table(rows: list[dict], engines: list[str]) -> str:
    n = len(rows)
    sup = [r for r in rows if r["all_supported"]]
    lines = ["| | pass (all cases) | pass (tags all supported) | wrong | refused | crash | timeout |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for eng in engines:
        key = "class" if eng == "tumordyn" else f"{eng}_class"
        c = collections.Counter(r[key] for r in rows)
        sp_ = sum(r[key] == "pass" for r in sup)
        lines.append(f"| {eng} | {c['pass']} of {n} ({100 * c['pass'] / max(n, 1):.1f} %) | {sp_} of {len(sup)} "
                     f"({100 * sp_ / max(len(sup), 1):.1f} %) | {c['wrong']} | {c['refused']} | {c['crash']} | "
                     f"{c['timeout']} |")
    cons = collections.Counter(r["construct"] for r in rows if r["class"] == "refused")
    lines += ["", "tumordyn's refusals by first construct: "
              + ", ".join(f"{k} {v}" for k, v in cons.most_common()) + "."]
    return "\n".join(lines)


def update_docs(path: Path, rows: list[dict], engines: list[str]) -> None:
    text = path.read_text()
    a, b = text.find(START), text.find(END)
    if a < 0 or b < a:
        raise SystemExit(f"{path}: no {START} ... {END} block")
    path.write_text(text[: a + len(START)] + "\n" + markdown_table(rows, engines) + "\n" + text[b:])


def _select(ids: list[str], spec: str | None) -> list[str]:
    if not spec:
        return ids
    want: set[int] = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        want.update(range(int(a), int(b or a) + 1))
    return [i for i in ids if int(i) in want]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the suite's cases/semantic directory, or a .tar.gz holding it")
    ap.add_argument("--csv", help="write one row per case here")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    ap.add_argument("--jobs", type=int, default=max(1, min(4, (os.cpu_count() or 2))), help="worker processes")
    ap.add_argument("--cases", help="only these case numbers, e.g. 1-200,471")
    ap.add_argument("--roadrunner", action="store_true", help="also run libRoadRunner on the same cases")
    ap.add_argument("--method", default="LSODA",
                    help="tumordyn's method (default LSODA; e.g. dopri5 for the compiled engine, auto)")
    ap.add_argument("--docs", help="rewrite the table between the sbml-test-suite markers of this Markdown file")
    args = ap.parse_args(argv)
    os.environ[_METHOD_ENV] = args.method  # inherited by the worker processes
    print(f"tumordyn method: {args.method}")

    src = Path(args.dir)
    tmp = None
    if src.is_file() and src.name.endswith((".tar.gz", ".tgz")):
        tmp = tempfile.mkdtemp(prefix="sbml-test-suite-")
        with tarfile.open(src) as tf:
            members = [mb for mb in tf.getmembers() if mb.isfile() and ".." not in mb.name and not mb.name.startswith("/")]
            tf.extractall(tmp, members=members)
        cands = [p for p in Path(tmp).rglob("00001") if p.is_dir()]
        if not cands:
            print(f"no case 00001 in {src}", file=sys.stderr)
            return 2
        src = cands[0].parent
    try:
        ids = sorted(p.name for p in src.iterdir() if p.is_dir() and re.fullmatch(r"\d{5}", p.name))
        ids = _select(ids, args.cases)
        meta = {}
        cases = []
        for i in ids:
            comp, test, ttype = parse_tags(src / i / f"{i}-model.m")
            if ttype != "TimeCourse":
                continue
            meta[i] = (comp, test)
            cases.append(src / i)
        print(f"{len(cases)} time-course cases in {src} ({len(ids) - len(cases)} others skipped)")
        engines = ["tumordyn"] + (["roadrunner"] if args.roadrunner else [])
        all_res = {}
        for eng in engines:
            t0 = time.perf_counter()
            all_res[eng] = run_all(cases, eng, args.jobs, args.timeout)
            print(f"{eng}: {time.perf_counter() - t0:.0f} s")
        rows = []
        for c in cases:
            i = c.name
            comp, test = meta[i]
            supported = all(t in SUPPORTED_TAGS for t in comp + test)
            row = {"case": i}
            for eng in engines:
                r = all_res[eng][i]
                pre = "" if eng == "tumordyn" else f"{eng}_"
                row.update({f"{pre}class": r["class"], f"{pre}construct": r["construct"],
                            f"{pre}scaled_error": r["scaled_error"], f"{pre}seconds": r["seconds"],
                            f"{pre}error": r["error"]})
            row.update({"all_supported": supported, "component_tags": " ".join(comp), "test_tags": " ".join(test)})
            rows.append(row)
        if args.csv:
            with open(args.csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        n = len(rows)
        sup = [r for r in rows if r["all_supported"]]
        for eng in engines:
            key = "class" if eng == "tumordyn" else f"{eng}_class"
            npass = sum(r[key] == "pass" for r in rows)
            spass = sum(r[key] == "pass" for r in sup)
            print(f"\n{eng}: pass {npass} of {n} ({100 * npass / max(n, 1):.1f} %); on the {len(sup)} cases whose "
                  f"tags are all supported: {spass} ({100 * spass / max(len(sup), 1):.1f} %)")
            counts = collections.Counter(r[key] for r in rows)
            print("  " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("pass", "wrong", "refused", "crash", "timeout")))
            if eng == "tumordyn":
                cons = collections.Counter(r["construct"] for r in rows if r["class"] == "refused")
                print("  refused, by first construct: " + ", ".join(f"{k} {v}" for k, v in cons.most_common()))
                bad = [r for r in rows if r["class"] in ("wrong", "crash", "timeout")]
                for r in bad[:40]:
                    print(f"  {r['case']} {r['class']}: {r['error'] or 'scaled error ' + r['scaled_error']}")
                nsup_bad = [r["case"] for r in sup if r["class"] != "pass"]
                if nsup_bad:
                    print(f"  all-supported cases not passing: {' '.join(nsup_bad[:60])}")
        if args.docs:
            update_docs(Path(args.docs), rows, engines)
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
