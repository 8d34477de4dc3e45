"""GitHub's REST API, the subset the project uses, with GitHub's shapes and status codes."""

import json
from collections.abc import Callable

from mock_github import delivery
from mock_github.errors import ApiError, not_found
from mock_github.payloads import Shapes
from mock_github.records import Event, Hook, Issue, Repo, pull_of
from mock_github.routing import Request, Response, Router, paginate
from mock_github.state import State

Redeliver = Callable[[Hook, delivery.Delivery], object]


class RestApi:
    def __init__(self, state: State, redeliver: Redeliver):
        self.state = state
        self._redeliver = redeliver

    def repo_of(self, request: Request) -> Repo:
        return self.state.repo(f"{request.params['owner']}/{request.params['repo']}")

    def register(self, router: Router) -> None:
        router.add("GET", "/", self.root)
        router.add("GET", "/user", self.current_user)
        router.add("GET", "/users/{login}", self.get_user)
        router.add("GET", "/orgs/{org}", self.get_org)
        router.add("GET", "/orgs/{org}/members/{user}", self.org_member)
        router.add("GET", "/orgs/{org}/public_members/{user}", self.org_public_member)
        router.add("GET", "/orgs/{org}/memberships/{user}", self.org_membership)
        repo_path = "/repos/{owner}/{repo}"
        router.add("GET", repo_path, self.get_repo)
        router.add("GET", repo_path + "/collaborators/{user}", self.collaborator)
        router.add(
            "GET", repo_path + "/collaborators/{user}/permission", self.collaborator_permission
        )
        router.add("GET", repo_path + "/commits/{ref}", self.get_commit)
        router.add("GET", repo_path + "/commits/{ref}/status", self.combined_status)
        router.add("GET", repo_path + "/commits/{ref}/statuses", self.list_statuses)
        router.add("GET", repo_path + "/statuses/{ref}", self.list_statuses)
        router.add("POST", repo_path + "/statuses/{sha}", self.create_status)
        router.add("GET", repo_path + "/contents", self.contents_root)
        router.add("GET", repo_path + "/contents/{path*}", self.contents)
        router.add("GET", repo_path + "/branches/{branch*}", self.get_branch)
        router.add("GET", repo_path + "/git/refs", self.all_refs)
        router.add("GET", repo_path + "/git/ref/{ref*}", lambda q: self.git_refs(q, exact=True))
        router.add("GET", repo_path + "/git/refs/{ref*}", lambda q: self.git_refs(q, exact=False))
        router.add("GET", repo_path + "/git/matching-refs/{ref*}", self.matching_refs)
        router.add("GET", repo_path + "/pulls", self.list_pulls)
        router.add("GET", repo_path + "/pulls/{number}", self.get_pull)
        router.add("PATCH", repo_path + "/pulls/{number}", self.update_pull)
        router.add("PUT", repo_path + "/pulls/{number}/merge", self.merge_pull)
        router.add("GET", repo_path + "/pulls/{number}/commits", self.pull_commits)
        router.add("GET", repo_path + "/issues/comments/{id}", self.get_comment)
        router.add("GET", repo_path + "/issues/{number}", self.get_issue)
        router.add("PATCH", repo_path + "/issues/{number}", self.update_issue)
        router.add("GET", repo_path + "/issues/{number}/comments", self.list_comments)
        router.add("POST", repo_path + "/issues/{number}/comments", self.create_comment)
        router.add("GET", repo_path + "/issues/{number}/labels", self.issue_labels)
        router.add("POST", repo_path + "/issues/{number}/labels", self.add_issue_labels)
        router.add("DELETE", repo_path + "/issues/{number}/labels/{name}", self.remove_issue_label)
        router.add("GET", repo_path + "/labels", self.repo_labels)
        router.add("POST", repo_path + "/labels", self.create_label)
        router.add("GET", repo_path + "/labels/{name}", self.get_label)
        router.add("GET", repo_path + "/hooks", self.list_hooks)
        router.add("POST", repo_path + "/hooks", self.create_hook)
        router.add("GET", repo_path + "/hooks/{hook}", self.get_hook)
        router.add("GET", repo_path + "/hooks/{hook}/deliveries", self.list_deliveries)
        router.add("GET", repo_path + "/hooks/{hook}/deliveries/{delivery}", self.get_delivery)
        router.add("POST", repo_path + "/hooks/{hook}/deliveries/{delivery}/attempts", self.attempt)

    def shapes(self, request: Request) -> Shapes:
        return Shapes(self.state, request.urls)

    # Accounts and organizations

    def root(self, request: Request) -> Response:
        return Response(200, {"current_user_url": f"{request.urls.api}/user"})

    def current_user(self, request: Request) -> Response:
        return Response(200, self.shapes(request).full_user(self.state.account(request.user())))

    def get_user(self, request: Request) -> Response:
        account = self.state.accounts.get(request.params["login"].lower())
        if account is None:
            raise not_found()
        return Response(200, self.shapes(request).full_user(account))

    def get_org(self, request: Request) -> Response:
        account = self.state.accounts.get(request.params["org"].lower())
        if account is None or account.type != "Organization":
            raise not_found()
        return Response(200, self.shapes(request).org(account))

    def visible_membership(self, request: Request) -> tuple[bool, str] | None:
        """A private membership shows only to members of the org, as on GitHub."""
        org, user = request.params["org"], request.params["user"]
        found = self.state.membership(org, user)
        if found is None:
            return None
        public, _ = found
        if public or (request.login is not None and self.state.membership(org, request.login)):
            return found
        return None

    def org_member(self, request: Request) -> Response:
        if self.visible_membership(request) is None:
            raise not_found()
        return Response(204)

    def org_public_member(self, request: Request) -> Response:
        found = self.state.membership(request.params["org"], request.params["user"])
        if found is None or not found[0]:
            raise not_found()
        return Response(204)

    def org_membership(self, request: Request) -> Response:
        found = self.visible_membership(request)
        if found is None:
            raise not_found()
        org = self.state.account(request.params["org"])
        user = request.params["user"]
        return Response(
            200,
            {
                "url": f"{request.urls.api}/orgs/{org.login}/memberships/{user}",
                "state": "active",
                "role": found[1],
                "organization_url": f"{request.urls.api}/orgs/{org.login}",
                "organization": self.shapes(request).org(org),
                "user": self.shapes(request).user(user),
            },
        )

    # Repositories, commits, contents, refs

    def get_repo(self, request: Request) -> Response:
        return Response(200, self.shapes(request).repo(self.repo_of(request)))

    def collaborator(self, request: Request) -> Response:
        repo = self.repo_of(request)
        user = request.params["user"].lower()
        if user not in repo.collaborators and user != repo.owner.lower():
            raise not_found()
        return Response(204)

    def collaborator_permission(self, request: Request) -> Response:
        repo = self.repo_of(request)
        user = request.params["user"]
        permission = "admin" if user.lower() == repo.owner.lower() else None
        permission = permission or repo.collaborators.get(user.lower())
        if permission is None:
            member = self.state.membership(repo.owner, user)
            permission = "read" if member else "none"
        legacy = {"pull": "read", "triage": "read", "push": "write", "maintain": "write"}
        return Response(
            200,
            {
                "permission": legacy.get(permission, permission),
                "role_name": permission,
                "user": self.shapes(request).user(user),
            },
        )

    def get_commit(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = repo.git.resolve(request.params["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {request.params['ref']}")
        return Response(200, self.shapes(request).commit(repo, sha))

    def combined_status(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = self.state.resolve(repo, request.params["ref"])
        return Response(200, self.shapes(request).combined_status(repo, sha))

    def list_statuses(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = repo.git.resolve(request.params["ref"])
        statuses = self.state.statuses(repo, sha) if sha else []
        return paginate(
            request, [self.shapes(request).status(repo, s, sha or "") for s in statuses]
        )

    def create_status(self, request: Request) -> Response:
        repo = self.repo_of(request)
        body = request.json()
        status, events = self.state.add_status(
            repo,
            request.params["sha"],
            state=body.get("state"),
            context=body.get("context", "default"),
            description=body.get("description"),
            target_url=body.get("target_url"),
            creator=request.user(),
        )
        sha = self.state.resolve(repo, request.params["sha"])
        return Response(201, self.shapes(request).status(repo, status, sha), events=events)

    def contents_root(self, request: Request) -> Response:
        request.params["path"] = ""
        return self.contents(request)

    def contents(self, request: Request) -> Response:
        repo = self.repo_of(request)
        ref = request.query.get("ref") or repo.default_branch
        sha = repo.git.resolve(ref)
        if sha is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        path = request.params["path"].strip("/")
        blob = repo.git.read_blob(sha, path) if path else None
        if blob is not None:
            return Response(200, self.shapes(request).content(repo, path, ref, *blob))
        entries = repo.git.list_dir(sha, path)
        if entries is None:
            raise not_found()
        return Response(200, [self.shapes(request).dir_entry(repo, path, ref, e) for e in entries])

    def get_branch(self, request: Request) -> Response:
        repo = self.repo_of(request)
        name = request.params["branch"]
        sha = repo.git.resolve(f"refs/heads/{name}")
        if sha is None:
            raise ApiError(404, "Branch not found")
        commit = self.shapes(request).commit(repo, sha)
        return Response(200, {"name": name, "commit": commit, "protected": False})

    def git_refs(self, request: Request, exact: bool) -> Response:
        repo = self.repo_of(request)
        wanted = "refs/" + request.params["ref"].strip("/")
        refs = repo.git.refs()
        if wanted in refs:
            return Response(200, self.shapes(request).git_ref(repo, wanted, refs[wanted]))
        matching = [name for name in sorted(refs) if name.startswith(wanted + "/")]
        if exact or not matching:
            raise not_found()
        return Response(200, [self.shapes(request).git_ref(repo, n, refs[n]) for n in matching])

    def all_refs(self, request: Request) -> Response:
        repo = self.repo_of(request)
        refs = repo.git.refs()
        return paginate(
            request, [self.shapes(request).git_ref(repo, n, refs[n]) for n in sorted(refs)]
        )

    def matching_refs(self, request: Request) -> Response:
        repo = self.repo_of(request)
        refs = repo.git.refs()
        prefix = "refs/" + request.params["ref"]
        found = [
            self.shapes(request).git_ref(repo, n, refs[n])
            for n in sorted(refs)
            if n.startswith(prefix)
        ]
        return Response(200, found)

    # Pull requests, issues, comments, labels

    def list_pulls(self, request: Request) -> Response:
        repo = self.repo_of(request)
        wanted = request.query.get("state", "open")
        if wanted not in ("open", "closed", "all"):
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "state", "code": "invalid"}],
            )
        base = request.query.get("base")
        head = request.query.get("head")
        pulls = []
        for issue in sorted(repo.issues.values(), key=lambda i: -i.number):
            pull = issue.pull
            if pull is None or wanted not in ("all", issue.state):
                continue
            if base and pull.base_ref != base:
                continue
            if head and head not in (
                pull.head_ref,
                f"{pull.head_repo.split('/')[0]}:{pull.head_ref}",
            ):
                continue
            pulls.append(self.shapes(request).pull(repo, issue))
        return paginate(request, pulls)

    def get_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return Response(
            200, self.shapes(request).pull(repo, self.state.pull(repo, request.number()))
        )

    def edit(self, request: Request, issue: Issue, repo: Repo) -> list[Event]:
        body = request.json()
        for key in ("title", "body", "state", "base"):
            if key in body and body[key] is not None and not isinstance(body[key], str):
                raise ApiError(
                    422, f"Invalid request.\n\nFor 'properties/{key}', it is not a string."
                )
        return self.state.edit_issue(repo, issue, body, request.user())

    def update_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        events = self.edit(request, issue, repo)
        return Response(200, self.shapes(request).pull(repo, issue), events=events)

    def merge_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        sha, events = self.state.merge_pull(repo, issue, request.user())
        body = {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        return Response(200, body, events=events)

    def pull_commits(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        pull = pull_of(issue)
        base = repo.git.resolve(f"refs/heads/{pull.base_ref}")
        shas = repo.git.commits_between(base, pull.head_sha, 250)
        return paginate(request, [self.shapes(request).commit(repo, sha) for sha in shas])

    def get_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return Response(
            200, self.shapes(request).issue(repo, self.state.issue(repo, request.number()))
        )

    def update_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        events = self.edit(request, issue, repo)
        return Response(200, self.shapes(request).issue(repo, issue), events=events)

    def list_comments(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        return paginate(request, [self.shapes(request).comment(repo, c) for c in issue.comments])

    def create_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        comment, events = self.state.comment(
            repo, issue, request.user(), request.field("body", str)
        )
        return Response(201, self.shapes(request).comment(repo, comment), events=events)

    def get_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        wanted = request.params["id"]
        for issue in repo.issues.values():
            for comment in issue.comments:
                if str(comment.id) == wanted:
                    return Response(200, self.shapes(request).comment(repo, comment))
        raise not_found()

    def repo_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return paginate(
            request, [self.shapes(request).label(repo, lab) for lab in repo.labels.values()]
        )

    def get_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        found = repo.labels.get(request.params["name"].lower())
        if found is None:
            raise not_found()
        return Response(200, self.shapes(request).label(repo, found))

    def create_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        name = request.field("name", str)
        if name.lower() in repo.labels:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        label = self.state.label(repo, name)
        label.color = request.field("color", str, label.color)
        label.description = request.field("description", str, None)
        return Response(201, self.shapes(request).label(repo, label))

    def issue_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        return Response(
            200, [self.shapes(request).label(repo, self.state.label(repo, n)) for n in issue.labels]
        )

    def add_issue_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        body = json.loads(request.raw_body) if request.raw_body.strip().startswith(b"[") else None
        names = body if body is not None else request.field("labels", list)
        if not all(isinstance(n, str) for n in names):
            raise ApiError(422, "Invalid request.\n\nFor 'items', it is not a string.")
        events = self.state.add_labels(repo, issue, names, request.user())
        labels = [self.shapes(request).label(repo, self.state.label(repo, n)) for n in issue.labels]
        return Response(200, labels, events=events)

    def remove_issue_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        events = self.state.remove_label(repo, issue, request.params["name"], request.user())
        labels = [self.shapes(request).label(repo, self.state.label(repo, n)) for n in issue.labels]
        return Response(200, labels, events=events)

    # Hooks and their deliveries

    def hook_of(self, request: Request) -> tuple[Repo, Hook]:
        repo = self.repo_of(request)
        try:
            return repo, repo.hooks[int(request.params["hook"])]
        except (KeyError, ValueError):
            raise not_found() from None

    def delivery_of(self, request: Request) -> tuple[Hook, delivery.Delivery]:
        _, hook = self.hook_of(request)
        for record in hook.deliveries:
            if str(record.id) == request.params["delivery"]:
                return hook, record
        raise not_found()

    def list_hooks(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return paginate(request, [self.shapes(request).hook(repo, h) for h in repo.hooks.values()])

    def get_hook(self, request: Request) -> Response:
        return Response(200, self.shapes(request).hook(*self.hook_of(request)))

    def create_hook(self, request: Request) -> Response:
        repo = self.repo_of(request)
        config = request.field("config", dict)
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Hook",
                        "code": "custom",
                        "message": "Config must contain URL for webhooks",
                    }
                ],
            )
        events = self.state.add_hook(
            repo, url, config.get("secret"), request.field("events", list, None)
        )
        hook = next(h for h in repo.hooks.values() if h.url == url)
        return Response(201, self.shapes(request).hook(repo, hook), events=events)

    def list_deliveries(self, request: Request) -> Response:
        _, hook = self.hook_of(request)
        records = [d.summary() for d in reversed(hook.deliveries)]
        return paginate(request, records)

    def get_delivery(self, request: Request) -> Response:
        _, record = self.delivery_of(request)
        return Response(200, record.detail())

    def attempt(self, request: Request) -> Response:
        hook, record = self.delivery_of(request)
        # The redelivery runs outside the state lock, before the 202 is sent.
        return Response(202, {}, after=[lambda: self._redeliver(hook, record)])
