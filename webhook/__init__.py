"""The webhook receiver: check the signature, publish the raw payload, answer GitHub."""
