"""Run the gRPC server (and, with --front, the compiled front and its workers)."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.services.auth import AuthConfigError
from featurestore.services.server.access import check_auth_settings
from featurestore.services.server.app import create_server
from featurestore.services.server.cli import PROG, settings_from_args
from featurestore.services.server.logs import log_to_stderr
from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.transport import (
    ConfigError,
    check_exposure,
    check_port_free,
    check_repo,
    is_unix_socket,
    server_credentials,
    split_address,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

# linux/prctl.h: the signal a process gets when its parent thread exits.
_PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    """Start the server and block until SIGTERM/SIGINT, then drain and stop."""
    settings = settings_from_args(argv, __doc__)
    return run(settings, argv if argv is not None else sys.argv[1:])


def run(
    settings: ServerSettings,
    argv: list[str],
    prog: str = PROG,
    started: Callable[[], None] | None = None,
) -> int:
    """Serve with ``settings`` until SIGTERM/SIGINT; the exit code.

    ``argv`` are the server flags the settings came from: with ``--workers``
    or ``--front`` each worker is started as ``python -m
    featurestore.services.server`` with them. ``prog`` names the command in
    errors. 2 when the settings are unusable (exposure, TLS files, auth).
    ``started`` is called once the settings are found usable, before
    anything is loaded (``featurestore serve`` names its project there: a
    refusal stays one line).
    """
    log_to_stderr("%(asctime)s %(levelname)s %(message)s")
    try:
        # Before forking workers or loading Feast, so a refused setup exits at once.
        if not is_unix_socket(settings.address):
            split_address(settings.address)
        check_exposure(settings, settings.address)
        _check_metrics_port(settings)
        server_credentials(settings)
        check_auth_settings(settings)
        check_repo(settings)
        if (settings.workers > 1 or settings.front) and not is_unix_socket(
            settings.address
        ):
            # Each process would find the port taken only once it has loaded.
            check_port_free(settings.address)
    except (ConfigError, AuthConfigError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if started is not None:
        started()
    # The offline store locates tables through the project when it reads
    # them (Feast hands it only the repo): a --data-dir flag must reach it too,
    # and the workers inherit it.
    os.environ["FS_DATA_DIR"] = settings.data_root
    if settings.workers > 1 or settings.front:
        return supervise(settings, argv)
    # SIGHUP re-reads the TLS files instead of ending the process.
    with _SignalQueue({signal.SIGTERM, signal.SIGINT, signal.SIGHUP}) as signals:
        return _serve(settings, signals, prog)


def _serve(settings: ServerSettings, signals: _SignalQueue, prog: str) -> int:
    """One server process: serve until a stop signal, then drain; the exit code.

    A stop signal that arrives while Feast loads waits in ``signals`` until
    the server has started, then drains it.
    """
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
    while (signum := signals.next()) == signal.SIGHUP:
        if running.tls is None:
            logging.info("SIGHUP: no TLS files to re-read")
        else:
            running.reload_certificates()
    logging.info("signal %d: draining for up to %.1fs", signum, settings.grace_seconds)
    lost = running.stop(settings.grace_seconds)
    if lost:
        print(
            f"{prog}: {lost} audit records could not be written to "
            f"{settings.audit_log}",
            file=sys.stderr,
        )
        return 1
    logging.info("stopped")
    return 0


class _SignalQueue:
    """Signals taken by Python handlers, read in order on the main thread.

    The kernel hands a signal sent to the process to any thread not blocking
    it, and threads started while modules are imported (before any code of
    ours runs) block nothing: blocking the signals on the main thread for
    sigwait let one of those threads take a SIGTERM and die of it, the whole
    process with it. A Python handler is the process's whichever thread the
    kernel picks: its C part writes the signal's number to the wake-up pipe
    read here. The handler itself does nothing (one that set a
    threading.Event could deadlock with the main thread inside that Event's
    wait).
    """

    def __init__(self, signums: set[signal.Signals]) -> None:
        self._signums = signums

    def __enter__(self) -> _SignalQueue:
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._handlers = {s: signal.signal(s, _no_op) for s in self._signums}
        # A process started by a supervisor inherits its mask (see _spawn).
        self._mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, self._signums)
        return self

    def next(self, timeout: float | None = None) -> int | None:
        """The next signal's number, waiting up to ``timeout`` s (None: no signal)."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        return os.read(self._read, 1)[0] if ready else None

    def __exit__(self, *exc_info: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        os.close(signal.set_wakeup_fd(self._wakeup))
        os.close(self._read)


def _no_op(signum: int, frame: FrameType | None) -> None:
    """The Python handler of a _SignalQueue's signals (see there)."""


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
    group_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD}
    # mkdtemp makes the directory 0700: the sockets inside are this user's alone.
    sockets_dir = Path(tempfile.mkdtemp(prefix="fs-workers-"))
    front: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    # Stopping the group inside the queue: a second signal waits in it.
    with _SignalQueue(group_signals) as signals:
        try:
            signum = _run_group(settings, argv, signals, sockets_dir, workers, front)
        finally:
            codes = _stop(front, settings.grace_seconds)
            codes += _stop(workers, settings.grace_seconds)
            shutil.rmtree(sockets_dir, ignore_errors=True)
    logging.info("stopped: exit codes %s", codes)
    if signum != signal.SIGCHLD:
        return 1 if any(codes) else 0
    # A worker that refused its settings (its metrics port taken: its one
    # line is on stderr) makes the group's refusal a usage error too.
    return 2 if 2 in codes else 1


def _run_group(
    settings: ServerSettings,
    argv: list[str],
    signals: _SignalQueue,
    sockets_dir: Path,
    workers: list[subprocess.Popen[bytes]],
    front: list[subprocess.Popen[bytes]],
) -> int:
    """Start the workers (into ``workers``), then the front once they are
    ready (into ``front``); wait until a stop signal (its number) or until a
    process exits (SIGCHLD). SIGHUP is passed on meanwhile."""
    backends, sockets = [], []
    for number in range(settings.workers):
        command, env = _worker_command(settings, argv, number)
        if settings.front:
            backends.append(f"unix:{sockets_dir / f'grpc-{number}.sock'}")
            sockets.append(str(sockets_dir / f"online-{number}.sock"))
            env["FS_ONLINE_SOCKET"] = sockets[-1]
            command += ["--address", backends[-1], "--no-tls"]
        workers.append(_spawn(command, env))
    if not settings.front:
        _log_group(settings, workers, front)
    # Every exit after the queue was set up is in it as SIGCHLD: poll, then wait.
    while not any(c.poll() is not None for c in front + workers):
        starting = settings.front and not front
        # A worker creates its sockets once it is up (listening, after its
        # first health check, whatever that found): the front starts when
        # every worker is up, even with the online store down (then its
        # health says NOT_SERVING until the store answers).
        if starting and all(Path(p).exists() for p in sockets):
            front.append(_spawn(_front_command(settings, backends, sockets)))
            _log_group(settings, workers, front)
            continue
        signum = signals.next(timeout=0.1 if starting else None)
        if signum == signal.SIGHUP:
            for child in front + workers:
                child.send_signal(signal.SIGHUP)
        elif signum is not None and signum != signal.SIGCHLD:
            return signum  # SIGTERM, SIGINT
    return signal.SIGCHLD


def _spawn(
    command: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start one process of the group, which dies with the supervisor.

    It starts with the group's signals blocked: they stay pending in it until
    it takes them (a worker, in its own _SignalQueue), so a SIGHUP or SIGTERM
    passed on while it is still loading ends no worker half-started.
    """
    passed_on = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, passed_on)
    try:
        return subprocess.Popen(
            command, env=env, preexec_fn=_die_with(os.getpid(), _prctl())
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _prctl() -> Callable[..., int]:
    """libc's prctl, looked up before a fork (never in the child)."""
    return ctypes.CDLL(None, use_errno=True).prctl


def _die_with(parent: int, prctl: Callable[..., int]) -> Callable[[], None]:
    """What a child runs between fork and exec: SIGTERM it when ``parent`` ends.

    A supervisor killed outright (kill -9, the OOM killer) cannot stop the
    group: without this, fs-front and the workers kept serving the port on
    the settings they started with, and a restart found the port taken. The
    kernel sends PR_SET_PDEATHSIG's signal when the thread that forked exits:
    the main thread, the supervisor's last. The signal outlives exec (the Go
    front too), and the processes drain on it as on a stop. Between fork and
    exec only async-signal-safe calls are safe (the supervisor has threads):
    prctl (found before the fork), getppid and _exit.
    """

    def child() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died before prctl
            os._exit(1)

    return child


def _log_group(
    settings: ServerSettings,
    workers: list[subprocess.Popen[bytes]],
    front: list[subprocess.Popen[bytes]],
) -> None:
    logging.info(
        "supervising %d workers%s on %s",
        len(workers), " behind fs-front" if front else "", settings.address,
    )  # fmt: skip


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
