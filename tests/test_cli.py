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


# ------------------------------------------------------------------ outputs: no silent overwrite, no lost file
ARGS = ["compare", "--t-end", "56", "--scan-interval", "28", "--regimens", "untreated"]


def test_existing_outputs_are_not_overwritten_without_force(tmp_path, capsys):
    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    csv.write_text("precious\n")
    png.write_bytes(b"precious")
    assert main([*ARGS, "--csv", str(csv), "--no-plot"]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([*ARGS, "--out", str(png)]) == 1
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


def test_unknown_figure_format_and_a_directory_as_output_are_refused_before_computing(tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path / "fig.xyz")]) == 1
    assert "unknown figure format 'xyz'" in capsys.readouterr().err
    assert main([*ARGS, "--csv", str(tmp_path), "--no-plot", "--force"]) == 1
    assert "not a regular file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
