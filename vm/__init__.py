"""`ouro vm`: Debian VM images for jobs that need a real machine (docs/vm.md).

`build` turns a recipe into a bootable image (mmdebstrap, `mkfs.ext4 -d`, no loop
mounts); `run` boots a throw-away overlay of it under KVM or TCG and runs one command;
`probe` says whether KVM works; `upload` and `fetch` move content-addressed images
through the store (`ouro.store`) and a host cache. Only `ouro.*` and the standard
library are imported, so the worker can use this package without the other components.
"""
