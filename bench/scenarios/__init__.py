"""One module per scenario, each exposing ``run() -> dict`` (see bench/README.md for the contract)."""
