"""The test map: the shipped example loads, and every error is reported with its place."""

from pathlib import Path

import pytest

from ouro.cli import main
from tasks import testmap


def test_bundled_example_is_valid() -> None:
    tmap = testmap.load(testmap.bundled_path())
    # Image refreshes go to tasks.vm.
    assert tmap.capabilities() == (None, "kvm", "vm")
    assert tmap.images == {"example-org/product": {"fedora-41": testmap.ImageSpec("fedora-41", 7)}}
    assert tmap.infra == testmap.Infra(
        "example-org/ouroboros", {"example-org/product": ("fedora-41/networking",)}
    )
    assert tmap.refresh is not None
    assert (tmap.refresh.capability, tmap.refresh.secrets) == ("vm", ("images-upload",))
    net = {s.name: s for s in tmap.contexts("example-org/product", "main")}["fedora-41/networking"]
    assert (net.capability, net.priority, net.timeout, net.secrets) == (
        "kvm",
        7,
        7200,
        ("images-upload",),
    )
    assert tmap.contexts("example-org/product", "no-such-branch") == ()


def test_defaults_apply_and_contexts_override() -> None:
    tmap = testmap.parse(
        "defaults: {image: img, priority: 3, command: [a]}\n"
        "repos:\n  o/r:\n    main:\n      one: {}\n      two: {priority: 9, command: [b, '--x']}\n"
    )
    one, two = tmap.contexts("o/r", "main")
    assert (one.priority, one.command, one.timeout) == (3, ("a",), 3600)
    assert (two.priority, two.command) == (9, ("b", "--x"))


BAD = """\
defaults: {priority: 12, image: "Bad Image"}
trusted: {users: [a b], bogus: 1}
repos:
  bad repo: {}
  o/r:
    main:
      ctx: {capability: KVM, secrets: [X], timeout: -1, extra: 1}
      dup: {image: i}
      dup: {image: i}
      "bad context!": {}
    'x..y': {}
"""


EXPECTED = [
    "m.yaml:1:12: defaults.priority: must be an integer from 0 to 9",
    "m.yaml:1:26: defaults.image: invalid container image 'Bad Image'",
    "m.yaml:2:19: trusted.users.0: invalid GitHub login 'a b'",
    "m.yaml:2:25: trusted.bogus: unknown key (expected one of bots, orgs, users)",
    "m.yaml:4:3: repos.bad repo: invalid repository 'bad repo': expected OWNER/NAME",
    "m.yaml:7:7: repos.o/r.main.ctx: needs an image (here or under defaults)",
    "m.yaml:7:13: repos.o/r.main.ctx.capability: invalid capability 'KVM'",
    "m.yaml:7:40: repos.o/r.main.ctx.secrets.0: invalid secret name 'X'",
    "m.yaml:7:44: repos.o/r.main.ctx.timeout: must be an integer from 1 to 604800",
    "m.yaml:7:57: repos.o/r.main.ctx.extra: unknown key "
    "(expected one of capability, command, image, priority, secrets, timeout)",
    "m.yaml:9:7: repos.o/r.main.dup: duplicate key",
    "m.yaml:10:7: repos.o/r.main.bad context!: invalid test context 'bad context!'",
    "m.yaml:11:5: repos.o/r.x..y: invalid ref 'x..y'",
]


def test_every_error_is_reported_with_its_location() -> None:
    with pytest.raises(testmap.TestMapError) as caught:
        testmap.parse(BAD, "m.yaml")
    assert caught.value.errors == EXPECTED


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("repos: [1, 2]", "1:1: repos: must be a mapping, not a list"),
        ("{}", "repos: no repositories"),
        ("repos:\n  o/r: {main: {c: {image: i, capability: KVM}}}", "capability: invalid"),
        ("repos: {o/r: {main: {c: {image: i, command: []}}}}", "command: must be a non-empty"),
        ("repos: {o/r: {main: {c: {image: i, timeout: true}}}}", "timeout: must be an integer"),
        ("repos: {o/r: {main: {c: {image: i, secrets: [Up]}}}}", "invalid secret name 'Up'"),
        ("repos:\n  o/r: [\n", "3:1: not valid YAML"),
    ],
)
def test_single_errors(text: str, error: str) -> None:
    with pytest.raises(testmap.TestMapError) as caught:
        testmap.parse(text, "f")
    assert len(caught.value.errors) == 1
    assert error in caught.value.errors[0]


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["testmap", "check", str(testmap.bundled_path())]) == 0
    assert capsys.readouterr().out == "OK: 1 repositories, 4 contexts\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["testmap", "check", str(bad)]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 13
    assert main(["testmap", "check", str(tmp_path / "missing.yaml")]) == 2
    assert "Configuration error: cannot read the test map" in capsys.readouterr().err


def test_ouro_testmap_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "map.yaml"
    own.write_text("repos: {o/r: {main: {c: {image: i}}}}")
    monkeypatch.setenv("OURO_TESTMAP", str(own))
    assert list(testmap.load().repos) == ["o/r"]


def test_images_and_infra_are_checked_with_every_error_at_once() -> None:
    text = (
        "defaults: {image: img}\n"
        "repos:\n  o/r:\n    main:\n      vm: {}\n"
        "images:\n  o/r:\n    ../x: {}\n    ok: {refresh_days: 0}\n    other: {every: 3}\n"
        "  bad repo: {}\n"
        "infra:\n  repo: o/infra\n  tries:\n    o/r: [vm, nope]\n    o/unknown: [vm]\n"
    )
    with pytest.raises(testmap.TestMapError) as raised:
        testmap.parse(text, "m.yaml")
    problems = [e.split(": ", 2)[1:] for e in raised.value.errors]
    assert problems == [
        ["images.o/r.../x", "invalid image name '../x'"],
        ["images.o/r.ok.refresh_days", "must be an integer from 1 to 3650"],
        ["images.o/r.other.every", "unknown key (expected one of refresh_days)"],
        ["images.bad repo", "invalid repository 'bad repo': expected OWNER/NAME"],
        ["infra.tries.o/r.1", "o/r has no context 'nope'"],
        ["infra.tries.o/unknown", "not a repository of this map (under repos)"],
    ]


def test_a_map_without_images_has_no_refresh_settings() -> None:
    tmap = testmap.parse("repos:\n  o/r:\n    main:\n      a: {image: i}\n")
    assert (tmap.images, tmap.infra, tmap.refresh) == ({}, None, None)
    assert not tmap.is_infra("o/r")
