"""The broker in the deployment accepts only clients with a certificate from its CA."""

import ssl
from pathlib import Path

import pika
import pika.exceptions
import pytest

from ouro import amqp, queues
from ouro.deploy import secrets
from ouro.deploy.local import Deployment

pytestmark = pytest.mark.deployment


def _params(
    deployment: Deployment, ca: Path, cert: Path | None, key: Path | None
) -> pika.ConnectionParameters:
    context = ssl.create_default_context(cafile=str(ca))
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return pika.ConnectionParameters(
        host=deployment.state.host,
        port=5671,
        ssl_options=pika.SSLOptions(context, deployment.state.host),
        credentials=pika.credentials.ExternalCredentials()
        if cert
        else pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=5,
    )


def test_client_certificate_from_the_ca_is_accepted(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in deployment.client_env().items():
        monkeypatch.setenv(key, value)
    publisher = amqp.Publisher()
    publisher.publish(queues.WEBHOOK_DEAD, b"{}", message_id="deploy-test-probe")
    publisher.close()
    connection = amqp.connect()
    method, properties, _ = connection.channel().basic_get(queues.WEBHOOK_DEAD, auto_ack=True)
    connection.close()
    assert method is not None
    assert properties.message_id == "deploy-test-probe"


def test_client_without_certificate_is_refused(deployment: Deployment) -> None:
    ca = deployment.secrets / "amqp" / "ca.pem"
    with pytest.raises((pika.exceptions.AMQPError, ssl.SSLError, ConnectionError)):
        pika.BlockingConnection(_params(deployment, ca, None, None)).close()


def test_certificate_from_another_ca_is_refused(deployment: Deployment, tmp_path: Path) -> None:
    # Same CN as the real client, so only the signature can make the difference.
    secrets.make_ca(tmp_path / "ca", "Someone else's CA")
    secrets.make_leaf(tmp_path / "ca", tmp_path, "client", secrets.CLIENT_CN)
    ca = deployment.secrets / "amqp" / "ca.pem"
    with pytest.raises((pika.exceptions.AMQPError, ssl.SSLError, ConnectionError)):
        pika.BlockingConnection(
            _params(deployment, ca, tmp_path / "client.pem", tmp_path / "client.key")
        ).close()
