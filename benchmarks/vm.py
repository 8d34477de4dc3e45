"""`ouro vm` figures: image build, boot to result under TCG, `ouro vm run`'s overhead over a
bare QEMU, the KVM probe, cached and uncached fetches, and jobs per hour.

    .venv/bin/python benchmarks/vm.py [--rounds 3] [--jobs 4] [--image IMAGE.qcow2]

Without `--image` it builds a small image twice (no .deb cache, then a warm one); with it,
it measures that image and skips the build figures. Runs use TCG (`OURO_VM_ACCEL=tcg`),
as these machines' KVM does not work. Each timing is printed as min / median of
`--rounds`; bare and `ouro vm run` boots alternate, so load on the machine hits both.
docs/vm.md records the figures.
"""

import argparse
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "images-server")]

from ouro.store.http import HttpStore  # noqa: E402 (after the path set-up)
from vm import guest, qemu, remote  # noqa: E402
from vm.build import build  # noqa: E402
from vm.cache import ImageCache  # noqa: E402
from vm.imagefiles import ImageFiles  # noqa: E402
from vm.probe import probe  # noqa: E402
from vm.run import APPEND, RunSpec, run  # noqa: E402
from vm.units import human  # noqa: E402

RECIPE = "suite: bookworm\nsetup:\n  - echo benchmark > /etc/ouro-benchmark\nsize: 1G\n"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} s"


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def build_figures(work: Path) -> ImageFiles:
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE)
    cache = work / "apt-cache"
    cold = timed(lambda: build(recipe, work / "cold.qcow2", apt_cache=cache))
    warm = timed(lambda: build(recipe, work / "bench.qcow2", apt_cache=cache))
    files = ImageFiles(work / "bench.qcow2")
    print(f"build, empty .deb cache: {cold:.1f} s; warm .deb cache: {warm:.1f} s")
    print(
        f"  qcow2 {human(files.qcow2.stat().st_size)}, kernel {human(files.kernel.stat().st_size)}"
        f", initrd {human(files.initrd.stat().st_size)}"
    )
    return files


def bare_boot(files: ImageFiles, work: Path, rss: list[int]) -> float:
    """QEMU alone, with the command line and disks `ouro vm run` would give it."""
    overlay, job, result = work / "bare.qcow2", work / "bare-job.tar", work / "bare-result.raw"
    base = str(files.qcow2.resolve())
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, str(overlay)],
        check=True,
    )
    with job.open("wb") as file:
        guest.write_job(file, ["true"], {}, None)
    with result.open("wb") as file:
        file.truncate(64 << 20)
    fds = [os.open(overlay, os.O_RDWR), os.open(job, os.O_RDONLY), os.open(result, os.O_RDWR)]
    machine = qemu.Machine(
        kernel=files.kernel,
        initrd=files.initrd,
        append=APPEND,
        accel="tcg",
        disks=(
            qemu.Disk(fds[0], "qcow2", guest.ROOT_SERIAL),
            qemu.Disk(fds[1], "raw", guest.JOB_SERIAL, readonly=True),
            qemu.Disk(fds[2], "raw", guest.RESULT_SERIAL),
        ),
    )
    command = qemu.argv(machine)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=fds
    )
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(status.split("VmRSS:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    rss.append(peak * 1024)
    for fd in fds:
        os.close(fd)
    for path in (overlay, job, result):
        path.unlink()
    return seconds


def cli_run(files: ImageFiles) -> tuple[float, float]:
    """`python -m vm run IMAGE -- true`: its wall time, and QEMU's part (from its log)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OURO_VM_ACCEL": "tcg"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "vm", "run", str(files.qcow2), "--", "true"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    return wall, float(result.stderr.split("(QEMU ran ")[1].split()[0])


def boot_figures(files: ImageFiles, work: Path, rounds: int) -> None:
    bare: list[float] = []
    bare_cpu: list[float] = []
    library: list[float] = []
    library_overhead: list[float] = []
    cli: list[float] = []
    cli_overhead: list[float] = []
    rss: list[int] = []
    spec = RunSpec(image=files, argv=["true"], accel="tcg")
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        bare.append(bare_boot(files, work, rss))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        bare_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        started = time.perf_counter()
        result = run(spec, console=lambda line: None)
        library.append(time.perf_counter() - started)
        library_overhead.append(library[-1] - result.qemu_seconds)
        wall, qemu_seconds = cli_run(files)
        cli.append(wall)
        cli_overhead.append(wall - qemu_seconds)
    print(f"boot to guest result under TCG (`true`), min / median of {rounds}:")
    print(f"  bare qemu-system-x86_64, same command line: {spread(bare)}")
    print(f"    (QEMU's CPU time: {spread(bare_cpu)}; less than the wall time = other load)")
    print(f"  vm.run.run() in-process:                  {spread(library)}")
    print(f"  python -m vm run (= ouro vm run):          {spread(cli)}")
    print(
        "  ouro vm run's overhead, its wall time minus its QEMU's lifetime: "
        f"{spread(cli_overhead)} (in-process run(): {spread(library_overhead)})"
    )
    print(
        f"  difference to the bare boot: {min(cli) - min(bare):+.2f} s (min), "
        f"{statistics.median(cli) - statistics.median(bare):+.2f} s (median)"
    )
    print(f"  QEMU peak RSS, 512 MiB guest: {human(max(rss))}")


def probe_figures(files: ImageFiles, rounds: int) -> None:
    results = [probe(files.kernel) for _ in range(rounds)]
    seconds = [result.seconds for result in results]
    print(f"KVM probe: {results[0]}; min / max {min(seconds):.2f} / {max(seconds):.2f} s")
    tcg = probe(files.kernel, accel="tcg", timeout=60)
    print(f"  the same kernel's boot to its panic under TCG (the 'yes' path): {tcg.seconds:.2f} s")


def fetch_figures(files: ImageFiles, work: Path, rounds: int) -> None:
    token = secrets.token_hex(16)
    token_file = work / "token"
    token_file.write_text(token + "\n")
    os.environ["IMAGES_TOKEN_FILE"] = str(token_file)
    from images_server.server import make_server  # noqa: PLC0415 (needs the token variable)

    server = make_server(0, work / "store")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    os.environ.update(OURO_STORE="http", IMAGES_SERVER_URL=server.url)
    try:
        store = HttpStore(server.url, token)
        started = time.perf_counter()
        ref = remote.upload(store, files.qcow2, "bench")
        upload = time.perf_counter() - started
        store.close()
        size = sum(path.stat().st_size for path in (files.qcow2, files.kernel, files.initrd))
        print(f"upload of the image set ({human(size)}) with checksums: {upload:.2f} s")
        uncached, cached = [], []
        for number in range(rounds):
            cache = ImageCache(work / f"cache-{number}", 20 << 30)

            def fetch(cache: ImageCache = cache) -> None:
                with remote.resolve(ref.file_name, cache):
                    pass

            uncached.append(timed(fetch))
            cached.append(timed(fetch))
        print(f"fetch, uncached (download + verify): {spread(uncached)}")
        print(f"fetch, cached (verify every file):   {spread(cached)}")
    finally:
        server.shutdown()
        server.server_close()


def throughput_figures(files: ImageFiles, jobs: int, levels: list[int]) -> None:
    spec = RunSpec(image=files, argv=["true"], accel="tcg")
    for concurrency in levels:
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()
            results = list(pool.map(lambda _: run(spec, console=lambda line: None), range(jobs)))
            wall = time.perf_counter() - started
        assert all(result.exit_code == 0 for result in results)
        print(
            f"{jobs} jobs (`true`), {concurrency} VM(s) at once: {wall:.1f} s wall, "
            f"{3600 * jobs / wall:.0f} jobs/hour"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4, help="jobs per throughput figure")
    parser.add_argument(
        "--concurrency", default="1,2", help="VMs at once, for each throughput figure (1,2)"
    )
    parser.add_argument("--image", type=Path, help="measure this image; skip the build")
    parser.add_argument("--dir", type=Path, help="parent of the work folder (default: TMPDIR)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {load()} at the start")
    with tempfile.TemporaryDirectory(prefix="ouro-vm-bench-", dir=args.dir) as folder:
        work = Path(folder)
        files = ImageFiles(args.image).check() if args.image else build_figures(work)
        probe_figures(files, args.rounds)
        boot_figures(files, work, args.rounds)
        fetch_figures(files, work, args.rounds)
        levels = [int(level) for level in args.concurrency.split(",")]
        throughput_figures(files, args.jobs, levels)
    print(f"load average {load()} at the end")


if __name__ == "__main__":
    main()
