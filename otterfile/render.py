"""Render otter's jinja2 templates strictly; an error names the template and its line."""
from __future__ import annotations

import functools
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from otterfile.errors import OtterError

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=None)
def environment(folder: Path = TEMPLATES) -> jinja2.Environment:
    """A jinja2 environment where an undefined name is an error, not an empty string; one
    per folder and process, so each template compiles once (a switch renders the site of
    every target: a rollback inside the window paid a compile per target)."""
    import jinja2  # loaded when a file is rendered, not when otter starts
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def render(name: str, folder: Path = TEMPLATES, **values: object) -> str:
    """The text of template `name` filled with `values`; OtterError("name:line: why")."""
    import jinja2
    try:
        return environment(folder).get_template(name).render(**values)
    except jinja2.TemplateSyntaxError as error:
        raise OtterError(f"template {name}:{error.lineno}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise OtterError(f"template {name}:{_line(error, name)}: {error}") from None


def _line(error: BaseException, name: str) -> str:
    # jinja rewrites the traceback so the template's own frames carry its line numbers
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
             if Path(f.filename).name == name]
    return str(lines[-1]) if lines else "?"
