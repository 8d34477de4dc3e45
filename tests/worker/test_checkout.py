"""Checking out the tested revision from a real git server over smart HTTP."""

from pathlib import Path

import pytest

from tasks.worker.checkout import (
    ChangeError,
    CheckoutError,
    RebaseFailed,
    checkout,
    container_image,
)
from tests.worker.conftest import JobFactory
from tests.worker.gitserver import Repo, git


def test_checks_out_the_sha(make_job: JobFactory, repo: Repo, tmp_path: Path) -> None:
    job = make_job()
    repo.commit({"later": "x"}, "a later commit")
    output: list[bytes] = []
    checkout(job, tmp_path / "src", output.append)
    assert git("rev-parse", "HEAD", cwd=tmp_path / "src") == job.sha
    assert not (tmp_path / "src" / "later").exists()
    assert b"+ git fetch" in b"".join(output)


def test_pr_is_rebased_on_its_base(make_job: JobFactory, repo: Repo, tmp_path: Path) -> None:
    head = repo.commit({"feature": "f"}, "feature", branch="topic")
    repo.commit({"base-moved": "b"}, "base moved on", branch="main")
    job = make_job(sha=head, pr=7, base_ref="main")
    checkout(job, tmp_path / "src", lambda _: None)
    assert (tmp_path / "src" / "feature").exists()
    assert (tmp_path / "src" / "base-moved").exists()


def test_rebase_can_be_switched_off(make_job: JobFactory, repo: Repo, tmp_path: Path) -> None:
    head = repo.commit({"feature": "f"}, "feature", branch="topic")
    repo.commit({"base-moved": "b"}, "base moved on", branch="main")
    job = make_job(sha=head, pr=7, base_ref="main")
    checkout(job, tmp_path / "src", lambda _: None, rebase=False)
    assert git("rev-parse", "HEAD", cwd=tmp_path / "src") == head


def test_conflicting_pr_fails_to_rebase(make_job: JobFactory, repo: Repo, tmp_path: Path) -> None:
    head = repo.commit({"README": "theirs\n"}, "conflict", branch="topic")
    repo.commit({"README": "ours\n"}, "base edits README", branch="main")
    job = make_job(sha=head, pr=7, base_ref="main")
    with pytest.raises(RebaseFailed, match="Rebase on main failed"):
        checkout(job, tmp_path / "src", lambda _: None)


def test_unreachable_server_is_retried_then_an_error(make_job: JobFactory, tmp_path: Path) -> None:
    job = make_job(clone_url="http://127.0.0.1:9/owner/project.git")
    delays: list[float] = []
    with pytest.raises(CheckoutError, match="after 3 attempts"):
        checkout(job, tmp_path / "src", lambda _: None, retries=2, sleep=delays.append)
    assert delays == [1.0, 2.0]


def test_unknown_sha_is_an_error(make_job: JobFactory, tmp_path: Path) -> None:
    job = make_job(sha="0" * 40)
    with pytest.raises(CheckoutError):
        checkout(job, tmp_path / "src", lambda _: None, retries=0)


def test_container_file_names_the_image(tmp_path: Path) -> None:
    assert container_image(tmp_path, "default:1") == "default:1"
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "container").write_text("# the image\n\nquay.io/org/img:2\n")
    assert container_image(tmp_path, "default:1") == "quay.io/org/img:2"
    (tmp_path / ".ci" / "container").write_text("--privileged\n")
    with pytest.raises(ChangeError, match=r"Invalid \.ci/container"):
        container_image(tmp_path, "default:1")
