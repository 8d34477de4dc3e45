"""Accounts in `State`: users, bots and organizations, with tokens and org memberships."""

import re

from mock_github.errors import validation_failed
from mock_github.records import Account
from mock_github.state.base import StateBase

# GitHub's login rule; apps act as `name[bot]`.
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")


class AccountState(StateBase):
    def account(self, login: str, kind: str | None = None) -> Account:
        """The account `login`, created on first mention (a Bot if it ends in [bot])."""
        key = login.lower()
        found = self.accounts.get(key)
        if found is None:
            if not _LOGIN.fullmatch(login):
                raise validation_failed("User", "login", f"invalid login {login!r:.60}")
            default = "Bot" if login.endswith("[bot]") else "User"
            found = Account(login, self.next_id(), kind or default)
            self.accounts[key] = found
        elif kind == "Organization" and found.type != "Organization":
            found.type = "Organization"
        return found

    def add_token(self, token: str, login: str) -> None:
        self.account(login)
        self.tokens[token] = login

    def add_org_member(self, org: str, login: str, public: bool, role: str = "member") -> None:
        if role not in ("member", "admin"):
            raise validation_failed("Membership", "role", "role must be member or admin")
        self.account(org, "Organization").members[login.lower()] = (public, role)
        self.account(login)

    def membership(self, org: str, login: str) -> tuple[bool, str] | None:
        account = self.accounts.get(org.lower())
        if account is None or account.type != "Organization":
            return None
        return account.members.get(login.lower())
