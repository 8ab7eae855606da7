from __future__ import annotations

import pytest

from service.settings import Settings


def test_defaults_use_the_embedded_broker() -> None:
    settings = Settings()
    assert settings.uses_embedded_broker
    assert settings.bootstrap_servers() == ["127.0.0.1:19092"]


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSSTREAM_BROKER_URL", "kafka://k1:9092;k2:9093")
    monkeypatch.setenv("NEWSSTREAM_PARTITIONS", "12")
    monkeypatch.setenv("NEWSSTREAM_TOPIC_RAW", "scrapers.out")
    settings = Settings()
    assert not settings.uses_embedded_broker
    assert settings.bootstrap_servers() == ["k1:9092", "k2:9093"]
    assert settings.faust_broker_url() == "kafka://k1:9092;k2:9093"
    assert settings.partitions == 12
    assert settings.all_topics()[0] == "scrapers.out"


def test_comma_separated_servers() -> None:
    assert Settings(broker_url="a:1, b:2").bootstrap_servers() == ["a:1", "b:2"]


def test_secrets_stay_masked_in_dumps() -> None:
    settings = Settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2",  # type: ignore[arg-type]
    )
    assert "hunter2" not in str(settings.masked())
    assert "hunter2" not in repr(settings)
    config = settings.kafka_python_config()
    assert config["sasl_plain_password"] == "hunter2"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="partitions"):
        Settings(partitions=0)
