"""`ouro local`: the whole deployment on this machine (podman) for people and CI: up, drive
a scenario (or a real PR), print the summary, tear down (docs/deployment.md)."""

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from ouro.config import ConfigError
from ouro.deploy import drive, podman, scenarios, tenant
from ouro.deploy.drive import CONTEXT, REPO, Outcome, drive_pr, real_pr, summary
from ouro.deploy.local import Deployment, RealGitHub
from ouro.deploy.progress import say

SCENARIO_NAMES = ("pull-requests", *scenarios.SCENARIOS)


def shell(deploy: Deployment) -> int:
    """An interactive shell with the deployment's settings and the project's tools."""
    env = {**os.environ, **deploy.client_env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PS1"] = r"(ouroboros) \w\$ "
    where = f"$MOCK_GITHUB_URL/repos/{REPO}" if deploy.mocked else "$IMAGES_SERVER_URL/"
    print(f"Deployment is up. Try: ouro queue inspect; curl {where}")
    print("Leave the shell to tear it down.")
    return subprocess.run(["bash", "--norc", "-i"], env=env, check=False).returncode


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.tenant is not None:
        return run_tenant(args, started)
    if (args.scenario != "pull-requests" or args.app) and (args.repo or args.pr):
        raise ConfigError("--scenario and --app are for the mocked GitHub: not with --repo/--pr")
    if args.repo is None and args.pr is None:
        return run_deployment(
            Deployment(args.deployment), scenario_driver(args.scenario, started), started,
            args.interactive, app=args.app,
        )  # fmt: skip
    if args.repo is None or args.pr is None:
        raise ConfigError("--repo and --pr go together")
    command = shlex.split(args.command) if args.command else None
    pr = real_pr(
        args.repo, args.pr, context=args.context, command=command, testmap_file=args.testmap
    )
    return run_deployment(
        Deployment(args.deployment),
        lambda d: (drive_pr(d, pr, timeout=args.timeout, started=started), []),
        started,
        args.interactive,
        github=pr.github,
    )


Report = tuple[list[Outcome], list[tuple[str, bool]]]


def run_tenant(args: argparse.Namespace, started: float) -> int:
    """`--tenant NAME`: the tenant's pods beside the shared deployment, the sample's PRs."""
    if args.repo or args.pr or args.app or args.scenario != "pull-requests":
        raise ConfigError("--tenant drives the sample's PRs: not with --repo/--pr/--app/--scenario")
    deploy = tenant.Tenant(args.tenant, Deployment(args.deployment))
    tenant.shared_up(deploy.shared)
    return run_deployment(
        deploy,
        lambda d: (drive.drive(d, started=started, suffix=deploy.suffix), []),
        started,
        args.interactive,
    )


def scenario_driver(name: str, started: float) -> Callable[[Deployment], Report]:
    """What `--scenario NAME` does once the deployment is up."""
    if name == "pull-requests":
        return lambda d: (drive.drive(d, started=started), [])
    return scenarios.SCENARIOS[name]


def run_deployment(
    deploy: Deployment,
    driver: Callable[[Deployment], Report],
    started: float,
    interactive: bool = False,
    *,
    github: RealGitHub | None = None,
    app: bool = False,
) -> int:
    """Up, drive, summary, (shell), down; 0 only if every outcome was as expected."""
    ok = False
    try:
        deploy.up(github=github, app=app)
        say(f"deployment up after {time.monotonic() - started:.0f}s")
        outcomes, checks = driver(deploy)
        ok = summary(outcomes, started, checks)
        if interactive:
            shell(deploy)
    except (TimeoutError, requests.RequestException, podman.PodmanError) as error:
        say(f"FAILED: {error}")
    finally:
        if not ok:
            deploy.dump_logs()
        deploy.down()
    return 0 if ok else 1


def _cmd_drive(args: argparse.Namespace) -> int:
    started = time.monotonic()
    return 0 if summary(drive.drive(Deployment(), started=started), started) else 1


def _cmd_tenant(args: argparse.Namespace) -> int:
    shared = Deployment(args.deployment)
    own = tenant.Tenant(args.name, shared)
    if args.action == "remove":
        tenant.shared_up(shared)
        own.down()
        return 0
    settings = own.add()
    say(f"tenant {own.name}: vhost and user {own.vhost} on the shared broker")
    for key, value in settings.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _simple(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        deploy = Deployment()
        if action == "up":
            deploy.up()
        elif action == "down":
            deploy.down()
        elif action == "logs":
            deploy.dump_logs()
        elif action == "shell":
            return shell(deploy)
        else:
            for key, value in deploy.client_env().items():
                print(f"export {key}={shlex.quote(value)}")
        return 0

    return command


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "local", description="the whole deployment on this machine (podman)"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    run_parser = sub.add_parser("run", help="up, drive the sample PRs (or a real one), down")
    run_parser.add_argument(
        "-i", "--interactive", action="store_true",
        help="open a shell with the deployment's settings before tearing down",
    )  # fmt: skip
    run_parser.add_argument(
        "--repo", help="OWNER/NAME: with --pr and $GITHUB_TOKEN, a real PR on $GITHUB_API_URL"
    )
    run_parser.add_argument("--pr", type=int, help="the real PR's number")
    run_parser.add_argument(
        "--scenario", default="pull-requests", choices=SCENARIO_NAMES,
        help="what to drive through the mocked GitHub: the sample's passing and failing PRs "
        "(default), an image refresh, or a test with an unmerged infra revision",
    )  # fmt: skip
    run_parser.add_argument(
        "--app", action="store_true",
        help="App mode: the bot and the worker act as a GitHub App of the mock and report "
        "check runs instead of commit statuses",
    )  # fmt: skip
    run_parser.add_argument(
        "--context", default=CONTEXT, help=f"real PR: the context to test (default {CONTEXT})"
    )
    run_parser.add_argument(
        "--command", help="real PR: the context's command (default: the repo's .ci/run)"
    )
    run_parser.add_argument(
        "--testmap", type=Path, help="real PR: this test map instead of one naming the repo"
    )
    run_parser.add_argument(
        "--timeout", type=float, default=1800, help="real PR: seconds to wait for final statuses"
    )
    run_parser.add_argument(
        "--tenant", metavar="NAME", type=tenant_name,
        help="tenant NAME beside the running shared deployment: its own receiver, bot, worker "
        "and mock GitHub on the shared broker (vhost tenant-NAME) and images-server; its "
        "statuses are CONTEXT@NAME; only its own pods, vhost and user are removed",
    )  # fmt: skip
    _deployment_option(run_parser)
    run_parser.set_defaults(func=run)
    tenant_parser = sub.add_parser(
        "tenant", help="add or remove a tenant's vhost, user and credentials on the shared broker"
    )
    tenant_parser.add_argument(
        "action", choices=("add", "remove"),
        help="add: the vhost, user and credentials, printed as settings to export; remove: "
        "everything of the tenant's (pods, volumes, vhost, user, secrets)",
    )  # fmt: skip
    tenant_parser.add_argument("name", metavar="NAME", type=tenant_name)
    _deployment_option(tenant_parser)
    tenant_parser.set_defaults(func=_cmd_tenant)
    sub.add_parser(
        "drive", help="drive the sample PRs through the running deployment"
    ).set_defaults(func=_cmd_drive)
    for name, text in (
        ("up", "build what changed, make fake secrets, start the pods, wait until ready"),
        ("down", "remove the pods, their volumes and the podman service"),
        ("logs", "print the containers' logs"),
        ("shell", "a shell with the running deployment's settings and tools"),
        ("env", "print the settings that reach the running deployment"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=_simple(name))


def tenant_name(value: str) -> str:
    try:
        return tenant.tenant_name(value)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _deployment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deployment", type=Path, default=podman.STATE / "deploy", metavar="DIR",
        help="the deployment's folder, as for `ouro deploy`; with --tenant, the shared one's "
        "(default: the one `ouro local up` makes)",
    )  # fmt: skip
