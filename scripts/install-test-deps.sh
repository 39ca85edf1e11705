#!/usr/bin/env bash
# Installs the programs the integration tests drive on Debian 12: Alertmanager, as a real PagerDuty sender; Python's
# icalendar, as a real calendar reader of the on-call feeds; aiosmtpd, as a real SMTP server for email notifications;
# PostgreSQL, the second storage backend, whose throwaway cluster scripts/postgres-cluster.sh starts; and, from PyPI
# since Debian packages none of them, openapi-spec-validator, which checks the OpenAPI document generated clients
# read, schemathesis, which sends requests generated from that document and checks the answers against it,
# opsgenie-sdk, Opsgenie's own Python client, pagerduty, PagerDuty's official Python client (which speaks only
# HTTPS), and oidc-provider-mock, an OpenID Connect provider that single sign-on is tested against; Chromium, as the real browser the web UI's tests drive, with playwright-core and axe-core from npm
# (tests/browser, pinned by its lock file; playwright-core drives Debian's Chromium and never downloads one).
# Safe to run repeatedly: it does nothing when everything is present.
set -euo pipefail

packages=(prometheus-alertmanager python3-icalendar python3-aiosmtpd python3-feedparser postgresql chromium)

# schemathesis is pinned: the test drives its command line and configuration file, which change between releases.
pypi=(openapi-spec-validator schemathesis==4.32.5 opsgenie-sdk pagerduty oidc-provider-mock==0.3.4
    statuspage-prometheus-exporter==2.6.0)
if ! python3 -c 'import openapi_spec_validator, opsgenie_sdk, pagerduty, oidc_provider_mock, statuspage_prometheus_exporter
from importlib.metadata import version
assert version("schemathesis") == "4.32.5"
assert version("oidc-provider-mock") == "0.3.4"
assert version("statuspage-prometheus-exporter") == "2.6.0"' 2>/dev/null; then
    echo "Installing from PyPI: ${pypi[*]}"
    # Into the user's site when there is one; inside a virtual environment, into it.
    python3 -m pip install --quiet --user "${pypi[@]}" 2>/dev/null ||
        python3 -m pip install --quiet "${pypi[@]}"
fi

browser="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! -d "$browser/node_modules/playwright-core" ] || [ ! -d "$browser/node_modules/axe-core" ]; then
    echo "Installing from npm into tests/browser: playwright-core, axe-core"
    (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "Already installed: ${packages[*]}"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "error: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi

echo "Installing: ${missing[*]}"
set -x
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
