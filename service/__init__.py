"""newsstream: parse, deduplicate and classify news articles on Kafka."""

__version__ = "0.1.0"
