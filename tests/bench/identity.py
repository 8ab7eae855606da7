"""The worker with every stage replaced by identity: what the framework alone costs.

    python -m tests.bench.identity      (settings from NEWSSTREAM_* like ``newsstream worker``)

Records take the worker's real path, agents, both hops and the dedup table check
included; only the stage functions and the (de)serialisation of the internal
record are gone. Each input comes out on the enriched topic with its bytes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.pipeline import Origin, Output, Pipeline
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class _Passed:
    key: bytes
    value: bytes


class _PassOutput(Output):
    """An output whose bytes are the input's: no model to serialise."""

    def value_bytes(self) -> bytes:
        assert isinstance(self.record, bytes)
        return self.record


class IdentityPipeline(Pipeline):
    def _warm_up(self) -> None:
        """Nothing to warm: no stage runs."""

    def prepare(self, origin: Origin) -> Any:
        return _Passed(origin.key or b"", origin.value)

    def encode_prepared(self, article: Any) -> tuple[bytes, bytes]:
        return article.key, article.value

    def decode_prepared(self, value: bytes) -> Any:
        return value

    def resolve(self, article: Any, index: Any, store: Any = None) -> Output:
        return _PassOutput(self.settings.topic_enriched, None, article)


def main() -> None:
    from service.cli import run_worker

    settings = Settings()
    run_worker(settings, IdentityPipeline(settings))


if __name__ == "__main__":
    main()
