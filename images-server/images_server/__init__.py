"""images-server: VM images and job logs on one machine's disk, over HTTP.

`server` is the HTTP handler and its storage rules; `cli` is `ouro images-server`.
"""
