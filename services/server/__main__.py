"""Run the gRPC server (and, with --front, the compiled front and its workers)."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from featurestore.services.auth import AuthConfigError
from featurestore.services.server.access import check_auth_settings
from featurestore.services.server.app import create_server
from featurestore.services.server.cli import PROG, settings_from_args
from featurestore.services.server.logs import log_to_stderr
from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.transport import (
    ConfigError,
    check_exposure,
    check_repo,
    server_credentials,
    split_address,
)


def main(argv: list[str] | None = None) -> int:
    """Start the server and block until SIGTERM/SIGINT, then drain and stop."""
    settings = settings_from_args(argv, __doc__)
    return run(settings, argv if argv is not None else sys.argv[1:])


def run(settings: ServerSettings, argv: list[str], prog: str = PROG) -> int:
    """Serve with ``settings`` until SIGTERM/SIGINT; the exit code.

    ``argv`` are the server flags the settings came from: with ``--workers``
    or ``--front`` each worker is started as ``python -m
    featurestore.services.server`` with them. ``prog`` names the command in
    errors. 2 when the settings are unusable (exposure, TLS files, auth).
    """
    log_to_stderr("%(asctime)s %(levelname)s %(message)s")
    try:
        # Before forking workers or loading Feast, so a refused setup exits at once.
        if not settings.address.startswith(("unix:", "unix-abstract:")):
            split_address(settings.address)
        check_exposure(settings, settings.address)
        _check_metrics_port(settings)
        server_credentials(settings)
        check_auth_settings(settings)
        check_repo(settings)
    except (ConfigError, AuthConfigError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    # The offline store locates tables through the project when it reads
    # them (Feast hands it only the repo): a --data-dir flag must reach it too,
    # and the workers inherit it.
    os.environ["FS_DATA_DIR"] = settings.data_root
    if settings.workers > 1 or settings.front:
        return supervise(settings, argv)
    # Block the stop signals before any thread exists (threads inherit the
    # mask) and take them synchronously with sigwait below. A Python signal
    # handler that sets a threading.Event can deadlock when the signal lands
    # while the main thread holds that Event's lock inside wait(); a SIGTERM
    # sent during start-up is also kept pending instead of killing the process.
    # SIGHUP re-reads the TLS files instead of ending the process.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, {*stop_signals, signal.SIGHUP})
    try:
        _serve_metrics(settings)
        running = create_server(settings)
    except (ConfigError, AuthConfigError) as exc:  # BIND_FAILED; a key file gone bad
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    # Everything loaded so far (Feast, the registry, protobuf descriptors:
    # ~170k objects) lives as long as the process. Freezing it keeps the
    # collector from walking it: a full collection drops from ~90 ms, a
    # pause every request in flight would wait out, to microseconds. Done
    # here, not in create_server, which tests call inside their own process.
    gc.freeze()
    logging.info(
        "serving on %s (port %d)%s, auth %s",
        settings.address,
        running.port,
        f" with TLS from {settings.tls_cert}" if running.tls else " without TLS",
        settings.auth,
    )
    while (signum := signal.sigwait({*stop_signals, signal.SIGHUP})) == signal.SIGHUP:
        if running.tls is None:
            logging.info("SIGHUP: no TLS files to re-read")
        else:
            running.reload_certificates()
    logging.info("signal %d: draining for up to %.1fs", signum, settings.grace_seconds)
    running.stop(settings.grace_seconds)
    logging.info("stopped")
    return 0


def _check_metrics_port(settings: ServerSettings) -> None:
    """Refuse a metrics port outside 1-65535 (worker i takes PORT+i)."""
    port = settings.metrics_port
    if port is None:
        return
    last = port + settings.workers - 1
    if port < 1 or last > 65535:
        ports = f"{port}" if last == port else f"{port}-{last} (one per worker)"
        raise ConfigError(
            "METRICS_PORT",
            f"metrics port {ports} is not a TCP port: --metrics-port "
            "(FS_METRICS_PORT) takes 1-65535",
            metrics_port=str(port),
        )


def _serve_metrics(settings: ServerSettings) -> None:
    """Serve Prometheus metrics on 127.0.0.1:``metrics_port`` when set.

    Raises:
        ConfigError: BIND_FAILED when the port is taken (or not ours to take).
    """
    if settings.metrics_port is None:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    except OSError as exc:  # EADDRINUSE, EACCES
        raise ConfigError(
            "BIND_FAILED",
            f"cannot serve metrics on 127.0.0.1:{settings.metrics_port}: "
            f"{exc.strerror or exc}",
            address=f"127.0.0.1:{settings.metrics_port}",
        ) from exc


def supervise(settings: ServerSettings, argv: list[str]) -> int:
    """Run ``settings.workers`` server processes (and the front); stop them together.

    Each worker is this module with ``--workers 1``. Without the front they
    share the public port (``FS_REUSE_PORT=1``) and the kernel spreads
    connections over them. With ``--front`` each worker listens on two Unix
    sockets in a directory only this user may enter (its gRPC port without
    TLS, and the online reads), never on a TCP port: another local user can
    neither call a worker past the front's TLS and client certificates nor
    take its port first and receive the calls. ``fs-front`` serves the public
    address: it terminates TLS, spreads proxied calls over the workers' gRPC
    sockets, hands online reads to their online sockets and reports SERVING
    only while every worker does. Authentication settings reach the workers unchanged,
    so they authenticate every call, proxied or read over the socket.

    SIGHUP is passed to every process (the front re-reads its certificate).
    SIGTERM/SIGINT drains the front first, then the workers. A process that
    exits on its own stops the others and the exit status is non-zero, so a
    process manager restarts the whole group; a worker alive but not serving
    (online store down, hung) only turns the front's health NOT_SERVING.
    """
    if settings.address.rsplit(":", 1)[-1] == "0":
        print("--workers > 1 and --front need a fixed port, not :0", file=sys.stderr)
        return 2
    if settings.front and not settings.front_binary.exists():
        print(
            f"{settings.front_binary} missing: --front needs fs-front (Go, "
            "services/front): build it with `make front` in a checkout, or `go "
            "build` there, and put it on PATH or name it in FS_FRONT_BINARY",
            file=sys.stderr,
        )
        return 2
    # SIGHUP is passed on: the TLS files are re-read by whoever holds them.
    stop_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, {*stop_signals, signal.SIGHUP})
    # mkdtemp makes the directory 0700: the sockets inside are this user's alone.
    sockets_dir = Path(tempfile.mkdtemp(prefix="fs-workers-"))
    workers, backends, sockets = [], [], []
    for number in range(settings.workers):
        command, env = _worker_command(settings, argv, number)
        if settings.front:
            backends.append(f"unix:{sockets_dir / f'grpc-{number}.sock'}")
            sockets.append(str(sockets_dir / f"online-{number}.sock"))
            env["FS_ONLINE_SOCKET"] = sockets[-1]
            command += ["--address", backends[-1], "--no-tls"]
        workers.append(subprocess.Popen(command, env=env))
    front = []
    if settings.front:
        # A socket appears once its worker has loaded the registry and checked
        # the store; the front starts when every worker can take reads.
        while not all(Path(p).exists() for p in sockets):
            if any(w.poll() is not None for w in workers):
                break
            time.sleep(0.1)
        else:
            front.append(subprocess.Popen(_front_command(settings, backends, sockets)))
    logging.info(
        "supervising %d workers%s on %s",
        len(workers), " behind fs-front" if front else "", settings.address,
    )  # fmt: skip
    # A worker may have exited (and been reaped by poll above) before this
    # wait starts: its SIGCHLD is not waited for then.
    signum: int = signal.SIGCHLD
    while not any(c.poll() is not None for c in front + workers):
        signum = signal.sigwait({*stop_signals, signal.SIGHUP})
        if signum == signal.SIGHUP:
            for child in front + workers:
                child.send_signal(signal.SIGHUP)
        elif signum != signal.SIGCHLD:
            break
    codes = _stop(front, settings.grace_seconds) + _stop(
        workers, settings.grace_seconds
    )
    shutil.rmtree(sockets_dir, ignore_errors=True)
    logging.info("stopped: exit codes %s", codes)
    if signum != signal.SIGCHLD:
        return 1 if any(codes) else 0
    # A worker that refused its settings (its metrics port taken: its one
    # line is on stderr) makes the group's refusal a usage error too.
    return 2 if 2 in codes else 1


def _worker_command(
    settings: ServerSettings, argv: list[str], number: int
) -> tuple[list[str], dict[str, str]]:
    """Worker ``number``'s command line and environment (the group's own, plus
    one process, no front, its metrics port; SO_REUSEPORT without the front)."""
    env = {**os.environ, "FS_WORKERS": "1"}
    if not settings.front:
        env["FS_REUSE_PORT"] = "1"
    extra = ["--workers", "1", "--no-front"]
    if settings.metrics_port is not None:
        extra += ["--metrics-port", str(settings.metrics_port + number)]
    return [sys.executable, "-m", "featurestore.services.server", *argv, *extra], env


def front_procs(settings: ServerSettings) -> int:
    """fs-front's GOMAXPROCS: ``front_procs``, else a third of the CPUs (>= 1)."""
    if settings.front_procs is not None:
        return settings.front_procs
    return max(1, round((os.cpu_count() or 1) / 3))


def _front_command(
    settings: ServerSettings, backends: list[str], sockets: list[str]
) -> list[str]:
    """fs-front on the public address over the workers' ports and sockets."""
    command = [
        str(settings.front_binary),
        "--listen", settings.address,
        "--backend", ",".join(backends),
        "--online-sockets", ",".join(sockets),
        "--max-request-bytes", str(settings.max_request_bytes),
        "--max-health-watchers", str(settings.max_health_watchers),
        "--grace", f"{settings.grace_seconds}s",
        "--procs", str(front_procs(settings)),
    ]  # fmt: skip
    for flag, path in (
        ("--tls-cert", settings.tls_cert),
        ("--tls-key", settings.tls_key),
        ("--tls-client-ca", settings.tls_client_ca),
    ):
        if path is not None:
            command += [flag, str(path)]
    return command


def _stop(children: list[subprocess.Popen[bytes]], grace: float) -> list[int]:
    """SIGTERM ``children`` (each drains for up to ``grace`` s); their exit codes."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    codes = []
    for child in children:
        try:
            codes.append(child.wait(timeout=grace + 30))
        except subprocess.TimeoutExpired:
            child.kill()
            codes.append(child.wait())
    return codes


if __name__ == "__main__":
    sys.exit(main())
