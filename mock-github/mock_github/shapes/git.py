"""Git data shapes: commits, file contents, directory entries and refs."""

import base64
import urllib.parse

from mock_github.gitstore import CommitInfo
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
        }

    def commit(self, repo: Repo, sha: str) -> JsonDict:
        info = repo.git.commit_info(sha)
        api = self.urls.repo(repo)
        changes = repo.git.changed_files(info.parents[0] if info.parents else None, sha)
        status_name = {"added": "added", "removed": "removed", "modified": "modified"}
        files = [
            {
                "filename": path,
                "status": status_name[kind],
                "additions": 0,
                "deletions": 0,
                "changes": 0,
            }
            for kind, paths in changes.items()
            for path in paths
        ]
        return {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{api}/commits/{sha}",
            "html_url": f"{self.urls.web}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": self.git_commit(repo, info),
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{self.urls.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
            "files": files,
        }

    def _contents_url(self, repo: Repo, path: str, ref: str) -> str:
        """The contents API's URL of `path` at `ref`, percent-encoded as GitHub writes it."""
        query = urllib.parse.urlencode({"ref": ref})
        return f"{self.urls.repo(repo)}/contents/{urllib.parse.quote(path)}?{query}"

    def content(self, repo: Repo, path: str, ref: str, blob: str, data: bytes) -> JsonDict:
        api = self._contents_url(repo, path, ref)
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
            "html_url": f"{self.urls.web}/{repo.full_name}/blob/{ref}/{urllib.parse.quote(path)}",
            "download_url": None,
            "_links": {
                "self": api,
                "git": f"{self.urls.repo(repo)}/git/blobs/{blob}",
                "html": None,
            },
        }

    def dir_entry(
        self, repo: Repo, path: str, ref: str, entry: tuple[str, str, str, int]
    ) -> JsonDict:
        name, kind, sha, size = entry
        full = f"{path}/{name}" if path else name
        api = self._contents_url(repo, full, ref)
        return {
            "type": kind,
            "size": size,
            "name": name,
            "path": full,
            "sha": sha,
            "url": api,
            "git_url": None,
            "html_url": None,
            "download_url": None,
            "_links": {"self": api, "git": None, "html": None},
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
