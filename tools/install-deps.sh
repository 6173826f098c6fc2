#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, run and test, and only
# those that are missing (apt-get update runs first when something is); then
# statsd from the npm registry into tools/node/ (not committed), for the event
# sink's integration test.
set -euo pipefail
tools_dir=$(cd "$(dirname "$0")" && pwd)

packages=(
    build-essential cmake pkg-config
    libnghttp2-dev libssl-dev libevent-dev libyaml-dev libhttp-parser-dev libcmocka-dev
    python3 curl openssl nghttp2-client gunicorn tmux chromium wrk
    clang valgrind
)
# Node.js may come from elsewhere (NodeSource ships npm inside its nodejs)
command -v npm >/dev/null || packages+=(nodejs npm)

install_missing_packages() {
    local missing=() p status
    for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Etsy's statsd 0.9.0, the reference daemon; its optional syslog backend's
# native build is skipped (--ignore-scripts): the tests use none of its backends.
install_statsd() {
    [[ -f $tools_dir/node/node_modules/statsd/stats.js ]] && return 0
    echo "installing: statsd 0.9.0 (npm) into tools/node"
    npm install --prefix "$tools_dir/node" --no-audit --no-fund --ignore-scripts --no-save \
        statsd@0.9.0 >/dev/null
}

install_missing_packages
install_statsd
