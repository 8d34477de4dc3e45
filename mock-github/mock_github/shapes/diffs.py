"""Comparison shapes: two commits compared (`GET …/compare/BASE...HEAD`)."""

import urllib.parse

from mock_github.records import Repo
from mock_github.shapes.base import JsonDict
from mock_github.shapes.git import GitShapes

# GitHub lists at most this many commits of a comparison (and of a pull request).
MAX_COMMITS = 250


class DiffShapes(GitShapes):
    def comparison(self, repo: Repo, basehead: str, base: str, head: str) -> JsonDict:
        """`base` and `head` compared as GitHub does: the commits of `head` not in `base`,
        and the files changed since their merge base (a three-dot diff)."""
        git = repo.git
        merge_base = git.merge_base(base, head) or base
        ahead, behind = git.ahead_behind(base, head)
        if ahead and behind:
            status = "diverged"
        else:
            status = "ahead" if ahead else "behind" if behind else "identical"
        web = f"{self.urls.web}/{repo.full_name}"
        html = f"{web}/compare/{urllib.parse.quote(basehead)}"
        owner, name = repo.owner, repo.name
        return {
            "url": f"{self.urls.repo(repo)}/compare/{urllib.parse.quote(basehead)}",
            "html_url": html,
            "permalink_url": f"{web}/compare/{owner}:{name}:{base[:7]}...{owner}:{name}:{head[:7]}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self.commit(repo, base, files=False),
            "merge_base_commit": self.commit(repo, merge_base, files=False),
            "status": status,
            "ahead_by": ahead,
            "behind_by": behind,
            "total_commits": ahead,
            "commits": [
                self.commit(repo, sha, files=False)
                for sha in git.commits_between(merge_base, head, MAX_COMMITS)
            ],
            "files": [self.diff_entry(repo, head, c) for c in git.diff(merge_base, head)],
        }
