"""`ouro mock-github`: serve the mock, and drive it as a person would on github.com."""

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mock_github.control import ControlError, MockGitHubControl
from mock_github.ratelimit import DEFAULT_LIMIT
from mock_github.server import MockGitHub
from ouro.config import ConfigError, read_secret_file, setting
from ouro.serving import serve_until_terminated

log = logging.getLogger(__name__)

DEFAULT_LOGIN = "ouro-bot"


def read_tokens(path: str) -> dict[str, str]:
    """Token file lines: `TOKEN [LOGIN]` (login defaults to ouro-bot); # starts a comment."""
    tokens = {}
    for line in read_secret_file(path, "mock-github token").splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            tokens[words[0]] = words[1] if len(words) > 1 else DEFAULT_LOGIN
    return tokens


def serve(args: argparse.Namespace) -> int:
    if args.data is None:
        raise ConfigError("serving needs --data DIR (the directory for the git repositories)")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.rate_limit < 0:
        raise ConfigError("--rate-limit must not be negative")
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        mock = MockGitHub(
            Path(args.data),
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            tls=tls,
            rate_limit=args.rate_limit,
        )
    except OSError as error:  # a port in use, an unreadable or invalid certificate
        raise ConfigError(f"cannot serve: {error}") from None
    token_file = args.token_file or os.environ.get("MOCK_GITHUB_TOKEN_FILE")
    if token_file:
        for token, login in read_tokens(token_file).items():
            mock.add_token(token, login)
    else:
        log.warning("no token file (--token-file or MOCK_GITHUB_TOKEN_FILE): REST writes get 401")
    if args.webhook_url:
        secret_file = setting("WEBHOOK_SECRET_FILE")
        secret = read_secret_file(secret_file, "webhook secret").splitlines()[0]
        with mock.state.lock:
            mock.state.set_default_hook(args.webhook_url, secret)

    log.info("mock-github serving on %s (data in %s)", mock.url, args.data)
    serve_until_terminated(mock, mock.close)
    return 0


def _control(args: argparse.Namespace) -> MockGitHubControl:
    return MockGitHubControl(args.url)


def _files(pairs: list[str]) -> dict[str, str | None]:
    """PATH=LOCALFILE reads a file, PATH:=TEXT takes the text, -PATH deletes."""
    files: dict[str, str | None] = {}
    for pair in pairs:
        if pair.startswith("-"):
            files[pair[1:]] = None
        elif ":=" in pair:
            path, text = pair.split(":=", 1)
            files[path] = text
        elif "=" in pair:
            path, local = pair.split("=", 1)
            try:
                files[path] = Path(local).read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError(f"cannot read {local}: {error.strerror}") from None
        else:
            raise ConfigError(f"file argument {pair!r} is not PATH=LOCALFILE, PATH:=TEXT or -PATH")
    return files


def _register_app(control: MockGitHubControl, args: argparse.Namespace) -> dict[str, object]:
    """The App, its private key written to `--key-file` (never printed)."""
    key_file = Path(args.key_file)
    if key_file.exists():
        raise ConfigError(f"{key_file} exists: the App's key is written to a new file")
    app = control.register_app(
        args.slug, args.owner, name=args.name, token_lifetime=args.token_lifetime
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(str(app.pop("pem")))
    return app


def _app_verbs(client_parser: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = client_parser("register-app", "register a GitHub App; its private key to a file")
    p.add_argument("slug")
    p.add_argument("--owner", required=True, help="the account that owns the App")
    p.add_argument("--key-file", required=True, help="a new file for the private key (PEM)")
    p.add_argument("--name", help="default: the slug")
    p.add_argument("--token-lifetime", type=float, help="seconds (default: GitHub's hour)")
    p.set_defaults(action=_register_app)

    p = client_parser("install-app", "install a GitHub App on an account")
    p.add_argument("slug")
    p.add_argument("account")
    p.add_argument(
        "--repo", action="append", help="only this repository of the account (repeatable)"
    )
    p.set_defaults(action=lambda c, a: c.install_app(a.slug, a.account, a.repo))


def _run(args: argparse.Namespace) -> int:
    try:
        with _control(args) as control:
            result = args.action(control, args)
    except ControlError as error:
        print(f"mock-github: {error}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, indent=2))
    return 0


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (%(default)s)")
    parser.add_argument(
        "--data", help="directory for the git repositories and the saved state (to serve)"
    )
    parser.add_argument("--public-url", help="URL that webhooks and clone URLs name")
    parser.add_argument(
        "--webhook-url", help="hook for every repository, signed with WEBHOOK_SECRET_FILE"
    )
    parser.add_argument(
        "--token-file", help="tokens (`TOKEN [LOGIN]` lines); or MOCK_GITHUB_TOKEN_FILE"
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_LIMIT,
        help="REST requests a user may make an hour (%(default)s; 60 without a token)",
    )


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "mock-github",
        description="Serve the REST API, the control API and git over HTTP (with --data); "
        "or, with an action, drive a running mock as a person would on github.com.",
    )
    _serve_options(parser)
    parser.set_defaults(func=serve)
    verbs = parser.add_subparsers(title="actions", metavar="ACTION")

    def client_parser(name: str, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help)
        sub.add_argument(
            "--url",
            default=os.environ.get("MOCK_GITHUB_URL", "http://127.0.0.1:8080"),
            help="the mock's URL (default: $MOCK_GITHUB_URL or http://127.0.0.1:8080)",
        )
        sub.set_defaults(func=_run)
        return sub

    files_help = "PATH=LOCALFILE, PATH:=TEXT or -PATH (delete)"

    p = client_parser("create-repo", "create OWNER/NAME from a directory or files")
    p.add_argument("repo")
    p.add_argument("--directory", help="snapshot of this directory as the first commit")
    p.add_argument("--default-branch", default="main")
    p.add_argument("files", nargs="*", help=files_help)
    p.set_defaults(
        action=lambda c, a: c.create_repo(
            a.repo, directory=a.directory, files=_files(a.files), default_branch=a.default_branch
        )
    )

    p = client_parser("push", "commit files to a branch (PRs on it get synchronize)")
    p.add_argument("repo")
    p.add_argument("--branch")
    p.add_argument("--message")
    p.add_argument("--user")
    p.add_argument("files", nargs="+", help=files_help)
    p.set_defaults(
        action=lambda c, a: c.push(
            a.repo, _files(a.files), branch=a.branch, message=a.message, user=a.user
        )
    )

    p = client_parser("open-pr", "open a pull request from a branch")
    p.add_argument("repo")
    p.add_argument("head")
    p.add_argument("--base")
    p.add_argument("--title", default="A pull request")
    p.add_argument("--body")
    p.add_argument("--user")
    p.add_argument("files", nargs="*", help=f"commit these to HEAD first: {files_help}")
    p.set_defaults(
        action=lambda c, a: c.open_pr(
            a.repo,
            a.head,
            base=a.base,
            title=a.title,
            body=a.body,
            user=a.user,
            files=_files(a.files) if a.files else None,
        )
    )

    p = client_parser("comment", "comment on an issue or pull request")
    p.add_argument("repo")
    p.add_argument("number", type=int)
    p.add_argument("body")
    p.add_argument("--user")
    p.set_defaults(action=lambda c, a: c.comment(a.repo, a.number, a.body, user=a.user))

    p = client_parser("rerun-check", "click Re-run on a check run (or, --suite, on a suite)")
    p.add_argument("repo")
    p.add_argument("id", type=int, help="the check run's id (the check suite's with --suite)")
    p.add_argument("--suite", action="store_true", help="re-run all checks of the suite ID")
    p.add_argument("--user", help="who clicks (default: the repository's owner)")
    p.set_defaults(
        action=lambda c, a: (c.rerun_check_suite if a.suite else c.rerun_check)(
            a.repo, a.id, a.user
        )
    )

    _app_verbs(client_parser)

    p = client_parser("deliveries", "list the webhook deliveries made so far")
    p.add_argument("--event")
    p.set_defaults(
        action=lambda c, a: [
            {k: d[k] for k in ("id", "guid", "event", "action", "status_code", "status")}
            for d in c.deliveries(a.event)
        ]
    )
