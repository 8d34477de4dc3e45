"""REST routes for a repository: itself, its collaborators, commits, contents, branches, refs."""

from mock_github.errors import ApiError, not_found
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate


class RepoRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO, self.get_repo)
        router.add("GET", REPO + "/collaborators/{user}", self.collaborator)
        router.add("GET", REPO + "/collaborators/{user}/permission", self.collaborator_permission)
        router.add("GET", REPO + "/commits/{ref}", self.get_commit)
        router.add("GET", REPO + "/contents", self.contents_root)
        router.add("GET", REPO + "/contents/{path*}", self.contents)
        router.add("GET", REPO + "/branches/{branch*}", self.get_branch)
        router.add("GET", REPO + "/git/refs", self.all_refs)
        router.add("GET", REPO + "/git/ref/{ref*}", lambda q: self.git_refs(q, exact=True))
        router.add("GET", REPO + "/git/refs/{ref*}", lambda q: self.git_refs(q, exact=False))
        router.add("GET", REPO + "/git/matching-refs/{ref*}", self.matching_refs)

    def get_repo(self, request: Request) -> Response:
        return Response(200, self.shapes(request).full_repo(self.repo_of(request)))

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
                "user": {
                    **self.shapes(request).user(user),
                    "role_name": permission,
                    "permissions": {
                        "admin": permission == "admin",
                        "maintain": permission in ("admin", "maintain"),
                        "push": permission in ("admin", "maintain", "push"),
                        "triage": permission in ("admin", "maintain", "push", "triage"),
                        "pull": permission != "none",
                    },
                },
            },
        )

    def get_commit(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = repo.git.resolve(request.params["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {request.params['ref']}")
        return Response(200, self.shapes(request).commit(repo, sha))

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
        return Response(200, self.shapes(request).branch(repo, name, sha))

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
