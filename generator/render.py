"""The Jinja2 environment: autoescaping, StrictUndefined, and template errors as diagnostics.

Input: a page's view model; output: its HTML text, made relative by the view. A template
error names the template file and line AND the page being rendered.
"""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

import jinja2

from .diagnostics import Diagnostic, Location, Severity
from .views import Page

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(env: jinja2.Environment, page: Page) -> tuple[str | None, Diagnostic | None]:
    """The page's HTML, or a diagnostic naming the template line and the page."""
    context = {f.name: getattr(page, f.name) for f in dataclasses.fields(page)}
    try:
        return env.get_template(page.template).render(page=page, **context), None
    except jinja2.TemplateSyntaxError as error:
        where = Location(f"templates/{error.name or page.template}", error.lineno or 1)
        message = f"{error.message} (while rendering {page.url or 'index.html'})"
    except Exception as error:  # a template bug must not become a traceback for the editor
        where = _template_location(error, page.template)
        message = f"{type(error).__name__}: {error} (while rendering {page.url or 'index.html'})"
    return None, Diagnostic(where, Severity.ERROR, "E0602", message)


def _template_location(error: Exception, template: str) -> Location:
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(str(TEMPLATES)) or frame.filename.endswith(".html"):
            name = Path(frame.filename).name
            return Location(f"templates/{name}", frame.lineno or 1)
    return Location(f"templates/{template}")
