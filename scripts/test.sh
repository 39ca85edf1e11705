#!/usr/bin/env bash
# Runs the whole test suite, with the real peers it needs (Alertmanager, aiosmtpd, icalendar, PostgreSQL, Chromium) installed
# first: every test on the embedded SQLite backend, the storage conformance suite on PostgreSQL too, then the HTTP
# integration tests again with every server on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# Tests that need a real peer fail instead of skipping when it is missing.
export TOCSIN_REQUIRE_PEERS=1

cluster=$(bash scripts/postgres-cluster.sh start)
cluster_dir=$(head -n 1 <<<"$cluster")
trap 'bash scripts/postgres-cluster.sh stop "$cluster_dir"' EXIT
export TOCSIN_TEST_POSTGRES_URL=$(tail -n 1 <<<"$cluster")

cargo test --workspace --locked
TOCSIN_TEST_BACKEND=postgres cargo test --workspace --locked --test it
