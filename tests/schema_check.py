"""The part of JSON Schema that bot/schemas/answer.schema.json uses, checked without a dependency
(jsonschema is not installed here): type, required, properties, additionalProperties, items, $ref to
#/$defs, oneOf, pattern. An unknown keyword fails loudly, so the schema cannot outgrow this checker unnoticed."""

from __future__ import annotations

import re
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
ANNOTATIONS = {"$schema", "title", "description", "$defs"}


def problems(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$"
) -> list[str]:
    """Every way `value` breaks `schema`, as "path: reason" lines; empty when it conforms."""
    root = root or schema
    found: list[str] = []
    for key, rule in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "$ref":
            found += problems(value, root["$defs"][rule.removeprefix("#/$defs/")], root, at)
        elif key == "oneOf":
            matches = [s for s in rule if not problems(value, s, root, at)]
            if len(matches) != 1:
                found.append(f"{at}: matches {len(matches)} of the oneOf schemas, not exactly one")
        elif key == "type":
            names = [rule] if isinstance(rule, str) else rule
            bad_bool = isinstance(value, bool) and "boolean" not in names
            if bad_bool or not isinstance(value, tuple(t for n in names for t in TYPES[n])):
                found.append(f"{at}: {type(value).__name__} is not {rule}")
        elif key == "required":
            found += [
                f"{at}: missing {name!r}" for name in rule if isinstance(value, dict) and name not in value
            ]
        elif key == "properties":
            for name, sub in rule.items():
                if isinstance(value, dict) and name in value:
                    found += problems(value[name], sub, root, f"{at}.{name}")
        elif key == "additionalProperties":
            extra = (
                [k for k in value if k not in schema.get("properties", {})] if isinstance(value, dict) else []
            )
            for name in extra:
                if rule is False:
                    found.append(f"{at}: unexpected {name!r}")
                elif isinstance(rule, dict):
                    found += problems(value[name], rule, root, f"{at}.{name}")
        elif key == "pattern":
            if isinstance(value, str) and not re.search(rule, value):
                found.append(f"{at}: {value!r} does not match {rule}")
        elif key == "items":
            for i, item in enumerate(value if isinstance(value, list) else []):
                found += problems(item, rule, root, f"{at}[{i}]")
        else:
            raise ValueError(f"schema_check does not know the keyword {key!r}")
    return found
