"""The worker (docs/worker.md): takes one job at a time from the tasks queues, runs it in
a throw-away container (or directly, for development), streams its log to the store and posts
its statuses. A job is acked only once its final status is posted and its log finalised.

Modules: `config` (settings), `checkout` (git), `runner` (podman / direct), `joblog` (the
streamed, masked log), `logframe` (the log's lines around the command's output),
`attachments`, `outcome` (outcome → commit status, in one place), `service` (the consume
loop, cancel and drain), `cli` (`ouro worker`).
"""
