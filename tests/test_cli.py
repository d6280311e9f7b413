"""The `tumordyn` console command: simulate, compare, cohort, fit, info (tumordyn.cli)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tumordyn as td
from tumordyn.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("numpy", "sympy", "scipy", "pandas", "matplotlib", "lmfit", "numba")
COMMANDS = ("simulate", "compare", "cohort", "fit", "info")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=_env())
    return out, time.perf_counter() - started


# ------------------------------------------------------------------ --help: fast, and imports nothing heavy
def test_help_is_fast_and_imports_no_heavy_module():
    """The contract: `--help` of the command and of every sub-command loads no numpy/sympy/scipy/pandas/
    matplotlib (the argparse parser is built from the standard library only)."""
    code = (
        "import sys\n"
        "from tumordyn.cli import main\n"
        f"for argv in ([], *[[c] for c in {COMMANDS!r}]):\n"
        "    try:\n"
        "        main([*argv, '--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (argv, e.code)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), file=sys.stderr)\n"
    )
    out, _ = _run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "[]", out.stderr
    for c in COMMANDS:
        assert f"{c} " in out.stdout


def test_help_wall_time_python_m_and_console_script():
    """`python -m tumordyn --help` (a fresh interpreter) well under a generous bound; the measured figure is
    printed (run with -s). The console script is measured too where it is installed next to python."""
    best = min(_run("-m", "tumordyn", "--help")[1] for _ in range(3))
    print(f"\npython -m tumordyn --help: {best * 1000:.0f} ms (best of 3)")
    baseline = min(_run("-c", "pass")[1] for _ in range(3))
    print(f"python -c pass: {baseline * 1000:.0f} ms (best of 3)")
    assert best < 1.5, best
    script = shutil.which("tumordyn", path=os.path.dirname(sys.executable))
    if script:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            out = subprocess.run([script, "simulate", "--help"], capture_output=True, text=True, timeout=60,
                                 env=_env())
            times.append(time.perf_counter() - started)
            assert out.returncode == 0 and "--param" in out.stdout
        print(f"tumordyn simulate --help (console script): {min(times) * 1000:.0f} ms")
        assert min(times) < 1.5


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"tumordyn {td.__version__}"


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--t-end", "--scan-interval", "--out", "--regimens", "--list-regimens", "--csv", "--lead-time",
                "--model", "--param", "--initial", "--schedule", "--dose", "--progress", "--quiet", "--force"):
        assert opt in out
    assert main([]) == 2


# ------------------------------------------------------------------ bad arguments: exit 2, one line, before computing
def test_a_bad_output_fails_fast_before_importing_the_library(tmp_path):
    """A bad --figure extension or a --table under a regular file: exit 2, one line naming the option, in a
    fresh process that never imported numpy (so nothing was simulated)."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = [
        (["simulate", "--figure", str(tmp_path / "fig.xyz")], "--figure", "unknown figure format 'xyz'"),
        (["simulate", "--table", str(blocker / "out.csv")], "--table", "is not a directory"),
        (["cohort", "--summary", str(tmp_path / "s.xlsx")], "--summary", "unknown table format 'xlsx'"),
        (["compare", "--out", str(tmp_path / "c.jpeg")], "--out", "unknown figure format 'jpeg'"),
        (["compare", "--figure", str(tmp_path / "c.tiff")], "--figure", "unknown figure format 'tiff'"),
        (["fit", "--data", "d.csv", "--free", "r", "--table", str(blocker)], "--table", "already exists"),
    ]
    for argv, option, message in cases:
        code = ("import sys\nfrom tumordyn.cli import main\nrc = main(sys.argv[1:])\n"
                "print(rc, 'numpy' in sys.modules)\n")
        out, seconds = _run("-c", code, *argv)
        err = out.stderr.strip().splitlines()
        assert out.stdout.split() == ["2", "False"], (argv, out.stdout, out.stderr)
        assert len(err) == 1 and err[0].startswith(f"tumordyn {argv[0]}: error: {option} "), err
        assert message in err[0]
        assert seconds < 1.5, (argv, seconds)  # a fresh interpreter; in-process it is milliseconds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_bad_inputs_name_the_option(tmp_path, capsys):
    cases = [
        (["--param", "r_s=0.1"], "--param r_s=0.1: unknown parameter 'r_s'", "did you mean 'r_S'"),
        (["--param", "r_S=5"], "--param r_S=5: value 5.0 of parameter 'r_S'", "outside its bounds"),
        (["--param", "r_S"], "--param 'r_S': expected NAME=VALUE", ""),
        (["--param", "r_S=abc"], "--param r_S=abc: 'abc' is not a number", ""),
        (["--initial", "S=-1"], "--initial S=-1:", "must be >= 0"),
        (["--initial", "Q=1"], "--initial Q=1: unknown state 'Q'", ""),
        (["--model", "nosuch"], "--model: unknown built-in model 'nosuch'", "tumor_immune_tme"),
        (["--model", str(tmp_path / "m.toml")], "--model", "no such file"),
        (["--model", str(tmp_path / "m.csv")], "--model", "must end in .toml or .json"),
        (["--dose", "foo:1:7"], "--dose foo:1:7: unknown drug 'foo'", ""),
        (["--dose", "targeted:-1:7"], "--dose 'targeted:-1:7'", "amount must be a finite number >= 0"),
        (["--dose", "targeted:1"], "--dose 'targeted:1': expected DRUG:AMOUNT:INTERVAL", ""),
        (["--regimen", "targetd"], "--regimen: unknown regimen 'targetd'", "did you mean 'targeted'"),
        (["--schedule", str(tmp_path / "none.toml")], "--schedule", "no such file"),
        (["--names", "S,Q"], "--names: unknown state or observable 'Q'", ""),
    ]
    for extra, head, tail in cases:
        assert main(["simulate", "--t-end", "14", *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith(f"tumordyn simulate: error: {head}"), (extra, err)
        assert tail in err[0]
    assert not list(tmp_path.iterdir())


def test_argparse_refuses_bad_numbers(capsys):
    for argv in (["simulate", "--t-end", "-3"], ["simulate", "--t-end", "nan"], ["cohort", "-n", "0"],
                 ["cohort", "--seed", "-1"], ["fit", "--free", "r"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()


# ------------------------------------------------------------------ simulate
def test_simulate_matches_the_library_and_the_closed_form(tmp_path, capsys):
    """`simulate` with a dose flag equals td.simulate with the same schedule, which equals the closed form
    of bolus one-compartment PK to the solver's tolerance."""
    csv = tmp_path / "pk.csv"
    rc = main(["simulate", "-m", "one_compartment_pk", "-p", "t_half=2", "--dose", "drug:10:1.5:0:6",
               "--t-end", "7", "--dt", "0.25", "--rtol", "1e-9", "--table", str(csv), "-q"])
    assert rc == 0 and capsys.readouterr().out == ""
    df = pd.read_csv(csv, index_col="time")
    m = td.models.one_compartment_pk()
    sched = td.Schedule.every("drug", 10, 1.5, until=6)
    t = np.arange(0, 7.0001, 0.25)
    ref = td.simulate(m, sched, t_end=7, t_eval=t, params={"t_half": 2}, rtol=1e-9)
    np.testing.assert_array_equal(df.index.to_numpy(), t)
    np.testing.assert_allclose(df["C"].to_numpy(), ref["C"], rtol=1e-12)
    exact = td.models.bolus_pk_solution(t, [(d.time, d.amount) for d in sched.doses], half_life=2, volume=10)
    np.testing.assert_allclose(df["C"].to_numpy(), exact, rtol=1e-6, atol=1e-9)


def test_simulate_default_model_with_overrides_regimen_and_figure(tmp_path, capsys):
    csv, svg = tmp_path / "s.csv", tmp_path / "fig" / "s.svg"
    rc = main(["simulate", "--t-end", "28", "--regimen", "anti-pd1", "--dose", "targeted:50:7:7",
               "-p", "r_S=0.05", "--initial", "S=2e8", "--names", "S,R,tumor_burden",
               "--table", str(csv), "--figure", str(svg)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "final values" in out and f"wrote {csv}" in out and f"wrote {svg}" in out
    df = pd.read_csv(csv, index_col="time")
    assert list(df.columns) == ["S", "R", "tumor_burden"]
    m = td.models.tumor_immune_tme()
    sched = td.regimens.standard_schedule("anti_pd1", 28) + td.Schedule.every("targeted", 50, 7, start=7, until=28)
    ref = td.simulate(m, sched, t_end=28, params={"r_S": 0.05}, initial={"S": 2e8})
    assert df["S"].iloc[0] == 2e8
    np.testing.assert_allclose(df["tumor_burden"].to_numpy(), ref["tumor_burden"], rtol=1e-10)
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()


def test_table_to_stdout(capsys):
    assert main(["simulate", "-m", "logistic_growth", "--t-end", "20", "--dt", "10", "--table", "-"]) == 0
    captured = capsys.readouterr()
    df = pd.read_csv(io.StringIO(captured.out), index_col="time")
    assert list(df.index) == [0.0, 10.0, 20.0]
    ref = td.models.logistic_solution([0, 10, 20], 10, 0.5, 1000)
    np.testing.assert_allclose(df["N"], ref, rtol=1e-4)
    assert "final values" in captured.err  # the messages go to stderr when stdout carries the table


def test_parquet_output_or_a_clear_error_before_computing(tmp_path, capsys, monkeypatch):
    from tumordyn.cli import _outputs

    pq = tmp_path / "s.parquet"
    if _outputs.parquet_engine() is not None:
        assert main(["simulate", "-m", "logistic_growth", "--t-end", "10", "--dt", "5", "--table", str(pq)]) == 0
        np.testing.assert_allclose(pd.read_parquet(pq)["N"], td.models.logistic_solution([0, 5, 10], 10, 0.5, 1000),
                                   rtol=1e-4)
        pq.unlink()
    monkeypatch.setattr(_outputs, "parquet_engine", lambda: None)
    capsys.readouterr()
    assert main(["simulate", "-m", "logistic_growth", "--t-end", "10", "--table", str(pq)]) == 2
    err = capsys.readouterr().err
    assert "--table" in err and "needs pyarrow or fastparquet" in err
    assert not pq.exists()


# ------------------------------------------------------------------ model files and schedule files
def test_model_and_schedule_files(tmp_path, capsys):
    m = td.models.logistic_growth().with_defaults(r=0.3)
    model_file = td.io.save_model(m, tmp_path / "my.toml")
    assert main(["info", "-m", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "Model 'logistic_growth'" in out and "0.3" in out
    pk = td.io.save_model(td.models.one_compartment_pk(), tmp_path / "pk.json")
    sched = td.Schedule.every("drug", 5, 2, count=3) + td.Schedule.infusion("drug", 4, 1, 2)
    sfile = td.io.save_schedule(sched, tmp_path / "s.toml")
    csv = tmp_path / "pk.csv"
    assert main(["simulate", "-m", str(pk), "--schedule", str(sfile), "--t-end", "6", "--dt", "1",
                 "--table", str(csv), "-q"]) == 0
    ref = td.simulate(td.models.one_compartment_pk(), sched, t_end=6, t_eval=np.arange(7.0))
    np.testing.assert_allclose(pd.read_csv(csv, index_col="time")["C"], ref["C"], rtol=1e-10)


def test_sbml_model_file(tmp_path, capsys):
    pytest.importorskip("libsbml", reason="SBML needs the sbml extra")
    path = tmp_path / "logistic.xml"
    path.write_text(td.io.to_sbml(td.models.logistic_growth()))
    assert main(["info", "-m", str(path)]) == 0
    out = capsys.readouterr().out
    assert "States:" in out and "N" in out


# ------------------------------------------------------------------ compare
def test_compare_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    png, csv = tmp_path / "fig" / "c.png", tmp_path / "c.csv"
    rc = main(["compare", "--t-end", "112", "--scan-interval", "28",
               "--regimens", "untreated,anti-pd1,priming-then-anti-pd1",
               "--out", str(png), "--csv", str(csv)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "untreated" in out and "anti-pd1" in out and "scans every 28 days" in out
    assert png.stat().st_size > 10_000
    df = pd.read_csv(csv, index_col=0)
    assert list(df.index) == ["untreated", "anti-pd1", "priming>anti-pd1"]  # '-then-' spells '>'
    assert df.loc["priming>anti-pd1", "doses_priming"] == 14
    assert df.loc["anti-pd1", "doses_anti_pd1"] == 6  # days 0, 21, ..., 105


def test_compare_with_schedule_files_dose_flags_and_overrides(tmp_path, capsys):
    sfile = td.io.save_schedule(td.Schedule.every("anti_pd1", 100, 14, until=56), tmp_path / "half.json")
    csv = tmp_path / "c.csv"
    rc = main(["compare", "--t-end", "56", "--scan-interval", "28", "--regimens", "untreated",
               "--schedule", f"low={sfile}", "--dose", "targeted:50:7", "--dose-name", "tgt50",
               "-p", "r_S=0.04", "--table", str(csv), "--no-plot", "-q"])
    assert rc == 0
    df = pd.read_csv(csv, index_col=0)
    assert list(df.index) == ["untreated", "low", "tgt50"]
    assert df.loc["low", "doses_anti_pd1"] == 5 and df.loc["tgt50", "doses_targeted"] == 9
    ref = td.compare(td.models.tumor_immune_tme(), {"tgt50": td.Schedule.every("targeted", 50, 7, until=56)},
                     t_end=56, scans=td.readouts.ScanPlan(interval=28), params={"r_S": 0.04}).to_dataframe()
    assert df.loc["tgt50", "best_change_burden_pct"] == pytest.approx(ref.loc["tgt50", "best_change_burden_pct"],
                                                                     rel=1e-9)


def test_list_and_bad_input(capsys):
    assert main(["compare", "--list-regimens"]) == 0
    assert "adaptive-targeted" in capsys.readouterr().out
    assert main(["compare", "--regimens", "targetd", "--no-plot"]) == 2
    assert "did you mean 'targeted'" in capsys.readouterr().err
    assert main(["compare", "--t-end", "100", "--scan-interval", "200", "--no-plot"]) == 2
    assert "no follow-up scan" in capsys.readouterr().err


# ------------------------------------------------------------------ cohort
def test_cohort_writes_per_patient_table_summary_and_figure(tmp_path, capsys):
    table, summary, png = tmp_path / "p.csv", tmp_path / "s.csv", tmp_path / "h.png"
    argv = ["cohort", "-n", "6", "--seed", "7", "--t-end", "56", "--scan-interval", "28",
            "--regimens", "untreated,anti-pd1", "--vary", "r_S=lognormal:cv=0.3", "--vary", "S=uniform:low=5e8,high=2e9",
            "--method", "batch", "--table", str(table), "--summary", str(summary), "--figure", str(png)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 patients (seed 7)" in out and "ORR" in out
    df = pd.read_csv(table)
    assert len(df) == 12 and set(df["regimen"]) == {"untreated", "anti-pd1"}
    cohort = td.Cohort(td.models.tumor_immune_tme(),
                       {"r_S": td.cohorts.LogNormal(median=0.03, cv=0.3), "S": td.cohorts.Uniform(low=5e8, high=2e9)},
                       n=6, seed=7)
    np.testing.assert_allclose(df.loc[df["regimen"] == "untreated", "r_S"], cohort.parameters["r_S"], rtol=1e-12)
    s = pd.read_csv(summary, index_col="regimen")
    assert list(s.index) == ["untreated", "anti-pd1"] and (s["n"] == 6).all()
    assert {"ORR", "ORR_low", "ORR_high", "DCR", "ttp_median"} <= set(s.columns)
    assert png.stat().st_size > 10_000
    # same seed, same numbers
    assert main([*argv[:-6], "--table", str(tmp_path / "again.csv"), "-q"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again.csv"), df)


def test_cohort_bad_variability(capsys):
    for vary, message in (("r_S=gamma:k=1", "unknown distribution 'gamma'"),
                          ("r_S=lognormal:sigma=1", "unknown lognormal field 'sigma'"),
                          ("r_S=lognormal:cv=-1", "cv` must be >= 0"),
                          ("rs=lognormal:cv=0.3", "unknown parameter or state 'rs'")):
        assert main(["cohort", "-n", "2", "--vary", vary]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tumordyn cohort: error: --vary") and message in err, err


# ------------------------------------------------------------------ fit
def test_fit_recovers_parameters_from_a_csv(tmp_path, capsys):
    m = td.models.logistic_growth()
    truth = {"r": 0.4, "K": 800.0}
    data = td.fitting.synthetic_data(m, None, [0, 2, 4, 6, 8, 10, 14, 20], "N", sigma=0.05, seed=1, params=truth)
    csv = tmp_path / "obs.csv"
    data[["time", "value"]].to_csv(csv, index=False)
    est, png = tmp_path / "est.csv", tmp_path / "fit.pdf"
    rc = main(["fit", "-m", "logistic_growth", "--data", str(csv), "--observable", "N", "--free", "r,K",
               "--table", str(est), "--figure", str(png)])
    assert rc == 0
    assert "fitted r, K to 8 points" in capsys.readouterr().out
    table = pd.read_csv(est, index_col="parameter")
    for name, value in truth.items():  # within 3 standard errors of the truth
        assert abs(table.loc[name, "value"] - value) < 3 * table.loc[name, "stderr"], (name, table)
    ref = td.fit(m, data[["subject", "time", "observable", "value"]].assign(subject="1"), ["r", "K"])
    assert table.loc["r", "value"] == pytest.approx(ref.values()["r"], rel=1e-6)
    assert png.read_bytes()[:4] == b"%PDF"


def test_fit_bad_input(tmp_path, capsys):
    csv = tmp_path / "obs.csv"
    pd.DataFrame({"time": [0, 1, 2], "value": [1.0, 2.0, 4.0]}).to_csv(csv, index=False)
    assert main(["fit", "-m", "logistic_growth", "--data", str(csv), "--free", "r"]) == 2
    assert "no 'observable' column" in capsys.readouterr().err
    assert main(["fit", "-m", "logistic_growth", "--data", str(csv), "--observable", "N", "--free", "rr"]) == 2
    assert "--free 'rr': unknown parameter 'rr'" in capsys.readouterr().err
    assert main(["fit", "-m", "logistic_growth", "--data", str(tmp_path / "no.csv"), "--free", "r"]) == 2
    assert "no such file" in capsys.readouterr().err


# ------------------------------------------------------------------ info
def test_info_lists_states_parameters_drugs_observables(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for heading in ("States:", "Parameters:", "Drugs:", "Processes:", "Observables:"):
        assert heading in out
    m = td.models.tumor_immune_tme()
    p = m.parameters["r_S"]
    line = next(x for x in out.splitlines() if x.strip().startswith("r_S "))
    assert p.unit in line and p.source in line and "[0.001, 1]" in line
    assert "anti_pd1" in out and "lesion_diameter" in out
    assert main(["info", "--list-models"]) == 0
    names = [x.split()[0] for x in capsys.readouterr().out.splitlines()]
    assert {"tumor_immune_tme", "kuznetsov1994", "zhang2017", "logistic_growth"} <= set(names)
    for n in names:
        assert isinstance(getattr(td.models, n)(), td.Model)


# ------------------------------------------------------------------ outputs: no silent overwrite, no lost file
ARGS = ["compare", "--t-end", "56", "--scan-interval", "28", "--regimens", "untreated"]


@pytest.mark.parametrize("argv, option", [
    (["simulate", "--t-end", "7", "--table"], "--table"),
    (["simulate", "--t-end", "7", "--figure"], "--figure"),
    (["compare", "--no-plot", "--csv"], "--csv"),
    (["compare", "--no-plot", "--table"], "--table"),
    (["cohort", "-n", "2", "--summary"], "--summary"),
    (["fit", "--data", "d.csv", "--free", "r", "--table"], "--table"),
])
def test_every_command_refuses_to_overwrite_without_force(tmp_path, capsys, argv, option):
    path = tmp_path / ("out.png" if option == "--figure" else "out.csv")
    path.write_text("precious\n")
    assert main([*argv, str(path)]) == 2
    assert f"{option} {str(path)!r} already exists; pass --force" in capsys.readouterr().err
    assert path.read_text() == "precious\n"


def test_existing_outputs_are_replaced_only_with_force(tmp_path, capsys):
    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    csv.write_text("precious\n")
    png.write_bytes(b"precious")
    assert main([*ARGS, "--csv", str(csv), "--no-plot"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([*ARGS, "--out", str(png)]) == 2
    assert csv.read_text() == "precious\n" and png.read_bytes() == b"precious"
    assert main([*ARGS, "--csv", str(csv), "--out", str(png), "--force"]) == 0
    assert csv.read_text().startswith("regimen,") and png.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "c.png"]  # no temporary file left


def test_a_failed_figure_write_fails_loudly_and_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    png = tmp_path / "c.png"
    png.write_bytes(b"old figure")

    def broken(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken)
    rc = main([*ARGS, "--out", str(png), "--force"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "cannot write" in captured.err and "No space left" in captured.err
    assert f"wrote {png}" not in captured.out
    assert png.read_bytes() == b"old figure"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def test_unknown_format_a_directory_and_one_file_twice_are_refused_before_computing(tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path / "fig.xyz")]) == 2
    assert "unknown figure format 'xyz'" in capsys.readouterr().err
    assert main([*ARGS, "--csv", str(tmp_path), "--no-plot", "--force"]) == 2
    assert "not a regular file" in capsys.readouterr().err
    same = str(tmp_path / "a.csv")
    assert main(["cohort", "--table", same, "--summary", same]) == 2
    assert "--table and --summary name the same file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_closed_pipe_ends_quietly():
    """`tumordyn info | head -1`: the reader goes away; the command stops with 141 (128 + SIGPIPE), no traceback."""
    p = subprocess.Popen([sys.executable, "-m", "tumordyn", "info", "-m", "logistic_growth"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_env())
    p.stdout.close()  # before the model is built and printed
    _, err = p.communicate(timeout=120)
    assert p.returncode == 141 and err == b"", err


def test_own_model_without_a_lesion_diameter(capsys):
    """A model without the default RECIST observable: compare warns in one line and still runs; cohort names
    --measure before simulating; untreated is the default regimen of a model without the standard drugs."""
    assert main(["compare", "-m", "kuznetsov1994", "--t-end", "20", "--scan-interval", "10", "--no-plot", "-q"]) == 0
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1
    assert err[0].startswith("tumordyn compare: warning: ") and "lesion_diameter" in err[0]
    assert main(["cohort", "-m", "kuznetsov1994", "-n", "2", "--t-end", "20"]) == 2
    assert "--measure: unknown state or observable 'lesion_diameter'" in capsys.readouterr().err
    assert main(["cohort", "-m", "kuznetsov1994", "-n", "3", "--seed", "1", "--t-end", "20", "--scan-interval", "10",
                 "--measure", "T", "--vary", "a=lognormal:cv=0.2", "--method", "batch", "--table", "-", "-q"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df["regimen"]) == ["untreated"] * 3 and df["a"].nunique() == 3
