"""images-server: VM images and job logs on one machine's disk, over HTTP.

`server` is the HTTP side (routes, tokens, headers), `storage` the store on disk, `bodies`
reads upload bodies, `conditional` answers 304 and ranges, `listing` shows folders;
`cli` is `ouro images-server`.
"""
