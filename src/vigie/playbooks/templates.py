"""Step parameters and conditions templated from the alert, in a sandboxed Jinja2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateProblem(ValueError):
    """A template or condition of a step cannot be evaluated; the message says which."""


def render(value: Any, context: Mapping[str, Any], *, where: str = "params") -> Any:
    """`value` with every string rendered against `context`, recursively."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        try:
            return _env.from_string(value).render(context)
        except TemplateError as exc:
            raise TemplateProblem(f"{where}: {value!r}: {exc}") from exc
    if isinstance(value, Mapping):
        return {k: render(v, context, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, where=f"{where}.{i}") for i, v in enumerate(value)]
    return value


def condition(expression: str, context: Mapping[str, Any]) -> bool:
    """The truth of a `when:` expression, e.g. `values.conversion_rate < 0.02`."""
    try:
        return bool(_env.compile_expression(expression, undefined_to_none=False)(**context))
    except TemplateError as exc:
        raise TemplateProblem(f"when: {expression!r}: {exc}") from exc


def check_syntax(text: str) -> str | None:
    """The syntax error of a template, or None when it parses."""
    try:
        _env.parse(text)
    except TemplateError as exc:
        return str(exc)
    return None
