"""Topology scenarios built in Python for the tests."""

from __future__ import annotations

from typing import Any

from alosim.scenario import Scenario, validate_scenario


def link(src: str, dst: str, *, p_data: float = 0.0, p_ack: float = 0.0, latency_s: float = 0.001) -> dict[str, Any]:
    latency = {"dist": "constant", "value": latency_s}
    return {"from": src, "to": dst, "data": {"loss": p_data, "latency": latency},
            "ack": {"loss": p_ack, "latency": latency}}


def sender(timeout_s: float, attempts: int | None = None, window: int = 64) -> dict[str, Any]:
    return {"window": window, "retry": {"timeout": timeout_s, "max_attempts": attempts}}


def service(timeout_s: float, attempts: int | None = None, *, ack: str = "before-call",
            identity: str = "keep", dedup: str = "none", workers: int = 1000) -> dict[str, Any]:
    return {"kind": "service", "sender": sender(timeout_s, attempts),
            "receiver": {"workers": workers, "dedup": {"kind": dedup}},
            "onward": {"ack": ack, "identity": identity}}


def sink(dedup: str = "none", processing_s: float = 0.0) -> dict[str, Any]:
    return {"kind": "sink", "receiver": {"workers": 1000, "dedup": {"kind": dedup},
                                          "processing": {"dist": "constant", "value": processing_s}}}


def topology(nodes: dict[str, Any], links: list[dict[str, Any]], messages: int = 1000,
             seed: int = 1, **top: Any) -> Scenario:
    return validate_scenario({"name": "topology-test", "messages": messages, "seed": seed,
                              "topology": {"nodes": nodes, "links": links}, **top}, "<test>")
