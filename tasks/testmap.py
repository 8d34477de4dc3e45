"""The test map (docs/tasks-bot.md): which contexts run for which repository and
base branch, what each needs, and who is trusted.

`load` reads a YAML file and reports *every* problem at once, each with its file
position and dotted path, so `ouro testmap check` is useful in one run. The
commented example shipped beside this module (`testmap.yaml`) is the reference
and the default when `OURO_TESTMAP` is not set.
"""

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ouro import queues, validate
from ouro.config import ConfigError
from tasks.job import IMAGE_PATTERN, SECRET_NAME_PATTERN

DEFAULT_COMMAND = (".ci/run",)
DEFAULT_TIMEOUT = 3600
DEFAULT_PRIORITY = 5
MAX_TIMEOUT = 7 * 24 * 3600
# GitHub logins: alphanumerics and single hyphens; apps end in `[bot]`.
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


@dataclass(frozen=True)
class ContextSpec:
    name: str
    capability: str | None
    priority: int
    timeout: int
    image: str
    secrets: tuple[str, ...]
    command: tuple[str, ...]


@dataclass(frozen=True)
class Trusted:
    users: frozenset[str] = frozenset()
    orgs: frozenset[str] = frozenset()
    bots: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ImageSpec:
    """A VM image a repository keeps (`images/NAME.yaml`, its reference `images/NAME`)."""

    name: str
    # The daily scan asks for a refresh once the image is this old (docs/tasks-bot.md).
    refresh_days: int


@dataclass(frozen=True)
class Infra:
    """This project's own repository, whose unmerged revisions jobs may use
    (`CONTEXT@infra#N`), and the product contexts its PRs try by default."""

    repo: str
    # product repository → contexts run on every infrastructure PR as `CONTEXT@product`.
    tries: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TestMap:
    # repo → base branch → contexts, in file order.
    repos: dict[str, dict[str, tuple[ContextSpec, ...]]]
    trusted: Trusted = field(default_factory=Trusted)
    # repo → image name → spec: the images an `image-refresh` may rebuild.
    images: dict[str, dict[str, ImageSpec]] = field(default_factory=dict)
    infra: Infra | None = None
    # What image-refresh jobs run in and how long they may take.
    refresh: ContextSpec | None = None

    def contexts(self, repo: str, branch: str) -> tuple[ContextSpec, ...]:
        return self.repos.get(repo, {}).get(branch, ())

    def is_infra(self, repo: str) -> bool:
        return self.infra is not None and self.infra.repo == repo

    def capabilities(self) -> tuple[str | None, ...]:
        """Every queue capability the map can publish to (None: the plain `tasks` queue)."""
        found: set[str | None] = {None}
        if self.refresh is not None:
            found.add(self.refresh.capability)
        for branches in self.repos.values():
            for specs in branches.values():
                found.update(spec.capability for spec in specs)
        return tuple(sorted(found, key=lambda c: c or ""))


class TestMapError(ConfigError):
    """The test map is unusable; `errors` lists each problem as `FILE:LINE:COL: path: what`."""

    def __init__(self, errors: list[str]):
        super().__init__(f"invalid test map: {errors[0]}" + (" …" if len(errors) > 1 else ""))
        self.errors = errors


Path_ = tuple[str, ...]


class _Checker:
    """Walks the composed YAML (for positions) and collects errors instead of stopping."""

    def __init__(self, filename: str):
        self.filename = filename
        # (line, column, message): reported in file order.
        self.errors: list[tuple[int, int, str]] = []
        self.marks: dict[Path_, yaml.Mark] = {}
        self._scalars = yaml.SafeLoader("")

    def error(self, path: Path_, message: str) -> None:
        where = path
        while where and where not in self.marks:
            where = where[:-1]
        mark = self.marks.get(where)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        dotted = ".".join(path) or "(top)"
        self.errors.append((line, column, f"{self.filename}:{line}:{column}: {dotted}: {message}"))

    def plain(self, node: yaml.Node, path: Path_) -> Any:
        """The node as plain Python, remembering each value's position and flagging
        duplicate keys (which YAML loaders otherwise resolve silently to the last one)."""
        self.marks.setdefault(path, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.error(path, "keys must be plain strings")
                    continue
                key = str(key_node.value)
                self.marks[(*path, key)] = key_node.start_mark
                if key in result:
                    self.error((*path, key), "duplicate key")
                result[key] = self.plain(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, (*path, str(i))) for i, item in enumerate(node.value)]
        return self._scalars.construct_object(node)

    def mapping(self, value: Any, path: Path_) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {_kind(value)}")
            return {}
        return value

    def unknown_keys(self, value: dict[str, Any], path: Path_, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                self.error(
                    (*path, key), f"unknown key (expected one of {', '.join(sorted(allowed))})"
                )

    def integer(self, value: Any, path: Path_, low: int, high: int, default: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(path, f"must be an integer from {low} to {high}")
            return default
        return value

    def strings(self, value: Any, path: Path_) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(path, "must be a list of strings")
            return []
        return value


def _kind(value: Any) -> str:
    names = {"dict": "a mapping", "list": "a list", "str": "a string"}
    return names.get(type(value).__name__, type(value).__name__)


_SETTINGS = {"capability", "priority", "timeout", "image", "secrets", "command"}


def _settings(c: _Checker, raw: Any, path: Path_) -> dict[str, Any]:
    """The context settings present in `raw`, each checked where it is written."""
    settings = c.mapping(raw, path)
    c.unknown_keys(settings, path, _SETTINGS)
    found: dict[str, Any] = {}
    if settings.get("capability") is not None:
        try:
            found["capability"] = validate.capability(str(settings["capability"]))
        except validate.InvalidValue as error:
            c.error((*path, "capability"), str(error))
    if settings.get("priority") is not None:
        found["priority"] = c.integer(
            settings["priority"], (*path, "priority"), 0, queues.MAX_PRIORITY, DEFAULT_PRIORITY
        )
    if settings.get("timeout") is not None:
        found["timeout"] = c.integer(
            settings["timeout"], (*path, "timeout"), 1, MAX_TIMEOUT, DEFAULT_TIMEOUT
        )
    if settings.get("image") is not None:
        image = settings["image"]
        if isinstance(image, str) and IMAGE_PATTERN.fullmatch(image):
            found["image"] = image
        else:
            c.error((*path, "image"), f"invalid container image {image!r:.80}")
    if settings.get("secrets") is not None:
        secrets = c.strings(settings["secrets"], (*path, "secrets"))
        for i, secret in enumerate(secrets):
            if not SECRET_NAME_PATTERN.fullmatch(secret):
                c.error((*path, "secrets", str(i)), f"invalid secret name {secret!r:.80}")
        found["secrets"] = tuple(secrets)
    if settings.get("command") is not None:
        command = c.strings(settings["command"], (*path, "command"))
        if not command or any("\x00" in arg for arg in command):
            c.error((*path, "command"), "must be a non-empty argv list without NUL characters")
        found["command"] = tuple(command)
    return found


def _context(
    c: _Checker, name: str, raw: Any, path: Path_, defaults: dict[str, Any]
) -> ContextSpec | None:
    try:
        validate.context(name)
    except validate.InvalidValue as error:
        c.error(path, str(error))
        return None
    merged = {**defaults, **_settings(c, raw, path)}
    if "image" not in merged:
        c.error(path, "needs an image (here or under defaults)")
    return ContextSpec(
        name=name,
        capability=merged.get("capability"),
        priority=merged.get("priority", DEFAULT_PRIORITY),
        timeout=merged.get("timeout", DEFAULT_TIMEOUT),
        image=merged.get("image", ""),
        secrets=merged.get("secrets", ()),
        command=merged.get("command") or DEFAULT_COMMAND,
    )


def parse(text: str, filename: str = "<testmap>") -> TestMap:
    """The test map in `text`; `TestMapError` listing every problem found."""
    c = _Checker(filename)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        problem = getattr(error, "problem", None) or str(error)
        raise TestMapError([f"{filename}:{where}: not valid YAML: {problem}"]) from None
    top = c.mapping(c.plain(node, ()) if node is not None else {}, ())
    c.unknown_keys(top, (), {"defaults", "trusted", "repos", "images", "infra"})

    defaults = _settings(c, top.get("defaults"), ("defaults",))

    trusted_raw = c.mapping(top.get("trusted"), ("trusted",))
    c.unknown_keys(trusted_raw, ("trusted",), {"users", "orgs", "bots"})
    groups: dict[str, frozenset[str]] = {}
    for group in ("users", "orgs", "bots"):
        names = c.strings(trusted_raw.get(group), ("trusted", group))
        for i, login in enumerate(names):
            if not _LOGIN.fullmatch(login):
                c.error(("trusted", group, str(i)), f"invalid GitHub login {login!r}")
        groups[group] = frozenset(names)
    trusted = Trusted(users=groups["users"], orgs=groups["orgs"], bots=groups["bots"])

    repos: dict[str, dict[str, tuple[ContextSpec, ...]]] = {}
    repos_raw = c.mapping(top.get("repos"), ("repos",))
    if top.get("repos") in (None, {}):
        c.error(("repos",), "no repositories: the bot would never start a job")
    for repo, branches_raw in repos_raw.items():
        rpath = ("repos", repo)
        try:
            validate.repo(repo)
        except validate.InvalidValue as error:
            c.error(rpath, str(error))
            continue
        branches: dict[str, tuple[ContextSpec, ...]] = {}
        for branch, contexts_raw in c.mapping(branches_raw, rpath).items():
            bpath = (*rpath, branch)
            try:
                validate.ref(branch)
            except validate.InvalidValue as error:
                c.error(bpath, str(error))
                continue
            specs = []
            for name, raw in c.mapping(contexts_raw, bpath).items():
                spec = _context(c, name, raw, (*bpath, name), defaults)
                if spec is not None:
                    specs.append(spec)
            branches[branch] = tuple(specs)
        repos[repo] = branches
    images = _images(c, top.get("images"))
    infra = _infra(c, top.get("infra"), repos)
    refresh = (
        _context(c, REFRESH_CONTEXT, {}, ("images",), {**defaults, **REFRESH_SETTINGS})
        if images
        else None
    )
    if c.errors:
        raise TestMapError([message for _, _, message in sorted(c.errors)])
    return TestMap(repos=repos, trusted=trusted, images=images, infra=infra, refresh=refresh)


# Image refreshes build VMs: a worker that runs QEMU takes them. Their command is fixed
# (`ouro vm refresh NAME`, completed by the bot); the image and timeout are the defaults'.
REFRESH_CONTEXT = "image-refresh"
REFRESH_SETTINGS = {"capability": "vm", "secrets": ("images-upload",)}
DEFAULT_REFRESH_DAYS = 7


def _images(c: _Checker, raw: Any) -> dict[str, dict[str, ImageSpec]]:
    images: dict[str, dict[str, ImageSpec]] = {}
    for repo, names in c.mapping(raw, ("images",)).items():
        rpath = ("images", repo)
        try:
            validate.repo(repo)
        except validate.InvalidValue as error:
            c.error(rpath, str(error))
            continue
        specs = {}
        for name, settings_raw in c.mapping(names, rpath).items():
            path = (*rpath, name)
            try:
                validate.image_name(name)
            except validate.InvalidValue as error:
                c.error(path, str(error))
                continue
            settings = c.mapping(settings_raw, path)
            c.unknown_keys(settings, path, {"refresh_days"})
            days = c.integer(
                settings.get("refresh_days"), (*path, "refresh_days"), 1, 3650,
                DEFAULT_REFRESH_DAYS,
            )  # fmt: skip
            specs[name] = ImageSpec(name, days)
        images[repo] = specs
    return images


def _infra(c: _Checker, raw: Any, repos: dict[str, Any]) -> Infra | None:
    if raw is None:
        return None
    settings = c.mapping(raw, ("infra",))
    c.unknown_keys(settings, ("infra",), {"repo", "tries"})
    repo = settings.get("repo")
    try:
        validate.repo(repo if isinstance(repo, str) else "")
    except validate.InvalidValue as error:
        c.error(("infra", "repo"), str(error))
        return None
    tries: dict[str, tuple[str, ...]] = {}
    for product, contexts_raw in c.mapping(settings.get("tries"), ("infra", "tries")).items():
        path = ("infra", "tries", product)
        if product not in repos:
            c.error(path, "not a repository of this map (under repos)")
            continue
        known = {spec.name for specs in repos[product].values() for spec in specs}
        names = c.strings(contexts_raw, path)
        for i, name in enumerate(names):
            if name not in known:
                c.error((*path, str(i)), f"{product} has no context {name!r:.80}")
        tries[product] = tuple(names)
    return Infra(repo=str(repo), tries=tries)


def bundled_path() -> Path:
    return Path(str(resources.files("tasks") / "testmap.yaml"))


def load(path: str | Path | None = None) -> TestMap:
    """The map at `path`, else `OURO_TESTMAP`, else the bundled example."""
    path = Path(path or os.environ.get("OURO_TESTMAP") or bundled_path())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the test map {path}: {error.strerror}") from None
    return parse(text, str(path))
