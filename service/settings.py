"""The one settings object: every option, its default and its environment variable.

Read once, explicitly, by whoever starts the service (never at import time), so
tests and the CLI can build their own.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.stages.dedup_index import DedupConfig

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Environment prefix ``NEWSSTREAM_``; e.g. ``NEWSSTREAM_BROKER_URL=kafka://host:9092``."""

    model_config = SettingsConfigDict(env_prefix="NEWSSTREAM_", frozen=True, extra="ignore")

    # --- broker
    broker_url: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, e.g. 'kafka://k1:9092;k2:9092' or 'k1:9092,k2:9092'. "
        "Unset: the embedded broker is started on 127.0.0.1.",
    )
    embedded_port: int = Field(default=19092, description="Port of the embedded broker.")
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    # --- application
    app_id: str = Field(default="newsstream", description="Consumer group and internal prefix.")
    topic_raw: str = "articles.raw"
    topic_enriched: str = "articles.enriched"
    topic_duplicates: str = "articles.duplicates"
    topic_deadletter: str = "articles.deadletter"
    partitions: int = Field(default=4, ge=1, description="Partitions of every topic.")
    replication_factor: int = Field(default=1, ge=1)

    # --- limits
    max_body_bytes: int = Field(
        default=2_000_000, ge=1024, description="Larger article bodies are dead-lettered."
    )
    max_record_bytes: int = Field(
        default=4_000_000, ge=1024, description="Larger raw records are dead-lettered unparsed."
    )

    # --- deduplication
    dedup_window_days: float = Field(
        default=7.0, gt=0, description="Articles are matched against those fetched this recently."
    )
    dedup_near_threshold: float = Field(
        default=0.7, gt=0, le=1, description="Estimated Jaccard at which a body is a near copy."
    )
    dedup_story_threshold: float = Field(
        default=0.3, gt=0, le=1, description="Estimated Jaccard at which articles share a story."
    )
    dedup_min_shingles: int = Field(
        default=10, ge=1, description="Shorter bodies are never matched (they collide by chance)."
    )

    # --- worker
    web_host: str = Field(default="127.0.0.1", description="Bind address of /metrics.")
    web_port: int = Field(default=6066, description="Port of /metrics and the worker's web.")
    data_dir: Path = Field(default=Path(".newsstream"), description="Worker state directory.")
    log_level: str = "info"
    classifier_data_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of classifier data files (topics.toml, actors.toml, events.toml, "
            "places.toml) that replace the shipped ones; files it lacks stay the shipped ones."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, with stage and article id."
    )
    session_timeout_s: float = Field(default=10.0, description="Consumer group session timeout.")
    record_budget_s: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Wall time one record may spend in decode/parse/classify/fingerprint before it is "
            "dead-lettered with reason timeout (0: no budget). Keep it well under the session "
            "timeout: the work blocks the event loop, heartbeats included."
        ),
    )
    heartbeat_interval_s: float = 1.5
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="exactly_once uses Kafka transactions (Apache Kafka; not the embedded broker).",
    )
    producer_max_batch_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest producer batch per partition. aiokafka holds one batch per "
        "partition while a request is in flight, so a small one caps a hop at a batch "
        "per round trip.",
    )
    producer_linger_s: float = Field(
        default=0.005,
        ge=0,
        le=5,
        description="How long the producer waits to fill a batch: throughput against latency.",
    )
    fetch_max_wait_s: float = Field(
        default=0.1,
        gt=0,
        le=30,
        description="Longest a fetch waits for records. Kafka answers as soon as a record "
        "arrives; the embedded broker waits the whole time, so faust's 1.5 s was latency.",
    )
    lag_interval_s: float = Field(default=5.0, gt=0, description="How often lag is measured.")

    @model_validator(mode="after")
    def _budget_below_session_timeout(self) -> Settings:
        if self.record_budget_s and self.record_budget_s >= self.session_timeout_s / 2:
            raise ValueError(
                "record_budget_s must stay under half of session_timeout_s: a record's work "
                "blocks the heartbeats, and a longer one would end in a rebalance"
            )
        return self

    def dedup_config(self) -> DedupConfig:
        return DedupConfig(
            near_threshold=self.dedup_near_threshold,
            story_threshold=self.dedup_story_threshold,
            min_shingles=self.dedup_min_shingles,
            window=timedelta(days=self.dedup_window_days),
        )

    def bootstrap_servers(self) -> list[str]:
        """host:port list, whatever separator or ``kafka://`` prefix the URL used."""
        url = self.broker_url or f"127.0.0.1:{self.embedded_port}"
        servers = []
        for part in url.replace(";", ",").split(","):
            part = part.strip()
            if part.startswith("kafka://"):
                part = part[len("kafka://") :]
            if part:
                servers.append(part)
        return servers

    def faust_broker_url(self) -> str:
        return "kafka://" + ";".join(self.bootstrap_servers())

    @property
    def uses_embedded_broker(self) -> bool:
        return self.broker_url is None

    def output_topics(self) -> tuple[str, str, str]:
        return (self.topic_enriched, self.topic_duplicates, self.topic_deadletter)

    def all_topics(self) -> tuple[str, ...]:
        return (self.topic_raw, *self.output_topics())

    def kafka_python_config(self) -> dict[str, Any]:
        """Connection options for kafka-python clients (producer, consumer, admin)."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers(),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            config["ssl_cafile"] = str(self.ssl_cafile)
        return config

    def max_message_bytes(self) -> int:
        """The largest record the service writes or reads: a dead letter carries a whole
        input record (up to ``max_record_bytes``) in base64, plus its envelope."""
        return self.max_record_bytes * 4 // 3 + 1_048_576

    def topic_configs(self) -> dict[str, str]:
        """Configs of the topics the service creates: room for its largest record."""
        return {"max.message.bytes": str(self.max_message_bytes())}

    def kafka_python_admin_config(self) -> dict[str, Any]:
        """Security options only, for ``ensure_topics`` (which takes the servers separately)."""
        config = self.kafka_python_config()
        del config["bootstrap_servers"]
        return config

    def masked(self) -> dict[str, Any]:
        """A dump safe for logs: secrets stay masked."""
        return self.model_dump(mode="json")
