"""git smart HTTP, delegated to `git http-backend` (CGI) with an argument list.

Only the smart protocol's three endpoints are served. Reading needs no token;
pushing (`git-receive-pack`) needs a valid token as the HTTP Basic password (or
user name), which is how git hands over credentials.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# /OWNER/REPO(.git)/info/refs | git-upload-pack | git-receive-pack
GIT_PATH = re.compile(
    r"/(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?"
    r"(?P<rest>/info/refs|/git-upload-pack|/git-receive-pack|/HEAD)"
)


@dataclass(frozen=True)
class CgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_push(rest: str, query: str) -> bool:
    return rest == "/git-receive-pack" or "service=git-receive-pack" in query


def run_backend(
    repos_dir: Path,
    path_info: str,
    *,
    method: str,
    query: str,
    content_type: str | None,
    content_encoding: str | None,
    git_protocol: str | None,
    remote_user: str | None,
    body: bytes,
) -> CgiResponse:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": str(repos_dir),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
    }
    if content_type:
        env["CONTENT_TYPE"] = content_type
    if content_encoding:
        env["HTTP_CONTENT_ENCODING"] = content_encoding
    if git_protocol:
        env["GIT_PROTOCOL"] = git_protocol
    if remote_user:
        env["REMOTE_USER"] = remote_user
    result = subprocess.run(
        ["git", "http-backend"], input=body, capture_output=True, env=env, check=False
    )
    return parse_cgi(result.stdout)


def parse_cgi(output: bytes) -> CgiResponse:
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = output.partition(b"\n\n")
    if not sep:
        return CgiResponse(500, [("Content-Type", "text/plain")], b"git http-backend failed\n")
    status = 200
    headers = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return CgiResponse(status, headers, body)
