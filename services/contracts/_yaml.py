"""YAML reading and writing for contracts, and translation of parse errors."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from featurestore.services.contracts.errors import (
    ContractErrorReason,
    ContractFormatError,
)


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader that rejects repeated mapping keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"repeated key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> dict[str, Any]:
    """Load one YAML mapping; raise `ContractFormatError` (INVALID_YAML) otherwise."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ContractFormatError(
            f"{source}: invalid YAML: {detail}",
            reason=ContractErrorReason.INVALID_YAML,
            metadata={"file": source, "detail": detail},
        ) from None
    if not isinstance(data, dict):
        raise ContractFormatError(
            f"{source}: a contract must be a YAML mapping",
            reason=ContractErrorReason.INVALID_YAML,
            metadata={"file": source, "detail": "not a mapping"},
        )
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """Dump plain data as block-style YAML, keys in insertion order."""
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88))


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    # Replace list indexes by the item's name where it has one: columns[spend_1h].
    parts: list[str] = []
    node = data
    for item in loc:
        name = None
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                name = node["name"]
            parts[-1:] = [f"{parts[-1]}[{name if name else item}]"] if parts else []
            continue
        node = node.get(item) if isinstance(node, dict) else None
        parts.append(str(item))
    return ".".join(parts) or "<root>"


def format_error(exc: ValidationError, data: Any, source: str) -> ContractFormatError:
    """Turn a pydantic error into a one-line `ContractFormatError` (INVALID_FIELD)."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    field = _field_path(loc, data)
    detail = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ContractFormatError(
        f"{source}: {field}: {detail}{more}",
        reason=ContractErrorReason.INVALID_FIELD,
        metadata={"file": source, "field": field, "detail": detail},
    )
