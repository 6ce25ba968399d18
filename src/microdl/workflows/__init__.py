"""End-to-end jobs that commands run: demos, benchmarks, dataset builds, studies."""
