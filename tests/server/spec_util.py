"""docs/openapi.yaml as JSON Schema validators: response bodies of every route and status, and component schemas.

The whole OpenAPI document is one `referencing` resource (Draft 2020-12), so the spec's own
`#/components/...` references resolve wherever a schema is taken from.
"""
from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "docs" / "openapi.yaml"
SPEC_URI = "urn:ecsdb:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.lru_cache(maxsize=None)
def spec() -> dict:
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.lru_cache(maxsize=None)
def registry() -> Registry:
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def pointer(*parts: str) -> str:
    return "#/" + "/".join(_pointer_escape(str(p)) for p in parts)


@functools.lru_cache(maxsize=None)
def validator_for_pointer(ptr: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": SPEC_URI + ptr}
    return jsonschema.Draft202012Validator(
        schema, registry=registry(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _resolve(node: dict) -> tuple[dict, str | None]:
    """Follows a local $ref of the spec (e.g. to #/components/responses/X); returns the node and its pointer."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    assert ref.startswith("#/"), ref
    out = spec()
    for part in ref[2:].split("/"):
        out = out[part.replace("~1", "/").replace("~0", "~")]
    return out, ref


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation of the spec."""
    return [
        (m.upper(), p)
        for p, item in spec()["paths"].items()
        for m in item
        if m in HTTP_METHODS
    ]


def operation(method: str, path: str) -> dict:
    return spec()["paths"][path][method.lower()]


def documented_statuses(method: str, path: str) -> set[int]:
    return {int(s) for s in operation(method, path)["responses"]}


def response_spec(method: str, path: str, status: int) -> tuple[dict, str]:
    """The Response object documented for (method, path, status) and a JSON pointer to it."""
    responses = operation(method, path)["responses"]
    key = str(status)
    assert key in responses, f"{method} {path}: status {status} is not documented (have {sorted(responses)})"
    node, ref = _resolve(responses[key])
    ptr = ref or pointer("paths", path, method.lower(), "responses", key)
    return node, ptr


def validate_response_body(method: str, path: str, status: int, body, media_type: str = "application/json") -> None:
    node, ptr = response_spec(method, path, status)
    content = node.get("content")
    assert content and media_type in content, f"{method} {path} {status}: no {media_type} content documented"
    validator_for_pointer(ptr + "/" + "/".join(_pointer_escape(p) for p in ("content", media_type, "schema"))).validate(body)


def response_headers(method: str, path: str, status: int) -> dict:
    node, _ = response_spec(method, path, status)
    return node.get("headers", {})


def validate_component(name: str, instance) -> None:
    validator_for_pointer(pointer("components", "schemas", name)).validate(instance)


def is_valid_component(name: str, instance) -> bool:
    return validator_for_pointer(pointer("components", "schemas", name)).is_valid(instance)
