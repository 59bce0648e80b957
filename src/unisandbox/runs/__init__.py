"""Run directories: manifest, append-only records, resume, sharding."""
