from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.broker import (
    EmbeddedBroker,
    KafkaDistributionBroker,
    local_broker,
    tansu_binary,
)


def test_embedded_binary_ships_with_the_package() -> None:
    path = tansu_binary()
    assert path.is_file()
    assert os.access(path, os.X_OK)


def test_embedded_broker_advertises_its_own_listener() -> None:
    command = EmbeddedBroker("127.0.0.1", 12345, None).command()
    assert command[command.index("--listener-url") + 1] == "tcp://127.0.0.1:12345"
    assert command[command.index("--advertised-listener-url") + 1] == "tcp://127.0.0.1:12345"


def test_without_kafka_home_the_embedded_broker_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    assert isinstance(local_broker(port=1), EmbeddedBroker)


def test_unusable_kafka_home_falls_back(tmp_path: Path) -> None:
    assert isinstance(local_broker(port=1, kafka_home=str(tmp_path)), EmbeddedBroker)


def test_kafka_home_gives_a_single_node_kraft_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "kafka" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "kafka-server-start.sh").write_text("#!/bin/sh\n")
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/java")
    broker = local_broker(port=29092, kafka_home=str(tmp_path / "kafka"))
    assert isinstance(broker, KafkaDistributionBroker)
    props = dict(line.split("=", 1) for line in broker.server_properties().splitlines() if line)
    assert props["process.roles"] == "broker,controller"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.voters"] == f"1@127.0.0.1:{broker.controller_port}"
    assert broker.command()[0].endswith("bin/kafka-server-start.sh")
