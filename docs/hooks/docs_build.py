"""mkdocs hook of the tumordyn site (``hooks:`` in mkdocs.yml).

Three jobs, all at build time, none needing a network:

1. **Gallery.** Every ``examples/*.py`` and ``docs/figures/*.py`` script is run (headless, in a
   scratch directory, two at a time); the PNG files it writes to ``out/`` and what it prints
   become a gallery page with the script's source. The guides embed these figures
   (``gallery/<script>/<file>.png``). Results are cached under ``.cache/docs-gallery`` keyed
   by a hash of the script, the package source and the example data, so an unchanged tree
   rebuilds in seconds. ``TUMORDYN_GALLERY_FROM=DIR`` reuses the outputs of a run of the
   examples that just happened (``DIR/<script>/out/*.png`` and ``DIR/<script>/stdout.txt``;
   CI's examples step writes this layout); a script without outputs there is run.
   ``TUMORDYN_GALLERY_CACHE=DIR`` moves the cache; ``TUMORDYN_GALLERY_CACHE=off`` disables it.
2. **API reference.** One page per public namespace (``api/tumordyn.md``,
   ``api/tumordyn.fitting.md``, ...) with every name of its ``__all__``: rendered by
   mkdocstrings, or, when a guide already documents the name, an anchor and a link to it
   (``docs/hooks/api_map.py``). ``api.md`` gets a table of every public name.
3. **Math.** ``pymdownx.arithmatex`` leaves ``\\(...\\)`` and ``\\[...\\]`` in the HTML; this hook
   turns them into MathML (``latex2mathml``), which browsers render natively: no CDN, no
   JavaScript. A formula it cannot convert fails the build.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_map  # noqa: E402

log = __import__("logging").getLogger("mkdocs.hooks.tumordyn")

ROOT = api_map.ROOT
EXAMPLES = ROOT / "examples"
FIGURE_SCRIPTS = ROOT / "docs" / "figures"
GALLERY = "gallery"
MAX_OUTPUT_LINES = 60
SCRIPT_TIMEOUT = float(os.environ.get("TUMORDYN_GALLERY_TIMEOUT", "900"))

_state: dict = {}


# --------------------------------------------------------------------------------------------
# running the scripts
# --------------------------------------------------------------------------------------------
def _scripts() -> list[Path]:
    return sorted(EXAMPLES.glob("[0-9]*.py")) + sorted(FIGURE_SCRIPTS.glob("*.py"))


def _tree_hash() -> str:
    h = hashlib.sha256()
    h.update(sys.version.encode())
    for base in (ROOT / "src" / "tumordyn", EXAMPLES / "data"):
        for p in sorted(base.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".nbi", ".nbc"):
                h.update(p.relative_to(ROOT).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    where = os.environ.get("TUMORDYN_GALLERY_CACHE", str(ROOT / ".cache" / "docs-gallery"))
    if where.strip().lower() in ("", "0", "off", "none"):
        return None
    return Path(where)


def _run(script: Path, tree_hash: str) -> tuple[Path, str, float, str]:
    """Outputs of one script: (directory holding out/*.png, stdout, seconds, where from)."""
    name = script.stem
    key = hashlib.sha256((tree_hash + script.read_text(encoding="utf-8")).encode()).hexdigest()[:20]
    reuse = os.environ.get("TUMORDYN_GALLERY_FROM")
    if reuse and script.parent == EXAMPLES:
        d = Path(reuse) / name
        if (d / "stdout.txt").is_file() and (d / "out").is_dir():
            return d, (d / "stdout.txt").read_text(encoding="utf-8", errors="replace"), 0.0, f"reused from {d}"
    cache = _cache_dir()
    if cache is not None:
        d = cache / f"{name}-{key}"
        if (d / "stdout.txt").is_file():
            return d, (d / "stdout.txt").read_text(encoding="utf-8"), 0.0, "cached"
    work = Path(tempfile.mkdtemp(prefix=f"tumordyn-gallery-{name}-"))
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TQDM_DISABLE", "1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise PluginError(f"gallery: {script.relative_to(ROOT)} ran longer than {SCRIPT_TIMEOUT:.0f} s") from exc
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise PluginError(
            f"gallery: {script.relative_to(ROOT)} failed (exit status {proc.returncode}):\n"
            + proc.stderr[-4000:]
        )
    (work / "out").mkdir(exist_ok=True)
    (work / "stdout.txt").write_text(proc.stdout, encoding="utf-8")
    (work / "seconds.txt").write_text(f"{seconds:.1f}\n")
    if cache is not None:
        d = cache / f"{name}-{key}"
        if d.exists():
            shutil.rmtree(d)
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work, d)
        shutil.rmtree(work, ignore_errors=True)
        work = d
    return work, proc.stdout, seconds, "ran"


def _docstring(script: Path) -> tuple[str, str]:
    import ast

    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or script.stem
    title, _, body = doc.partition("\n")
    return title.strip().rstrip("."), body.strip()


def _rst_to_md(text: str) -> str:
    # the examples' docstrings use reST literals (``x``) and literal blocks ("::" + indent)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    return api_map.link_roles(text, _state["api"])


def _gallery_page(script: Path, outdir: Path, stdout: str, figures: list[str], kind: str) -> str:
    title, body = _docstring(script)
    rel = script.relative_to(ROOT).as_posix()
    lines = [f"# {title}", "", f"*Script:* `{rel}`. Run it with `python {rel}`; it writes the "
             "figures below to `out/` in the working directory.", ""]
    if body:
        lines += [_rst_to_md(body), ""]
    for fig in figures:
        lines += [f"![{script.stem}: {fig}]({fig})", ""]
    out_lines = stdout.rstrip().splitlines()
    if out_lines:
        shown = out_lines[:MAX_OUTPUT_LINES]
        more = len(out_lines) - len(shown)
        lines += ['??? note "What the script prints"', "", "    ```text"]
        lines += ["    " + ln for ln in shown]
        if more > 0:
            lines += [f"    ... ({more} more lines)"]
        lines += ["    ```", ""]
    lines += ["## Source", "", "```python", script.read_text(encoding="utf-8").rstrip(), "```", ""]
    return "\n".join(lines)


def _build_gallery(config, files) -> list[str]:
    scripts = _scripts()
    tree_hash = _tree_hash()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=int(os.environ.get("TUMORDYN_GALLERY_JOBS", "2"))) as pool:
        results = list(pool.map(lambda s: _run(s, tree_hash), scripts))
    pages = []
    index = ["# Gallery", "",
             "Every script in `examples/` runs when this site is built; its figures, what it prints "
             "and its source are on its page. The last section holds the small scripts in "
             "`docs/figures/` that draw the figures of the guides.", ""]
    section = None
    for script, (outdir, stdout, seconds, how) in zip(scripts, results):
        log.info("gallery: %s %s (%.1f s)", script.name, how, seconds)
        kind = "example" if script.parent == EXAMPLES else "figure"
        if kind != section:
            section = kind
            index += ["## Examples" if kind == "example" else "## Figures of the guides", ""]
        pngs = sorted(p.name for p in (outdir / "out").glob("*.png"))
        if not pngs and "savefig" in script.read_text(encoding="utf-8"):
            raise PluginError(f"gallery: {script.relative_to(ROOT)} saves figures but wrote none to out/")
        for png in pngs:
            files.append(File.generated(config, f"{GALLERY}/{script.stem}/{png}",
                                        abs_src_path=str(outdir / "out" / png)))
        uri = f"{GALLERY}/{script.stem}/index.md"
        files.append(File.generated(config, uri, content=_gallery_page(script, outdir, stdout, pngs, kind)))
        pages.append(uri)
        title, _ = _docstring(script)
        index += [f"### [{title}]({script.stem}/index.md)", ""]
        if pngs:
            index += [f"[![{title}]({script.stem}/{pngs[0]}){{ width=\"420\" }}]({script.stem}/index.md)", ""]
    files.append(File.generated(config, f"{GALLERY}/index.md", content="\n".join(index)))
    log.info("gallery: %d scripts in %.1f s", len(scripts), time.perf_counter() - t0)
    return [f"{GALLERY}/index.md", *pages]


# --------------------------------------------------------------------------------------------
# API reference
# --------------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _link(api: api_map.ApiMap, ident: str) -> str:
    """Markdown link to where ``ident`` is documented."""
    return f"[`{ident}`][{api.target[ident]}]"


def _api_pages(config, files) -> list[str]:
    """Register one page per public namespace; its text is written in on_page_markdown."""
    api = api_map.build()
    modules = api_map.public_modules()
    _state["api"] = api
    _state["modules"] = modules
    uris = []
    for ns in modules:
        uri = f"{api_map.API_DIR}/{ns}.md"
        # appended after the hand-written pages, so mkdocs renders the guides first
        files.append(File.generated(config, uri, content=f"<!-- api-page {ns} -->\n"))
        uris.append(uri)
    return uris


def _registered_elsewhere(config) -> dict:
    """Identifiers the pages rendered so far registered (mkdocs-autorefs' primary URL map)."""
    plugin = config.plugins.get("autorefs")
    urls = getattr(plugin, "_primary_url_map", None)
    if urls is None:
        raise PluginError("docs/hooks/docs_build.py needs mkdocs-autorefs 1.x (its _primary_url_map)")
    return {k: v for k, v in urls.items() if not v[0].startswith(api_map.API_DIR + "/")}


def _guide_of(url: str) -> str:
    page = url.split("#", 1)[0].rstrip("/") or "index"
    return page


def _api_page(ns: str, config) -> str:
    """One namespace: its docstring, a table of its names, and each name's documentation.

    A name is rendered here unless a guide already rendered it (then this page links there);
    a name bound to the same object as another public identifier gets an anchor and a link.
    """
    api: api_map.ApiMap = _state["api"]
    modules = _state["modules"]
    elsewhere = _registered_elsewhere(config)
    groups: dict[str, list[str]] = {}
    for e in api.entries:
        groups.setdefault(api.target[e.ident], []).append(e.ident)
    lines = []
    if ns in elsewhere:
        lines += [f"# `{ns}`", "", f"Documented with its guide: [`{ns}`][{ns}].", ""]
    else:
        lines += [f"::: {ns}", "    options:", "      members: false", "      heading_level: 1", ""]
    lines += ["## Names", "", "| name | kind | what it is |", "|---|---|---|"]
    entries = api.by_namespace().get(ns, [])
    for e in entries:
        lines.append(f"| {_link(api, e.ident)} | {e.kind} | {_md_cell(api_map.summary(e.obj))} |")
    lines += ["", "## Reference", ""]
    for e in entries:
        chosen = api.target[e.ident]
        if e.ident in elsewhere:
            url = elsewhere[e.ident][0]
            lines += [f"### `{e.name}`", "",
                      f"[`{e.ident}`][{e.ident}] is documented with its guide, "
                      f"[{_guide_of(url)}](../{_guide_of(url)}.md).", ""]
        elif e.kind == "module" and e.ident in modules:
            lines += [f"### `{e.name}`", "", f"The subpackage [`{e.ident}`]({e.ident}.md).", ""]
        elif e.ident == chosen:
            on_guide = next((i for i in groups[chosen] if i in elsewhere), None)
            if on_guide:
                lines += [f"### `{e.name}`", "", f"[](){{#{e.ident}}}",
                          f"The same object as [`{on_guide}`][{on_guide}] (documented with its guide).", ""]
            else:
                lines += [f"::: {e.ident}", "    options:", "      heading_level: 3", ""]
        else:
            lines += [f"### `{e.name}`", "", f"[](){{#{e.ident}}}",
                      f"The same object as {_link(api, chosen)}.", ""]
    return "\n".join(lines)


def _api_index(api: api_map.ApiMap, modules: list[str]) -> str:
    lines = []
    for ns in modules:
        lines += [f"### [`{ns}`]({api_map.API_DIR}/{ns}.md)", "", "| name | what it is |", "|---|---|"]
        for e in api.by_namespace().get(ns, []):
            lines.append(f"| {_link(api, e.ident)} | {_md_cell(api_map.summary(e.obj))} |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# math
# --------------------------------------------------------------------------------------------
_MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.S)


_ALIGNED = re.compile(r"\\begin\{(aligned|align\*?|gathered)\}(.*?)\\end\{\1\}", re.S)
_MATH_INNER = re.compile(r"^<math[^>]*>(.*)</math>$", re.S)


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside braces."""
    out, depth, cur, i = [], 0, [], 0
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
        elif text[i] == "\\" and text.startswith(sep, i) and depth == 0 and sep.startswith("\\"):
            out.append("".join(cur))
            cur, i = [], i + len(sep)
            continue
        elif text[i] == "\\":  # an escaped character (\&, \{) is not a separator
            cur.append(text[i:i + 2])
            i += 2
            continue
        elif text.startswith(sep, i) and depth == 0:
            out.append("".join(cur))
            cur, i = [], i + len(sep)
            continue
        cur.append(text[i])
        i += 1
    out.append("".join(cur))
    return out


def _convert(tex: str, display: str) -> str:
    """latex2mathml, plus the ``aligned`` environments it lacks (as an ``mtable``)."""
    from latex2mathml.converter import convert

    m = _ALIGNED.fullmatch(tex.strip())
    if not m:
        return convert(tex, display=display)
    rows = [r for r in _split_top(m.group(2), "\\\\") if r.strip()]
    trs = []
    for row in rows:
        cells = _split_top(row, "&")
        tds = []
        for j, cell in enumerate(cells):
            inner = _MATH_INNER.match(convert(cell.strip() or "{}"))
            align = "right" if (j % 2 == 0 and len(cells) > 1) else "left"
            tds.append(f'<mtd displaystyle="true" style="text-align:{align}; padding:0.2em 0">{inner.group(1)}</mtd>')
        trs.append("<mtr>" + "".join(tds) + "</mtr>")
    return (f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{display}">'
            f"<mtable>{''.join(trs)}</mtable></math>")


def _to_mathml(page_html: str, where: str) -> str:
    convert = _convert

    def repl(m: re.Match) -> str:
        tex = html.unescape(m.group("tex")).strip()
        if tex.startswith("\\(") and tex.endswith("\\)"):
            display, tex = "inline", tex[2:-2]
        elif tex.startswith("\\[") and tex.endswith("\\]"):
            display, tex = "block", tex[2:-2]
        elif tex.startswith("$$") and tex.endswith("$$"):
            display, tex = "block", tex[2:-2]
        elif tex.startswith("$") and tex.endswith("$"):
            display, tex = "inline", tex[1:-1]
        else:
            raise PluginError(f"math on {where}: unrecognised delimiters in {tex[:80]!r}")
        try:
            mathml = convert(tex.strip(), display=display)
        except Exception as exc:
            raise PluginError(f"math on {where}: latex2mathml cannot convert {tex[:120]!r}: {exc}") from exc
        tag = "div" if display == "block" else "span"
        return f'<{tag} class="arithmatex tumordyn-math" title="{html.escape(tex.strip())}">{mathml}</{tag}>'

    return _MATH.sub(repl, page_html)


# --------------------------------------------------------------------------------------------
# mkdocs events
# --------------------------------------------------------------------------------------------
def _replace_nav(nav: list, title: str, pages: list) -> bool:
    for i, item in enumerate(nav):
        if isinstance(item, dict) and title in item:
            nav[i] = {title: pages}
            return True
    return False


def on_files(files, config):
    api_pages = _api_pages(config, files)
    gallery_pages = _build_gallery(config, files)
    nav = config.nav
    if nav is not None:
        api_first = next((item[t] for item in nav if isinstance(item, dict)
                          for t in item if t == "API reference"), "api.md")
        first = api_first if isinstance(api_first, str) else api_first[0]
        _replace_nav(nav, "API reference", [first, *api_pages])
        _replace_nav(nav, "Gallery", gallery_pages)
    return files


def on_page_markdown(markdown, page, config, files):
    m = re.match(r"<!-- api-page (\S+) -->", markdown)
    if m:
        return _api_page(m.group(1), config)
    if page.file.src_uri == "api.md" and "<!-- api-index -->" in markdown:
        markdown = markdown.replace("<!-- api-index -->", _api_index(_state["api"], _state["modules"]))
    return markdown


def on_page_content(html_text, page, config, files):
    return _to_mathml(html_text, page.file.src_uri)


_PRIVATE_TITLE = re.compile(r'\s+title="tumordyn(?:\.\w+)*\._\w+(?:\.\w+)*"')


def on_post_page(output, page, config):
    # mkdocstrings marks a default value that names a private constant (``_MAX_LENGTH``) with its
    # full path as a hover title; the reader should not see private module paths
    return _PRIVATE_TITLE.sub("", output)
