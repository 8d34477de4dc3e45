"""Configuration from the environment and secret files (README.md, "Configuration").

Secrets are only ever read from files named by `*_FILE` variables, so they never
appear on a command line or in a process listing. The one exception is
`GITHUB_TOKEN`, which GitHub Actions hands over as a variable.
"""

import os
from pathlib import Path

DEFAULTS = {
    "AMQP_URL": "amqp://guest:guest@localhost:5672/%2F",
    "AMQP_QUEUE_TYPE": "quorum",
    "WEBHOOK_SECRET_FILE": "/run/secrets/webhook/.secret",
    "GITHUB_API_URL": "https://api.github.com",
    "GITHUB_WRITE_INTERVAL": "1",
    "IMAGES_SERVER_URL": "http://localhost:8080",
    "IMAGES_TOKEN_FILE": "/run/secrets/images/token",
    "AMQP_CA_FILE": "/run/secrets/amqp/ca.pem",
    "AMQP_CERT_FILE": "/run/secrets/amqp/client.pem",
    "AMQP_KEY_FILE": "/run/secrets/amqp/client.key",
    "OURO_STATE_DIR": "/var/lib/ouro",
    "OURO_METRICS_PORT": "0",
}


class ConfigError(Exception):
    """A setting is missing or unusable; `ouro` prints it as one line and exits 2."""


def setting(name: str) -> str:
    """The value of a setting: the environment, else the documented default."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        return DEFAULTS[name]
    except KeyError:
        raise ConfigError(f"{name} is not set") from None


def read_secret_file(path: str | Path, what: str) -> str:
    """The content of a secret file, stripped; a clear error if it is unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"cannot read {what} from {path}: {error.strerror}") from None
    if not text:
        raise ConfigError(f"{what} file {path} is empty")
    return text


def optional_secret(file_variable: str, value_variable: str | None = None) -> str | None:
    """A secret that may be absent: from `value_variable`, else from the file, else None."""
    if value_variable and os.environ.get(value_variable):
        return os.environ[value_variable].strip()
    path = os.environ.get(file_variable) or DEFAULTS.get(file_variable)
    if path and Path(path).is_file():
        return read_secret_file(path, file_variable)
    return None
