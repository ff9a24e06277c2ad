"""Prompt templates are data files in `prompts/`, rendered with StrictUndefined so a missing variable
fails loudly instead of silently sending the model an incomplete prompt."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.paths import bundled_dir


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(bundled_dir("prompts")),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def template_names() -> list[str]:
    return sorted(_environment().list_templates(extensions=["j2"]))


def render(name: str, **variables: Any) -> str:
    return _environment().get_template(f"{name}.j2").render(**variables).strip()
