"""Data files shipped with the service (the topic lexicon, example articles)."""
