"""Checks of the built documentation site (HTML parsed; and in a real headless browser if present).

These tests read a site that ``mkdocs build`` already wrote: set ``TUMORDYN_DOCS_SITE`` to its
directory (CI's docs step builds the site and then runs this file with it set). Without it they
skip. ``TUMORDYN_DOCS_BUILD=1`` builds the site here instead (runs every example: minutes).

The browser test uses Chromium's headless shell (Debian: ``apt-get install
chromium-headless-shell``; ``chromium`` works too) or skips when neither is installed: it loads
pages and reads what the browser rendered (``innerText``, the layout of each ``<math>``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|math|exc|obj|const):")
RAW_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\frac|\\left")

# the guides that must show at least one figure (pages added later may join the list)
TOPIC_PAGES = [
    "index", "simulation", "readouts", "compare", "fitting", "cohorts", "analysis", "io",
    "performance", "invariants", "tutorial_own_model", "models", "units",
    "models/tumor_immune_tme", "models/kuznetsov1994",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("TUMORDYN_DOCS_SITE")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"TUMORDYN_DOCS_SITE={given} holds no built site"
        return path
    if os.environ.get("TUMORDYN_DOCS_BUILD") != "1":
        pytest.skip("no built site: set TUMORDYN_DOCS_SITE=DIR (or TUMORDYN_DOCS_BUILD=1 to build one)")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                   cwd=ROOT, env=env, check=True)
    return out


class _Page(HTMLParser):
    """Visible text outside code, element ids, image sources, math blocks, external assets."""

    SKIP = {"pre", "code", "script", "style", "math", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.code_text: list[str] = []
        self.ids: set[str] = set()
        self.imgs: list[str] = []
        self.external_assets: list[str] = []
        self.math_elements = 0
        self.arithmatex_without_math = 0
        self._skip = 0
        self._arith: list[bool] = []
        self.doc_heading_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and "doc-heading" in (a.get("class") or ""):
                self.doc_heading_ids.append(a["id"])
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        if tag == "script" and (a.get("src") or "").startswith(("http:", "https:", "//")):
            self.external_assets.append(a["src"])
        if tag == "link" and "stylesheet" in (a.get("rel") or "") and (a.get("href") or "").startswith(
            ("http:", "https:", "//")
        ):
            self.external_assets.append(a["href"])
        if tag in ("span", "div") and "arithmatex" in (a.get("class") or ""):
            self._arith.append(False)
        elif tag in ("span", "div") and self._arith:
            self._arith.append(None)  # nested element inside a math wrapper
        if tag == "math":
            self.math_elements += 1
            if self._arith:
                for i in range(len(self._arith) - 1, -1, -1):
                    if self._arith[i] is not None:
                        self._arith[i] = True
                        break
        if tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag in ("span", "div") and self._arith:
            state = self._arith.pop()
            if state is False:
                self.arithmatex_without_math += 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
        else:
            self.code_text.append(data)


def _pages(site: Path) -> dict[str, tuple[Path, _Page]]:
    out = {}
    for f in sorted(site.rglob("*.html")):
        if f.name == "404.html":
            continue
        p = _Page()
        p.feed(f.read_text(encoding="utf-8"))
        key = f.parent.relative_to(site).as_posix() if f.name == "index.html" else f.relative_to(site).as_posix()
        out[key if key != "." else "index"] = (f, p)
    return out


@pytest.fixture(scope="module")
def pages(site):
    return _pages(site)


def test_no_literal_sphinx_roles(pages):
    bad = {k: ROLE.findall(" ".join(p.text)) for k, (_, p) in pages.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"literal Sphinx roles in the visible text: {bad}"


def test_math_is_rendered_markup_not_latex(pages):
    raw = {}
    for k, (_, p) in pages.items():
        hits = RAW_MATH.findall(" ".join(p.text))
        if hits or p.arithmatex_without_math:
            raw[k] = (hits[:5], p.arithmatex_without_math)
    assert not raw, f"unrendered LaTeX left on pages: {raw}"
    assert pages["models/tumor_immune_tme"][1].math_elements > 10  # the equations are there, as MathML


def test_site_loads_nothing_from_the_network(pages):
    ext = {k: p.external_assets for k, (_, p) in pages.items() if p.external_assets}
    assert not ext, f"pages load scripts or stylesheets from the network: {ext}"


def test_every_public_name_has_an_anchor_and_a_row_in_the_api_index(pages):
    import api_map

    api = api_map.build()
    all_ids = set().union(*(p.ids for _, p in pages.values()))
    missing = [e.ident for e in api.entries if e.ident not in all_ids]
    assert not missing, f"public names without an anchor on the site: {missing}"
    index_text = " ".join(pages["api"][1].text + pages["api"][1].code_text)
    not_listed = [e.ident for e in api.entries if e.ident not in index_text]
    assert not not_listed, f"public names missing from the API index: {not_listed}"
    for ns in api_map.public_modules():
        assert f"api/{ns}" in pages, f"no API page for {ns}"


def test_no_private_path_is_documented(pages):
    private = {k: [i for i in p.doc_heading_ids if any(seg.startswith("_") and not seg.startswith("__")
                                                        for seg in i.split("."))]
               for k, (_, p) in pages.items()}
    private = {k: v for k, v in private.items() if v}
    assert not private, f"private paths documented: {private}"
    # nor shown as prose or as a link's hover title (code blocks may name a private module)
    dotted = re.compile(r"tumordyn(?:\.\w+)*\._[a-z]\w*")
    shown = {k: sorted(set(dotted.findall(" ".join(p.text)))) for k, (_, p) in pages.items()}
    shown = {k: v for k, v in shown.items() if v}
    assert not shown, f"private paths in the visible text: {shown}"
    titles = {k: f.read_text(encoding="utf-8") for k, (f, _) in pages.items()}
    titled = {k: sorted(set(re.findall(r'title="[^"]*?(tumordyn(?:\.\w+)*\._\w+)', v))) for k, v in titles.items()}
    titled = {k: v for k, v in titled.items() if v}
    assert not titled, f"private paths in hover titles: {titled}"


def _img_ok(page_file: Path, src: str) -> bool:
    if src.startswith(("http:", "https:", "data:")):
        return False
    return (page_file.parent / src.split("#")[0]).resolve().is_file()


def test_every_topic_page_shows_a_figure(pages):
    missing = [t for t in TOPIC_PAGES if t in pages and not any(_img_ok(pages[t][0], s) for s in pages[t][1].imgs)]
    absent = [t for t in TOPIC_PAGES if t not in pages]
    assert not absent, f"topic pages not built: {absent}"
    assert not missing, f"topic pages without a figure: {missing}"


def test_gallery_has_every_example_with_its_figures(pages):
    for script in sorted((ROOT / "examples").glob("[0-9]*.py")):
        key = f"gallery/{script.stem}"
        assert key in pages, f"no gallery page for {script.name}"
        f, p = pages[key]
        imgs = [s for s in p.imgs if _img_ok(f, s)]
        if "savefig" in script.read_text(encoding="utf-8"):  # an example that draws nothing has no figure
            assert imgs, f"gallery page of {script.name} shows no figure"


# --------------------------------------------------------------------------------------------
# a real browser
# --------------------------------------------------------------------------------------------
_PROBE = """
<script>
(function () {
  var hide = document.querySelectorAll('pre, code, script, style');
  for (var i = 0; i < hide.length; i++) hide[i].style.display = 'none';
  var text = document.body.innerText;
  var maths = document.querySelectorAll('math');
  var visible = 0, rendered = 0;
  for (var j = 0; j < maths.length; j++) {
    var m = maths[j];
    if (m.getClientRects().length === 0) continue;  // inside a closed <details>
    visible++;
    var r = m.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && getComputedStyle(m).display.indexOf('math') >= 0) rendered++;
  }
  var res = {math: maths.length, visible: visible, rendered: rendered,
             raw: (text.match(/\\\\\\(|\\\\\\[|\\$\\$|\\\\frac|\\\\left/g) || []).length,
             roles: (text.match(/:(class|func|meth|attr|data|mod|math|exc):/g) || []).length,
             chars: text.length};
  var out = document.createElement('div');
  out.id = 'tumordyn-probe';
  out.setAttribute('data-result', JSON.stringify(res));
  document.documentElement.appendChild(out);
})();
</script>
"""


def _browser() -> str | None:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_pages_render_math_and_links_in_a_headless_browser(site, pages, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no headless browser installed (Debian: apt-get install chromium-headless-shell)")
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    chosen = [k for k, (_, p) in pages.items() if p.math_elements] + [
        "api", "api/tumordyn", "api/tumordyn.fitting", "api/tumordyn.cohorts", "gallery"]
    results = {}
    for key in sorted(set(chosen)):
        src = pages[key][0]
        page = copy / src.relative_to(site)
        probe = page.with_name("__probe__.html")
        html = page.read_text(encoding="utf-8")
        probe.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
             "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
        m = re.search(r'id="tumordyn-probe" data-result="([^"]*)"', proc.stdout)
        assert m, f"{key}: the browser ran no probe (stderr: {proc.stderr[-500:]})"
        results[key] = json.loads(m.group(1).replace("&quot;", '"'))
    bad = {k: r for k, r in results.items()
           if r["raw"] or r["roles"] or r["rendered"] != r["visible"] or r["chars"] < 200}
    assert not bad, f"pages the browser shows with raw LaTeX, literal roles or unrendered math: {bad}"
    assert sum(r["rendered"] for r in results.values()) > 100
