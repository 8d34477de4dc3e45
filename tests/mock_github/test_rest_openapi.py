"""Every REST route of the mock answers in GitHub's shape, per GitHub's OpenAPI description.

The routes come from the mock's router, so a new endpoint without an example here, or
one GitHub's description does not have, fails `test_every_route_is_exercised`. Each
example is a realistic request; its status must be one the operation documents and its
body must validate against that answer's schema (`@octokit/openapi`, version pinned in
npm_schemas.py).
"""

import re
from dataclasses import dataclass
from typing import Any

import github
import pytest
import requests

from mock_github.graphql.api import PATHS as GRAPHQL_PATHS
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.mock_github.npm_schemas import OPENAPI
from tests.mock_github.openapi_check import operation, problems, response_schema

REPO = "acme/widget"
R = f"/repos/{REPO}"


@dataclass(frozen=True)
class Example:
    method: str
    path: str
    status: int
    body: Any = None
    token: bool = True
    auth: str | None = None  # an Authorization header instead of the token's (an App's JWT)
    if_none_match: str | None = None  # a conditional GET


def scenario(mock_github: MockGitHubFixture, hook_url: str) -> list[Example]:
    """A repository with a pull request, an issue, comments, labels, statuses and a hook,
    and one request (or more) for every route."""
    c = mock_github.control
    c.create_repo(REPO, files={"README.md": "hello\n", "src/a.txt": "1\n", "old.txt": "x\n"})
    c.add_org_member("acme", "ouro-bot", public=False)
    c.add_org_member("acme", "dave", public=True)
    c.add_user("eve")
    c.add_collaborator(REPO, "carol")
    c.add_team_member("acme", "Core Devs", "dave", role="maintainer")
    pr = c.open_pr(REPO, "fix", files={"src/a.txt": "2\n", "old.txt": None}, user="dave")
    c.push(REPO, {"b.txt": "b\n"}, branch="feature")
    issue = c.open_issue(REPO, "It breaks", "Steps: …", user="eve")
    comment = c.comment(REPO, issue["number"], "Me too", user="dave")
    c.label(REPO, pr["number"], ["bug"])
    head = pr["head"]["sha"]
    hook = c.add_hook(REPO, hook_url, "s3cret")
    delivery = c.deliveries()[-1]
    n, i, h = pr["number"], issue["number"], hook["id"]
    app = c.register_app("ouro-ci", "acme")
    installation = c.install_app("ouro-ci", "acme", ["widget"])["id"]
    app_jwt = "Bearer " + github.Auth.AppAuth(app["id"], app["pem"]).create_jwt()
    status = {"state": "success", "context": "ci/test", "description": "passed"}
    run = check_run(mock_github, head)
    suite = run["check_suite"]["id"]
    done = {"conclusion": "success", "output": {"title": "Passed", "summary": "12 tests"}}
    return [
        Example("GET", "/", 200),
        Example("GET", "/user", 200),
        Example("GET", "/user", 304, if_none_match="*"),
        Example("GET", "/rate_limit", 200),
        Example("GET", "/users/dave", 200),
        Example("GET", "/orgs/acme", 200),
        Example("GET", "/orgs/acme/members/dave", 204),
        Example("GET", "/orgs/acme/members/eve", 404),
        Example("GET", "/orgs/acme/members/dave", 302, token=False),
        Example("GET", "/orgs/acme/public_members/dave", 204),
        Example("GET", "/orgs/acme/public_members/ouro-bot", 404),
        Example("GET", "/orgs/acme/memberships/dave", 200),
        Example("GET", R, 200),
        Example("GET", f"{R}/collaborators/carol", 204),
        Example("GET", f"{R}/collaborators/eve", 404),
        Example("GET", f"{R}/collaborators/carol/permission", 200),
        Example("GET", f"{R}/commits/{head}", 200),
        Example("GET", f"{R}/contents", 200),
        Example("GET", f"{R}/contents/src", 200),
        Example("GET", f"{R}/contents/README.md?ref=main", 200),
        Example("GET", f"{R}/branches/main", 200),
        Example("GET", f"{R}/git/refs", 200),
        Example("GET", f"{R}/git/ref/heads/main", 200),
        Example("GET", f"{R}/git/refs/heads/fix", 200),
        Example("GET", f"{R}/git/matching-refs/heads/", 200),
        Example("POST", f"{R}/statuses/{head}", 201, status),
        Example("GET", f"{R}/commits/{head}/status", 200),
        Example("GET", f"{R}/commits/{head}/statuses", 200),
        Example("GET", f"{R}/statuses/{head}", 200),
        Example("POST", f"{R}/check-runs", 201, {"name": "ci/lint", "head_sha": head}),
        Example("GET", f"{R}/check-runs/{run['id']}", 200),
        Example("PATCH", f"{R}/check-runs/{run['id']}", 200, done),
        Example("POST", f"{R}/check-runs/{run['id']}/rerequest", 201),
        Example("GET", f"{R}/commits/{head}/check-runs?check_name=ci/test&filter=all", 200),
        Example("GET", f"{R}/commits/fix/check-suites", 200),
        Example("GET", f"{R}/check-suites/{suite}", 200),
        Example("GET", f"{R}/pulls?state=all", 200),
        Example("POST", f"{R}/pulls", 201, {"head": "feature", "base": "main", "title": "B"}),
        Example("GET", f"{R}/pulls/{n}", 200),
        Example("PATCH", f"{R}/pulls/{n}", 200, {"title": "Fix the letter a"}),
        Example("GET", f"{R}/pulls/{n}/commits", 200),
        Example("GET", f"{R}/pulls/{n}/files", 200),
        Example("POST", f"{R}/pulls/{n}/reviews", 200, {"event": "APPROVE"}),
        Example("POST", f"{R}/pulls/{n}/reviews", 200, {"body": "Draft"}),
        Example("GET", f"{R}/pulls/{n}/reviews", 200),
        Example("GET", f"{R}/commits?sha=fix&per_page=1", 200),
        Example("GET", f"{R}/compare/main...fix", 200),
        Example("GET", f"{R}/compare/fix...feature", 200),
        Example("GET", f"/search/issues?q=repo:{REPO}+is:pr+is:open+label:bug", 200),
        Example("GET", "/search/issues?q=breaks+in:title+is:issue", 200),
        Example("GET", "/search/issues", 422),
        Example("GET", "/orgs/acme/teams", 200),
        Example("GET", "/orgs/acme/teams/core-devs", 200),
        Example("GET", "/orgs/acme/teams/core-devs/memberships/dave", 200),
        Example("GET", "/orgs/acme/teams/core-devs/memberships/eve", 404),
        Example("GET", f"{R}/issues?state=all", 200),
        Example("POST", f"{R}/issues", 201, {"title": "Another", "body": "text"}),
        Example("GET", f"{R}/issues/{i}", 200),
        Example("PATCH", f"{R}/issues/{i}", 200, {"body": "Steps: 1, 2"}),
        Example("GET", f"{R}/issues/comments/{comment['id']}", 200),
        Example("PATCH", f"{R}/issues/comments/{comment['id']}", 200, {"body": "Me too!"}),
        Example("DELETE", f"{R}/issues/comments/{comment['id']}", 204),
        Example("GET", f"{R}/issues/{i}/comments", 200),
        Example("POST", f"{R}/issues/{i}/comments", 201, {"body": "Fixed?"}),
        Example("POST", f"{R}/issues/{i}/labels", 200, {"labels": ["bug", "help"]}),
        Example("GET", f"{R}/issues/{i}/labels", 200),
        Example("DELETE", f"{R}/issues/{i}/labels/help", 200),
        Example("GET", f"{R}/labels", 200),
        Example("POST", f"{R}/labels", 201, {"name": "triage", "color": "c0ffee"}),
        Example("GET", f"{R}/labels/bug", 200),
        Example("GET", f"{R}/hooks", 200),
        Example(
            "POST",
            f"{R}/hooks",
            201,
            {"name": "web", "config": {"url": hook_url + "two", "content_type": "json"}},
        ),
        Example("GET", f"{R}/hooks/{h}", 200),
        Example("GET", f"{R}/hooks/{h}/deliveries", 200),
        Example("GET", f"{R}/hooks/{h}/deliveries/{delivery['id']}", 200),
        Example("POST", f"{R}/hooks/{h}/deliveries/{delivery['id']}/attempts", 202),
        Example("PUT", f"{R}/pulls/{n}/merge", 200, {"merge_method": "merge"}),
        Example("GET", "/app", 200, auth=app_jwt),
        Example("GET", "/app/installations", 200, auth=app_jwt),
        Example("GET", f"/app/installations/{installation}", 200, auth=app_jwt),
        Example("GET", f"{R}/installation", 200, auth=app_jwt),
        Example("GET", "/repos/acme/nowhere/installation", 404, auth=app_jwt),
        Example("POST", f"/app/installations/{installation}/access_tokens", 201, {}, auth=app_jwt),
    ]


def check_run(mock_github: MockGitHubFixture, sha: str) -> dict[str, Any]:
    """A check run in progress on `sha`, made with the REST API as an app makes it."""
    body = {
        "name": "ci/test",
        "head_sha": sha,
        "status": "in_progress",
        "details_url": "http://ci.example/logs/1",
        "external_id": "job-1",
        "output": {"title": "Running", "summary": "started", "text": "log follows"},
    }
    answer = requests.post(
        f"{mock_github.url}{R}/check-runs",
        json=body,
        headers={"Authorization": f"token {mock_github.token}"},
        timeout=30,
    )
    answer.raise_for_status()
    run: dict[str, Any] = answer.json()
    return run


def route_of(mock_github: MockGitHubFixture, example: Example) -> tuple[str, str]:
    """The route (method, template) that serves `example`, as the router picks it."""
    router = mock_github.server.router
    path = example.path.split("?")[0]
    for (method, regex, _), template in zip(router.routes, router.templates, strict=True):
        if method == example.method and regex.fullmatch(path):
            return template
    raise AssertionError(f"{example.method} {path}: no route")


def rest_routes(mock_github: MockGitHubFixture) -> list[tuple[str, str]]:
    """Every route but the control API and GraphQL (test_graphql.py checks that one)."""
    return [
        (method, template)
        for method, template in mock_github.server.router.templates
        if not template.startswith("/_mock/") and template not in GRAPHQL_PATHS
    ]


def test_every_route_is_in_githubs_description(mock_github: MockGitHubFixture) -> None:
    missing = []
    for method, template in rest_routes(mock_github):
        try:
            operation(method, template)
        except AssertionError as error:
            missing.append(str(error))
    assert missing == []


def test_every_route_answers_in_githubs_shape(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    examples = scenario(mock_github, hook_recorder.url)
    session = requests.Session()
    failures: list[str] = []
    covered = set()
    for example in examples:
        template = route_of(mock_github, example)
        covered.add(template)
        headers = {"Authorization": f"token {mock_github.token}"} if example.token else {}
        if example.auth is not None:
            headers = {"Authorization": example.auth}
        if example.if_none_match is not None:
            headers["If-None-Match"] = example.if_none_match
        answer = session.request(
            example.method,
            mock_github.url + example.path,
            json=example.body,
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )
        where = f"{example.method} {example.path} → {answer.status_code}"
        if answer.status_code != example.status:
            failures.append(f"{where}: expected {example.status}: {answer.text[:200]}")
            continue
        try:
            schema = response_schema(operation(*template)[1], answer.status_code)
        except AssertionError as error:
            failures.append(f"{where}: {error}")
            continue
        if schema is None:
            # GitHub's error answers carry a message even where the description names none.
            if answer.content and answer.status_code < 400:
                failures.append(f"{where}: GitHub answers no body here, the mock {answer.text!r}")
            continue
        failures += [f"{where}: {p}" for p in problems(schema, answer.json())]
    session.close()
    unexercised = set(rest_routes(mock_github)) - covered
    assert failures == [], f"@octokit/openapi {OPENAPI.version}:\n" + "\n".join(failures)
    assert unexercised == set(), "routes with no example in scenario()"


@pytest.mark.parametrize("field", ["login", "id", "url"])
def test_a_missing_required_field_fails(field: str) -> None:
    """The check is no rubber stamp: a user without a required field is refused."""
    schema = {"$ref": "#/components/schemas/simple-user"}
    user = {"login": "dave", "id": 1, "url": "http://127.0.0.1/users/dave"}
    del user[field]
    assert any(re.search(f"'{field}' is a required property", p) for p in problems(schema, user))
