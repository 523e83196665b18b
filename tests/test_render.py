"""Templates fail loudly: an error names the template line and the page being rendered."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from markupsafe import Markup, escape

from generator import render
from generator.render import environment, render_page, templates_of
from generator.views import NotFoundPage


def _page(template: str) -> NotFoundPage:
    return NotFoundPage(
        url="actors/x/",
        template=template,
        title="T",
        site_title="S",
        language="en",
        root="../../",
        home="../../index.html",
        stylesheet="../../assets/style.css",
        nav=(),
        canonical=None,
        meta_description="",
        search="../../search/index.html",
        alternates=(),
        jsonld=Markup("{}"),
    )


def test_renders_a_page_with_autoescape(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("<h1>{{ title }}</h1>{{ '<b>' }}", encoding="utf-8")
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert problem is None
    assert html == "<h1>T</h1>&lt;b&gt;"


def test_undefined_variable_names_template_line_and_page(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("line one\n{{ no_such_thing }}\n", encoding="utf-8")
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert html is None and problem is not None
    assert problem.format() == (
        "templates/t.html:2:1: error[E0602]: UndefinedError: 'no_such_thing' is undefined "
        "(while rendering actors/x/)"
    )


def test_syntax_error_is_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("a\nb\n{% if %}\n", encoding="utf-8")
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert html is None and problem is not None
    assert problem.location.path == "templates/t.html"
    assert problem.location.line == 3
    assert problem.code == "E0602"


def test_memo_is_kept_by_the_values_it_reads(tmp_path: Path) -> None:
    env = environment(tmp_path)
    template = env.from_string(
        "{% for x in xs %}{% memo %}[{{ x }}{% for c in x %}{{ c }}{{ ',' if not loop.last }}"
        "{% endfor %}]{% endmemo %}{% endfor %}"
    )
    # Equal values of another type render differently, so they are kept apart.
    assert template.render(xs=["ab", Markup("<i>"), "<i>", "ab"]) == (
        "[aba,b][<i>&lt;,i,&gt;][&lt;i&gt;&lt;,i,&gt;][aba,b]"
    )
    unhashable = env.from_string("{% memo %}{{ x|length }}{% endmemo %}")
    assert unhashable.render(x=[1]) + unhashable.render(x=[1, 2]) == "12"


def test_memo_makes_each_fragment_once_and_keeps_its_names_to_itself(tmp_path: Path) -> None:
    """The fragment's code runs once for each key; a hit runs none of it. What the memo's
    code sets is its own: not seen after the fragment, nor by the page's other names."""
    calls: list[object] = []

    def made(x: object) -> str:
        calls.append(x)
        return f"<{x}>"

    (tmp_path / "_m.html").write_text(
        "{% macro row(x, made) %}{% memo %}r{{ made(x) }}{% endmemo %}{% endmacro %}", "utf-8"
    )
    env = environment(tmp_path)
    template = env.from_string(
        '{% from "_m.html" import row %}'
        "{% memo %}top{{ made(0) }}{% endmemo %}"
        "{% for x in xs %}{% memo %}[{{ made(x) }}]{% endmemo %}{{ row(x, made) }}{% endfor %}"
        "{{ _factsheet_memo_html is defined }}"
    )
    assert template.render(made=made, xs=[1, 2, 1, 2]) == (
        "top&lt;0&gt;[&lt;1&gt;]r&lt;1&gt;[&lt;2&gt;]r&lt;2&gt;"
        "[&lt;1&gt;]r&lt;1&gt;[&lt;2&gt;]r&lt;2&gt;False"
    )
    assert calls == [0, 1, 1, 2, 2]  # the second 1 and 2: taken from the memo
    assert template.render(made=made, xs=[1]) == "top&lt;0&gt;[&lt;1&gt;]r&lt;1&gt;False"
    assert calls == [0, 1, 1, 2, 2]


def test_an_error_inside_a_memo_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text(
        "{% memo %}\n<p>{{ home }}</p>\n{{ title.no_such_thing.x }}\n{% endmemo %}", "utf-8"
    )
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert html is None and problem is not None
    assert problem.location.path == "templates/t.html"
    assert problem.location.line == 3
    assert "no_such_thing" in problem.message


def test_memo_refuses_what_changes_between_uses(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text(
        "{% for x in 'ab' %}\n{% memo %}{{ loop.index }}{% endmemo %}\n{% endfor %}",
        encoding="utf-8",
    )
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert html is None and problem is not None
    assert "a memo cannot read loop" in problem.message
    assert problem.location.line == 2


class _Html:
    def __html__(self) -> str:
        return "<b>made</b>"


class _Subclass(Markup):
    def __html__(self) -> str:
        return "<i>own</i>"


@pytest.mark.parametrize("speedups", [True, False])
def test_output_escapes_as_markupsafe_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speedups: bool
) -> None:
    """Templates write values through a faster escape: the same text for every kind of value
    (and through markupsafe's public escape where its private C escaping is missing)."""
    if not speedups:
        monkeypatch.setattr(render, "_escape_text", render._escaped)
    values = [
        "plain",
        "<a href=\"x\">'&'</a>",
        "",
        Markup("<em>safe</em>"),
        _Subclass("<s>"),
        _Html(),
        42,
        -1.5,
        1e300,
        float("nan"),
        float("-inf"),
        None,
        True,
        ("t", "<"),
        jinja2.Undefined("an inline if without else"),
    ]
    (tmp_path / "t.html").write_text(
        "{% for v in values %}[{{ v }}]{% endfor %}{{ '<x>' if values is none }}|"
    )
    env = environment(tmp_path)
    got = env.get_template("t.html").render(values=values)
    assert got == "".join(f"[{escape(v)}]" for v in values) + "|"
    assert "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;" in got
    assert "<i>own</i>" in got and "<b>made</b>" in got and "<em>safe</em>" in got


def test_expressions_still_escape_what_they_join(tmp_path: Path) -> None:
    """Only what a template writes out uses the faster escape: `~` and macros keep Markup."""
    (tmp_path / "t.html").write_text(
        "{% macro m(x) %}<p>{{ x }}</p>{% endmacro %}{{ a ~ b }}|{{ m(a) }}|{{ m(m(a)) }}"
    )
    env = environment(tmp_path)
    got = env.get_template("t.html").render(a="<", b=Markup("<br>"))
    assert got == "&lt;<br>|<p>&lt;</p>|<p><p>&lt;</p></p>"


class _Thing:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __getitem__(self, name: str) -> str:
        return f"item {name}"


_READINGS = (
    "[{{ a.b.c }}][{{ d.key }}][{{ d.values is none }}][{{ t.missing }}][{{ t.none }}]"
    "[{{ t.zero }}][{% if t.false %}yes{% else %}no{% endif %}][{{ (t).b }}][{{ f().b }}]"
    "[{{ t.markup }}][{{ t.number }}]{% for x in t.list %}[{{ x.b }}]{% endfor %}"
    "{% macro m(v) %}<{{ v.c }}>{% endmacro %}[{{ m(a.b) }}][{{ '' ~ a.b.c }}]"
)


def _reading_values() -> dict[str, object]:
    a = _Thing(b=_Thing(c="<c>"))
    return {
        "a": a,
        "d": {"key": "<key>", "values": None},
        "t": _Thing(
            none=None,
            zero=0,
            false=False,
            b="&",
            markup=Markup("<em>m</em>"),
            number=2.5,
            list=[_Thing(b="<b>"), _Thing(b=1)],
        ),
        "f": lambda: _Thing(b="called"),
    }


def test_attributes_and_output_as_jinja_writes_them(tmp_path: Path) -> None:
    """Our templates' code reads attributes and escapes output by shorter paths
    (`render._CodeGenerator`): the same text as Jinja's own code, item and all."""
    (tmp_path / "t.html").write_text(_READINGS, encoding="utf-8")
    jinja = jinja2.Environment(
        loader=jinja2.FileSystemLoader(tmp_path),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    ours = environment(tmp_path).get_template("t.html").render(**_reading_values())
    assert ours == jinja.get_template("t.html").render(**_reading_values())
    assert "[&lt;c&gt;]" in ours and "[item missing]" in ours and "[False]" in ours
    assert "[<em>m</em>]" in ours and "[&amp;]" in ours and "[called]" in ours


def test_a_missing_attribute_fails_as_in_jinja(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("line one\n{{ page.nothing_here }}\n", encoding="utf-8")
    html, problem = render_page(environment(tmp_path), _page("t.html"))
    assert html is None and problem is not None
    assert problem.format() == (
        "templates/t.html:2:1: error[E0602]: UndefinedError: 'generator.views.NotFoundPage "
        "object' has no attribute 'nothing_here' (while rendering actors/x/)"
    )


def test_a_template_is_loaded_once_per_environment(tmp_path: Path) -> None:
    """A page's template extends and imports others: asked for on every page, loaded once."""
    (tmp_path / "base.html").write_text("<{% block b %}{% endblock %}>", encoding="utf-8")
    (tmp_path / "m.html").write_text("{% macro m() %}m{% endmacro %}", encoding="utf-8")
    (tmp_path / "t.html").write_text(
        '{% extends "base.html" %}{% from "m.html" import m %}{% block b %}{{ m() }}{% endblock %}',
        encoding="utf-8",
    )
    loader = jinja2.FileSystemLoader(tmp_path)
    asked: list[str] = []
    get_source = loader.get_source

    def counted(env: jinja2.Environment, name: str) -> tuple[str, str | None, object]:
        asked.append(name)
        return get_source(env, name)

    env = environment(tmp_path)
    env.loader = loader
    loader.get_source = counted  # type: ignore[method-assign]
    pages = [render_page(env, _page("t.html"))[0] for _ in range(3)]
    assert pages == ["<m>"] * 3
    assert sorted(asked) == ["base.html", "m.html", "t.html"]


def test_a_memo_keeps_the_html_of_a_view_on_it_for_itself(tmp_path: Path) -> None:
    """A fragment kept by one unchanging view (a line of a chronology) keeps its HTML on the
    view: found again from the same object or from an equal one; another environment (other
    templates, the same fragment's place) makes its own."""
    from generator.views import DateView, EntryView, LinkView

    def line(text: str) -> EntryView:
        return EntryView(
            DateView("1 May", "2020-05-01"), "event", LinkView("x/", text), Markup(""), ()
        )

    fragment = "{% for e in lines %}{% memo %}<NAME>{{ e.link.text }}{% endmemo %}{% endfor %}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "t.html").write_text(fragment.replace("NAME", "a"), encoding="utf-8")
    (tmp_path / "b" / "t.html").write_text(fragment.replace("NAME", "b"), encoding="utf-8")
    first, other = environment(tmp_path / "a"), environment(tmp_path / "b")
    one, two = line("one"), line("two")
    assert first.get_template("t.html").render(lines=[one, two, one]) == "<a>one<a>two<a>one"
    assert "_made" in vars(one)
    assert other.get_template("t.html").render(lines=[one]) == "<b>one"
    assert first.get_template("t.html").render(lines=[line("one"), one]) == "<a>one<a>one"
    assert other.get_template("t.html").render(lines=[two, one]) == "<b>two<b>one"
    # (the view still equals, and hashes as, one without HTML kept on it)
    assert one == line("one") and hash(one) == hash(line("one"))


def test_templates_see_the_globals_and_import_macros_from_a_plain_dict(tmp_path: Path) -> None:
    (tmp_path / "m.html").write_text("{% macro shout(x) %}{{ x|upper }}!{% endmacro %}")
    (tmp_path / "t.html").write_text(
        '{% from "m.html" import shout %}{{ shout(title) }} {{ range(3)|list|length }} {{ extra }}'
    )
    env = environment(tmp_path)
    template = env.get_template("t.html", globals={"extra": "own"})
    # (one dict per template, the environment's globals and its own: no chain to walk)
    assert type(template.globals) is dict
    assert template.globals["extra"] == "own" and template.globals["range"] is range
    assert "extra" not in env.globals
    html, problem = render_page(env, _page("t.html"))
    assert problem is None
    assert html == "T! 3 own"
    # Imported by a template without globals of its own, the macros' template is made into
    # a module once; by one with them (which it may read), each time, as Jinja does.
    assert env.get_template("m.html")._module is None
    (tmp_path / "u.html").write_text('{% from "m.html" import shout %}{{ shout(title) }}')
    assert render_page(env, _page("u.html"))[0] == "T!"
    module = env.get_template("m.html")._module
    assert module is not None
    assert render_page(env, _page("u.html"))[0] == "T!"
    assert env.get_template("m.html")._module is module


def test_a_page_template_reads_those_it_extends_imports_and_includes(tmp_path: Path) -> None:
    files = {
        "base.html": "{% include 'parts/foot.html' %}{% block main %}{% endblock %}",
        "parts/foot.html": "{% from '_macros.html' import m %}",
        "_macros.html": "{% macro m() %}{% include 'base.html' ignore missing %}{% endmacro %}",
        "page.html": "{% extends 'base.html' %}{% import 'gone.html' as gone %}",
        "alone.html": "Text.",
        "broken.html": "{% extends 'base.html' %}{% if %}",
        "dynamic.html": "{% extends 'base.html' %}{% include page.part %}",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = environment(tmp_path)
    assert templates_of(env, "page.html") == (
        "_macros.html",
        "base.html",
        "gone.html",  # (named, though missing: a page rendered with it fails)
        "page.html",
        "parts/foot.html",
    )
    assert templates_of(env, "page.html") is templates_of(env, "page.html")  # (worked out once)
    assert templates_of(env, "alone.html") == ("alone.html",)
    assert templates_of(env, "broken.html") == ("broken.html",)
    assert templates_of(env, "dynamic.html") == tuple(sorted(files))
