"""`ConsumerHealth` on a real connection: the loop's heartbeat, and a hung loop seen as such
(the processes' probes against a stopped broker: tests/tasks/test_consumer_probes.py)."""

from ouro import amqp
from ouro.consumerhealth import STALE, TICK, ConsumerHealth


def test_a_loop_that_stops_ticking_while_connected_is_neither_ready_nor_alive(
    amqp_url: str,
) -> None:
    now = [100.0]
    health = ConsumerHealth(clock=lambda: now[0])
    assert health.readiness().text == "not connected to the broker yet"
    assert health.liveness().ok
    connection = amqp.connect(amqp_url)
    try:
        health.hook()(connection, connection.channel())
        assert health.readiness().ok
        now[0] += STALE / 2
        # The connection's thread processes events: its timer marks the loop alive again.
        connection.process_data_events(time_limit=TICK * 2)
        now[0] += STALE / 2 + 1
        assert health.readiness().ok, "the tick did not count"
        # Nobody processes events any more, as when the consume loop hangs.
        now[0] += STALE + 1
        assert not health.liveness().ok
        assert health.readiness().text.startswith("consumer loop silent for")
    finally:
        connection.close()
    assert health.readiness().text == "broker connection lost; reconnecting"
    assert health.liveness().ok
