"""mock-github: a fake GitHub that PyGithub cannot tell apart (docs/mock-github.md).

REST subset and git smart HTTP for clients, a control API under `/_mock/` for
people and tests, and signed webhooks for every action, as GitHub sends them.
"""
