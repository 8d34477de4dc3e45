"""GitHub's GraphQL API, the part `gh pr list/view/checks` uses, served by graphql-core
over the same `State` as the REST API (api.py: the route; schema.py: the types)."""
