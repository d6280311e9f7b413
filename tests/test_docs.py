"""Packaging metadata and the documentation build's own code (fast; no site build).

- one version: pyproject reads ``tumordyn.__version__``; CITATION.cff and CHANGELOG.md agree;
- the BSD-3-Clause licence text exists and is declared for the wheel and sdist;
- the home page's and README's first simulation use the standard doses and shrink the tumor;
- the docs hook's pieces: math to MathML, Sphinx roles to links, the public-API map.

The built site itself is checked by tests/test_docs_site.py.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"
sys.path.insert(0, str(HOOKS))

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def _static_version() -> str:
    tree = ast.parse((ROOT / "src" / "tumordyn" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("no literal __version__ in src/tumordyn/__init__.py")


# ---------------------------------------------------------------------------------------------
# packaging
# ---------------------------------------------------------------------------------------------
def test_version_has_one_source_of_truth():
    import tumordyn

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml must not repeat the version"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tumordyn.__version__"}
    assert tumordyn.__version__ == _static_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", tumordyn.__version__)


def test_installed_metadata_matches_the_source_version():
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("tumordyn")
    except PackageNotFoundError:
        pytest.skip("tumordyn is not installed (only on the path)")
    direct = dist.read_text("direct_url.json")
    url = json.loads(direct).get("url", "") if direct else ""
    if Path(url.removeprefix("file://")).resolve() != ROOT:
        pytest.skip(f"the installed tumordyn is not this checkout ({url or 'not a direct install'})")
    assert dist.version == _static_version(), "reinstall (pip install -e .): the metadata is stale"


def test_license_is_bsd3_and_ships_with_the_package():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    for clause in ("Redistributions of source code must retain",
                   "Redistributions in binary form must reproduce",
                   "Neither the name of the copyright holder nor the names of its",
                   'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"'):
        assert clause in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "BSD-3-Clause"  # an SPDX expression (PEP 639)
    assert "LICENSE" in project["project"]["license-files"]


def test_citation_cff_is_valid_cff_1_2_with_the_package_version():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # the keys CFF 1.2.0 requires, and their types
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"]
    assert isinstance(cff["title"], str) and cff["title"]
    assert cff["authors"] and all(isinstance(a, dict) and (a.get("name") or a.get("family-names"))
                                  for a in cff["authors"])
    assert str(cff["version"]) == _static_version()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    assert cff["license"] == "BSD-3-Clause"
    assert cff.get("type", "software") in ("software", "dataset")


def test_changelog_has_unreleased_and_every_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert heads[0] == "Unreleased"
    versions = [h.split()[0] for h in heads[1:]]
    assert versions[0] == _static_version(), "the newest released section must be the package version"
    assert "0.1.0" in versions


# ---------------------------------------------------------------------------------------------
# the first simulation on the home page and in the README
# ---------------------------------------------------------------------------------------------
def _first_python_block(path: Path) -> str:
    m = re.search(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert m, f"no python block in {path.name}"
    return m.group(1)


@pytest.mark.parametrize("page", ["docs/index.md", "README.md"])
def test_first_simulation_uses_the_standard_doses_and_shrinks_the_tumor(page):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tumordyn as td

    code = _first_python_block(ROOT / page)
    code = code.split("# compare regimens")[0]  # the README goes on to a comparison of 7 regimens
    ns: dict = {}
    exec(compile(code, page, "exec"), ns)  # noqa: S102 - the project's own documentation
    plt.close("all")
    regimen, traj = ns["regimen"], ns["traj"]
    for drug in ("targeted", "anti_pd1"):
        amount, interval = td.models.STANDARD_DOSES[drug]
        doses = [d for d in regimen.doses if d.drug == drug]
        assert doses and all(d.amount == amount for d in doses), f"{page}: {drug} not at its standard dose"
        assert all(abs(b.time - a.time - interval) < 1e-9 for a, b in zip(doses, doses[1:]))
    burden = traj["tumor_burden"]
    assert burden[-1] < 0.1 * burden[0], f"{page}: the tumor does not shrink under the standard combination"


# ---------------------------------------------------------------------------------------------
# the docs hook
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hook():
    pytest.importorskip("mkdocs")
    pytest.importorskip("latex2mathml")
    import importlib.util

    spec = importlib.util.spec_from_file_location("tumordyn_docs_build", HOOKS / "docs_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_math_becomes_mathml_including_aligned_rows(hook):
    html = ('<p>rate <span class="arithmatex">\\(k_{1/2} = \\frac{\\ln 2}{k}\\)</span></p>'
            '<div class="arithmatex">\\[\n\\begin{aligned}\n\\frac{dT}{dt} &amp;= r T \\\\\n'
            '\\frac{dE}{dt} &amp;= s - d E\n\\end{aligned}\n\\]</div>')
    out = hook._to_mathml(html, "test.md")
    assert out.count("<math") == 2 and "<mfrac>" in out
    assert out.count("<mtr>") == 2 and out.count("<mtd") == 4  # two rows, two columns
    assert "&amp;=" not in re.sub(r'title="[^"]*"', "", out)  # no literal alignment mark
    assert 'display="block"' in out and 'display="inline"' in out


def test_math_with_unknown_delimiters_fails_the_build(hook):
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="unrecognised delimiters"):
        hook._to_mathml('<span class="arithmatex">k_1</span>', "test.md")


def test_roles_and_math_directives_are_rewritten():
    pytest.importorskip("griffe")
    import api_map
    from griffe_roles import ROLE, math_directives

    api = api_map.build()
    text = "See :func:`~tumordyn.fitting.fit`, :class:`numpy.ndarray` and :math:`k_{1/2}`."
    out = api_map.link_roles(text, api)
    assert out == "See [`fit`][tumordyn.fit], `numpy.ndarray` and \\(k_{1/2}\\)."
    assert not ROLE.search(out)
    block = "Model:\n\n.. math::\n\n    \\dot x = -k x\n\nwhere k > 0."
    assert math_directives(block) == "Model:\n\n\n\\[\n\\dot x = -k x\n\\]\n\nwhere k > 0."
    assert "\\[\na = b\n\\]" in math_directives(".. math:: a = b")


def test_api_map_lists_every_public_name_once_and_no_private_one():
    import importlib

    import api_map

    api = api_map.build()
    idents = [e.ident for e in api.entries]
    assert len(idents) == len(set(idents))
    for modname in api_map.public_modules():
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            assert f"{modname}.{name}" in idents
    assert not [i for i in idents if any(s.startswith("_") for s in i.split("."))]
    # each identifier is rendered itself or points at the one rendered copy of the same object
    for e in api.entries:
        target = api.target[e.ident]
        assert target in api.rendered
        assert e.kind == "data" or next(x for x in api.entries if x.ident == target).obj is e.obj
    assert api.target["tumordyn.fitting.fit"] == "tumordyn.fit"
