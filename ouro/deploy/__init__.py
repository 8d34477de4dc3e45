"""Deployment tooling: container images, pods, secrets, the local driver behind run-local.sh.

No component imports it (docs/architecture.md)."""
