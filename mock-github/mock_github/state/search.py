"""Issue search in `State` (`GET /search/issues`): GitHub's query syntax, the qualifiers a
CI bot uses.

A query is words and `qualifier:value` terms (a value may be "quoted"):
`repo:OWNER/NAME`, `is:`/`type:` `pr`/`issue`, `is:`/`state:` `open`/`closed`,
`is:merged`/`is:unmerged`, `label:NAME` (each one must be there), `author:LOGIN`,
`head:BRANCH`, `base:BRANCH`, `in:title`/`in:body`/`in:comments` (where the words are
looked for; all three by default). Several `repo:` (or `author:`) terms match any of
them. Every word must be found, case-insensitively; a term GitHub would not know is a
word, as on GitHub.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from mock_github.records import Issue, Repo
from mock_github.state.base import StateBase

_TERM = re.compile(r'(?:(\w+):)?("[^"]*"|\S+)')

Test = Callable[[Repo, Issue], bool]


def _is(value: str) -> Test | None:
    tests: dict[str, Test] = {
        "pr": lambda _, i: i.pull is not None,
        "issue": lambda _, i: i.pull is None,
        "open": lambda _, i: i.state == "open",
        "closed": lambda _, i: i.state == "closed",
        "merged": lambda _, i: i.pull is not None and i.pull.merged,
        "unmerged": lambda _, i: i.pull is not None and not i.pull.merged,
    }
    return tests.get(value)


@dataclass
class Query:
    tests: list[Test] = field(default_factory=list)
    repos: set[str] = field(default_factory=set)
    authors: set[str] = field(default_factory=set)
    words: list[str] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)  # in: title, body, comments

    @classmethod
    def parse(cls, text: str) -> "Query":
        query = cls()
        for qualifier, raw in _TERM.findall(text):
            value = raw.strip('"')
            key = qualifier.lower()
            if key in ("is", "type", "state") and (test := _is(value.lower())) is not None:
                query.tests.append(test)
            elif key == "repo":
                query.repos.add(value.lower())
            elif key == "author":
                query.authors.add(value.lower())
            elif key == "label":
                query.tests.append(partial(_labelled, name=value.lower()))
            elif key in ("head", "base"):
                query.tests.append(partial(_on_branch, which=key, ref=value))
            elif key == "in" and value.lower() in ("title", "body", "comments"):
                query.fields.add(value.lower())
            else:
                query.words.append(f"{qualifier}:{value}" if qualifier else value)
        return query

    def matches(self, repo: Repo, issue: Issue) -> bool:
        if self.repos and repo.full_name.lower() not in self.repos:
            return False
        if self.authors and issue.user.lower() not in self.authors:
            return False
        if not all(test(repo, issue) for test in self.tests):
            return False
        text = self._text(issue)
        return all(word.lower() in text for word in self.words)

    def _text(self, issue: Issue) -> str:
        where = self.fields or {"title", "body", "comments"}
        parts = [issue.title] if "title" in where else []
        if "body" in where:
            parts.append(issue.body or "")
        if "comments" in where:
            parts += [comment.body for comment in issue.comments]
        return "\n".join(parts).lower()


def _labelled(_: Repo, issue: Issue, *, name: str) -> bool:
    return name in (label.lower() for label in issue.labels)


def _on_branch(_: Repo, issue: Issue, *, which: str, ref: str) -> bool:
    pull = issue.pull
    return pull is not None and (pull.head_ref if which == "head" else pull.base_ref) == ref


class SearchState(StateBase):
    def search_issues(self, text: str) -> list[tuple[Repo, Issue]]:
        """The issues and pull requests `text` finds, in every repository (all public)."""
        query = Query.parse(text)
        return [
            (repo, issue)
            for repo in self.repos.values()
            for issue in repo.issues.values()
            if query.matches(repo, issue)
        ]
