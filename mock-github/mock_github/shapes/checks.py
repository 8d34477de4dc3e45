"""Check run and check suite shapes, the same in REST answers and in webhook payloads.

The webhook schemas forbid fields the REST description allows, so the shapes keep to
the fields both have; a suite's REST answer adds its repository.
"""

from mock_github.records import Repo
from mock_github.shapes.apps import AppShapes
from mock_github.shapes.base import JsonDict, ShapesBase
from mock_github.state.apps import EVENTS, PERMISSIONS
from mock_github.state.checks import CheckRun, CheckSuite, app_slug


class CheckShapes(ShapesBase):
    def check_app(self, login: str) -> JsonDict:
        """The app whose checks `login` writes: a registered App for its bot, else the
        account taken for an app (state/checks.py). Webhook schemas forbid the REST
        answer's `client_id` and `installations_count`, so neither is given."""
        app = next((a for a in self.state.apps.values() if a.bot.lower() == login.lower()), None)
        if app is not None:
            shape = AppShapes(self.state, self.urls).app(app)
            return {k: v for k, v in shape.items() if k not in ("client_id", "installations_count")}
        account = self.state.account(login)
        slug = app_slug(account.login)
        return {
            "id": account.id,
            "slug": slug,
            "node_id": f"A_{account.id}",
            "owner": self.user(account.login),
            "name": slug,
            "description": None,
            "external_url": f"{self.urls.web}/{account.login}",
            "html_url": f"{self.urls.web}/apps/{slug}",
            "created_at": account.created_at,
            "updated_at": account.created_at,
            "permissions": dict(PERMISSIONS),
            "events": list(EVENTS),
        }

    def _check_pulls(self, repo: Repo, sha: str) -> list[JsonDict]:
        """The open pull requests whose head is `sha` (GitHub's `pull_requests` of a check)."""

        def end(name: str, ref: str, head: str) -> JsonDict:
            target = self.state.repo(name)
            url = self.urls.repo(target)
            return {"ref": ref, "sha": head, "repo": {"id": target.id, "url": url, "name": name}}

        found = []
        for issue in sorted(repo.issues.values(), key=lambda i: i.number):
            pull = issue.pull
            if pull is None or issue.state != "open" or pull.head_sha != sha:
                continue
            base_sha = repo.git.resolve(f"refs/heads/{pull.base_ref}") or ""
            found.append(
                {
                    "url": f"{self.urls.repo(repo)}/pulls/{issue.number}",
                    "id": repo.id * 100000 + issue.number,
                    "number": issue.number,
                    "head": end(pull.head_repo, pull.head_ref, pull.head_sha),
                    "base": end(repo.full_name, pull.base_ref, base_sha),
                }
            )
        return found

    def _suite_fields(self, repo: Repo, suite: CheckSuite) -> JsonDict:
        parents = repo.git.commit_info(suite.head_sha).parents
        return {
            "id": suite.id,
            "node_id": f"CS_{suite.id}",
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{self.urls.repo(repo)}/check-suites/{suite.id}",
            "before": parents[0] if parents else None,
            "after": suite.head_sha,
            "pull_requests": self._check_pulls(repo, suite.head_sha),
            "app": self.check_app(suite.app),
            "created_at": suite.created_at,
            "updated_at": suite.updated_at,
        }

    def check_run(self, repo: Repo, run: CheckRun) -> JsonDict:
        app = self.check_app(run.app)
        url = f"{self.urls.repo(repo)}/check-runs/{run.id}"
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "url": url,
            "html_url": f"{self.urls.web}/{repo.full_name}/runs/{run.id}",
            # GitHub's default: the app's homepage.
            "details_url": run.details_url or app["external_url"],
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                **run.output,
                "annotations_count": 0,
                "annotations_url": f"{url}/annotations",
            },
            "name": run.name,
            "check_suite": self._suite_fields(repo, self.state.suite_of(run)),
            "app": app,
            "pull_requests": self._check_pulls(repo, run.head_sha),
        }

    def check_suite(self, repo: Repo, suite: CheckSuite) -> JsonDict:
        """The suite as a `check_suite` webhook carries it; `rest_check_suite` adds to it."""
        info = repo.git.commit_info(suite.head_sha)
        return {
            **self._suite_fields(repo, suite),
            "latest_check_runs_count": len(suite.latest),
            "check_runs_url": f"{self.urls.repo(repo)}/check-suites/{suite.id}/check-runs",
            "head_commit": {
                "id": info.sha,
                "tree_id": info.tree,
                "message": info.message,
                "timestamp": info.committer_date,
                "author": {"name": info.author_name, "email": info.author_email},
                "committer": {"name": info.committer_name, "email": info.committer_email},
            },
        }

    def rest_check_suite(self, repo: Repo, suite: CheckSuite) -> JsonDict:
        return {
            **self.check_suite(repo, suite),
            # Not in the webhook: the rerequested event's schema forbids these.
            "rerequestable": True,
            "runs_rerequestable": True,
            "repository": self.repo(repo),
        }
