"""The Jinja2 environment: autoescaping, StrictUndefined, and template errors as diagnostics.

Input: a page's view model; output: its HTML text, made relative by the view. A template
error names the template file and line AND the page being rendered.

Templates may mark a fragment that many pages repeat with `{% memo %}...{% endmemo %}`: its
HTML is made once per build (per process) for each value of the names it reads, and reused
after. The fragment must be made only from those names (view models, which compare equal
only when they render the same) and constant text: not from `loop`, nor from a macro that
reads the page's variables.
"""

from __future__ import annotations

import contextlib
import dataclasses
import traceback
from collections.abc import Callable, Hashable, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup, escape

from .diagnostics import Diagnostic, Location, Severity
from .views import UNCHANGING, Page

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _escaped(text: str) -> str:
    return str(escape(text))


# markupsafe's escaping of text, in C, without making a Markup of the result. (Its private
# names: a markupsafe without them is used through its public `escape`, at its usual cost.)
_escape_text: Callable[[str], str] = _escaped
try:
    from markupsafe._speedups import _escape_inner as _escape_text
except ImportError:  # pragma: no cover (markupsafe without its C speedups, or renamed)
    with contextlib.suppress(ImportError):
        from markupsafe._native import _escape_inner as _escape_text

# Names whose value is not the same thing from one use to the next (a loop's state, the
# block being filled): a memo that read them would repeat the first HTML made.
_UNMEMOISABLE = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})


class Memo(Extension):
    """`{% memo %}...{% endmemo %}`: the fragment's HTML, kept by the values it reads."""

    tags = {"memo"}  # noqa: RUF012 (as jinja2.ext.Extension declares it)

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.made: dict[Hashable, str] = {}
        environment.filters[_GET] = self._get
        environment.filters[_PUT] = self._put

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endmemo",), drop_needle=True)
        names = [n for node in body for n in _walk(node, nodes.Name)]
        # A `loop` inside a for loop of the fragment is that loop's own.
        own_loops = {
            id(n)
            for node in body
            for inner in _walk(node, nodes.For)
            for part in (*inner.body, *inner.else_)
            for n in _walk(part, nodes.Name)
            if n.name == "loop"
        }
        # A name the fragment sets (a loop's item) is its own: not a value it reads.
        set_here = {n.name for n in names if n.ctx != "load"}
        read = sorted(
            {n.name for n in names if n.ctx == "load" and id(n) not in own_loops} - set_here
        )
        if _UNMEMOISABLE.intersection(read):
            unfit = ", ".join(sorted(_UNMEMOISABLE.intersection(read)))
            parser.fail(f"a memo cannot read {unfit}", lineno)
        # The fragment is named by where it is, and kept by the values it reads.
        key = nodes.Tuple(
            [
                nodes.Const(f"{parser.name}:{lineno}"),
                *(nodes.Name(name, "load") for name in read),
            ],
            "load",
        )

        # Written out in the template's code, in a scope of its own (the fragment may be in
        # a loop over 100,000 lines at 1,000 stories: no macro made and called for each):
        #   key = (...); html = key|get; if html is none: html = <fragment>; html = key|put(html)
        #   {{ html }}
        def name(which: str, ctx: str = "load") -> nodes.Name:
            return nodes.Name(which, ctx)

        def call(filter_name: str, *args: nodes.Expr) -> nodes.Filter:
            return nodes.Filter(name(_KEY), filter_name, list(args), [], None, None)

        made = nodes.If(
            nodes.Test(name(_HTML), "none", [], [], None, None),
            [
                nodes.AssignBlock(name(_HTML, "store"), None, body),
                nodes.Assign(name(_HTML, "store"), call(_PUT, name(_HTML))),
            ],
            [],
            [],
        )
        return nodes.Scope(
            [
                nodes.Assign(name(_KEY, "store"), key),
                nodes.Assign(name(_HTML, "store"), call(_GET)),
                made,
                nodes.Output([name(_HTML)]),
            ]
        ).set_lineno(lineno)

    def _get(self, key: tuple[Any, ...]) -> str | None:
        """The fragment's HTML made for these values, if it was (else None)."""
        unchanging = len(key) == 2 and type(key[1]) in UNCHANGING
        if unchanging:
            # One view that does not change (a line of a chronology: the views give the same
            # object to every page at a depth): the HTML kept on it for this memo, if any.
            kept = key[1].__dict__.get(_MADE)
            if kept is not None and kept[0] is self:
                html: str | None = kept[1].get(key[0])
                if html is not None:
                    return html
        try:
            found = self.made.get(_typed(key))
        except TypeError:  # a value that cannot be a key (a list, a dict): made every time
            return None
        if found is not None and unchanging:
            self._keep(key[0], key[1], found)
        return found

    def _put(self, key: tuple[Any, ...], html: str) -> str:
        """Keep the fragment's HTML made for these values; the HTML."""
        with contextlib.suppress(TypeError):  # (see `_get`)
            self.made[_typed(key)] = html
        if len(key) == 2 and type(key[1]) in UNCHANGING:
            self._keep(key[0], key[1], html)
        return html

    def _keep(self, fragment: str, view: Any, html: str) -> None:
        """Keep the fragment's HTML on the view itself (it lives as long as the view: the
        build's), for this memo: the next page that shows the view finds it there without
        hashing the view and comparing it with those of every page before."""
        kept = view.__dict__.get(_MADE)
        if kept is None or kept[0] is not self:
            kept = view.__dict__[_MADE] = (self, {})
        kept[1][fragment] = html


# The filters and names the code of a memo uses; the name under which a view of UNCHANGING
# keeps the HTML made of it.
_GET, _PUT = "_factsheet_memo_get", "_factsheet_memo_put"
_MADE = "_made"
_KEY, _HTML = "_factsheet_memo_key", "_factsheet_memo_html"


def _typed(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values with their types: Markup("<b>") == "<b>" and 1 == 1.0, but they render
    differently."""
    return key, tuple(map(type, key))


def _walk(node: nodes.Node, kind: type[Any]) -> list[Any]:
    """`node` and every node under it of the type `kind`."""
    return [node, *node.find_all(kind)] if isinstance(node, kind) else [*node.find_all(kind)]


def _escape(value: Any) -> str:
    """What the templates' `{{ value }}` writes: `markupsafe.escape`'s text, without making a
    Markup of it (a Python call for each of the 600,000 values written at 1,000 stories)."""
    kind = type(value)
    if kind is str:
        return _escape_text(value)
    if kind is Markup:  # (its __html__ is itself; a subclass may differ)
        safe: str = value
        return safe
    if kind is int or kind is float:  # (a map's coordinates) nothing in them to escape
        return str(value)
    if kind is jinja2.Undefined:  # `{{ x if test }}` when the test fails: written as ""
        return ""
    return escape(value)


class _Template(jinja2.Template):
    """A template whose output escapes with `_escape`. Compiled templates call `escape` only
    on what they write out (`yield escape(x)`, `'%s' % (escape(x),)`), where text and Markup
    are joined alike; an expression (`a ~ b`, a filter) still makes Markup."""

    @classmethod
    def from_code(cls, *args: Any, **kwargs: Any) -> jinja2.Template:
        made = super().from_code(*args, **kwargs)
        names = made.root_render_func.__globals__
        names["escape"] = _escape
        names[_ESCAPE_TEXT] = _escape_text
        names[_MISSING] = _missing
        return made


# The names `_CodeGenerator` writes into the code of templates: markupsafe's escaping of
# text, what stands for an attribute an object does not have, and the code's own variables.
_ESCAPE_TEXT, _MISSING = "_factsheet_escape_text", "_factsheet_missing"
_VALUE, _OUTPUT = "_factsheet_value", "_factsheet_output"
_missing = object()


class _CodeGenerator(CodeGenerator):
    """Jinja's code, with two Python calls fewer where templates spend most of their time
    (hundreds of thousands of each at 1,000 stories), and the same results:

    - `a.b` reads the attribute with the builtin `getattr(a, "b", missing)`; only when `a`
      has no such attribute does it call `environment.getattr` (an item, or undefined) as
      Jinja does. (`a` is then worked out again: only for a name or an attribute of one,
      which reading does not change.)
    - `{{ x }}` escapes text with markupsafe's C function directly; anything else (Markup,
      a number, undefined) goes through `_escape` as before.
    """

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        if self.environment.is_async or not _plain_reading(node.node):
            super().visit_Getattr(node, frame)
            return
        # (v if (v := getattr(a, "b", missing)) is not missing else environment.getattr(a, "b"))
        self.write(f"({_VALUE} if ({_VALUE} := getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}, {_MISSING})) is not {_MISSING} else environment.getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}))")

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape or finalize.src is not None:
            super()._output_child_pre(node, frame, finalize)
            return
        # (escape_text(o) if type(o := (x)) is str else escape(o))
        self.write(f"({_ESCAPE_TEXT}({_OUTPUT}) if type({_OUTPUT} := (")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape or finalize.src is not None:
            super()._output_child_post(node, frame, finalize)
            return
        self.write(f")) is str else escape({_OUTPUT}))")


def _plain_reading(node: nodes.Node) -> bool:
    """Whether the expression is a name or attributes of one (`a`, `a.b.c`): working it out
    twice reads the same, and does nothing else."""
    while isinstance(node, nodes.Getattr):
        node = node.node
    return isinstance(node, nodes.Name)


class _Environment(jinja2.Environment):
    template_class = _Template
    code_generator_class = _CodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The templates pages are rendered with, by name: loaded once (the environment lives
        # for one build, without auto_reload), not looked up in Jinja's cache for each page.
        self.pages: dict[str, jinja2.Template] = {}
        # Every template loaded, by name: those a page's template extends and imports are
        # asked for on every page (`environment.get_template` in its code).
        self.loaded: dict[str, jinja2.Template] = {}
        # The templates each page template reads (see `templates_of`), by its name.
        self.reading: dict[str, tuple[str, ...]] = {}

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals in a dict of their own, where Jinja chains the template's
        to the environment's (a ChainMap): each page's context copies them, and each page
        imports the macros by comparing them with its own, both by Python code over the
        chain (some 4% of a record page's CPU). The environment's globals are set before
        any template is loaded and not changed after, as Jinja asks."""
        return {**self.globals, **(d or {})}

    def _load_template(
        self, name: str, globals: MutableMapping[str, Any] | None
    ) -> jinja2.Template:
        found = self.loaded.get(name) if not globals and not self.auto_reload else None
        if found is None:
            found = super()._load_template(name, globals)
            if not globals:
                self.loaded[name] = found
        return found


def environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    return _Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=[Memo],
        auto_reload=False,  # an environment lives for one build: templates do not change
    )


def templates_of(env: jinja2.Environment, name: str) -> tuple[str, ...]:
    """The names of the template `name` and of every template it extends, imports or
    includes, and so on, sorted: what a page rendered with it reads of the templates. All
    the templates if one of them names another by an expression (known only as it runs).
    A template that cannot be loaded or parsed is named, and no further (the pages that use
    it fail, and say why)."""
    known: dict[str, tuple[str, ...]] | None = getattr(env, "reading", None)
    found = known.get(name) if known is not None else None
    if found is not None:
        return found
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if env.loader is None:
            continue
        try:
            source = env.loader.get_source(env, current)[0]
            named = list(meta.find_referenced_templates(env.parse(source, current)))
        except (jinja2.TemplateError, OSError, UnicodeError):
            continue
        if None in named:
            seen.update(env.list_templates())
            break
        todo.extend(n for n in named if n is not None)
    found = tuple(sorted(seen))
    if known is not None:
        known[name] = found
    return found


def render_page(env: jinja2.Environment, page: Page) -> tuple[str | None, Diagnostic | None]:
    """The page's HTML, or a diagnostic naming the template line and the page."""
    context = {name: getattr(page, name) for name in _names(type(page))}
    try:
        return _template(env, page.template).render(page=page, **context), None
    except jinja2.TemplateSyntaxError as error:
        where = Location(f"templates/{error.name or page.template}", error.lineno or 1)
        message = f"{error.message} (while rendering {page.url or 'index.html'})"
    except Exception as error:  # a template bug must not become a traceback for the editor
        where = _template_location(error, page.template)
        message = f"{type(error).__name__}: {error} (while rendering {page.url or 'index.html'})"
    return None, Diagnostic(where, Severity.ERROR, "E0602", message)


def _names(kind: type[Page]) -> tuple[str, ...]:
    """The names of a view model's fields: what its template may use."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


_FIELD_NAMES: dict[type[Page], tuple[str, ...]] = {}


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """The template `name`, loaded once per environment of ours."""
    pages = getattr(env, "pages", None)
    if pages is None:
        return env.get_template(name)
    found: jinja2.Template | None = pages.get(name)
    if found is None:
        found = pages[name] = env.get_template(name)
    return found


def _template_location(error: Exception, template: str) -> Location:
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(str(TEMPLATES)) or frame.filename.endswith(".html"):
            name = Path(frame.filename).name
            return Location(f"templates/{name}", frame.lineno or 1)
    return Location(f"templates/{template}")
