"""Griffe extension: Sphinx roles in tumordyn's docstrings become mkdocs-autorefs links.

The docstrings are numpydoc with Sphinx roles (``:class:`Trajectory```, ``:func:`~tumordyn.fit```,
``:meth:`Trajectory.plot```, ``:math:`k_{1/2}```). mkdocstrings renders docstrings as Markdown,
where a role would stay literal text. This extension rewrites each role before rendering:

- a role whose target resolves (in the docstring's module, its class, ``tumordyn`` or a public
  subpackage) to a documented public name becomes ``[`name`][identifier]``, a link to the place
  that name is documented (``docs/hooks/api_map.py`` decides where);
- a role to something the site does not document (numpy, pandas, a private helper) becomes
  inline code, without the role;
- ``:math:`...``` becomes ``\\(...\\)`` (rendered to MathML by the site hook).

The source files are not changed. Loaded by mkdocstrings (``extensions:`` in mkdocs.yml).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import logging

import griffe

_log = logging.getLogger("mkdocs.hooks.tumordyn.roles")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_map  # noqa: E402

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|data|mod|exc|obj|const|math):"
    r"`(?P<body>[^`]+)`"
)
_EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)


def _resolve_python(path: str) -> tuple[bool, object]:
    """Import the longest module prefix of ``path`` and follow the rest with getattr."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj: object = importlib.import_module(modname)
        except Exception:  # not a module (or not importable): try a shorter prefix
            continue
        try:
            with warnings.catch_warnings():
                # the deprecated top-level aliases warn on access; they resolve all the same
                warnings.simplefilter("ignore")
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
        except AttributeError:
            return False, None
        return True, obj
    return False, None


_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")


def math_directives(text: str) -> str:
    """reST ``.. math::`` blocks (same-line or indented body) as display math ``\\[ ... \\]``."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _MATH_DIRECTIVE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = m.group("indent")
        body = [m.group("rest")] if m.group("rest").strip() else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i])
            i += 1
        body = [b.strip() for b in body if b.strip()]
        # trailing blank lines belong to the text after the block
        out += ["", f"{indent}\\[", *(indent + b for b in body), f"{indent}\\]", ""]
    return "\n".join(out)


class SphinxRolesToAutorefs(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the tumordyn package."""

    def __init__(self) -> None:
        super().__init__()
        self._api = None
        self._anchor_of_obj: dict[int, str] = {}
        self._anchor_of_data: dict[str, str] = {}
        self._namespaces: list[str] = []
        self.unresolved: list[tuple[str, str]] = []
        self.linked = 0
        self.math = 0

    # -- the public API, once ----------------------------------------------------------------
    def _load_api(self) -> None:
        if self._api is not None:
            return
        api = api_map.build()
        self._api = api
        self._namespaces = api_map.public_modules()
        for e in api.entries:
            anchor = api.target[e.ident]
            if e.kind in ("module", "class", "function"):
                # the first identifier met wins (the top level comes first)
                self._anchor_of_obj.setdefault(id(e.obj), anchor)
            else:
                self._anchor_of_data[e.ident] = anchor
        for ns in self._namespaces:
            mod = importlib.import_module(ns)
            self._anchor_of_obj.setdefault(id(mod), ns)

    def _anchor_for(self, path: str, pkg: griffe.Object) -> str | None:
        ok, obj = _resolve_python(path)
        if not ok:
            return None
        if path in self._anchor_of_data:
            return self._anchor_of_data[path]
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj) or callable(obj):
            anchor = self._anchor_of_obj.get(id(obj))
            if anchor:
                return anchor
        # a member of a documented class: Class.member, rendered when public with a docstring
        owner_path, _, member = path.rpartition(".")
        if not owner_path or member.startswith("_"):
            return None
        ok, owner = _resolve_python(owner_path)
        if ok and inspect.ismodule(owner) and owner.__name__ not in self._namespaces:
            # a module rendered whole (e.g. tumordyn.cohorts.plots): its public documented functions
            owner_anchor = self._anchor_of_obj.get(id(owner))
            exported = getattr(owner, "__all__", None)
            if owner_anchor and (exported is None or member in exported) and inspect.getdoc(obj):
                return f"{owner_anchor}.{member}"
            return None
        if not ok or not inspect.isclass(owner):
            return None
        owner_anchor = self._anchor_of_obj.get(id(owner))
        if owner_anchor is None:
            return None
        try:
            gcls = pkg.modules_collection.get_member(f"{owner.__module__}.{owner.__qualname__}")
        except Exception:
            return None
        gmember = gcls.members.get(member) if hasattr(gcls, "members") else None
        if gmember is None or gmember.is_alias or not gmember.docstring:
            return None
        return f"{owner_anchor}.{member}"

    # -- rewriting ---------------------------------------------------------------------------
    def _convert(self, text: str, obj: griffe.Object, pkg: griffe.Object) -> str:
        module_path = obj.module.path if obj.module else "tumordyn"
        cls = obj if obj.is_class else (obj.parent if obj.parent is not None and obj.parent.is_class else None)

        def repl(m: re.Match) -> str:
            role, body = m.group("role"), m.group("body").strip()
            if role == "math":
                self.math += 1
                return "\\(" + body + "\\)"
            title = None
            ex = _EXPLICIT.match(body)
            if ex:
                title, body = ex.group("title").strip(), ex.group("target").strip()
            short = body.startswith("~")
            target = body.lstrip("~!").lstrip(".")
            display = title or (target.rsplit(".", 1)[-1] if short else target)
            if role in ("func", "meth") and not title and not display.endswith(")"):
                display += "()"
            candidates = []
            if target.startswith("tumordyn.") or target == "tumordyn":
                candidates.append(target)
            else:
                if cls is not None:
                    candidates.append(f"{cls.module.path}.{cls.name}.{target}")
                candidates += [f"{module_path}.{target}", f"tumordyn.{target}"]
                candidates += [f"{ns}.{target}" for ns in self._namespaces]
            for cand in candidates:
                anchor = self._anchor_for(cand, pkg)
                if anchor:
                    self.linked += 1
                    return f"[`{display}`][{anchor}]"
            self.unresolved.append((obj.path, m.group(0)))
            return f"`{display}`"

        return ROLE.sub(repl, math_directives(text))

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "tumordyn":
            return
        self._load_api()
        seen: set[int] = set()

        def walk(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None and ":" in obj.docstring.value and obj.path.startswith("tumordyn"):
                obj.docstring.value = self._convert(obj.docstring.value, obj, pkg)
            for member in obj.members.values():
                if not member.is_alias:
                    walk(member)

        walk(pkg)
        _log.info("Sphinx roles: %d links, %d math, %d left as code (targets the site does not document)",
                  self.linked, self.math, len(self.unresolved))
        for where, role in self.unresolved:
            _log.debug("role left as code in %s: %s", where, role)
