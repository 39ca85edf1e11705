#!/usr/bin/env bash
# Runs the whole test suite, with the real peers it needs (Alertmanager, aiosmtpd, icalendar) installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# Tests that need a real peer fail instead of skipping when it is missing.
export TOCSIN_REQUIRE_PEERS=1
cargo test --workspace --locked
