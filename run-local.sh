#!/bin/sh
# The whole Ouroboros deployment on this machine: build, start, drive PRs, check, tear down.
#   ./run-local.sh                  mocked GitHub, a passing and a failing PR
#   ./run-local.sh -i               ... then a shell with $AMQP_URL, $MOCK_GITHUB_URL, ouro
#   ./run-local.sh --app            ... the bot and worker as a GitHub App: check runs
#   ./run-local.sh --tenant NAME    beside a shared deployment that is up: NAME's own pods
#   GITHUB_TOKEN=… ./run-local.sh --repo OWNER/NAME --pr N    a real PR on GitHub
# The logic lives in ouro/deploy/local.py and ouro/deploy/drive.py (docs/deployment.md).
set -eu
cd "$(dirname "$0")"
make --silent .venv/.installed
exec .venv/bin/ouro local run "$@"
