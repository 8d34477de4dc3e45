"""A tenant on the shared broker (docs/deployment.md, "Tenants"): its own vhost, and its own
user with permissions on that vhost only, so that its queues and exchanges live there and
nobody else's are within its reach.

The broker takes only client certificates (EXTERNAL auth: the certificate's CN is the user),
so a tenant's credentials are a key and a certificate with its user's name, signed by the
deployment's CA: secret files in the tenant's folder, never an argument. The user gets no
password (`add_user NAME ""` disables password logins). Every change is `rabbitmqctl` in
the broker's container through `podman exec`, with argv lists.
"""

import logging
from pathlib import Path

from ouro.deploy import podman
from ouro.deploy import secrets as ouro_secrets
from ouro.deploy.local import Deployment

log = logging.getLogger(__name__)

PREFIX = "tenant-"
BROKER = "broker"


def account(name: str) -> str:
    """The vhost and the user of tenant `name` (a validated name: tenant.tenant_name)."""
    return PREFIX + name


def running(shared: Deployment) -> bool:
    """Whether the shared deployment's broker container runs."""
    container = f"{shared.pods[0]}-{BROKER}"
    result = podman.run(["container", "inspect", "--format", "{{.State.Running}}", container],
                        check=False)  # fmt: skip
    return result.stdout.strip() == "true"


def _ctl(shared: Deployment, *argv: str) -> str:
    return shared.exec(BROKER, ["rabbitmqctl", "--quiet", *argv], timeout=60)


def _listed(shared: Deployment, what: str) -> set[str]:
    """The names `rabbitmqctl list_<what>` prints (one a line, the first column)."""
    lines = _ctl(shared, f"list_{what}", "--no-table-headers").splitlines()
    return {line.split("\t")[0].strip() for line in lines if line.strip()}


def add(shared: Deployment, name: str, credentials: Path) -> None:
    """Tenant `name`'s vhost and user on the shared broker, and its client key and
    certificate in `credentials` (with the CA's certificate): the files of AMQP_CA_FILE,
    AMQP_CERT_FILE and AMQP_KEY_FILE. Again for an existing tenant: what is missing."""
    who = account(name)
    if who not in _listed(shared, "vhosts"):
        _ctl(shared, "add_vhost", who)
    if who not in _listed(shared, "users"):
        _ctl(shared, "add_user", who, "")
    _ctl(shared, "set_permissions", "-p", who, who, ".*", ".*", ".*")
    ca = shared.secrets / "ca"
    if not (credentials / "client.pem").exists():
        ouro_secrets.make_leaf(ca, credentials, "client", who)
    (credentials / "ca.pem").write_bytes((ca / "ca.pem").read_bytes())
    log.info("tenant %s: vhost and user %s on the shared broker", name, who)


def remove(shared: Deployment, name: str) -> None:
    """Tenant `name`'s vhost (with its queues and exchanges) and user, if the broker runs."""
    if not running(shared):
        return
    who = account(name)
    for what in ("vhost", "user"):
        if who in _listed(shared, f"{what}s"):
            _ctl(shared, f"delete_{what}", who)
            log.info("tenant %s: %s %s removed", name, what, who)


def queues(shared: Deployment, vhost: str) -> list[str]:
    """The queues of `vhost`, as the broker lists them."""
    lines = _ctl(shared, "list_queues", "-p", vhost, "--no-table-headers", "name").splitlines()
    return sorted(line.strip() for line in lines if line.strip())
