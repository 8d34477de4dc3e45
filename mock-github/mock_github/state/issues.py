"""Issues in `State` (pull requests are issues too): opening, editing, comments, labels."""

from collections.abc import Mapping
from typing import Any

from mock_github.errors import ApiError, not_found, validation_failed
from mock_github.records import Comment, Event, Issue, Label, Repo, now
from mock_github.state.accounts import AccountState


class IssueState(AccountState):
    def issue(self, repo: Repo, number: int) -> Issue:
        found = repo.issues.get(number)
        if found is None:
            raise not_found()
        return found

    def open_issue(self, repo: Repo, title: str, body: str | None, user: str) -> Issue:
        if not title:
            raise validation_failed("Issue", "title", "title is missing")
        stamp = now()
        number = max(repo.issues, default=0) + 1
        issue = Issue(number, title, body, self.account(user).login, stamp, stamp)
        repo.issues[number] = issue
        return issue

    def create_issue(
        self, repo: Repo, title: str, body: str | None, user: str
    ) -> tuple[Issue, list[Event]]:
        """A plain issue, with the `issues` `opened` event GitHub sends."""
        issue = self.open_issue(repo, title, body, user)
        fields = {"number": issue.number, "sender": issue.user}
        return issue, [Event(repo.full_name, "issues", "opened", fields)]

    def edit_issue(
        self, repo: Repo, issue: Issue, changes: Mapping[str, Any], sender: str
    ) -> list[Event]:
        """Title/body/state/base changes, with the edited/closed/reopened events GitHub sends."""
        kind = "pull_request" if issue.pull else "issues"
        events = []
        previous: dict[str, Any] = {}
        for key in ("title", "body"):
            if key in changes and changes[key] != getattr(issue, key):
                value = changes[key]
                if not isinstance(value, str | None) or (key == "title" and not value):
                    raise validation_failed("Issue", key, f"{key} must be a non-empty string")
                # GitHub's `changes.body.from` is a string: "" for a description that was
                # empty (null in the REST answers), never null.
                previous[key] = {"from": getattr(issue, key) or ""}
                setattr(issue, key, value)
        if issue.pull and "base" in changes and changes["base"] != issue.pull.base_ref:
            if repo.git.resolve(f"refs/heads/{changes['base']}") is None:
                raise validation_failed("PullRequest", "base", "no such branch")
            previous["base"] = {"ref": {"from": issue.pull.base_ref}}
            issue.pull.base_ref = changes["base"]
        if previous:
            issue.updated_at = now()
            fields = {"number": issue.number, "sender": sender, "changes": previous}
            events.append(Event(repo.full_name, kind, "edited", fields))
        state = changes.get("state")
        if state is not None and state != issue.state:
            if state not in ("open", "closed"):
                raise validation_failed("Issue", "state", "state must be open or closed")
            if issue.pull and issue.pull.merged:
                raise validation_failed(
                    "PullRequest", "state", "a merged pull request stays closed"
                )
            issue.state = state
            issue.updated_at = now()
            issue.closed_at = issue.updated_at if state == "closed" else None
            action = "closed" if state == "closed" else "reopened"
            events.append(
                Event(repo.full_name, kind, action, {"number": issue.number, "sender": sender})
            )
        return events

    def comment(
        self, repo: Repo, issue: Issue, user: str, body: str
    ) -> tuple[Comment, list[Event]]:
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "body is missing")
        stamp = now()
        comment = Comment(
            self.next_id(), issue.number, self.account(user).login, body, stamp, stamp
        )
        issue.comments.append(comment)
        issue.updated_at = stamp
        fields = {"number": issue.number, "sender": comment.user, "comment_id": comment.id}
        return comment, [Event(repo.full_name, "issue_comment", "created", fields)]

    def find_comment(self, repo: Repo, comment_id: str) -> tuple[Issue, Comment]:
        for issue in repo.issues.values():
            for comment in issue.comments:
                if str(comment.id) == comment_id:
                    return issue, comment
        raise not_found()

    def edit_comment(self, repo: Repo, comment: Comment, body: str, sender: str) -> list[Event]:
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "body is missing")
        if body == comment.body:
            return []
        previous = comment.body
        comment.body, comment.updated_at = body, now()
        fields = {
            "number": comment.issue_number,
            "sender": sender,
            "comment_id": comment.id,
            "changes": {"body": {"from": previous}},
        }
        return [Event(repo.full_name, "issue_comment", "edited", fields)]

    def delete_comment(
        self, repo: Repo, issue: Issue, comment: Comment, sender: str
    ) -> list[Event]:
        issue.comments.remove(comment)
        fields = {"number": issue.number, "sender": sender, "deleted": comment}
        return [Event(repo.full_name, "issue_comment", "deleted", fields)]

    def label(self, repo: Repo, name: str) -> Label:
        if not isinstance(name, str) or not name or len(name) > 50:
            raise validation_failed("Label", "name", "invalid label name")
        found = repo.labels.get(name.lower())
        if found is None:
            found = Label(self.next_id(), name)
            repo.labels[name.lower()] = found
        return found

    def add_labels(self, repo: Repo, issue: Issue, names: list[str], sender: str) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        events = []
        for name in names:
            label = self.label(repo, name)
            if label.name.lower() in (n.lower() for n in issue.labels):
                continue
            issue.labels.append(label.name)
            fields = {"number": issue.number, "sender": sender, "label": label.name}
            events.append(Event(repo.full_name, kind, "labeled", fields))
        return events

    def remove_label(self, repo: Repo, issue: Issue, name: str, sender: str) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        for existing in issue.labels:
            if existing.lower() == name.lower():
                issue.labels.remove(existing)
                fields = {"number": issue.number, "sender": sender, "label": existing}
                return [Event(repo.full_name, kind, "unlabeled", fields)]
        raise ApiError(404, "Label does not exist")
