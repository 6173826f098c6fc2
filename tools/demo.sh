#!/usr/bin/env bash
# Installs what is missing, builds, and runs sluice on conf/sluice.yaml in front of
# the demo backend (unix:/tmp/sluice-demo.sock). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh

build/tools/sluice-demo-backend --listen unix:/tmp/sluice-demo.sock &
backend=$!
trap 'kill "$backend" 2>/dev/null; wait "$backend" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    [[ -S /tmp/sluice-demo.sock ]] && break
    sleep 0.05
done

cat <<'MSG'

sluice is starting on 127.0.0.1:8080 (h2c). In another terminal:
  curl --http2-prior-knowledge http://127.0.0.1:8080/
  curl --http2-prior-knowledge -d @../shared/data/openrtb-bid-request.json http://127.0.0.1:8080/bid
Ctrl-C stops it gracefully.

MSG
build/proxy/sluice -c conf/sluice.yaml
