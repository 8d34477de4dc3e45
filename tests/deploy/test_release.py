"""Release files and the manifests rendered from them: every image by the release's digest,
never a tag; pinning writes the same into a copy of the kustomization. No podman, no
ports: no deployment lock needed."""

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ouro.config import ConfigError
from ouro.deploy import kubecheck, manifests, publish, release, rollout
from ouro.deploy.local import Deployment

PREFIX = "ghcr.io/ouroboros-ci/ouro-"
# An image of ours, by tag, by digest or bare (not a path or URL that has ouro- in it).
IMAGE = re.compile(r"[\w.:/-]*/ouro-(?:app|broker|job)(?:@sha256:[0-9a-f]+|:[\w.-]+)?(?![\w/.:-])")


def a_release(name: str = "20261207-120341-0123abc", prefix: str = PREFIX) -> release.Release:
    images = {
        image: release.Image(f"{prefix}{image}@sha256:{digit * 64}", f"{digit * 16}")
        for image, digit in (("app", "a"), ("broker", "b"), ("job", "c"))
    }
    return release.Release(name, "0123abc" + "d" * 33, "2026-12-07T12:03:41Z", images)


def test_a_release_file_round_trips_and_is_checked(tmp_path: Path) -> None:
    r = a_release()
    path = release.save(r, tmp_path)
    assert path == tmp_path / f"{r.name}.yaml"
    assert release.load(r.name, tmp_path) == r
    assert release.load(str(path)) == r
    with pytest.raises(ConfigError, match="never rewritten"):
        release.save(r, tmp_path)
    text = path.read_text()
    for old, new, error in (
        ("@sha256:" + "a" * 64, ":latest", "not a reference by digest"),
        ("@sha256:" + "a" * 64, "@sha256:abc", "not a reference by digest"),
        ("0123abc" + "d" * 33, "0123abc", "40 hex"),
        ("  job:", "  jab:", "images must be exactly"),
        (PREFIX + "app", PREFIX + "broker", "app: not a reference"),
    ):
        with pytest.raises(ConfigError, match=error):
            release.parse(text.replace(old, new, 1))


def test_a_release_records_its_image_epoch_and_older_files_have_none(tmp_path: Path) -> None:
    r = dataclasses.replace(a_release(), epoch="2026-W49")
    assert release.load(str(release.save(r, tmp_path))) == r
    older = {k: v for k, v in r.to_data().items() if k != "epoch"}
    assert release.from_data(older).epoch == ""
    with pytest.raises(ConfigError, match="bad epoch"):
        release.from_data({**older, "epoch": "2026 W49\n"})


def test_names_commits_and_references_are_matched_whole() -> None:
    data = a_release().to_data()
    for key, bad, error in (
        ("commit", data["commit"] + "\n", "40 hex"),
        ("name", data["name"] + "\n", "invalid release name"),
        ("name", "../../etc/x", "invalid release name"),
        ("name", "a" * 65, "invalid release name"),
    ):
        with pytest.raises(ConfigError, match=error):
            release.from_data({**data, key: bad})
    ref = data["images"]["app"]["ref"] + "\n"
    with pytest.raises(ConfigError, match="not a reference by digest"):
        release.from_data({**data, "images": {**data["images"], "app": {"ref": ref}}})


def test_publish_refuses_a_bad_or_taken_name_before_pushing_anything(tmp_path: Path) -> None:
    # No registry at all: a push would fail with another message.
    local = {i: f"localhost/ouro-{i}:{'0' * 16}" for i in ("app", "broker", "job")}
    with pytest.raises(ConfigError, match="--name: invalid release name"):
        publish.publish(local, "127.0.0.1:9/ci", folder=tmp_path, name="x/../y")
    release.save(a_release("taken"), tmp_path)
    with pytest.raises(ConfigError, match="exists"):
        publish.publish(local, "127.0.0.1:9/ci", folder=tmp_path, name="taken")


def test_the_newest_release_is_the_latest_by_date(tmp_path: Path) -> None:
    assert release.latest(tmp_path) is None
    older = a_release("b-older")
    newer = release.Release("a-newer", older.commit, "2026-12-08T00:00:00Z", older.images)
    release.save(older, tmp_path)
    release.save(newer, tmp_path)
    assert release.latest(tmp_path) == newer


def every_string(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in every_string(v)]
    if isinstance(value, list):
        return [s for v in value for s in every_string(v)]
    return []


def test_rendered_manifests_name_every_image_by_the_releases_digest() -> None:
    r = a_release(prefix="registry.example:5000/ci/ouro-")
    docs = release.render(r)
    refs = {i.ref for i in r.images.values()}
    strings = every_string(docs)
    named = [m[0] for s in strings for m in IMAGE.finditer(s)]
    assert named, "no image named at all"
    # Containers, the worker's VM image and the test map's default job image, all of them.
    assert set(named) == refs
    images = [
        c["image"]
        for d in docs
        if d["kind"] in manifests.WORKLOADS
        for c in manifests.pod_spec(d)["containers"]
    ]
    assert set(images) == {r.images["app"].ref, r.images["broker"].ref}
    testmap = next(d for d in docs if d["metadata"]["name"] == "ouro-testmap")
    assert r.images["job"].ref in testmap["data"]["testmap.yaml"]


def test_pinning_writes_the_digests_into_the_kustomization(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = tmp_path / "kube"
    shutil.copytree(manifests.KUBE, kube)
    r = a_release()
    changed = {p.name for p in release.pin(r, kube)}
    assert changed == {"kustomization.yaml", "config.yaml", "worker.yaml"}
    # As `kubectl apply -k` would make them: the same as rendering the release.
    assert manifests.production(kube) == release.render(r, kube)
    assert "0" * 64 not in "".join(p.read_text() for p in kube.glob("*.yaml"))
    assert kubecheck.main(["--kube", str(kube)]) == 0
    assert "0 problems" in capsys.readouterr().out
    # Pinning again with the next release replaces the digests.
    nxt = release.Release("next", r.commit, r.date, {**r.images, "app": release.Image(
        PREFIX + "app@sha256:" + "e" * 64, "e" * 16)})  # fmt: skip
    assert {p.name for p in release.pin(nxt, kube)} == {"kustomization.yaml"}
    assert manifests.production(kube) == release.render(nxt, kube)


def test_pinning_refuses_a_release_the_manifests_do_not_name(tmp_path: Path) -> None:
    kube = tmp_path / "kube"
    shutil.copytree(manifests.KUBE, kube)
    with pytest.raises(ConfigError, match="apply it with"):
        release.pin(a_release(prefix="127.0.0.1:5000/ci/ouro-"), kube)


def test_what_kubectl_applies_for_a_release_validates_and_carries_the_history() -> None:
    older = a_release("older")
    newer = release.Release("newer", older.commit, "2026-12-08T00:00:00Z", older.images)
    docs = rollout.cluster_objects(newer, [older, newer], manifests.KUBE)
    assert kubecheck.problems([("release", d) for d in docs]) == []
    history = next(d for d in docs if d["metadata"]["name"] == rollout.HISTORY_CONFIGMAP)
    # As `kubectl get configmap -o yaml` gives it back.
    assert rollout.history_of(yaml.safe_load(yaml.safe_dump(history))) == [older, newer]


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                            check=True)  # fmt: skip
    return result.stdout.strip()


def test_a_release_is_rendered_from_the_manifests_of_its_own_commit(tmp_path: Path) -> None:
    """Rolling back restores the release's objects and env, not only its images."""
    repo = tmp_path / "repo"
    kube = repo / "containers" / "kube"
    shutil.copytree(manifests.KUBE, kube)
    git(repo, "init", "--quiet")
    commits = []
    for url in ("amqps://ouro-broker:5671/%2F", "amqps://ouro-broker:5671/second"):
        config = kube / "config.yaml"
        config.write_text(re.sub(r"AMQP_URL: \S+", f"AMQP_URL: {url}", config.read_text()))
        git(repo, "add", "containers")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "--quiet",
            "-m", url)  # fmt: skip
        commits.append(git(repo, "rev-parse", "HEAD"))
    urls = []
    for commit in commits:
        r = release.Release(commit[:7], commit, "2026-12-07T12:03:41Z", a_release().images)
        with release.manifests_of(r, repo) as folder:
            docs = release.render(r, folder)
        config_map = next(d for d in docs if d["metadata"]["name"] == "ouro-config")
        urls.append(config_map["data"]["AMQP_URL"])
    assert urls == ["amqps://ouro-broker:5671/%2F", "amqps://ouro-broker:5671/second"]
    unknown = release.manifests_of(a_release(), repo)
    with pytest.raises(ConfigError, match=r"not in .*: fetch it first \(git fetch origin"):
        unknown.__enter__()


def test_the_local_history_reads_an_empty_file_as_none_and_is_replaced_whole(
    tmp_path: Path,
) -> None:
    target = rollout.SingleHost(Deployment(tmp_path))
    assert target.history() == []
    target.file.write_text("")
    assert target.history() == []
    older, newer = a_release("older"), a_release("newer")
    rollout.write_atomically(target.file, yaml.safe_dump([older.to_data(), newer.to_data()]))
    assert target.history() == [older, newer]
    assert [p.name for p in tmp_path.iterdir()] == [rollout.HISTORY]


def test_a_failed_kubectl_is_named_by_its_program_only() -> None:
    cluster = rollout.Cluster(["false", "--token=s3cr3t", "--context", "prod"])
    with pytest.raises(ConfigError) as raised:
        cluster.history()
    assert str(raised.value).startswith("false get:")
    assert "s3cr3t" not in str(raised.value)


def test_status_on_a_cluster_leaves_the_canary_pool_out(tmp_path: Path) -> None:
    # A kubectl that writes down what it was asked and lists no pod.
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\necho "items: []"\n')
    kubectl.chmod(0o755)
    assert rollout.Cluster([str(kubectl)]).running() == []
    asked = (tmp_path / "args").read_text().split()
    selector = asked[asked.index("-l") + 1]
    assert set(selector.split(",")) == {
        "app.kubernetes.io/part-of=ouroboros",
        "app.kubernetes.io/name!=ouro-worker-canary",
    }


class Remembering:
    """A target that only keeps the history it is given (rollout's Target)."""

    def __init__(self) -> None:
        self.kept: list[release.Release] = []
        self.switched: list[str] = []

    def history(self) -> list[release.Release]:
        return list(self.kept)

    def switch(self, chosen: release.Release, history: list[release.Release], _: float) -> None:
        self.switched.append(chosen.name)
        self.kept = history

    def running(self) -> list[rollout.Running]:
        return []


def test_apply_keeps_the_newest_releases_and_rollback_drops_the_newest() -> None:
    target = Remembering()
    with pytest.raises(ConfigError, match="no release before the current one"):
        rollout.rollback(target, 1)
    names = [f"r{n}" for n in range(rollout.KEPT + 5)]
    for name in names:
        rollout.apply(target, a_release(name), 1)
    assert [r.name for r in target.kept] == names[-rollout.KEPT :]
    # Applying one again moves it to the end, once.
    rollout.apply(target, a_release(names[-3]), 1)
    assert [r.name for r in target.kept][-3:] == [names[-2], names[-1], names[-3]]
    assert len(target.kept) == rollout.KEPT
    assert rollout.rollback(target, 1).name == names[-1]
    assert target.switched[-1] == names[-1]
    assert [r.name for r in target.kept][-2:] == [names[-2], names[-1]]
    target.kept = target.kept[-1:]
    with pytest.raises(ConfigError, match="no release before the current one"):
        rollout.rollback(target, 1)
