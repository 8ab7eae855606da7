"""End-to-end articles/s of one worker on the embedded broker, on real Arabic articles.

    .venv/bin/python scripts/measure_worker.py [--articles 5000] [--batch-bytes 1]

Starts its own broker and worker, produces the articles, and times from the first
output record to the last (group join and start-up excluded). Reads the corpus from
../shared/corpora; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from service.broker import ensure_topics, local_broker
from service.feed import Feeder, Follower
from service.topics import TopicNames
from tests.conftest import WorkerProcess, isolated_settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument(
        "--batch-bytes", type=int, default=1, help="producer batch size (1: safe on tansu)"
    )
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"corpus not found at {CORPUS}; nothing measured")
        return 0
    with gzip.open(CORPUS, "rb") as handle:
        lines = itertools.islice(handle, args.articles)
        records: list[tuple[bytes | None, bytes]] = [(None, line.rstrip(b"\n")) for line in lines]
    broker = local_broker()
    broker.start()
    tmp = Path(tempfile.mkdtemp(prefix="newsstream-measure-"))
    try:
        settings = isolated_settings(
            broker.bootstrap, tmp, producer_max_batch_bytes=args.batch_bytes
        )
        names = TopicNames.from_settings(settings)
        ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
        worker = WorkerProcess(settings, tmp / "worker.log")
        worker.start()
        try:
            with Feeder(settings) as feeder:
                feeder.send_all(records, names.raw)
            follower = Follower(settings, names.outputs())
            got, first, last = 0, None, None
            deadline = time.monotonic() + 600
            while got < len(records) and time.monotonic() < deadline:
                batch = follower.poll(0.2)
                if batch:
                    now = time.monotonic()
                    first = first or now
                    last = now
                    got += len(batch)
            follower.close()
        finally:
            worker.stop()
    finally:
        broker.stop()
    if not first or not last or got < len(records):
        print(f"only {got} of {len(records)} outputs", file=sys.stderr)
        return 1
    rate = (got - 1) / (last - first)
    print(f"{got} articles, one worker, {last - first:.1f} s first→last output: {rate:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
