#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, run and test, and only
# those that are missing (apt-get update runs first when something is).
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libnghttp2-dev libssl-dev libevent-dev libyaml-dev libhttp-parser-dev libcmocka-dev
    python3 curl openssl nghttp2-client gunicorn tmux chromium wrk
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
