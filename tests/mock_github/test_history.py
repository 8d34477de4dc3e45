"""A repository's history: commits listed a page at a time, and two commits compared,
through PyGithub's own methods."""

import github
import pytest
import requests

from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_pygithub import pygithub

REPO = "acme/widget"


def history(mock_github: MockGitHubFixture) -> tuple[list[str], list[str]]:
    """main: 1 created + 2 pushes; fix: from main's second commit, 3 of its own."""
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "0\n"})
    main = [c.push(REPO, {"a.txt": f"{n}\n"}) for n in (1, 2)]
    c.push(REPO, {"b.txt": "b1\n"}, branch="fix", start=main[0])
    fix = [c.push(REPO, {"b.txt": f"b{n}\n"}, branch="fix") for n in (2, 3)]
    return main, fix


def test_commits_newest_first_page_by_page(mock_github: MockGitHubFixture) -> None:
    main, fix = history(mock_github)
    gh = github.Github(
        base_url=mock_github.url, auth=github.Auth.Token(mock_github.token), per_page=2
    )
    repo = gh.get_repo(REPO)
    on_main = [commit.sha for commit in repo.get_commits()]
    assert on_main[:2] == main[::-1]
    assert len(on_main) == 3
    on_fix = repo.get_commits(sha="fix")
    assert on_fix.totalCount == 5  # from the Link header's last page
    assert [commit.sha for commit in on_fix][:2] == fix[::-1]
    assert on_fix[0].parents[0].sha == fix[0]
    answer = requests.get(
        f"{mock_github.url}/repos/{REPO}/commits",
        params={"sha": "fix", "per_page": "2", "page": "2"},
        headers={"Authorization": f"token {mock_github.token}"},
        timeout=30,
    )
    assert answer.json()[0]["sha"] == on_fix[2].sha
    assert 'rel="next"' in answer.headers["Link"]
    assert 'rel="prev"' in answer.headers["Link"]
    assert "files" not in answer.json()[0]  # as on GitHub, a list leaves them out
    gh.close()


def test_compare(mock_github: MockGitHubFixture) -> None:
    main, fix = history(mock_github)
    gh = pygithub(mock_github.url, mock_github.token)
    repo = gh.get_repo(REPO)
    diverged = repo.compare("main", "fix")
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 3, 1)
    assert diverged.total_commits == 3
    assert [c.sha for c in diverged.commits][-2:] == fix
    assert diverged.merge_base_commit.sha == main[0]
    assert diverged.base_commit.sha == main[1]
    (b,) = diverged.files  # the three-dot diff: only what fix changed since the merge base
    assert (b.filename, b.status, b.additions, b.patch) == (
        "b.txt",
        "added",
        1,
        "@@ -0,0 +1 @@\n+b3",
    )
    ahead = repo.compare(main[0], "fix")
    assert (ahead.status, ahead.ahead_by, ahead.behind_by) == ("ahead", 3, 0)
    behind = repo.compare("main", main[0])
    assert (behind.status, behind.ahead_by, behind.behind_by, behind.files) == ("behind", 0, 1, [])
    same = repo.compare("fix", fix[-1])
    assert (same.status, same.total_commits) == ("identical", 0)
    with pytest.raises(github.UnknownObjectException):
        repo.compare("main", "nope")
    gh.close()
