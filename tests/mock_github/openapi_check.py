"""Checking an answer of the mock against GitHub's OpenAPI description (`@octokit/openapi`).

A route of the mock is matched to the description's operation by its path with the
parameter names left out (`/users/{login}` is `/users/{username}`), or through
`LEGACY`: routes GitHub still serves that the description no longer lists, checked
against the operation whose answer they share.
"""

import re
from functools import cache
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator

from tests.mock_github.npm_schemas import openapi

R = "/repos/{owner}/{repo}"
LEGACY = {
    ("GET", R + "/contents"): ("GET", R + "/contents/{path}"),
    ("GET", R + "/git/refs"): ("GET", R + "/git/matching-refs/{ref}"),
    ("GET", R + "/git/refs/{ref*}"): ("GET", R + "/git/ref/{ref}"),
    ("GET", R + "/statuses/{ref}"): ("GET", R + "/commits/{ref}/statuses"),
}


def _bare(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def operation(method: str, template: str) -> tuple[str, dict[str, Any]]:
    """(the description's path, its operation) for a route of the mock; AssertionError if none."""
    method, template = LEGACY.get((method, template), (method, template))
    paths = openapi()["paths"]
    for path, item in paths.items():
        if _bare(path) == _bare(template) and method.lower() in item:
            return path, item[method.lower()]
    raise AssertionError(f"{method} {template}: no such operation in GitHub's description")


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = openapi()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def response_schema(op: dict[str, Any], status: int) -> dict[str, Any] | None:
    """The schema of the JSON body the operation answers with `status` (None: no body)."""
    responses = op["responses"]
    if str(status) not in responses:
        raise AssertionError(f"status {status} is not one of {sorted(responses)}")
    content = _resolve(responses[str(status)]).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if media is None or "schema" not in media:
        return None
    schema: dict[str, Any] = media["schema"]
    return schema


def explain(error: ValidationError) -> list[str]:
    """The error, or for oneOf/anyOf the errors of the branch that came closest."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(branches.values(), key=len)
        return [line for sub in closest for line in explain(sub)]
    message = error.message if len(error.message) < 300 else "…" + error.message[-240:]
    return [f"{error.json_path}: {message}"]


@cache
def _components() -> dict[str, Any]:
    """The description's components, each nullable enum allowing null.

    The description marks an enum that GitHub answers null for (a check run's
    `conclusion` until it completes) `nullable` without listing null, and the validator
    reads OpenAPI 3.0.3 strictly: the enum then refuses null. The intent is clear.
    """

    def allow_null(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: allow_null(value) for key, value in node.items()}
            if node.get("nullable") is True and None not in node.get("enum", [None]):
                node["enum"] = [*node["enum"], None]
        elif isinstance(node, list):
            node = [allow_null(value) for value in node]
        return node

    components: dict[str, Any] = allow_null(openapi()["components"])
    return components


def problems(schema: dict[str, Any], body: Any) -> list[str]:
    """Why `body` does not fit `schema` ($refs resolved in the description), if it does not."""
    rooted = {**schema, "components": _components()}
    if isinstance(body, list):
        # A discriminator names a property, which a list has not: the contents answer's
        # maps "array" to the directory listing, which the validator cannot follow.
        rooted.pop("discriminator", None)
    validator = OAS30Validator(rooted)
    return sorted(line for error in validator.iter_errors(body) for line in explain(error))
