"""Git data shapes: commits, file contents, directory entries and refs."""

import base64
import urllib.parse

from mock_github.gitstore import CommitInfo, FileDiff
from mock_github.records import Repo
from mock_github.shapes.base import JsonDict, ShapesBase


class GitShapes(ShapesBase):
    def git_commit(self, repo: Repo, info: CommitInfo) -> JsonDict:
        api = self.urls.repo(repo)
        return {
            "sha": info.sha,
            "url": f"{api}/git/commits/{info.sha}",
            "author": {
                "name": info.author_name,
                "email": info.author_email,
                "date": info.author_date,
            },
            "committer": {
                "name": info.committer_name,
                "email": info.committer_email,
                "date": info.committer_date,
            },
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def commit(self, repo: Repo, sha: str, *, files: bool = True) -> JsonDict:
        """A commit, with its changed `files` unless it is an item of a list (GitHub's lists
        leave them out)."""
        info = repo.git.commit_info(sha)
        api = self.urls.repo(repo)
        shape = {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{api}/commits/{sha}",
            "html_url": f"{self.urls.web}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": self.git_commit(repo, info),
            "author": self.git_user(info.author_email),
            "committer": self.git_user(info.committer_email),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{self.urls.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
        }
        if files:
            parent = info.parents[0] if info.parents else None
            changes = repo.git.diff(parent, sha)
            shape["files"] = [self.diff_entry(repo, sha, change) for change in changes]
        return shape

    def diff_entry(self, repo: Repo, sha: str, change: FileDiff) -> JsonDict:
        """One file of a commit's, a pull request's or a comparison's diff, at commit `sha`."""
        web, quoted = f"{self.urls.web}/{repo.full_name}", urllib.parse.quote(change.path)
        entry = {
            "sha": change.blob,
            "filename": change.path,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{web}/blob/{sha}/{quoted}",
            "raw_url": f"{web}/raw/{sha}/{quoted}",
            "contents_url": self._contents_url(repo, change.path, sha),
        }
        if change.patch is not None:
            entry["patch"] = change.patch
        return entry

    def branches_at(self, repo: Repo, sha: str) -> list[JsonDict]:
        """The branches whose head is `sha` (a status event's `branches`)."""
        return [
            {
                "name": ref.removeprefix("refs/heads/"),
                "commit": {"sha": sha, "url": f"{self.urls.repo(repo)}/commits/{sha}"},
                "protected": False,
            }
            for ref, head in sorted(repo.git.refs().items())
            if head == sha and ref.startswith("refs/heads/")
        ]

    def branch(self, repo: Repo, name: str, sha: str) -> JsonDict:
        """`GET /repos/O/R/branches/B`: branches are never protected on the mock."""
        api = f"{self.urls.repo(repo)}/branches/{urllib.parse.quote(name)}"
        return {
            "name": name,
            "commit": self.commit(repo, sha),
            "_links": {"self": api, "html": f"{self.urls.web}/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {
                    "enforcement_level": "off",
                    "contexts": [],
                    "checks": [],
                },
            },
            "protection_url": f"{api}/protection",
        }

    def _contents_url(self, repo: Repo, path: str, ref: str) -> str:
        """The contents API's URL of `path` at `ref`, percent-encoded as GitHub writes it."""
        query = urllib.parse.urlencode({"ref": ref})
        return f"{self.urls.repo(repo)}/contents/{urllib.parse.quote(path)}?{query}"

    def content(self, repo: Repo, path: str, ref: str, blob: str, data: bytes) -> JsonDict:
        api = self._contents_url(repo, path, ref)
        web, quoted = f"{self.urls.web}/{repo.full_name}", urllib.parse.quote(path)
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.encodebytes(data).decode(),
            "sha": blob,
            "url": api,
            "git_url": f"{self.urls.repo(repo)}/git/blobs/{blob}",
            "html_url": f"{web}/blob/{ref}/{quoted}",
            "download_url": f"{web}/raw/{ref}/{quoted}",
            "_links": {
                "self": api,
                "git": f"{self.urls.repo(repo)}/git/blobs/{blob}",
                "html": f"{web}/blob/{ref}/{quoted}",
            },
        }

    def dir_entry(
        self, repo: Repo, path: str, ref: str, entry: tuple[str, str, str, int]
    ) -> JsonDict:
        name, kind, sha, size = entry
        full = f"{path}/{name}" if path else name
        api = self._contents_url(repo, full, ref)
        web, quoted = f"{self.urls.web}/{repo.full_name}", urllib.parse.quote(full)
        git = f"{self.urls.repo(repo)}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
        html = f"{web}/{'blob' if kind == 'file' else 'tree'}/{ref}/{quoted}"
        return {
            "type": kind,
            "size": size,
            "name": name,
            "path": full,
            "sha": sha,
            "url": api,
            "git_url": git,
            "html_url": html,
            "download_url": f"{web}/raw/{ref}/{quoted}" if kind == "file" else None,
            "_links": {"self": api, "git": git, "html": html},
        }

    def git_ref(self, repo: Repo, ref: str, sha: str) -> JsonDict:
        return {
            "ref": ref,
            "node_id": f"REF_{repo.id}_{ref}",
            "url": f"{self.urls.repo(repo)}/git/{ref}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{self.urls.repo(repo)}/git/commits/{sha}",
            },
        }
