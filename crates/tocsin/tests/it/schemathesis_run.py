"""Runs schemathesis against a running Tocsin server's OpenAPI document; exits non-zero on any failure.

usage: schemathesis_run.py BASE_URL ADMIN_TOKEN [--seed N] [--max-examples N] [--report-dir DIR]

Three runs, because the API can take away what a run stands on:
  senders       everything outside /api/v1/, with keys of integrations made here for it; first, since the API run
                deletes services (and with them these keys) it finds in lists
  api           /api/v1/ except revoke_token (a token may revoke itself, and the list hands out its ID)
  revoke-token  revoke_token alone, with a throwaway admin token
Every run fails on a 5xx, an undocumented status, content type or header, or a body that violates its schema.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
KINDS = ["pagerduty", "alertmanager", "prometheus", "grafana", "opsgenie", "generic", "heartbeat"]
# The CLI without relying on its script being on PATH (pip --user puts it in ~/.local/bin).
CLI = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()"


def api(base, token, method, path, body=None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def fixtures(base, token):
    service = api(base, token, "POST", "/api/v1/services", {"name": "schemathesis-fixture"})["name"]
    unlimited = {"rate_limit": {"per_second": 0, "events_per_second": 0}}
    keys = {}
    for kind in KINDS:
        config = {"heartbeat": {"interval_seconds": 3600}} if kind == "heartbeat" else unlimited
        keys[kind] = api(base, token, "POST", f"/api/v1/services/{service}/integrations",
                         {"kind": kind, "config": config})["key"]
    # A page for the public status endpoints to read, with a component standing for the fixture service.
    urllib.request.urlopen(urllib.request.Request(
        base + "/api/v1/status-pages/schemathesis", method="PUT",
        data=json.dumps({"name": "Schemathesis", "slug": "schemathesis"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}), timeout=10).close()
    service_id = api(base, token, "GET", f"/api/v1/services/{service}")["id"]
    api(base, token, "POST", "/api/v1/status-pages/schemathesis/components",
        {"name": "Checkout", "services": [service_id]})
    throwaway = api(base, token, "POST", "/api/v1/tokens",
                    {"name": "schemathesis-revoke", "role": "owner"})["token"]
    return keys, throwaway


def config(keys):
    """Which key each sender path takes: in the path, or in the header its real senders use."""
    grafana_basic = base64.b64encode(f"grafana:{keys['grafana']}".encode()).decode()
    operations = [
        ('include-path-regex = "^/ingest/alertmanager/"', f'parameters = {{ "path.key" = "{keys["alertmanager"]}" }}'),
        ('include-path = "/ingest/alertmanager"', f'headers = {{ Authorization = "Bearer {keys["alertmanager"]}" }}'),
        ('include-path-regex = "^/ingest/prometheus/"', f'parameters = {{ "path.key" = "{keys["prometheus"]}" }}'),
        ('include-path-regex = "^/api/v2/"', f'headers = {{ Authorization = "Bearer {keys["prometheus"]}" }}'),
        ('include-path-regex = "^/ingest/grafana/"', f'parameters = {{ "path.key" = "{keys["grafana"]}" }}'),
        ('include-path = "/ingest/grafana"', f'headers = {{ Authorization = "Basic {grafana_basic}" }}'),
        ('include-path-regex = "^/ingest/generic/"', f'parameters = {{ "path.key" = "{keys["generic"]}" }}'),
        ('include-path = "/ingest/generic"', f'headers = {{ Authorization = "Bearer {keys["generic"]}" }}'),
        ('include-path-regex = "^/v2/alerts"', f'headers = {{ Authorization = "GenieKey {keys["opsgenie"]}" }}'),
        ('include-path-regex = "^/v2/(change/)?enqueue$"', f'headers = {{ X-Routing-Key = "{keys["pagerduty"]}" }}'),
        ('include-path-regex = "^/heartbeat/"', f'parameters = {{ "path.key" = "{keys["heartbeat"]}" }}'),
        ('include-path-regex = "^/status/"', 'parameters = { "path.page" = "schemathesis" }'),
    ]
    return 'headers = { Authorization = "Bearer ${ST_TOKEN}" }\n' + "".join(
        f"\n[[operations]]\n{which}\n{settings}\n" for which, settings in operations)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("token")
    p.add_argument("--seed", default="42")
    p.add_argument("--max-examples", default="10")
    p.add_argument("--report-dir")
    a = p.parse_args()
    base = a.base_url.rstrip("/")
    keys, throwaway = fixtures(base, a.token)
    # Removed at exit: its configuration holds the fixture integrations' keys.
    scratch = tempfile.TemporaryDirectory(prefix="tocsin-schemathesis-")
    work = scratch.name
    cfg = os.path.join(work, "schemathesis.toml")
    with open(cfg, "w") as f:
        f.write(config(keys))
    reports = os.path.abspath(a.report_dir or work)
    os.makedirs(reports, exist_ok=True)
    runs = [
        ("senders", a.token, ["--exclude-path-regex", "^/api/v1/"]),
        ("api", a.token, ["--include-path-regex", "^/api/v1/", "--exclude-operation-id", "revoke_token"]),
        ("revoke-token", throwaway, ["--include-operation-id", "revoke_token"]),
    ]
    failed = []
    for name, token, which in runs:
        cmd = [sys.executable, "-c", CLI, "--config-file", cfg, "run", f"{base}/api/v1/openapi.json", *which,
               "--mode", "positive", "--seed", a.seed, "--max-examples", a.max_examples,
               "--workers", "1", "--generation-database", "none", "--checks", CHECKS,
               "--report", "junit", "--report-junit-path", os.path.join(reports, f"junit-{name}.xml"),
               "--no-color"]
        print("+", " ".join(cmd[3:]), flush=True)
        # In the scratch directory: schemathesis keeps a cache in its working directory.
        code = subprocess.run(cmd, cwd=work, env={**os.environ, "ST_TOKEN": token}).returncode
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if failed:
        print("schemathesis found failures in:", ", ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
