"""Pure pipeline stages: no Kafka, no I/O, so each is testable on its own."""
