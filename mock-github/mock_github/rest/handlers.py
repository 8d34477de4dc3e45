"""The base of every route group, REST and control: the state, and what a request names.

Routes under a repository carry `{owner}` and `{repo}`; `repo_of` finds it (404 if
unknown). Answers are shaped for the address the client called (`request.urls`).
"""

from mock_github.records import Repo
from mock_github.routing import Request
from mock_github.shapes import Shapes
from mock_github.state import State

REPO = "/repos/{owner}/{repo}"  # the REST prefix of the routes under a repository


class Handlers:
    def __init__(self, state: State):
        self.state = state

    def repo_of(self, request: Request) -> Repo:
        return self.state.repo(f"{request.params['owner']}/{request.params['repo']}")

    def shapes(self, request: Request) -> Shapes:
        return Shapes(self.state, request.urls)
