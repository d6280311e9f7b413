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


def test_no_module_imports_another_modules_private_names():
    """``from X import _name`` only between modules of one package (import-linter checks modules, this names)."""
    import ast

    src = ROOT / "src" / "tumordyn"
    offences = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src.parent).with_suffix("")
        parts = list(rel.parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                if not alias.name.startswith("_"):
                    continue
                if (src.parent.joinpath(*target, alias.name + ".py")).exists():
                    continue  # a private *module* of a package: import-linter's private_modules contract
                same_package = target[: len(package)] == package and len(target) <= len(package) + 1
                if not same_package:
                    offences.append(f"{'.'.join(rel.parts)}: from {'.'.join(target)} import {alias.name}")
    assert not offences, "\n".join(offences)


def test_import_tumordyn_loads_no_scipy_lmfit_pandas_or_matplotlib():
    """`import tumordyn` stays light: the heavy libraries are imported where they are first used
    (pint when the first model's units are checked)."""
    import subprocess
    import sys

    code = ("import sys, tumordyn; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('scipy', 'lmfit', 'pandas', 'matplotlib', 'pint')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout
