"""What every GraphQL object of the mock shares: the request's context, errors, paging, and
the accounts all of them nest.

One class per GraphQL type (or per family: `AccountNode` is a User, Bot or Organization).
A field is an attribute, a property, or a method taking the field's arguments
(graphql-core's default resolver calls it); `typename` names the object's type for unions
and interfaces. Ids are the REST answers' `node_id`s, so both APIs name an object alike.
"""

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from mock_github.graphql.paging import connection
from mock_github.records import Account
from mock_github.shapes.base import Urls
from mock_github.state import State


class NotFound(GraphQLError):
    """A name or number that resolves to nothing: GitHub's `NOT_FOUND` error."""


@dataclass(frozen=True)
class Context:
    state: State
    urls: Urls
    login: str  # the viewer


# A resolver's `info`: the mock's objects carry their context, so it goes unused mostly.
Info = GraphQLResolveInfo[Any]


def page(info: Info, items: list[Any], **args: Any) -> dict[str, Any]:
    return connection(items, field=info.field_name, **args)


class AccountNode:
    def __init__(self, ctx: Context, account: Account):
        self.ctx, self.account = ctx, account
        self.typename = account.type  # User, Bot or Organization
        self.id = f"{'O' if account.type == 'Organization' else 'U'}_{account.id}"
        self.databaseId = account.id
        self.login = account.login
        self.name = account.name
        self.url = f"{ctx.urls.web}/{account.login}"

    def avatarUrl(self, info: Info, size: int | None = None) -> str:
        return f"{self.ctx.urls.web}/avatars/{self.account.login}"


def account(ctx: Context, login: str) -> AccountNode:
    return AccountNode(ctx, ctx.state.account(login))
