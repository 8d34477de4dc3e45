"""The tasks side of Ouroboros: bot, worker, test map, GitHub access and AMQP helpers."""
