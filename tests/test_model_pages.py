"""The per-model documentation pages are generated from the specs: regenerating must change nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCRIPT = DOCS / "gen_model_pages.py"


@pytest.fixture(scope="module")
def generator():
    if not SCRIPT.exists():  # pragma: no cover - only in a source checkout
        pytest.skip("docs/ not available")
    spec = importlib.util.spec_from_file_location("gen_model_pages", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_model_pages_are_up_to_date(generator):
    pages = generator.pages()
    assert set(pages) == {"tumor_immune_tme.md", "kuznetsov1994.md", "zhang2017.md", "reference_models.md",
                          "multilesion.md"}
    for name, text in pages.items():
        committed = (DOCS / "models" / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/models/{name} is out of date: run python docs/gen_model_pages.py"


def test_pages_carry_every_parameter_with_its_unit_and_source(generator):
    import tumordyn as td

    text = generator.pages()["tumor_immune_tme.md"]
    for par in td.models.tumor_immune_tme().parameters:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{par.name}` |"))
        assert par.unit.replace("|", "\\|") in row and generator._cell(par.source) in row
    for drug, (amount, interval) in td.models.STANDARD_DOSES.items():
        assert f"| `{drug}` | {generator._num(amount)} | {generator._num(interval)} |" in text
