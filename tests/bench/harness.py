"""The benchmark harness: every figure of the performance table in one run.

    make bench                       (= python -m tests.bench)
    python -m tests.bench --smoke    (tiny sizes, one round: proves the harness runs)

Starts its own embedded broker (or uses ``--bootstrap``), feeds real Arabic
articles from ``../shared/corpora`` (synthetic ones when the corpus is absent) and
prints one table. Every rate is the median of ``--rounds`` interleaved rounds,
each stack measured in the same round as its baseline (ratios are taken per
round), with min and max. A rate is the steady state a consumer of the outputs
sees: outputs between the 10th and the 90th percentile arrival, over the time
between them, so start-up, group join and the tail are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from service.broker import ensure_topics, free_port, local_broker
from service.runner import stop_process
from service.settings import Settings
from service.topics import SEQUENCER_PARTITIONS, TopicNames
from tests.bench.articles import Articles
from tests.bench.machine import describe
from tests.conftest import WorkerProcess, isolated_settings

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sizes:
    rounds: int = 3
    identity_records: int = 10_000
    pipeline_articles: int = 3_000
    stage_articles: int = 3_000
    latency_seconds: float = 30.0
    memory_articles: int = 100_000

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            rounds=1,
            identity_records=300,
            pipeline_articles=150,
            stage_articles=100,
            latency_seconds=4.0,
            memory_articles=400,
        )


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    note: str = ""


@dataclass
class Run:
    """Rates of one measurement over its rounds."""

    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the baseline of the same round

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


# ------------------------------------------------------------------ plumbing


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        acks="all",
        max_request_size=8 * 1024 * 1024,
        batch_size=256 * 1024,
    )
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close(timeout=10)


def follower(bootstrap: str, topics: list[str]) -> KafkaConsumer:
    return KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )


@dataclass
class Collected:
    """When the stack first wrote anything and when each output arrived, and its CPU share
    over that span."""

    started: float  # the first record the stack wrote, output or internal
    arrivals: list[float]
    cpu: float | None  # 1.0 = one core

    @property
    def rate(self) -> float:
        """Outputs/s from the stack's first write to its last output.

        Start-up and group join are left out: nothing is written before the first
        record is processed. The span is not trimmed to the middle outputs: a
        stack with an inner hop (the worker) may prepare most of a backlog before
        its second half emits much, and the middle outputs would then time that
        second half alone.
        """
        counted = [t for t in self.arrivals if t > self.started]
        span = self.arrivals[-1] - self.started if self.arrivals else 0.0
        return len(counted) / span if span > 0 else 0.0


def collect(
    consumer: KafkaConsumer,
    expected: int,
    processes: list[subprocess.Popen[bytes]],
    timeout: float = 900,
    on_record: Callable[[Any, float], None] | None = None,
    markers: Set[str] = frozenset(),
) -> Collected:
    """Outputs until ``expected`` arrived; CPU share of the process when there is one.

    Records on ``markers`` topics (a stack's inner hop) are not outputs; the first of
    them, or else the first output, marks when the stack started writing.
    """
    pid = processes[0].pid if len(processes) == 1 else None
    arrivals: list[float] = []
    started: float | None = None
    cpu_start = cpu_end = 0.0
    deadline = time.monotonic() + timeout
    while len(arrivals) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(arrivals)} of {expected} outputs within {timeout:.0f} s")
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a process under test exited after {len(arrivals)} outputs")
        batches = consumer.poll(timeout_ms=100)
        now = time.monotonic()
        for partition, records in batches.items():
            if started is None and records:
                started = now
                cpu_start = cpu_seconds(pid) if pid else 0.0
            if partition.topic in markers:
                continue
            for record in records:
                if on_record is not None:
                    on_record(record, now)
                arrivals.append(now)
    if pid:
        cpu_end = cpu_seconds(pid)
    result = Collected(started if started is not None else 0.0, arrivals, None)
    if pid and arrivals and started is not None and arrivals[-1] > started:
        result.cpu = (cpu_end - cpu_start) / (arrivals[-1] - started)
    return result


def processes(workers: list[WorkerProcess]) -> list[subprocess.Popen[bytes]]:
    return [w.process for w in workers if w.process is not None]


def topic_set(bootstrap: str, prefix: str, partitions: int = 4) -> dict[str, str]:
    names = {
        "input": f"{prefix}.in",
        "enriched": f"{prefix}.enriched",
        "duplicates": f"{prefix}.duplicates",
        "deadletter": f"{prefix}.deadletter",
    }
    ensure_topics([bootstrap], list(names.values()), partitions)
    return names


class Bench:
    def __init__(self, bootstrap: str, work: Path, sizes: Sizes, articles: Articles) -> None:
        self.bootstrap = bootstrap
        self.work = work
        self.sizes = sizes
        self.articles = articles
        self.rows: list[Row] = []
        self._n = 0

    def _name(self, what: str) -> str:
        self._n += 1
        return f"bench{os.getpid()}-{self._n}-{what}"

    # -------------------------------------------------------------- stacks

    def worker_settings(self, name: str, **overrides: Any) -> Settings:
        return isolated_settings(self.bootstrap, self.work / name, **overrides)

    @contextlib.contextmanager
    def workers(
        self, settings: Settings, count: int = 1, identity: bool = False
    ) -> Iterator[list[WorkerProcess]]:
        command = ["-m", "tests.bench.identity"] if identity else None
        started: list[WorkerProcess] = []
        try:
            for n in range(count):
                own = (
                    settings
                    if n == 0
                    else settings.model_copy(
                        update={
                            "web_port": free_port(),
                            "data_dir": settings.data_dir.parent / f"state-{n}",
                        }
                    )
                )
                worker = WorkerProcess(own, self.work / f"{settings.app_id}-{n}.log", command)
                worker.start()
                started.append(worker)
            yield started
        finally:
            for worker in started:
                worker.stop()

    def wait_ready(self, workers: list[WorkerProcess], timeout: float = 120) -> None:
        """Every worker in the group with partitions of its own, no rebalance under way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [w.readiness() for w in workers]
            if all(status == 200 for status, _ in states):
                return
            time.sleep(0.3)
        raise RuntimeError("workers never became ready")

    @contextlib.contextmanager
    def peer(
        self, stack: str, mode: str, topics: dict[str, str]
    ) -> Iterator[subprocess.Popen[bytes]]:
        log = (self.work / f"{topics['input']}-{stack}.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "tests.bench.peers",
            stack,
            mode,
            "--bootstrap",
            self.bootstrap,
            "--group",
            f"{topics['input']}-group",
            *(f"--{k}={v}" for k, v in topics.items()),
        ]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield process
        finally:
            stop_process(process, 20)
            log.close()

    # -------------------------------------------------------------- one run

    def run_worker(
        self,
        records: list[tuple[bytes, bytes]],
        identity: bool = False,
        workers: int = 1,
        feed_when_ready: bool = False,
    ) -> Collected:
        settings = self.worker_settings(self._name("worker"))
        names = TopicNames.from_settings(settings)
        ensure_topics([self.bootstrap], names.external(), settings.partitions)
        # The inner hop exists before the follower subscribes, as the worker declares it.
        ensure_topics(
            [self.bootstrap],
            [names.prepared],
            SEQUENCER_PARTITIONS,
            topic_configs=settings.topic_configs(),
        )
        consumer = follower(self.bootstrap, [*names.outputs(), names.prepared])
        try:
            with self.workers(settings, workers, identity) as procs:
                if feed_when_ready:
                    self.wait_ready(procs)
                produce(self.bootstrap, names.raw, records)
                return collect(consumer, len(records), processes(procs), markers={names.prepared})
        finally:
            consumer.close()

    def run_peer(self, stack: str, mode: str, records: list[tuple[bytes, bytes]]) -> Collected:
        topics = topic_set(self.bootstrap, self._name(stack))
        produce(self.bootstrap, topics["input"], records)
        outputs = [topics["enriched"], topics["duplicates"], topics["deadletter"]]
        consumer = follower(self.bootstrap, outputs)
        try:
            with self.peer(stack, mode, topics) as process:
                return collect(consumer, len(records), [process])
        finally:
            consumer.close()

    def rounds(
        self,
        stacks: dict[str, Callable[[], Collected]],
        baseline: Callable[[dict[str, float]], float],
    ) -> dict[str, Run]:
        """Each round runs every stack once, alternating the order; ratios are per round."""
        runs = {name: Run() for name in stacks}
        for n in range(self.sizes.rounds):
            order = list(stacks) if n % 2 == 0 else list(reversed(stacks))
            rates: dict[str, float] = {}
            for name in order:
                result = stacks[name]()
                rates[name] = result.rate
                runs[name].rates.append(result.rate)
                if result.cpu is not None:
                    runs[name].cpu.append(result.cpu)
                print(f"  round {n + 1}: {name}: {result.rate:,.0f}/s", file=sys.stderr)
            base = baseline(rates)
            for name, rate in rates.items():
                runs[name].ratios.append(rate / base if base else 0.0)
        return runs

    def add_runs(self, section: str, runs: dict[str, Run], unit: str, ratio_to: str) -> None:
        for name, run in runs.items():
            cpu = f"CPU {statistics.median(run.cpu):.0%} of a core" if run.cpu else ""
            self.rows.append(
                Row(section, name, run.median, unit, min(run.rates), max(run.rates), cpu)
            )
        for name, run in runs.items():
            if run.ratios and any(r != 1.0 for r in run.ratios):
                self.rows.append(
                    Row(
                        section,
                        f"{name} ÷ {ratio_to}",
                        statistics.median(run.ratios),
                        "×",
                        min(run.ratios),
                        max(run.ratios),
                    )
                )

    # -------------------------------------------------------------- sections

    def overhead(self) -> None:
        """1. The worker with identity stages against a bare aiokafka loop."""
        records = self.articles.records(self.sizes.identity_records)
        bare = "bare aiokafka loop"
        runs = self.rounds(
            {
                bare: lambda: self.run_peer("aiokafka", "identity", records),
                "newsstream worker": lambda: self.run_worker(records, identity=True),
            },
            baseline=lambda rates: rates[bare],
        )
        self.add_runs("1 framework overhead (identity stages, records/s)", runs, "rec/s", bare)

    def peers(self) -> float:
        """2 and 3. The same stages under each stack; returns the worker's median rate."""
        records = self.articles.records(self.sizes.pipeline_articles)
        stacks: dict[str, Callable[[], Collected]] = {
            "newsstream worker": lambda: self.run_worker(records),
            "bare aiokafka + stages": lambda: self.run_peer("aiokafka", "pipeline", records),
        }
        if quixstreams_installed():
            stacks["quixstreams + stages"] = lambda: self.run_peer(
                "quixstreams", "pipeline", records
            )
        peers = [name for name in stacks if name != "newsstream worker"]
        runs = self.rounds(stacks, baseline=lambda rates: max(rates[p] for p in peers))
        self.add_runs("2-3 full pipeline, one process (articles/s)", runs, "art/s", "fastest peer")
        return runs["newsstream worker"].median

    def stage_costs(self) -> None:
        """4. µs per article in each stage, in process."""
        from tests.bench.stage_costs import measure

        records = self.articles.records(self.sizes.stage_articles)
        for stage, (p50, p99) in measure(records).items():
            self.rows.append(
                Row(
                    "4 stage cost per article (µs)", stage, p50, "µs p50", note=f"p99 {p99:,.0f} µs"
                )
            )

    def latency(self, max_rate: float) -> None:
        """5. Produce → enriched record at half the worker's maximum rate."""
        rate = max(1.0, max_rate / 2)
        count = max(20, int(rate * self.sizes.latency_seconds))
        records = self.articles.records(count, start=self.sizes.pipeline_articles)
        settings = self.worker_settings(self._name("latency"))
        names = TopicNames.from_settings(settings)
        ensure_topics([self.bootstrap], names.external(), settings.partitions)
        sent: dict[str, float] = {}
        latencies: list[float] = []

        def on_record(record: Any, now: float) -> None:
            article_id = orjson.loads(record.value).get("article_id")
            if article_id in sent:
                latencies.append(record.timestamp / 1000 - sent[article_id])

        consumer = follower(self.bootstrap, names.outputs())
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap, linger_ms=1, acks=1, max_request_size=8 * 1024 * 1024
        )
        try:
            with self.workers(settings) as procs:
                self.wait_ready(procs)
                start = time.time()
                for n, (key, value) in enumerate(records):
                    delay = start + n / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    sent[key.decode()] = time.time()
                    producer.send(names.raw, key=key, value=value)
                producer.flush()
                collect(consumer, len(records), processes(procs), on_record=on_record)
        finally:
            producer.close(timeout=10)
            consumer.close()
        steady = sorted(latencies[len(latencies) // 10 :]) or [float("nan")]
        section = f"5 latency produce → output at {rate:,.0f}/s (half the maximum)"
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            ms = steady[min(len(steady) - 1, int(q * len(steady)))] * 1000
            self.rows.append(Row(section, name, ms, "ms", note=f"{len(steady)} records"))

    def scaling(self) -> None:
        """6. One worker against two on four partitions; batch mode alone."""
        records = self.articles.records(self.sizes.pipeline_articles)
        runs = self.rounds(
            {
                "1 worker": lambda: self.run_worker(records, feed_when_ready=True),
                "2 workers": lambda: self.run_worker(records, workers=2, feed_when_ready=True),
            },
            baseline=lambda rates: rates["1 worker"],
        )
        self.add_runs("6 scaling on 4 partitions (articles/s)", runs, "art/s", "1 worker")
        from tests.bench.stage_costs import batch_rate

        rates = [batch_rate(records) for _ in range(self.sizes.rounds)]
        self.rows.append(
            Row(
                "6 scaling on 4 partitions (articles/s)",
                "batch process mode, in process",
                statistics.median(rates),
                "art/s",
                min(rates),
                max(rates),
            )
        )

    def memory(self) -> None:
        """7. Worker RSS while it processes ``memory_articles`` articles."""
        total = self.sizes.memory_articles
        settings = self.worker_settings(self._name("memory"))
        names = TopicNames.from_settings(settings)
        ensure_topics([self.bootstrap], names.external(), settings.partitions)
        consumer = follower(self.bootstrap, names.outputs())
        marks = {total * k // 4: 0.0 for k in (1, 2, 3, 4)}
        chunk = max(100, total // 40)
        try:
            with self.workers(settings) as procs:
                self.wait_ready(procs)
                pid = procs[0].process.pid if procs[0].process else 0
                start_rss = rss_mb(pid)
                fed = done = 0
                deadline = time.monotonic() + 3600
                while done < total and time.monotonic() < deadline:
                    if procs[0].process and procs[0].process.poll() is not None:
                        raise RuntimeError(f"the worker exited after {done} articles")
                    if fed - done < 2 * chunk and fed < total:
                        produce(
                            self.bootstrap,
                            names.raw,
                            self.articles.records(min(chunk, total - fed), start=fed),
                        )
                        fed += min(chunk, total - fed)
                    batches = consumer.poll(timeout_ms=200)
                    before = done
                    done += sum(len(r) for r in batches.values())
                    for mark in marks:
                        if before < mark <= done:
                            marks[mark] = rss_mb(pid)
        finally:
            consumer.close()
        section = "7 worker memory (RSS, MB)"
        self.rows.append(Row(section, "ready, before any article", start_rss, "MB"))
        for mark, rss in marks.items():
            self.rows.append(Row(section, f"after {mark:,} articles", rss, "MB"))
        half, full = marks[total // 2], marks[total]
        per_100k = (full - half) / (total - total // 2) * 100_000
        self.rows.append(
            Row(
                section,
                "growth per 100k articles",
                per_100k,
                "MB",
                note=f"slope over the second half ({total // 2:,} → {total:,})",
            )
        )


def quixstreams_installed() -> bool:
    with warnings.catch_warnings():  # a dependency of it warns about its own dependency
        warnings.simplefilter("ignore")
        try:
            import quixstreams  # noqa: F401
        except ImportError:
            return False
    return True


def render(rows: list[Row], header: str) -> str:
    lines = [header, ""]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(section)
        spread = (
            f"{row.low:>10,.2f} – {row.high:<10,.2f}"
            if row.low is not None and row.high is not None and row.unit == "×"
            else f"{row.low:>10,.0f} – {row.high:<10,.0f}"
            if row.low is not None and row.high is not None
            else " " * 23
        )
        value = f"{row.value:>10,.2f}" if row.unit == "×" else f"{row.value:>10,.0f}"
        lines.append(f"  {row.name:<44} {value} {row.unit:<7} {spread} {row.note}")
    return "\n".join(lines)


SECTIONS = ("overhead", "peers", "stages", "latency", "scaling", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--synthetic", action="store_true", help="synthetic articles only")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--max-rate",
        type=float,
        help="the worker's maximum articles/s, for latency at half of it when the peers "
        "section does not run (default 200)",
    )
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    if args.rounds:
        sizes.rounds = args.rounds
    sections = args.only or SECTIONS
    articles = Articles(use_corpus=not args.synthetic)
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        broker = local_broker()
        broker.start()
        bootstrap = broker.bootstrap
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="newsstream-bench-") as tmp:
            bench = Bench(bootstrap, Path(tmp), sizes, articles)
            max_rate = args.max_rate or 0.0
            for section in sections:
                print(f"[{section}]", file=sys.stderr)
                if section == "overhead":
                    bench.overhead()
                elif section == "peers":
                    max_rate = bench.peers()
                elif section == "stages":
                    bench.stage_costs()
                elif section == "latency":
                    bench.latency(max_rate or 200.0)
                elif section == "scaling":
                    bench.scaling()
                elif section == "memory":
                    bench.memory()
    finally:
        if broker is not None:
            broker.stop()
    header = (
        f"newsstream benchmarks — {platform.node()}: {describe()}; {articles.kind} articles; "
        f"{sizes.rounds} round(s); {time.monotonic() - started:,.0f} s"
    )
    print(render(bench.rows, header))
    if args.json:
        args.json.write_bytes(
            orjson.dumps({"header": header, "rows": [r.__dict__ for r in bench.rows]})
        )
    return 0
