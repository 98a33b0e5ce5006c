"""``alosim conform SCENARIO --broker URL`` against brokers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alosim.cli import cli

from .conftest import SCENARIOS, _binary, free_port, serve

pytestmark = pytest.mark.conformance

SMALL = ["--messages", "300", "--speed", "2", "--seeds", "3"]


def conform(*args: str):  # -> click.testing.Result
    return CliRunner().invoke(cli, ["conform", *args], catch_exceptions=False)


def _nats_streams(url: str) -> list[str]:
    import nats

    async def names() -> list[str]:
        nc = await nats.connect(url)
        try:
            return [s.config.name for s in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    return asyncio.run(names())


def _redis_keys(url: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return list(client.keys("*"))
    finally:
        client.close()


@pytest.mark.parametrize("broker", ["nats", "redis"])
def test_conform_prints_real_against_alosim_and_removes_what_it_made(
        broker: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{broker}_url")
    name = "jetstream-max-deliver" if broker == "nats" else "redis-dead-letter"
    result = conform(str(SCENARIOS / f"{name}.yaml"), "--broker", url, *SMALL)
    out = result.output
    assert result.exit_code in (0, 1, 3), out  # a verdict, not a failure to measure
    assert f"conform {name} against {url}" in out
    assert "300 messages at 400/s, speed 2" in out
    assert "timer overshoot: processing sleeps mean" in out
    for figure in ("duplicates per message", "dead-lettered fraction"):
        assert any(line.strip().startswith(figure) for line in out.splitlines()), out
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("verdict: ")
    assert verdict.split()[1] == {0: "agrees", 1: "differs", 3: "inconclusive"}[result.exit_code]
    leftovers = _nats_streams(url) if broker == "nats" else _redis_keys(url)
    assert leftovers == []


@pytest.mark.parametrize("scheme", ["nats", "redis"])
def test_an_unreachable_broker_is_one_line(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}"  # nothing listens there
    result = conform(str(SCENARIOS / "jetstream-lease-mean.yaml"), "--broker", url)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("alosim: error: ")
    assert f"cannot reach the {'NATS' if scheme == 'nats' else 'Redis'} server at {url}" in lines[0]


@pytest.fixture
def nats_without_jetstream(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = serve([_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port)], port, tmp_path)
    next(server)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.close()


def test_a_nats_server_without_jetstream_is_one_line(nats_without_jetstream: str) -> None:
    result = conform(str(SCENARIOS / "jetstream-lease-mean.yaml"), "--broker", nats_without_jetstream)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "has no JetStream" in lines[0] and "start it with -js" in lines[0]
