"""The test maps a local deployment renders are valid: the sample's, and a real PR's."""

from pathlib import Path

from ouro.deploy.local import Deployment
from tasks import testmap


def test_the_sample_map_and_a_real_prs_map_are_valid(tmp_path: Path) -> None:
    deploy = Deployment(tmp_path)
    deploy.state.images["job"] = "localhost/ouro-job:0123"
    sample = testmap.parse(deploy.local_testmap())
    assert sample.images
    assert sample.infra is not None
    assert sample.contexts("ouro-demo/sample", "main")[0].image == "localhost/ouro-job:0123"
    real = testmap.parse(deploy.local_testmap({"acme/widget": {"main": {"unit-tests": {}}}}))
    # Nothing of the sample's is left to name a repository the map does not have.
    assert list(real.repos) == ["acme/widget"]
    assert (real.images, real.infra, real.trusted.users) == ({}, None, frozenset())
