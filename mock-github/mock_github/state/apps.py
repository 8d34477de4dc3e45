"""GitHub Apps in `State`: registered apps, their installations and installation tokens.

An App authenticates as itself with a JWT it signs with its private key (RS256), checked
as GitHub checks it: `iss` is the App's id, `iat` not in the future (60 s of clock drift
allowed), `exp` in the future and at most 10 minutes ahead. With that JWT it asks for an
installation token (`POST /app/installations/ID/access_tokens`), which then works like a
user's token for the REST API and git over HTTP, acting as the App's bot `SLUG[bot]`,
until it expires (an hour on GitHub; `token_lifetime` here, so that a test can make one
expire mid-run). An expired token is refused like an unknown one: 401 Bad credentials.
"""

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mock_github.errors import ApiError, not_found, validation_failed
from mock_github.records import Repo, now
from mock_github.state.repos import RepoState

log = logging.getLogger(__name__)

# GitHub's rules for an App's JWT.
MAX_JWT_AHEAD = 600.0
CLOCK_DRIFT = 60.0
DEFAULT_TOKEN_LIFETIME = 3600.0
# What the mock's Apps may do: what a CI bot asks of its App.
PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
EVENTS = ["check_run", "check_suite", "issue_comment", "issues", "pull_request", "push"]


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str
    public_key: str  # PEM
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    tokens_issued: int = 0
    created_at: str = field(default_factory=now)

    @property
    def bot(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app: App
    account: str
    # None: every repository of the account ("all"); else the selected names (`owner/name`).
    repos: set[str] | None
    created_at: str = field(default_factory=now)

    def covers(self, repo: Repo) -> bool:
        if repo.owner.lower() != self.account.lower():
            return False
        return self.repos is None or repo.full_name.lower() in self.repos


@dataclass(frozen=True)
class InstallationToken:
    installation: Installation
    expires_at: float  # epoch seconds


def is_jwt(credential: str) -> bool:
    """Whether a bearer credential is a JWT (three base64url parts), not a token."""
    try:
        jwt.get_unverified_header(credential)
    except jwt.PyJWTError:
        return False
    return True


def new_key_pair() -> tuple[str, str]:
    """(private, public) PEM of a fresh RSA key, as GitHub generates for an App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def _bad_jwt(message: str) -> ApiError:
    return ApiError(401, message)


class AppState(RepoState):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.apps: dict[str, App] = {}  # slug -> App
        self.installations: dict[int, Installation] = {}
        self.installation_tokens: dict[str, InstallationToken] = {}

    def register_app(
        self, slug: str, owner: str, *, name: str | None = None, public_key: str | None = None
    ) -> tuple[App, str | None]:
        """A new App owned by `owner`, and its private key PEM if the mock made the pair."""
        if slug.lower() in self.apps:
            raise validation_failed("Integration", "slug", f"{slug} is already taken")
        self.account(owner)
        private = None
        if public_key is None:
            private, public_key = new_key_pair()
        try:
            serialization.load_pem_public_key(public_key.encode())
        except ValueError:
            raise validation_failed("Integration", "public_key", "not a PEM public key") from None
        app = App(self.next_id(), slug, name or slug, owner, public_key)
        self.account(app.bot, "Bot")
        self.apps[slug.lower()] = app
        return app, private

    def app(self, slug: str) -> App:
        found = self.apps.get(slug.lower())
        if found is None:
            raise not_found()
        return found

    def install_app(self, app: App, account: str, repos: list[str] | None) -> Installation:
        """`app` installed on `account` (a user or an org): on all its repositories, or on
        `repos` (names or `owner/name`s of that account, which must exist)."""
        self.account(account)
        selected = None
        if repos is not None:
            selected = set()
            for name in repos:
                full = name if "/" in name else f"{account}/{name}"
                repo = self.repo(full)
                if repo.owner.lower() != account.lower():
                    message = f"{full} is not {account}'s"
                    raise validation_failed("Installation", "repositories", message)
                selected.add(repo.full_name.lower())
        installation = Installation(self.next_id(), app, account, selected)
        self.installations[installation.id] = installation
        return installation

    def app_of_jwt(self, credential: str | None, clock: float | None = None) -> App:
        """The App that signed `credential`, checked as GitHub does; 401 otherwise."""
        if credential is None or not is_jwt(credential):
            raise _bad_jwt("A JSON web token could not be decoded")
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _bad_jwt("A JSON web token could not be decoded") from None
        issuer = str(claims.get("iss", ""))
        app = next((a for a in self.apps.values() if str(a.id) == issuer), None)
        if app is None:
            raise _bad_jwt(f"Integration not found for 'iss' claim {issuer!r:.40}")
        try:
            # exp and iat are checked below, with GitHub's messages.
            jwt.decode(
                credential,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_iss": False},
            )
        except jwt.PyJWTError:
            raise _bad_jwt("A JSON web token could not be decoded") from None
        current = time.time() if clock is None else clock
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or exp <= current:
            raise _bad_jwt(
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            )
        if exp > current + MAX_JWT_AHEAD + CLOCK_DRIFT:
            raise _bad_jwt("'Expiration time' claim ('exp') is too far in the future")
        if not isinstance(iat, int) or iat > current + CLOCK_DRIFT:
            raise _bad_jwt(
                "'Issued at' claim ('iat') must be an Integer representing the time that "
                "the assertion was issued"
            )
        return app

    def installation_of(self, app: App, number: int) -> Installation:
        found = self.installations.get(number)
        if found is None or found.app is not app:
            raise not_found()
        return found

    def repo_installation(self, app: App, repo: Repo) -> Installation:
        for installation in self.installations.values():
            if installation.app is app and installation.covers(repo):
                return installation
        raise not_found()

    def new_installation_token(self, installation: Installation) -> tuple[str, float]:
        """A fresh token of `installation` and when it expires (epoch seconds)."""
        token = "ghs_" + secrets.token_urlsafe(27)[:36]
        expires_at = time.time() + installation.app.token_lifetime
        self.installation_tokens[token] = InstallationToken(installation, expires_at)
        installation.app.tokens_issued += 1
        log.info(
            "installation token %d of %s (installation %d), for %g s",
            installation.app.tokens_issued,
            installation.app.slug,
            installation.id,
            installation.app.token_lifetime,
        )
        # Expired tokens are forgotten as new ones come, so the table stays small.
        for old, held in list(self.installation_tokens.items()):
            if held.expires_at < time.time() - 3600:
                del self.installation_tokens[old]
        return token, expires_at

    def check_installation_scope(self, token: str, full_name: str) -> None:
        """403 as GitHub answers when an installation token writes to a repository its
        installation does not cover (a user's token is not limited here)."""
        held = self.installation_tokens.get(token)
        repo = self.repos.get(full_name.lower())
        if held is not None and repo is not None and not held.installation.covers(repo):
            raise ApiError(403, "Resource not accessible by integration")

    def token_login(self, token: str) -> str | None:
        """Whose token it is: a user's, or an App's bot for an unexpired installation token."""
        login = self.tokens.get(token)
        if login is not None:
            return login
        held = self.installation_tokens.get(token)
        if held is None or held.expires_at <= time.time():
            return None
        return held.installation.app.bot
