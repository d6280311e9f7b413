"""The public API of tumordyn, as the documentation sees it.

One place decides which names are public and where each is documented; the mkdocs hook
(``docs/hooks/docs_build.py``) uses it to generate the API reference pages, the griffe extension
(``docs/hooks/griffe_roles.py``) to turn the Sphinx roles of the docstrings into links, and
``tests/test_docs.py`` to check the built site.

Public names are everything in ``tumordyn.__all__`` and in the ``__all__`` of each public
submodule (``tumordyn.<name>`` without a leading underscore). Each name has an *identifier*
``namespace.name`` (``tumordyn.fit``, ``tumordyn.fitting.fit``). Names bound to the same function,
class or module form one group, rendered once on the generated API pages (under the top-level
identifier when there is one); the other identifiers get an anchor that points there. A guide
may render a name again with a ``::: identifier`` block (mkdocs-autorefs' ``resolve_closest``
sends each link to the nearest copy); ``page_of`` records those guides.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# generated API pages live under docs/api/ (never written to disk; see docs_build.py)
API_DIR = "api"
_DIRECTIVE = re.compile(r"^:::\s+([A-Za-z_][\w.]*)\s*$", re.M)


def _import_tumordyn():
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    return importlib.import_module("tumordyn")


def public_modules() -> list[str]:
    """``tumordyn`` and its public submodules that declare ``__all__`` (import order)."""
    td = _import_tumordyn()
    out = ["tumordyn"]
    for info in pkgutil.iter_modules(td.__path__):
        if info.name.startswith("_"):
            continue
        name = f"tumordyn.{info.name}"
        mod = importlib.import_module(name)
        if getattr(mod, "__all__", None) is not None:
            out.append(name)
    return out


@dataclass
class Entry:
    """One public identifier ``namespace.name``."""

    namespace: str
    name: str
    obj: object
    kind: str  # module, class, function, data

    @property
    def ident(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass
class ApiMap:
    entries: list[Entry]
    # identifier -> the rendered identifier whose documentation it shares (itself if rendered)
    target: dict[str, str] = field(default_factory=dict)
    # identifier -> page (docs-relative .md path) that documents it with a ::: block
    page_of: dict[str, str] = field(default_factory=dict)
    # identifiers rendered on the generated API pages
    rendered: set[str] = field(default_factory=set)

    def by_namespace(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        for e in self.entries:
            out.setdefault(e.namespace, []).append(e)
        return out


def _kind(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _group_key(e: Entry):
    # functions, classes and modules are the same object under every name; a constant is its own
    if e.kind in ("module", "class", "function"):
        return ("obj", id(e.obj))
    return ("ident", e.ident)


def guide_directives(exclude: tuple[str, ...] = ("api.md",)) -> dict[str, str]:
    """``::: identifier`` blocks in the hand-written pages: identifier -> page."""
    out: dict[str, str] = {}
    for md in sorted(DOCS.rglob("*.md")):
        rel = md.relative_to(DOCS).as_posix()
        if rel in exclude or rel.startswith(API_DIR + "/"):
            continue
        for m in _DIRECTIVE.finditer(md.read_text(encoding="utf-8")):
            out.setdefault(m.group(1), rel)
    return out


def build() -> ApiMap:
    """Every public identifier, grouped, with the place each group is documented."""
    entries: list[Entry] = []
    for modname in public_modules():
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            obj = getattr(mod, name)
            entries.append(Entry(modname, name, obj, _kind(obj)))
    api = ApiMap(entries)
    guides = guide_directives()

    def documented_on_guide(ident: str) -> str | None:
        # the identifier itself, or a module block on a guide that renders its members
        if ident in guides:
            return guides[ident]
        parent = ident.rsplit(".", 1)[0]
        if parent != "tumordyn" and parent in guides:
            return guides[parent]
        return None

    groups: dict[object, list[Entry]] = {}
    for e in entries:
        groups.setdefault(_group_key(e), []).append(e)
    for members in groups.values():
        for e in members:
            page = documented_on_guide(e.ident)
            if page:
                api.page_of[e.ident] = page
        # rendered once on the API pages: the top level (``td.fit``) first, then the namespace
        # the object is defined in
        home = getattr(members[0].obj, "__name__" if members[0].kind == "module" else "__module__", "")
        chosen = next((e for e in members if e.namespace == "tumordyn"), None) or next(
            (e for e in members if str(home).startswith(e.namespace + ".")), members[0]
        )
        api.rendered.add(chosen.ident)
        for e in members:
            api.target[e.ident] = chosen.ident
    return api


def page_of_rendered(ident: str, modules: list[str]) -> str:
    """The generated API page that renders ``ident`` (a public module gets its own page)."""
    if ident in modules:
        return f"{API_DIR}/{ident}.md"
    return f"{API_DIR}/{ident.rsplit('.', 1)[0]}.md"


def summary(obj: object) -> str:
    """First sentence of an object's docstring (one line, for tables)."""
    doc = inspect.getdoc(obj) if not isinstance(obj, (int, float, str, dict, tuple, frozenset)) else None
    if not doc:
        return ""
    first = doc.strip().split("\n\n", 1)[0].replace("\n", " ")
    return strip_roles(first)


_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`")


def link_roles(text: str, api: ApiMap) -> str:
    """Sphinx roles in Markdown prose (the examples' docstrings) as links to public names.

    A target that names a public identifier (``tumordyn.fit``, ``fit``, ``fitting.fit``) becomes
    ``[`fit`][anchor]``; anything else becomes inline code (``strip_roles``).
    """
    idents = {e.ident: api.target[e.ident] for e in api.entries}
    by_name: dict[str, set[str]] = {}
    for e in api.entries:
        by_name.setdefault(e.name, set()).add(api.target[e.ident])

    def repl(m: re.Match) -> str:
        role, body = m.group("role"), m.group("body").strip()
        if role != "math" and "<" not in body:
            short = body.startswith("~")
            target = body.lstrip("~!.")
            display = target.rsplit(".", 1)[-1] if short else target
            anchor = idents.get(target) or idents.get(f"tumordyn.{target}")
            if anchor is None and len(by_name.get(target, ())) == 1:
                anchor = next(iter(by_name[target]))
            if anchor:
                return f"[`{display}`][{anchor}]"
        return strip_roles(m.group(0))

    return _ROLE.sub(repl, text)


def strip_roles(text: str) -> str:
    """Sphinx roles as inline code (``:class:`~a.B``` -> `` `B` ``), ``:math:`` as ``\\(...\\)``."""

    def repl(m: re.Match) -> str:
        body = m.group("body").strip()
        if m.group("role") == "math":
            return "\\(" + body + "\\)"
        ex = re.match(r"^(.*?)\s*<([^<>]+)>$", body)
        if ex:
            return f"`{ex.group(1).strip()}`"
        if body.startswith("~"):
            body = body[1:].rsplit(".", 1)[-1]
        return f"`{body.lstrip('!.')}`"

    return _ROLE.sub(repl, text)
