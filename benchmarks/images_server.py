"""images-server throughput: 1 GiB up and down on loopback next to `cp` on the same disk.

    .venv/bin/python benchmarks/images_server.py [--size-mib 1024] [--dir /var/tmp] [--runs 3]

Each run measures, in turns: `cp`; `ouro image upload` and `ouro image download` as
commands (a new process each, start-up included; checksums verified by the server and by
the download); the same through `HttpStore.put_file`/`get_to` in this process; the server
alone, with a client that costs next to nothing (`sendfile` for PUT, with and without a
checksum the server verifies; `recv_into` a reused buffer for GET); and the SHA-256 of the
file alone, in place (`FileHasher(mapped=True)`, as the server and `get_to` hash): a
sequential pass on one core that every verified transfer contains, so its share of `cp` is
the most a verified transfer can reach. Every figure is a time and its share of that run's
`cp` (100 % = as fast as `cp`); the server's RSS at the start and its peak (`VmHWM`), and
the largest peak RSS of an `ouro image` process, close the report. A second table gives
the CPU time each took, client and server together, beside `cp`'s: on a shared machine
the wall times move with the others' load, the CPU times much less.
"""

import argparse
import hashlib
import http.client
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "images-server")]

from benchmarks.support import procs  # noqa: E402
from ouro.store import FileHasher  # noqa: E402
from ouro.store.http import HttpStore  # noqa: E402

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def timed(action: object) -> float:
    start = time.perf_counter()
    assert callable(action)
    action()
    return time.perf_counter() - start


def cpu_seconds(server_pid: int) -> float:
    """CPU time so far of this process (its threads), of its children waited for (cp, ouro
    image) and of the server: on a shared machine, what a transfer costs whatever else runs."""
    used = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        used += usage.ru_utime + usage.ru_stime
    return used + procs.cpu_seconds(server_pid)


def table(runs: list[dict[str, float]]) -> None:
    """Each figure and its share of the same run's `cp` (100 % = as little as `cp`)."""
    print(f"{'':22}" + "".join(f"{f'run {n + 1}':>18}" for n in range(len(runs))))
    for what in runs[0]:
        cells = []
        for run in runs:
            share = "" if what == "cp" else f" {run['cp'] / run[what]:4.0%}"
            cells.append(f"{run[what]:6.2f} s{share:>6}".rjust(18))
        print(f"{what:22}" + "".join(cells))


def memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def lean_put(port: int, source: Path, name: str, headers: dict[str, str]) -> None:
    """PUT with the body sent by the kernel (`sendfile`): what the server alone can take."""
    with socket.create_connection(("127.0.0.1", port)) as connection, source.open("rb") as body:
        head = [
            f"PUT /images/{name} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {source.stat().st_size}",
            *(f"{field}: {value}" for field, value in headers.items()),
        ]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        connection.sendfile(body)
        response = http.client.HTTPResponse(connection)
        response.begin()
        assert response.status == 201, response.read()


def lean_get(port: int, target: Path) -> None:
    """GET into a reused buffer, written as it comes: what the server alone can give."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"GET /images/lean.img HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = http.client.HTTPResponse(connection, method="GET")
        response.begin()
        assert response.status == 200
        buffer = memoryview(bytearray(MiB))
        with target.open("wb", buffering=0) as out:
            while got := response.readinto(buffer):
                out.write(buffer[:got])


def sha256_alone(source: Path) -> None:
    """The file's SHA-256, hashed in place on one thread: the floor of a verified transfer."""
    length = source.stat().st_size
    with source.open("rb") as file, FileHasher(file.fileno(), length, mapped=True) as hasher:
        hasher.hexdigest()


def main() -> int:  # noqa: PLR0915 (one straight script: set up, measure in turns, print)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument(
        "--dir", default=tempfile.gettempdir(), help="a folder on the disk to measure"
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="images-bench-") as work:
        folder = Path(work)
        source = folder / "source.img"
        with source.open("wb") as file:
            block = os.urandom(MiB)
            for _ in range(args.size_mib):
                file.write(block)
        # Warm the page cache for every contender alike.
        subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)

        token = folder / "token"
        token.write_text("benchmark-token\n")
        port = free_port()
        paths = os.pathsep.join(sys.path[:2])
        server = subprocess.Popen(
            [sys.executable, "-m", "images_server", "--host", "127.0.0.1", "--port", str(port),
             "--dir", str(folder / "store")],
            env=os.environ | {"IMAGES_TOKEN_FILE": str(token), "PYTHONPATH": paths},
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        env = os.environ | {
            "PYTHONPATH": paths, "OURO_STORE": "http", "IMAGES_SERVER_URL": url,
            "IMAGES_TOKEN_FILE": str(token),
        }  # fmt: skip

        def ouro(*words: str) -> None:
            command = [str(Path(sys.executable).with_name("ouro")), "image", *words]
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)

        runs: list[dict[str, float]] = []
        costs: list[dict[str, float]] = []
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except ConnectionRefusedError:
                    time.sleep(0.05)
            rss_start = memory(server.pid, "VmRSS")
            store = HttpStore(url, "benchmark-token")
            auth = {"Authorization": "Bearer benchmark-token"}
            with source.open("rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
            contenders = {
                "cp": lambda: subprocess.run(
                    ["cp", str(source), str(folder / "copy.img")], check=True
                ),
                "ouro image upload": lambda: ouro("upload", str(source), "--name", "cli.img"),
                "ouro image download": lambda: ouro(
                    "download", "cli.img", "-o", str(folder / "cli-down.img")
                ),
                "put_file (in-process)": lambda: store.put_file("images/bench.img", source),
                "get_to (in-process)": lambda: store.get_to(
                    "images/bench.img", folder / "down.img"
                ),
                "server: PUT": lambda: lean_put(port, source, "lean.img", auth),
                "server: GET": lambda: lean_get(port, folder / "lean-down.img"),
                "server: PUT verified": lambda: lean_put(
                    port, source, "lean-verified.img", auth | {"X-Content-SHA256": digest}
                ),
                "sha256 alone": lambda: sha256_alone(source),
            }
            # What to remove after a contender (outside its time), once nothing reads it.
            # Each contender writes a new file, as `cp` does (replacing the last run's would
            # add dropping its 1 GiB of page cache to the time), and starts with at most one
            # other file's pages still dirty: more, and the kernel throttles the writer until
            # the disk has written some out (a third GiB dirty made a GET 2.5-3 s instead of
            # 0.6-0.8 s), which `cp`, first in each run, never met.
            written = {"cp": "copy.img", "ouro image download": "cli-down.img"}
            written |= {"get_to (in-process)": "down.img", "server: GET": "lean-down.img"}
            stored = {"ouro image download": "cli.img", "get_to (in-process)": "bench.img"}
            stored |= {"server: GET": "lean.img", "server: PUT verified": "lean-verified.img"}
            try:
                for _ in range(args.runs):
                    run: dict[str, float] = {}
                    cost: dict[str, float] = {}
                    for what, action in contenders.items():
                        before = cpu_seconds(server.pid)
                        run[what] = timed(action)
                        cost[what] = cpu_seconds(server.pid) - before
                        if what in written:
                            assert (folder / written[what]).stat().st_size == size
                            (folder / written[what]).unlink()
                        if what in stored:
                            store.delete(f"images/{stored[what]}")
                    runs.append(run)
                    costs.append(cost)
            finally:
                store.close()
            peak = memory(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(30)

    print(f"{args.size_mib} MiB, {os.cpu_count()} CPUs, in {args.dir}; time and share of cp")
    table(runs)
    print("CPU time, client and server together, and share of cp's")
    table(costs)
    print(f"server RSS            {rss_start / MiB:.0f} MiB at start, peak {peak / MiB:.0f} MiB")
    # ru_maxrss is in KiB: the largest of the children waited for (cp, cat, ouro image).
    client_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"ouro image RSS        peak {client_peak / MiB:.0f} MiB (the whole process)")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
