"""`POST /graphql` (and `/api/graphql`, GitHub Enterprise's path, which `gh` uses): a query
executed by graphql-core against schema.py, its objects resolved over the state.

Answers are GraphQL's: `{"data": …}`, with `"errors"` (message, locations, path) for what
failed, status 200 as GitHub answers even then; a name that resolves to nothing carries
GitHub's `"type": "NOT_FOUND"`, which `gh` reads. A body that is not JSON is REST's 400.
"""

import logging
from functools import cache
from typing import Any

from graphql import ExecutionResult, GraphQLSchema, build_schema, graphql_sync

from mock_github.graphql.base import Context, NotFound
from mock_github.graphql.nodes import Root
from mock_github.graphql.schema import SDL
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router

log = logging.getLogger(__name__)

PATHS = ("/graphql", "/api/graphql")


@cache
def schema() -> GraphQLSchema:
    return build_schema(SDL)


def _type_of(value: Any, *_: Any) -> str:
    typename: str = value.typename if not isinstance(value, dict) else value["__typename"]
    return typename


def _answer(result: ExecutionResult) -> dict[str, Any]:
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [
            {**error.formatted, "type": "NOT_FOUND"}
            if isinstance(error.original_error or error, NotFound)
            else error.formatted
            for error in result.errors
        ]
    return answer


class GraphqlApi(Handlers):
    def register(self, router: Router) -> None:
        for path in PATHS:
            router.add("POST", path, self.query)

    def query(self, request: Request) -> Response:
        body = request.json()
        query, variables = body.get("query"), body.get("variables")
        if not isinstance(query, str) or not query.strip():
            message = "A query attribute must be specified and must be a string."
            return Response(200, {"errors": [{"message": message}]})
        if variables is not None and not isinstance(variables, dict):
            return Response(200, {"errors": [{"message": "Variables are invalid JSON."}]})
        operation = body.get("operationName")
        context = Context(self.state, request.urls, request.user())
        result = graphql_sync(
            schema(),
            query,
            root_value=Root(context),
            variable_values=variables,
            operation_name=operation if isinstance(operation, str) else None,
            type_resolver=_type_of,
        )
        log.debug("graphql %s by %s: %d errors", operation, context.login, len(result.errors or []))
        return Response(200, _answer(result))
