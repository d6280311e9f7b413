"""The layers hold: import-linter's contracts in .importlinter (layered data flow, private modules)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold(capsys):
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is in the `test` extra")
    config = ROOT / ".importlinter"
    assert config.exists()
    status = cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert status == 0, out
