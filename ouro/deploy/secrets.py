"""Secrets for a deployment: the same tool makes the fake ones for run-local.sh and tests,
and the real ones an operator installs (docs/deployment.md): secrets are
files, never arguments or environment dumps.

`ouro secrets generate DIR` writes one folder per Kubernetes Secret, each file a key:

    DIR/ca/ca.pem, ca.key              the AMQP certificate authority (never mounted)
    DIR/amqp-server/ca.pem, server.pem, server.key    the broker's TLS identity
    DIR/amqp/ca.pem, client.pem, client.key           the components' client identity
    DIR/webhook/.secret                the webhook HMAC secret
    DIR/images/token                   the images-server upload token
    DIR/images/job-token               a token that may upload images only: what jobs get
    DIR/github/token                   a token for the mock GitHub (a real one is pasted here)

Existing files are kept, so re-running fills in what is missing and an operator can put a
real GitHub token in place first. `ouro secrets kube DIR` prints them as Secret objects for
`kubectl apply -f -` or `podman kube play`. Certificates are made by `openssl` (argv only).
"""

import argparse
import base64
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ouro.config import ConfigError

# Secret name (and folder) → the folder under /run/secrets/ where containers see it.
SECRETS = ("amqp-server", "amqp", "webhook", "images", "github")
# The client certificate's CN is the broker user (rabbitmq_auth_mechanism_ssl).
CLIENT_CN = "ouro"
BROKER_NAMES = ("localhost", "broker", "127.0.0.1")
DAYS_CA = 3650
# 825 days: the longest validity that TLS clients (Apple's, browsers) still accept.
DAYS_LEAF = 825


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ConfigError(f"openssl {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def make_ca(folder: Path, name: str = "Ouroboros AMQP CA") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", str(DAYS_CA), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip


def make_leaf(
    ca: Path, out: Path, stem: str, cn: str, *, server_names: tuple[str, ...] = ()
) -> None:
    """A key and certificate `out/stem.{key,pem}` signed by the CA in folder `ca`."""
    out.mkdir(parents=True, exist_ok=True)
    usage = "serverAuth" if server_names else "clientAuth"
    ext = [f"extendedKeyUsage={usage}", "basicConstraints=CA:FALSE"]
    if server_names:
        alt = (f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in server_names)
        ext.append("subjectAltName=" + ",".join(alt))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "ext.cnf").write_text("\n".join(ext) + "\n")
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(out / f"{stem}.key"), "-out", "req.csr", "-subj", f"/CN={cn}",
            cwd=work,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", "req.csr", "-CA", str(ca / "ca.pem"),
            "-CAkey", str(ca / "ca.key"), "-CAcreateserial", "-CAserial", "ca.srl",
            "-days", str(DAYS_LEAF), "-extfile", "ext.cnf", "-out", str(out / f"{stem}.pem"),
            cwd=work,
        )  # fmt: skip
    (out / f"{stem}.key").chmod(0o600)


def generate(
    root: Path, *, broker_names: tuple[str, ...] = BROKER_NAMES, github_token: str | None = None
) -> list[Path]:
    """Make whatever of the layout above is missing under `root`; returns the files written."""
    before = {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    ca = root / "ca"
    if not (ca / "ca.pem").exists():
        make_ca(ca)
    for folder in (root / "amqp-server", root / "amqp"):
        if not (folder / "ca.pem").exists():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "ca.pem").write_bytes((ca / "ca.pem").read_bytes())
    if not (root / "amqp-server" / "server.pem").exists():
        make_leaf(ca, root / "amqp-server", "server", "broker", server_names=broker_names)
    if not (root / "amqp" / "client.pem").exists():
        make_leaf(ca, root / "amqp", "client", CLIENT_CN)
    for path, value in (
        (root / "webhook" / ".secret", secrets.token_hex(32)),
        (root / "images" / "token", secrets.token_urlsafe(32)),
        (root / "images" / "job-token", secrets.token_urlsafe(32)),
        (root / "github" / "token", github_token or "ghp_mock" + secrets.token_hex(16)),
    ):
        if not path.exists():
            write_private(path, value + "\n")
    return sorted({p for p in root.rglob("*") if p.is_file()} - before)


def kube_secrets(root: Path, prefix: str = "ouro-") -> list[dict[str, object]]:
    """The folders under `root` as Kubernetes Secret objects (the CA key stays out)."""
    objects: list[dict[str, object]] = []
    for name in SECRETS:
        folder = root / name
        if not folder.is_dir():
            raise ConfigError(f"{folder} is missing: run `ouro secrets generate {root}` first")
        data = {
            f.name: base64.b64encode(f.read_bytes()).decode()
            for f in sorted(folder.iterdir())
            if f.is_file()
        }
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": prefix + name},
                "type": "Opaque",
                "data": data,
            }
        )
    return objects


def _cmd_generate(args: argparse.Namespace) -> int:
    token = os.environ.get("GITHUB_TOKEN") if args.github_token_from_env else None
    for path in generate(Path(args.dir), broker_names=tuple(args.broker_name), github_token=token):
        print(path)
    return 0


def _cmd_kube(args: argparse.Namespace) -> int:
    yaml.safe_dump_all(kube_secrets(Path(args.dir)), sys.stdout, sort_keys=False)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "secrets", description="make the deployment's secrets (fake for local runs, or real ones)"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    gen = sub.add_parser(
        "generate", help="make a CA, AMQP certificates, webhook secret and tokens in DIR"
    )
    gen.add_argument("dir", metavar="DIR")
    gen.add_argument(
        "--broker-name",
        action="append",
        default=list(BROKER_NAMES),
        help="a host name or IP the broker certificate is valid for (repeatable)",
    )
    gen.add_argument(
        "--github-token-from-env",
        action="store_true",
        help="store $GITHUB_TOKEN as the GitHub token instead of a mock one",
    )
    gen.set_defaults(func=_cmd_generate)
    kube = sub.add_parser("kube", help="print DIR's secrets as Kubernetes Secret objects")
    kube.add_argument("dir", metavar="DIR")
    kube.set_defaults(func=_cmd_kube)
