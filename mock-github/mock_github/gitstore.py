"""Bare git repositories on disk: the commits behind mock-github's branches and PRs.

Every operation is a `git` subprocess with an argument list. Commits are written
with plumbing (a private index, `write-tree`, `commit-tree`, `update-ref`), so no
working tree is ever checked out and the bare repositories stay what
`git http-backend` serves.
"""

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree


class GitError(Exception):
    """A git command failed; the message carries git's own stderr."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author_name: str
    author_email: str
    author_date: str  # ISO 8601, strict
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: str  # added, removed or modified
    blob: str  # the blob after the change (before it, for a removed file)
    additions: int
    deletions: int
    patch: str | None


def _hunks(chunk: str) -> str | None:
    """The hunks of one file's `git diff` (GitHub's `patch`), without its headers."""
    start = chunk.find("\n@@")
    return chunk[start + 1 :].rstrip("\n") if start >= 0 else None


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


def _env(author: Identity | None = None, index: Path | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        # Keep users' and the system's git configuration out of the mock's commits.
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    who = author or Identity("mock-github", "mock-github@example.invalid")
    env.update(
        GIT_AUTHOR_NAME=who.name,
        GIT_AUTHOR_EMAIL=who.email,
        GIT_COMMITTER_NAME=who.name,
        GIT_COMMITTER_EMAIL=who.email,
    )
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


class BareRepo:
    def __init__(self, path: Path):
        self.path = path

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        author: Identity | None = None,
        index: Path | None = None,
        work_tree: Path | None = None,
    ) -> bytes:
        argv = ["git", f"--git-dir={self.path}"]
        if work_tree is not None:
            argv.append(f"--work-tree={work_tree}")
        result = subprocess.run(
            [*argv, *args],
            input=input,
            capture_output=True,
            env=_env(author, index),
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise GitError(f"git {args[0]}: {message}")
        return result.stdout

    def init(self, default_branch: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--bare", f"--initial-branch={default_branch}")
        # Pushes from workers and people arrive through http-backend, which needs this.
        self.git("config", "http.receivepack", "true")
        # As on GitHub, refs/pull/* are fetchable but only the mock moves them.
        self.git("config", "receive.hideRefs", "refs/pull")

    def resolve(self, ref: str) -> str | None:
        """The commit sha `ref` (branch, tag, full ref or sha prefix) names, or None."""
        if ref.startswith("-"):
            return None
        try:
            out = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    def refs(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.decode().splitlines() if line)

    def update_ref(self, ref: str, sha: str) -> None:
        self.git("update-ref", ref, sha)

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def commit_directory(self, directory: Path, message: str, author: Identity) -> str:
        """A parentless commit of `directory`'s files (its .gitignore honoured, .git left out)."""
        with tempfile.TemporaryDirectory(prefix="mock-github-index-") as tmp:
            index = Path(tmp) / "index"
            self.git("add", "--all", ".", index=index, work_tree=directory)
            tree = self.git("write-tree", index=index).decode().strip()
        return self._commit(tree, [], message, author)

    def commit_files(
        self,
        parent: str | None,
        files: Mapping[str, str | bytes | None],
        message: str,
        author: Identity,
    ) -> str:
        """A commit on `parent` with `files` written (None deletes a file).

        Files starting with `#!` are committed executable.
        """
        with tempfile.TemporaryDirectory(prefix="mock-github-index-") as tmp:
            index = Path(tmp) / "index"
            if parent:
                self.git("read-tree", parent, index=index)
            for path, content in files.items():
                if content is None:
                    # Mode 0 removes the entry; `--force-remove` would need a work tree.
                    entry = f"0 {ZERO_SHA}\t{path}\n".encode()
                    self.git("update-index", "--index-info", input=entry, index=index)
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = self.git("hash-object", "-w", "--stdin", input=data).decode().strip()
                # A pushed script must stay runnable (workers run `.ci/run`): shebang = executable.
                mode = "100755" if data.startswith(b"#!") else "100644"
                self.git(
                    "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", index=index
                )
            tree = self.git("write-tree", index=index).decode().strip()
        return self._commit(tree, [parent] if parent else [], message, author)

    def merge(self, base: str, head: str, message: str, author: Identity) -> str:
        """A merge commit of `head` into `base`; GitError on conflicts."""
        try:
            tree = self.git("merge-tree", "--write-tree", base, head).decode().split("\n")[0]
        except GitError:
            raise GitError("merge conflict") from None
        return self._commit(tree, [base, head], message, author)

    def _commit(self, tree: str, parents: list[str], message: str, author: Identity) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, input=message.encode(), author=author).decode().strip()

    def commit_info(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = self.git("show", "-s", f"--format={fmt}", sha, "--").decode().split("\x00")
        return CommitInfo(
            sha=fields[0],
            tree=fields[1],
            parents=fields[2].split(),
            author_name=fields[3],
            author_email=fields[4],
            author_date=fields[5],
            committer_name=fields[6],
            committer_email=fields[7],
            committer_date=fields[8],
            message=fields[9].rstrip("\n"),
        )

    def changed_files(self, before: str | None, after: str) -> dict[str, list[str]]:
        """Files added, removed and modified between two commits (all added if no `before`)."""
        if before is None or before == ZERO_SHA:
            out = self.git("ls-tree", "-r", "--name-only", after)
            return {"added": out.decode().splitlines(), "removed": [], "modified": []}
        out = self.git("diff-tree", "-r", "--name-status", "--no-renames", before, after)
        changes: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
        key = {"A": "added", "D": "removed"}
        for line in out.decode().splitlines():
            status, _, path = line.partition("\t")
            changes[key.get(status[:1], "modified")].append(path)
        return changes

    def changed_blobs(self, before: str | None, after: str) -> list[tuple[str, str, str]]:
        """(added/removed/modified, path, blob sha) per changed file; a removed file's sha
        is the blob it had."""
        if before is None or before == ZERO_SHA:
            out = self.git("ls-tree", "-r", "-z", after).decode()
            return [
                ("added", path, meta.split()[2])
                for meta, _, path in (e.partition("\t") for e in out.split("\0") if e)
            ]
        out = self.git("diff-tree", "-r", "-z", "--no-renames", before, after).decode()
        parts = out.split("\0")
        found = []
        kinds = {"A": "added", "D": "removed"}
        for meta, path in zip(parts[0::2], parts[1::2], strict=False):
            if not meta.startswith(":"):
                continue
            _, _, old, new, status = meta.split()
            found.append((kinds.get(status[:1], "modified"), path, old if new == ZERO_SHA else new))
        return found

    def diff(self, before: str | None, after: str) -> list[FileDiff]:
        """Each file changed from `before` (nothing, if None) to `after`, with its line
        counts and its patch (the hunks of `git diff`; None for a binary file)."""
        base = EMPTY_TREE if before is None or before == ZERO_SHA else before
        numstat = self.git("diff-tree", "-r", "-z", "--numstat", "--no-renames", base, after)
        counts = {}
        for entry in numstat.decode(errors="replace").split("\0"):
            added, _, rest = entry.partition("\t")
            deleted, _, path = rest.partition("\t")
            if path:
                counts[path] = (int(added), int(deleted)) if added != "-" else (0, 0)
        # Files come in the same (path) order in every diff-tree output of the two trees.
        patches = self.git("diff-tree", "-r", "-p", "--no-renames", base, after).decode(
            errors="replace"
        )
        hunks = [_hunks(chunk) for chunk in re.split(r"^diff --git ", patches, flags=re.M)[1:]]
        blobs = self.changed_blobs(None if base == EMPTY_TREE else base, after)
        return [
            FileDiff(path, kind, blob, *counts.get(path, (0, 0)), patch)
            for (kind, path, blob), patch in zip(blobs, hunks, strict=True)
        ]

    def merge_base(self, one: str, other: str) -> str | None:
        try:
            return self.git("merge-base", one, other).decode().strip() or None
        except GitError:
            return None  # unrelated histories

    def ahead_behind(self, base: str, head: str) -> tuple[int, int]:
        """(commits in `head` not in `base`, commits in `base` not in `head`)."""
        out = self.git("rev-list", "--left-right", "--count", f"{base}...{head}", "--")
        behind, ahead = out.decode().split()
        return int(ahead), int(behind)

    def log(self, ref: str) -> list[str]:
        """Every commit reachable from `ref`, newest first (`git log`'s order)."""
        return self.git("rev-list", ref, "--").decode().split()

    def commits_between(self, before: str | None, after: str, limit: int = 20) -> list[str]:
        """Commits reachable from `after` but not `before`, oldest first."""
        spec = [after] if before is None or before == ZERO_SHA else [f"{before}..{after}"]
        out = self.git("rev-list", "--reverse", f"--max-count={limit}", *spec, "--")
        return out.decode().split()

    def read_blob(self, sha: str, path: str) -> tuple[str, bytes] | None:
        """(blob sha, content) of `path` at commit `sha`, or None when absent or a directory."""
        try:
            listing = self.git("ls-tree", sha, "--", path).decode()
        except GitError:
            return None
        if not listing:
            return None
        meta, _, _ = listing.partition("\t")
        _, kind, blob = meta.split()
        if kind != "blob":
            return None
        return blob, self.git("cat-file", "blob", blob)

    def list_dir(self, sha: str, path: str) -> list[tuple[str, str, str, int]] | None:
        """(name, type, sha, size) of the entries of directory `path` at `sha`, or None."""
        spec = f"{sha}:{path}" if path else f"{sha}^{{tree}}"
        try:
            # -z: names as they are (without it, git quotes names that are not plain ASCII).
            out = self.git("ls-tree", "-l", "-z", spec).decode()
        except GitError:
            return None
        entries = []
        for line in out.split("\0"):
            if not line:
                continue
            meta, _, name = line.partition("\t")
            _, kind, obj, size = meta.split()
            entries.append(
                (name, "file" if kind == "blob" else "dir", obj, int(size) if size.isdigit() else 0)
            )
        return entries

    def fetch_from(self, other: "BareRepo", source_ref: str, target_ref: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", str(other.path), f"+{source_ref}:{target_ref}")
