"""The `tumordyn compare` console command."""

from __future__ import annotations

import pandas as pd
import pytest

from tumordyn.cli import main


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--t-end", "--scan-interval", "--out", "--regimens", "--list-regimens", "--csv", "--lead-time"):
        assert opt in out


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


def test_list_and_bad_input(capsys):
    assert main(["compare", "--list-regimens"]) == 0
    assert "adaptive-targeted" in capsys.readouterr().out
    assert main(["compare", "--regimens", "targetd", "--no-plot"]) == 2
    assert "did you mean 'targeted'" in capsys.readouterr().err
    assert main(["compare", "--t-end", "100", "--scan-interval", "200", "--no-plot"]) == 2
    assert "no follow-up scan" in capsys.readouterr().err
    assert main([]) == 2
