#!/usr/bin/env bash
# bench/core.sh: sluice against the proxies a user would pick instead (nginx,
# h2o, HAProxy, nghttpx), in the same run, on the same backend and load.
#
# Each proxy runs with one worker, pinned to one core, with an h2c (prior
# knowledge) front on 127.0.0.1 and an HTTP/1.1 keep-alive pool to the same
# backend on a Unix socket. h2load sends fixed counts of 1 KB JSON POSTs in
# three shapes (-c 16 -m 16, -c 200 -m 1, -c 1 -m 1), over HTTP/1.1, over TLS
# (h2 by ALPN, each proxy's TLS listener on a certificate made for the run) and
# open loop; a backend-direct row
# shows what the backend and load generator do without a proxy. The host's
# speed drifts over minutes, so everything is measured in BENCH_ROUNDS rounds:
# each round starts, warms up, measures and stops every peer in turn, in an
# order that rotates from round to round. For each peer and scenario we print
# the median over the rounds of requests/s, mean latency and the proxy's CPU
# microseconds per request (utime+stime of its process tree from /proc), each
# also as a ratio of medians to nginx, plus the min-max of CPU per request.
# See bench/README.md.
#
# Usage, from the repo root after building:  bench/core.sh
# Quick run:                                  BENCH_N_SCALE=0.05 BENCH_ROUNDS=2 bench/core.sh
#
# Environment (all optional):
#   BUILD_DIR              build tree holding proxy/sluice and tools/sluice-demo-backend (build)
#   BENCH_ROUNDS           rounds; every peer runs every scenario once per round (3)
#   BENCH_N_SCALE          multiplies every request count (1)
#   BENCH_N_C16 / BENCH_N_C200 / BENCH_N_C1
#                          requests per run for -c16 -m16 / -c200 -m1 / -c1 -m1 (150000 / 75000 / 15000)
#   BENCH_N_H1             requests per run for h2load --h1 -c 64 (100000)
#   BENCH_N_TLS            requests per run for -c16 -m16 over TLS (150000)
#   BENCH_WRK_S            seconds per wrk -c 64 run (3)
#   BENCH_OPEN_LOOP_RATES  total req/s of the open-loop rows ("10000 20000 40000"; "" for none)
#   BENCH_OPEN_LOOP_S      seconds each open-loop run lasts, before BENCH_N_SCALE (2)
#   BENCH_WARMUP_N         warm-up requests per peer at -c16 -m16, scaled too (5000)
#   BENCH_PEERS            rows, in report order; round r (from 0) starts at the
#                          (r mod n)-th of them (direct sluice nginx h2o haproxy nghttpx
#                          direct-h2c sluice-h2c haproxy-h2c nghttpx-h2c); a -h2c row
#                          is its proxy with an h2c pool to the backend in --h2c mode;
#                          sluice-stats is sluice with its stats segment on;
#                          sluice-events is sluice sending its events to a statsd
#                          (tools/node, from tools/install-deps.sh) on the load core;
#                          sluice-access is sluice writing an access log line per request;
#                          nginx-access is nginx writing a JSON line of the same fields
#                          (buffer=256k flush=1s), the peer's cost of the same work;
#                          sluice-base is the sluice binary at BENCH_BASE_SLUICE (another
#                          commit's build), for a before/after in one run
#   BENCH_PROXY_CPU        core for the proxy under test (1)
#   BENCH_LOAD_CPU         core for h2load and the backend (0)
#   BENCH_PORT_BASE        first port tried for proxy listeners (18400)
#   BENCH_BODY             request body file (bench/data/openrtb-bid-request.json)
#   BENCH_RESULTS_DIR      where the markdown copy goes (bench/results)
#   BENCH_START_TIMEOUT    seconds to wait for a process to become ready (20)
#   BENCH_RUN_TIMEOUT      seconds before one h2load run is killed (600)
#   BENCH_INSTALL          1: apt-get install missing peers when root (default), 0: never
#   BENCH_INSTRUCTIONS     1: after the rounds, each proxy once more under callgrind for its
#                          instructions per request (default), 0: not
#   BENCH_INSTR_N          requests per callgrind run (2000)
#   BENCH_KEEP_TMP         1: keep the temp dir (configs, logs, h2load output) for inspection
#   BENCH_STANDIN_BACKEND  1: development only, nginx with a fixed reply stands in for the
#                          demo backend (figures are not comparable with real runs)

set -uo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
PEERS_DIR=$SCRIPT_DIR/peers

abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

BUILD_DIR=$(abspath "${BUILD_DIR:-$REPO_DIR/build}")
N_SCALE=${BENCH_N_SCALE:-1}
ROUNDS=${BENCH_ROUNDS:-3}
PEERS=${BENCH_PEERS:-direct sluice nginx h2o haproxy nghttpx direct-h2c sluice-h2c haproxy-h2c nghttpx-h2c}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
PORT_NEXT=${BENCH_PORT_BASE:-18400}
BODY=$(abspath "${BENCH_BODY:-$SCRIPT_DIR/data/openrtb-bid-request.json}")
RESULTS_DIR=$(abspath "${BENCH_RESULTS_DIR:-$SCRIPT_DIR/results}")
START_TIMEOUT=${BENCH_START_TIMEOUT:-20}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600}
STANDIN=${BENCH_STANDIN_BACKEND:-0}
INSTRUCTIONS=${BENCH_INSTRUCTIONS:-1}
INSTR_N=${BENCH_INSTR_N:-2000}
PROXY_WRAP=() # a command the proxy under test runs under (callgrind, for the instruction counts)

SLUICE_BIN=$BUILD_DIR/proxy/sluice
BACKEND_BIN=$BUILD_DIR/tools/sluice-demo-backend

# Scenarios: name, client protocol (h2: h2load over h2c; h1: h2load --h1; wrk:
# wrk over HTTP/1.1 keep-alive, for BENCH_WRK_S seconds), clients, streams per
# client, requests (for wrk: the count its CPU is divided by is what it did),
# and for the open-loop rows the rate each client keeps (h2load --rps; 0:
# closed loop, each client sends its next request when an answer comes).
SC_NAMES=(c16m16 c200m1 c1m1 h1c64 wrkc64 tls16)
SC_PROTO=(h2 h2 h2 h1 wrk tls)
SC_C=(16 200 1 64 64 16)
SC_M=(16 1 1 1 1 16)
SC_RPS=(0 0 0 0 0 0)
SC_BASE_N=("${BENCH_N_C16:-150000}" "${BENCH_N_C200:-75000}" "${BENCH_N_C1:-15000}"
           "${BENCH_N_H1:-100000}" 0 "${BENCH_N_TLS:-150000}")
SC_TITLE=("-c 16 -m 16 (multiplexed h2 streams)"
          "-c 200 -m 1 (many connections)"
          "-c 1 -m 1 (latency a proxy adds to one request)"
          "HTTP/1.1 front: h2load --h1 -c 64 (keep-alive, one request in flight each)"
          "HTTP/1.1 front: wrk -c 64 for ${BENCH_WRK_S:-3} s (keep-alive)"
          "TLS front: -c 16 -m 16 (h2 by ALPN)")
WRK_S=${BENCH_WRK_S:-3}
# Open loop: 100 h2c connections, one stream each, at a fixed total rate for
# BENCH_OPEN_LOOP_S seconds: the CPU a proxy spends when it is not saturated,
# where closed-loop batching no longer hides per-event costs.
OPEN_LOOP_S=${BENCH_OPEN_LOOP_S:-2}
for rate in ${BENCH_OPEN_LOOP_RATES-10000 20000 40000}; do
    SC_NAMES+=("ol$((rate / 1000))k")
    SC_PROTO+=(h2)
    SC_C+=(100)
    SC_M+=(1)
    SC_RPS+=($((rate / 100)))
    SC_BASE_N+=($((rate * OPEN_LOOP_S)))
    SC_TITLE+=("open loop: $rate req/s (h2load -c 100 -m 1 --rps $((rate / 100)))")
done

log() { printf '[core.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# scale N: round(base * scale), at least `min`.
scale_n() {
    awk -v b="$1" -v s="$N_SCALE" -v m="$2" 'BEGIN { n = int(b * s + 0.5); if (n < m) n = m; print n }'
}

find_bin() {
    local name=$1 d
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for d in /usr/sbin /usr/bin /sbin /usr/local/sbin /usr/local/bin; do
        [[ -x $d/$name ]] && { printf '%s\n' "$d/$name"; return 0; }
    done
    return 1
}

# Install the Debian packages of whatever peer or tool is missing, when root.
# A temporary policy-rc.d keeps the packages from starting their system
# services (this script runs the binaries itself, on its own ports).
ensure_packages() {
    local missing=() pair
    for pair in nginx:nginx h2o:h2o haproxy:haproxy nghttpx:nghttp2-proxy \
                h2load:nghttp2-client wrk:wrk curl:curl taskset:util-linux openssl:openssl \
                $( ((INSTRUCTIONS)) && echo callgrind_control:valgrind); do
        find_bin "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ ${BENCH_INSTALL:-1} == 0 || $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        log "missing packages: ${missing[*]} (not root, no apt-get or BENCH_INSTALL=0: not installing)"
        return 0
    fi
    log "installing: ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && MADE_POLICY=$policy
    fi
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; then
        log "apt-get install failed; the missing peers will be marked missing"
    fi
    [[ -n $MADE_POLICY ]] && rm -f "$MADE_POLICY"
    MADE_POLICY=""
    return 0
}

# ---------------------------------------------------------------- processes

TMP=""
MADE_POLICY=""      # policy-rc.d created by ensure_packages, removed on exit
STARTED=()          # PIDs this script started (each a process tree root)
declare -A TREE_SEEN=()   # "root/pid" -> comm of descendants seen while measuring

cleanup() {
    local i
    # Newest first: the load generator, then the proxy, then the backend.
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_tree "${STARTED[i]}"; done
    [[ -n $MADE_POLICY ]] && rm -f "$MADE_POLICY"
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() { kill -0 "$1" 2>/dev/null && [[ $(stat_state "$1") != Z ]]; }

stat_state() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    line=${line##*) }
    printf '%s\n' "${line%% *}"
}

# "pid(comm, N threads) ..." for the tree rooted at $1.
tree_desc() {
    local p out="" n
    for p in $(tree_pids "$1"); do
        local -a tasks=("/proc/$p/task"/*)
        n=${#tasks[@]}
        out+="${out:+ }$p($(comm_of "$p"), $n thread$([[ $n == 1 ]] || echo s))"
    done
    printf '%s\n' "$out"
}

comm_of() { local c; { read -r c <"/proc/$1/comm"; } 2>/dev/null && printf '%s\n' "$c"; }

# All PIDs in the tree rooted at $1 (root included), from the ppid fields.
tree_pids() {
    local root=$1 f line rest pid p c
    local -A kids=()
    local -a a
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${line%% *}
        rest=${line##*) }
        read -ra a <<<"$rest"
        kids[${a[1]}]+=" $pid"
    done
    local -a queue=("$root") found=()
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -d /proc/$p ]] || continue
        found+=("$p")
        for c in ${kids[$p]:-}; do queue+=("$c"); done
    done
    printf '%s\n' "${found[*]}"
}

# utime+stime (clock ticks) summed over the process tree rooted at $1, into
# TICKS (not printed: it must run in this shell to record TREE_SEEN).
# /proc/PID/stat of a process covers all of its threads.
tree_ticks() {
    local sum=0 p line
    local -a a
    for p in $(tree_pids "$1"); do
        { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
        [[ $p != "$1" ]] && TREE_SEEN[$1/$p]=$(comm_of "$p")
        line=${line##*) }
        read -ra a <<<"$line"
        # a[0] is field 3 (state): utime is field 14, stime field 15.
        sum=$((sum + a[11] + a[12]))
    done
    TICKS=$sum
}

# Busy ticks (user+nice+system+irq+softirq+steal) of CPU $1 from /proc/stat,
# into BUSY; empty when $1 is not a single CPU number.
cpu_busy() {
    BUSY=""
    [[ $1 =~ ^[0-9]+$ ]] || return 0
    local name user nice system irq softirq steal rest
    while read -r name user nice system _ _ irq softirq steal rest; do
        if [[ $name == "cpu$1" ]]; then
            BUSY=$((user + nice + system + irq + softirq + steal))
            return 0
        fi
    done </proc/stat
}

# Stop a tree we started: TERM the root, wait, KILL if needed, then KILL any
# descendant we saw earlier that is still there under the same name.
stop_tree() {
    local root=$1 i p k
    local -a kids
    read -ra kids <<<"$(tree_pids "$root")"
    if alive "$root"; then
        kill -TERM "$root" 2>/dev/null
        for ((i = 0; i < 100; i++)); do alive "$root" || break; sleep 0.05; done
        alive "$root" && kill -KILL "$root" 2>/dev/null
    fi
    wait "$root" 2>/dev/null
    for p in "${kids[@]:1}"; do
        TREE_SEEN[$root/$p]=${TREE_SEEN[$root/$p]:-$(comm_of "$p")}
    done
    for k in "${!TREE_SEEN[@]}"; do
        [[ $k == "$root"/* ]] || continue
        p=${k#*/}
        if [[ -n ${TREE_SEEN[$k]} && -d /proc/$p && $(comm_of "$p") == "${TREE_SEEN[$k]}" ]]; then
            for ((i = 0; i < 40; i++)); do [[ -d /proc/$p ]] || break; sleep 0.05; done
            [[ -d /proc/$p && $(comm_of "$p") == "${TREE_SEEN[$k]}" ]] && kill -KILL "$p" 2>/dev/null
        fi
        unset "TREE_SEEN[$k]"
    done
    local -a keep=()
    for p in "${STARTED[@]}"; do [[ $p != "$root" ]] && keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# start CPU LOG CMD...: run CMD pinned to CPU with output to LOG; sets STARTED_PID.
start_pinned() {
    local cpu=$1 logf=$2
    shift 2
    taskset -c "$cpu" "$@" >"$logf" 2>&1 </dev/null &
    STARTED_PID=$!
    STARTED+=("$STARTED_PID")
}

port_free() {
    local p=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$p" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
PY
        return
    fi
    [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]]
}

# Next free loopback port at or after PORT_NEXT; sets PORT.
pick_port() {
    local tries=0
    while ! port_free "$PORT_NEXT"; do
        PORT_NEXT=$((PORT_NEXT + 1))
        ((++tries > 500)) && die "no free port found"
    done
    PORT=$PORT_NEXT
    PORT_NEXT=$((PORT_NEXT + 1))
}

# fill TEMPLATE OUT KEY=VALUE...: replace @KEY@ with VALUE.
fill() {
    local in=$1 out=$2 kv args=()
    shift 2
    local v
    for kv in "$@"; do
        v=${kv#*=}
        v=${v//\\/\\\\}
        v=${v//&/\\&}
        v=${v//|/\\|}
        args+=(-e "s|@${kv%%=*}@|$v|g")
    done
    sed "${args[@]}" "$in" >"$out"
}

# ---------------------------------------------------------------- readiness and checks

# wait_ready PID CHECK-CMD...: poll CHECK until it prints 200, while PID lives.
wait_ready() {
    local pid=$1 deadline code
    shift
    deadline=$((SECONDS + START_TIMEOUT))
    LAST_CODE=none
    while ((SECONDS < deadline)); do
        alive "$pid" || return 1
        code=$("$@" 2>/dev/null)
        [[ $code == 200 ]] && return 0
        [[ $code != 000 && -n $code ]] && LAST_CODE=$code
        sleep 0.05
    done
    return 1
}

curl_h2c_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --http2-prior-knowledge \
        -H 'content-type: application/json' --data-binary "@$BODY" "http://127.0.0.1:$1/bid"
}

curl_unix_h2c_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --http2-prior-knowledge --unix-socket "$1" \
        -H 'content-type: application/json' --data-binary "@$BODY" "http://localhost/bid"
}

curl_unix_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --unix-socket "$1" \
        -H 'content-type: application/json' --data-binary "@$BODY" "http://localhost/bid"
}

# verify_h2c PORT: one POST over h2c; must be HTTP/2, 200, and carry the bid.
verify_h2c() {
    local port=$1 out=$TMP/verify-$1.body meta
    meta=$(curl -s -o "$out" -w '%{http_version} %{http_code}' --max-time 5 --http2-prior-knowledge \
        -H 'content-type: application/json' --data-binary "@$BODY" "http://127.0.0.1:$port/bid") ||
        { VERIFY_MSG="curl failed"; return 1; }
    if [[ $meta != "2 200" ]]; then VERIFY_MSG="expected HTTP/2 200, got '$meta'"; return 1; fi
    if cmp -s "$out" "$TMP/reference.body"; then
        VERIFY_MSG="HTTP/2 200, body identical to the backend's ($(wc -c <"$out") B)"
        return 0
    fi
    if [[ $(head -c 1 "$out") == "{" ]]; then
        VERIFY_MSG="HTTP/2 200, JSON body ($(wc -c <"$out") B) differs from the backend-direct one"
        return 0
    fi
    VERIFY_MSG="HTTP/2 200 but the body is not the bid: $(head -c 120 "$out")"
    return 1
}

# reuse_check PORT: two requests on one h2c connection; sluice-demo-backend
# numbers the requests of each of its connections in X-Connection-Requests, so
# a second answer above 1 shows the proxy kept its backend connection alive.
reuse_check() {
    local n
    n=$(curl -s -o /dev/null -D - --max-time 5 --http2-prior-knowledge \
            -H 'content-type: application/json' --data-binary "@$BODY" \
            "http://127.0.0.1:$1/bid" "http://127.0.0.1:$1/bid" 2>/dev/null |
        tr -d '\r' | awk -F': *' 'tolower($1) ~ /^x-connection-(requests|streams)$/ { n = $2 } END { print n }')
    if [[ -z $n ]]; then REUSE_MSG="backend reuse not checked (no X-Connection-Requests or -Streams)"
    elif ((n > 1)); then REUSE_MSG="backend connection reused (request $n on it)"
    else REUSE_MSG="WARNING: backend connection not reused (X-Connection-Requests: $n)"; fi
}

log_tail() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf '    --- %s (last lines)\n' "${f#"$TMP"/}"
        tail -n 15 "$f" | sed 's/^/    | /'
    done
}

# ---------------------------------------------------------------- h2load

# Per run, keyed "PEER,SCENARIO,ROUND" (scenario and round from 0): figures,
# STATUS (ok, failed, missing, not built), NOTE (warnings), NOISY (1 when the
# run was flagged NOISE), CMDS (the h2load command line). PEER_PORTS[PEER,ROUND]
# is the port the peer listened on in that round.
declare -A MEM_CONN MEM_STREAM RPS LAT CPU BCPU SYSC SHARE FAILED NOTE STATUS CMDS NOISY PEER_PORTS
# Per row, keyed "PEER,SCENARIO", filled by aggregate: medians over the ok
# runs (M_RPS M_LAT M_CPU), CPU min and max, ok and NOISE-flagged run counts,
# h2load failures summed, and the row status (ok when any run is ok).
declare -A M_RPS M_LAT M_CPU M_BCPU M_SYSC M_SHARE CPU_MIN CPU_MAX N_OK N_NOISE FAILED_SUM ROW_STATUS
ORDERS=()           # peer order of each round
BENCH_ELAPSED=0     # seconds spent in the rounds
declare -A VERSION

# run_load TAG C M N TARGET-ARGS...: one measured (or warm-up) h2load run,
# pinned to LOAD_CPU. Sets H2_CMD and H2_OUT (output file); returns h2load's status.
run_load() {
    local tag=$1 c=$2 m=$3 n=$4
    shift 4
    H2_CMD=(h2load -n "$n" -c "$c" -m "$m" -d "$BODY" -H 'content-type: application/json' "$@")
    H2_OUT=$TMP/h2load-$tag.txt
    run_load_cmd
}

# run_load_cmd: runs H2_CMD pinned to LOAD_CPU into H2_OUT; returns its status.
# In the background and waited for, so that a signal to this script is handled
# at once (cleanup stops the load generator too) rather than after the run.
run_load_cmd() {
    taskset -c "$LOAD_CPU" timeout "$RUN_TIMEOUT" "${H2_CMD[@]}" >"$H2_OUT" 2>&1 </dev/null &
    local pid=$! rc
    STARTED+=("$pid")
    wait "$pid"
    rc=$?
    local -a keep=()
    local p
    for p in "${STARTED[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
    STARTED=("${keep[@]}")
    return "$rc"
}

# run_wrk TAG C URL: one measured wrk run of WRK_S seconds posting the body,
# pinned to LOAD_CPU. Sets H2_CMD and H2_OUT like run_load.
run_wrk() {
    local tag=$1 c=$2 url=$3
    local script=$TMP/post.lua
    [[ -f $script ]] || {
        printf 'local f = io.open("%s", "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\n' "$BODY"
        printf 'f:close()\nwrk.headers["content-type"] = "application/json"\n'
    } >"$script"
    H2_CMD=(wrk -t 1 -c "$c" -d "${WRK_S}s" --latency -s "$script" "$url")
    H2_OUT=$TMP/wrk-$tag.txt
    run_load_cmd
}

# Parse a wrk output into the P_* figures parse_h2load sets.
parse_wrk() {
    local f=$1
    P_SUCC=$(awk '/ requests in / { print $1; exit }' "$f")
    local secs
    secs=$(awk '/ requests in / { v = $4; sub(/,$/, "", v); u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            printf "%.6f\n", v * ((u == "ms") ? 0.001 : (u == "m") ? 60 : 1); exit }' "$f")
    P_NON2XX=$(awk '/Non-2xx or 3xx responses:/ { print $NF; exit }' "$f")
    P_NON2XX=${P_NON2XX:-0}
    P_ERRORED=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10; exit }' "$f")
    P_ERRORED=${P_ERRORED:-0}
    P_FAILED=0 P_TIMEOUT=0
    P_SUCC=$((${P_SUCC:-0} - P_NON2XX))
    P_RPS=$(awk -v n="${P_SUCC}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.2f\n", n / s }')
    P_LAT_US=$(awk '/^ +Latency / { v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : -1
            if (f > 0) printf "%.2f\n", v * f
            exit }' "$f")
    [[ -n $P_RPS && -n $P_LAT_US ]]
}

# Parse $H2_OUT: sets P_RPS P_LAT_US P_SUCC P_FAILED P_ERRORED P_TIMEOUT P_NON2XX.
parse_h2load() {
    local f=$1
    P_RPS=$(awk '/^finished in/ { print $4; exit }' "$f")
    P_SUCC=$(sed -n 's/^requests:.* \([0-9]*\) succeeded.*/\1/p' "$f")
    P_FAILED=$(sed -n 's/^requests:.* \([0-9]*\) failed.*/\1/p' "$f")
    P_ERRORED=$(sed -n 's/^requests:.* \([0-9]*\) errored.*/\1/p' "$f")
    P_TIMEOUT=$(sed -n 's/^requests:.* \([0-9]*\) timeout.*/\1/p' "$f")
    P_NON2XX=$(awk '/^status codes:/ { print $5 + $7 + $9; exit }' "$f")
    P_LAT_US=$(awk '/^time for request:/ {
            v = $6; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            f = (u == "ns") ? 0.001 : (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : -1
            if (f > 0) printf "%.2f\n", v * f
            exit }' "$f")
    [[ -n $P_RPS && -n $P_SUCC && -n $P_LAT_US ]]
}

fmt_cmd() {
    local out="" a
    for a in "$@"; do
        if [[ $a =~ [^A-Za-z0-9_./:=@,+-] ]]; then out+=" '$a'"; else out+=" $a"; fi
    done
    printf '%s\n' "taskset -c $LOAD_CPU${out}"
}

# measure PEER ROOT-PID ROUND H1-URL TARGET-ARGS...: warm-up, then the
# scenarios, stored under round ROUND (from 0). ROOT-PID is the proxy's tree
# root, or "" for backend-direct. H1-URL is where the HTTP/1.1 scenarios go.
# For backend-direct, h2load speaks HTTP/1.1 without pipelining, so the
# in-flight count c*m of each scenario becomes c*m connections; wrk cannot
# reach a Unix socket, so backend-direct has no wrk row.
measure() {
    local peer=$1 root=$2 r=$3 h1_url=$4 i k n c m t0 t1 b0 b1 bt0 bt1 ticks other warn rc
    shift 4
    local be_pid=$BACKEND_PID
    [[ $peer == *-h2c ]] && be_pid=$BACKEND_H2C_PID
    local wn
    wn=$(scale_n "${BENCH_WARMUP_N:-5000}" 1000)
    if [[ $peer == direct ]]; then
        run_load "$peer-warmup-r$((r + 1))" 16 1 "$wn" "$@"
    elif [[ $peer == direct-h2c ]]; then
        run_load "$peer-warmup-r$((r + 1))" 16 16 "$wn" "$@"
    else
        run_load "$peer-warmup-r$((r + 1))" 16 16 "$wn" "$@"
    fi
    if ! parse_h2load "$H2_OUT" || ((P_SUCC == 0)); then
        log "$peer r$((r + 1)): warm-up failed"
        log_tail "$H2_OUT" >&2
    fi
    for i in "${!SC_NAMES[@]}"; do
        k=$peer,$i,$r c=${SC_C[i]} m=${SC_M[i]} other=""
        n=$(scale_n "${SC_BASE_N[i]}" $((c * m)))
        if [[ $peer == direct ]]; then c=$((c * m)) m=1; fi
        if [[ $peer == direct && ${SC_PROTO[i]} == wrk ]]; then
            STATUS[$k]=skipped NOTE[$k]="wrk cannot reach a Unix socket"
            continue
        fi
        if [[ $peer == direct* && ${SC_PROTO[i]} == tls ]]; then
            STATUS[$k]=skipped NOTE[$k]="the backend speaks no TLS"
            continue
        fi
        if [[ $peer == direct-h2c && ${SC_PROTO[i]} != h2 ]]; then
            STATUS[$k]=skipped NOTE[$k]="the h2c backend speaks no HTTP/1.1"
            continue
        fi
        tree_ticks "$be_pid"
        bt0=$TICKS
        [[ -n $root ]] && { tree_ticks "$root"; t0=$TICKS; cpu_busy "$PROXY_CPU"; b0=$BUSY; }
        run_scenario "$peer-${SC_NAMES[i]}-r$((r + 1))" "$i" "$c" "$m" "$n" "$WRK_S" "$@"
        rc=$?
        [[ -n $root ]] && { tree_ticks "$root"; t1=$TICKS; cpu_busy "$PROXY_CPU"; b1=$BUSY; }
        tree_ticks "$be_pid"
        bt1=$TICKS
        CMDS[$k]=$(fmt_cmd "${H2_CMD[@]}")
        if [[ -n $root ]] && ! alive "$root"; then
            STATUS[$k]=failed
            NOTE[$k]="the proxy exited during this run"
            log "$peer ${SC_NAMES[i]} r$((r + 1)): the proxy exited during the run"
            return 1
        fi
        local parse=parse_h2load
        [[ ${SC_PROTO[i]} == wrk ]] && parse=parse_wrk
        if ! $parse "$H2_OUT" || ((P_SUCC == 0)); then
            STATUS[$k]=failed
            NOTE[$k]="h2load exit $rc, no usable result"
            log "$peer ${SC_NAMES[i]} r$((r + 1)): h2load gave no usable result (exit $rc)"
            log_tail "$H2_OUT" >&2
            continue
        fi
        STATUS[$k]=ok
        RPS[$k]=$P_RPS
        LAT[$k]=$P_LAT_US
        FAILED[$k]=$P_FAILED
        if [[ -n $root ]]; then
            ticks=$((t1 - t0))
            CPU[$k]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$P_SUCC" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
        fi
        BCPU[$k]=$(awk -v t="$((bt1 - bt0))" -v hz="$CLK_TCK" -v n="$P_SUCC" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
        warn=""
        ((P_FAILED > 0 || ${P_ERRORED:-0} > 0 || ${P_TIMEOUT:-0} > 0)) &&
            warn="WARNING: $P_FAILED failed, ${P_ERRORED:-?} errored, ${P_TIMEOUT:-?} timed out of $n"
        ((${P_NON2XX:-0} > 0)) && warn+="${warn:+; }WARNING: $P_NON2XX responses not 2xx"
        ((rc != 0)) && warn+="${warn:+; }WARNING: h2load exit status $rc"
        # Other work on the proxy's core during the run disturbs every figure.
        if [[ -n $root && -n $b0 && -n $b1 ]]; then
            other=$((b1 - b0 - ticks))
            if ((other >= 10 && other * 10 > ticks)); then
                warn+="${warn:+; }NOISE: other work took $other ticks of CPU $PROXY_CPU (the proxy: $ticks)"
                NOISY[$k]=1
            fi
        fi
        NOTE[$k]=$warn
        [[ -n $warn ]] && log "$peer ${SC_NAMES[i]} r$((r + 1)): $warn"
        log "$peer ${SC_NAMES[i]} r$((r + 1)): $P_RPS req/s, mean ${P_LAT_US} us${root:+, ${CPU[$k]} cpu us/req ($ticks ticks; other work on CPU $PROXY_CPU: ${other:-?} ticks)}, backend ${BCPU[$k]} cpu us/req"
        [[ -n $root ]] && count_syscalls "$k" "$root" "$peer-${SC_NAMES[i]}-r$((r + 1))" "$i" "$c" "$m" "$n" "$@"
        [[ -n $root ]] && profile_share "$k" "$root" "$peer-${SC_NAMES[i]}-r$((r + 1))" "$i" "$c" "$m" "$n" "$@"
    done
}

# ---------------------------------------------------------------- memory

MEM_CONNS=${BENCH_MEM_CONNS:-2000}
MEM_STREAM_CONNS=8
MEM_STREAMS_EACH=100 # every peer's default SETTINGS_MAX_CONCURRENT_STREAMS allows 100

# Resident KiB of the process tree rooted at $1, into RSS_KB.
tree_rss() {
    local sum=0 p v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    RSS_KB=$sum
}

# measure_memory PEER ROOT R: KiB of resident memory per idle h2c connection
# (MEM_CONNS held, preface and SETTINGS only) and per open stream (800 on 8
# more connections, to a backend answering after 3 s), from the RSS of the
# proxy's tree as bench/hold.py opens them, all held until the end so that no
# step reuses memory another freed; right after the proxy's start, before any
# load has grown its heap.
measure_memory() {
    local k=$1,$3 root=$2 line="" rss0 rss1 streams=$((MEM_STREAM_CONNS * MEM_STREAMS_EACH))
    [[ $1 == direct* ]] && return 0
    tree_rss "$root"
    rss0=$RSS_KB
    coproc HOLD { exec python3 "$SCRIPT_DIR/hold.py" "$PORT" "$MEM_CONNS" "$MEM_STREAM_CONNS" \
        "$MEM_STREAMS_EACH" /delay/3000 2>&1; }
    local pid=$HOLD_PID out=${HOLD[0]} in=${HOLD[1]}
    if read -r -t 30 line <&"$out" && [[ $line == held ]]; then
        sleep 0.5 # the proxy takes the connections in
        tree_rss "$root"
        rss1=$RSS_KB
        MEM_CONN[$k]=$(awk -v a="$rss1" -v b="$rss0" -v n="$MEM_CONNS" 'BEGIN { printf "%.1f", (a - b) / n }')
        echo more >&"$in"
        line=""
        if read -r -t 30 line <&"$out" && [[ $line == held ]]; then
            sleep 1 # the streams reach the backend
            tree_rss "$root"
            MEM_STREAM[$k]=$(awk -v a="$RSS_KB" -v b="$rss1" -v n="$streams" 'BEGIN { printf "%.1f", (a - b) / n }')
        fi
    fi
    [[ $line == held ]] || log "$1 r$(($3 + 1)): hold.py: ${line:-no answer in 30 s}"
    exec {in}>&-
    wait "$pid" 2>/dev/null
    sleep 3 # the streams' answers come and go
    log "$1 r$(($3 + 1)): memory: ${MEM_CONN[$k]:--} KiB per idle connection, ${MEM_STREAM[$k]:--} KiB per open stream"
}

# memory_rows: "peer<TAB>KiB per connection<TAB>KiB per stream" medians over the rounds.
memory_rows() {
    local peer r
    local -a c s
    for peer in $PEERS; do
        [[ $peer == direct* ]] && continue
        c=() s=()
        for ((r = 0; r < ROUNDS; r++)); do
            [[ -n ${MEM_CONN[$peer,$r]:-} ]] && c+=("${MEM_CONN[$peer,$r]}")
            [[ -n ${MEM_STREAM[$peer,$r]:-} ]] && s+=("${MEM_STREAM[$peer,$r]}")
        done
        printf '%s\t%s\t%s\n' "$(peer_label "$peer")" "$( ((${#c[@]})) && median "${c[@]}" || echo -)" \
            "$( ((${#s[@]})) && median "${s[@]}" || echo -)"
    done
}

# own_cost_rows: a header "scenario<TAB>peer..." for the rows that have
# OWN_SYMBOLS, then per scenario the median share and the CPU it adds per
# request, share / (100 - share): what the row costs over plain sluice. Prints
# nothing when no such row was profiled.
own_cost_rows() {
    local peer i cells
    local -a peers=()
    for peer in $PEERS; do
        [[ -n ${OWN_SYMBOLS[$peer]:-} ]] || continue
        for i in "${!SC_NAMES[@]}"; do
            [[ -n ${M_SHARE[$peer,$i]:-} ]] && { peers+=("$peer"); break; }
        done
    done
    ((${#peers[@]})) || return 0
    (IFS=$'\t'; printf 'scenario\t%s\n' "${peers[*]}")
    for i in "${!SC_NAMES[@]}"; do
        cells=${SC_NAMES[i]}
        for peer in "${peers[@]}"; do
            if [[ -n ${M_SHARE[$peer,$i]:-} ]]; then
                cells+=$'\t'$(awk -v s="${M_SHARE[$peer,$i]}" 'BEGIN { printf "%.1f%% (+%.1f%%)", s, s * 100 / (100 - s) }')
            else
                cells+=$'\t-'
            fi
        done
        printf '%s\n' "$cells"
    done
}

OWN_COST_DESC="share of the proxy's CPU samples (perf record, 499 Hz, DWARF call graphs, a third run of each scenario) spent under the row's own functions (sluice-events: sl_events_sample, on_send_timer; sluice-access: sl_access_record, on_flush_timer), median over the rounds, and in brackets the CPU that adds per request; the goals are +3% for the event sink and +5% for the access log"

# the nginx-access row's log: the fields of sluice's access log line, as JSON,
# about as long (nginx has the time to the second, and durations in seconds)
read -r -d '' NGINX_ACCESS_LOG <<'EOF' || true
log_format sluice escape=json '{"time":"$time_iso8601","listener":"$server_addr:$server_port","peer":"$remote_addr:$remote_port","protocol":"$server_protocol","method":"$request_method","authority":"$host","path":"$request_uri","status":$status,"class":"default","shed":null,"code":null,"backend":"bench","server":"$upstream_addr","bytes_in":$request_length,"bytes_out":$bytes_sent,"total_us":$request_time,"upstream_us":$upstream_response_time}';
EOF
MEMORY_DESC="RSS (VmRSS) of the proxy's process tree before and 1 s into bench/hold.py holding $MEM_CONNS idle h2c connections (preface and SETTINGS), then, with those still held, 800 streams on 8 more connections to /delay/3000; per connection or stream, medians over the rounds, measured right after each start, before the load"

# run_scenario TAG I C M N WRK_SECONDS ARGS...: one load run of scenario I
# (h2load, or wrk for the wrk rows); ARGS are measure's (a direct row's URL).
# Uses measure's peer and h1_url, and TLS_URL.
run_scenario() {
    local tag=$1 i=$2 c=$3 m=$4 n=$5 wrk_s=$6
    shift 6
    local -a rate=()
    ((SC_RPS[i] > 0)) && rate=(--rps "${SC_RPS[i]}")
    case ${SC_PROTO[i]} in
    h2) run_load "$tag" "$c" "$m" "$n" "${rate[@]}" "$@" ;;
    tls) run_load "$tag" "$c" "$m" "$n" "$TLS_URL" ;;
    h1 | wrk)
        if [[ $peer == direct ]]; then
            run_load "$tag" "$c" 1 "$n" "${rate[@]}" "$@"
        elif [[ ${SC_PROTO[i]} == h1 ]]; then
            run_load "$tag" "$c" 1 "$n" --h1 "$h1_url"
        else
            WRK_S=$wrk_s run_wrk "$tag" "$c" "$h1_url"
        fi
        ;;
    esac
}

# count_syscalls K ROOT TAG I C M N ARGS...: the proxy's syscalls per request,
# into SYSC[K], from a second, shorter run (a fifth of the requests, or one
# second of wrk) under perf stat: counting them slows each one down, so the
# measured run is left alone. Nothing when perf cannot count them here.
count_syscalls() {
    local k=$1 root=$2 tag=$3-syscalls i=$4 c=$5 m=$6 n=$7 out=$TMP/perf-$3.txt pids
    shift 7
    ((HAS_PERF)) || return 0
    pids=$(tree_pids "$root")
    perf stat -x, -e raw_syscalls:sys_enter -p "${pids// /,}" -o "$out" >/dev/null 2>&1 &
    local perf_pid=$!
    sleep 0.2 # perf attaches
    run_scenario "$tag" "$i" "$c" "$m" $((n / 5 > c * m ? n / 5 : c * m)) 1 "$@"
    kill -INT "$perf_pid" 2>/dev/null
    wait "$perf_pid" 2>/dev/null
    local parse=parse_h2load count
    [[ ${SC_PROTO[i]} == wrk ]] && parse=parse_wrk
    $parse "$H2_OUT" && ((P_SUCC > 0)) || return 0
    count=$(awk -F, '/raw_syscalls:sys_enter/ { print $1; exit }' "$out")
    [[ $count =~ ^[0-9]+$ ]] || return 0
    SYSC[$k]=$(awk -v c="$count" -v n="$P_SUCC" 'BEGIN { printf "%.1f", c / n }')
}

# The call trees that are a row's own addition, for profile_share: what sluice
# calls once per request and the timer that writes or sends (their names are
# unique in the binary, so that perf's symbols are these functions).
declare -A OWN_SYMBOLS=([sluice-events]="sl_events_sample on_send_timer"
                        [sluice-access]="sl_access_record on_flush_timer")

# profile_share K ROOT TAG I C M N ARGS...: for a row with OWN_SYMBOLS, one
# more run under perf record, into SHARE[K]: the percentage of the proxy's CPU
# samples whose stack holds one of those symbols. Both parts of that ratio come
# from one run, so a host whose speed drifts from run to run (which blurs the
# CPU column by more than the few percent these rows add) disturbs them alike.
# DWARF call graphs, as a Release build keeps no frame pointers.
profile_share() {
    local k=$1 root=$2 tag=$3-profile i=$4 c=$5 m=$6 n=$7 peer=${1%%,*} data=$TMP/perf-$3.data pids
    shift 7
    ((HAS_PROFILE)) && [[ -n ${OWN_SYMBOLS[$peer]:-} ]] || return 0
    pids=$(tree_pids "$root")
    taskset -c "$LOAD_CPU" perf record -q -F 499 --call-graph dwarf,8192 -p "${pids// /,}" \
        -o "$data" >/dev/null 2>&1 &
    local perf_pid=$!
    sleep 0.2 # perf attaches
    run_scenario "$tag" "$i" "$c" "$m" "$n" "$WRK_S" "$@"
    kill -INT "$perf_pid" 2>/dev/null
    wait "$perf_pid" 2>/dev/null
    SHARE[$k]=$(perf report -i "$data" --children --sort sym -g none --percent-limit 0 2>/dev/null |
        awk -v syms="${OWN_SYMBOLS[$peer]}" '
            BEGIN { n = split(syms, s, " "); for (j = 1; j <= n; j++) own[s[j]] = 1 }
            $3 == "[.]" || $3 == "[k]" { sampled = 1 }
            $3 == "[.]" && ($4 in own) { sum += $1 }
            END { if (sampled) printf "%.2f", sum }')
    rm -f "$data"
    log "$tag: ${SHARE[$k]:-no profile}% of the proxy's CPU samples under ${OWN_SYMBOLS[$peer]}"
}

# ---- user-space instructions per request, under callgrind ----
# On a VM, CPU time per request follows the host (its speed, how dear a
# wake-up is) by 20% or more from one boot to the next; the instructions a
# proxy executes for a request do not. After the rounds, each proxy row starts
# once more under callgrind, and h2load -c 1 -m 1 (one request at a time, so
# nothing is batched, as in the measured serial runs) over h2c and over
# HTTP/1.1 gives its user-space instructions per request and the objects that
# execute them. Kernel work (syscalls, wake-ups) is not in it: the CPU columns
# have that.
declare -A INSTR INSTR_TOP
INSTR_SCENARIOS=(h2c h1)
INSTR_DESC="user-space instructions (callgrind's Ir) of the proxy's processes per succeeded request, h2load -c 1 -m 1, $INSTR_N requests (after 500 of warm-up over each front) less a start with the warm-up alone, after the rounds; kernel work is not counted; vs best: to the lowest of the column; where: the objects that execute the most"

# cg_self_by_object FILE: "object<TAB>instructions" per object of a callgrind
# dump, by self cost (the cost line after a calls= line is the call's
# inclusive cost, which its callee's own lines count already).
cg_self_by_object() {
    awk '
        # ob= and cob= share their compressed "(id) name" table
        /^c?ob=/ {
            spec = substr($0, index($0, "=") + 1)
            if (match(spec, /^\([0-9]+\)/)) {
                id = substr(spec, 1, RLENGTH); rest = substr(spec, RLENGTH + 2)
                if (rest != "") names[id] = rest
                spec = names[id]
            }
            if ($0 ~ /^ob=/) ob = spec
            next
        }
        /^calls=/ { call = 1; next }
        /^[0-9+*-]/ { if (call) { call = 0; next } self[ob] += $2; next }
        END { for (o in self) printf "%s\t%.0f\n", o, self[o] }' "$1"
}

# instr_summary RUN_TSV BASE_TSV REQUESTS: "per request<TAB>top objects with
# shares" of what RUN executed beyond BASE
instr_summary() {
    awk -F'\t' -v n="$3" '
        { o = $1; sub(/.*\//, "", o); sub(/\.so[.0-9]*$/, "", o)
          d = FILENAME == ARGV[1] ? $2 : -$2; sum[o] += d; total += d }
        END {
            if (total <= 0) exit
            top = ""
            for (k = 0; k < 3; k++) {
                best = ""
                for (o in sum) if (best == "" || sum[o] > sum[best]) best = o
                if (best == "" || sum[best] * 100 < total) break
                top = top (k ? ", " : "") sprintf("%s %.0f%%", best, sum[best] * 100 / total)
                delete sum[best]
            }
            printf "%.0f\t%s\n", total / n, top
        }' "$1" "$2"
}

# instr_args SCENARIO: h2load's arguments for it into INSTR_ARGS (PORT and
# PORT_H1 of the peer started)
instr_args() {
    case $1 in
    h2c) INSTR_ARGS=("http://127.0.0.1:$PORT/bid") ;;
    h1) INSTR_ARGS=(--h1 "http://127.0.0.1:$PORT_H1/bid") ;;
    esac
}

# instr_run PEER TAG SCENARIO N: one start of PEER under callgrind, 500
# requests over each front to warm it up, N more of SCENARIO, and a stop, at
# which callgrind writes out every process's counts; "object<TAB>instructions"
# of them all go to $TMP/cg-TAG.tsv. (callgrind_control cannot reach a
# process that valgrind followed through fork, such as a worker.) Sets
# INSTR_OK to the requests of SCENARIO that succeeded.
instr_run() {
    local peer=$1 tag=$2 sc=$3 n=$4 f ok=1
    PROXY_WRAP=(valgrind -q --tool=callgrind "--callgrind-out-file=$TMP/cg-$tag.%p")
    START_TIMEOUT=$((START_TIMEOUT * 3)) start_peer "$peer" "$ROUNDS" || ok=0
    PROXY_WRAP=()
    if ((!ok)); then
        log "$tag: FAILED: $PEER_FAIL"
        [[ -n $PEER_PID ]] && stop_tree "$PEER_PID"
        return 1
    fi
    instr_args h2c
    run_load "$tag-warm-h2c" 1 1 500 "${INSTR_ARGS[@]}"
    instr_args h1
    run_load "$tag-warm-h1" 1 1 500 "${INSTR_ARGS[@]}"
    INSTR_OK=0
    if ((n > 0)); then
        instr_args "$sc"
        run_load "$tag" 1 1 "$n" "${INSTR_ARGS[@]}"
        parse_h2load "$H2_OUT" && INSTR_OK=${P_SUCC:-0}
    fi
    stop_tree "$PEER_PID"
    : >"$TMP/cg-$tag.tsv"
    for f in "$TMP/cg-$tag".*; do
        [[ $f == *.tsv ]] && continue
        grep -q '^totals:' "$f" || { log "$tag: $f has no totals (the process did not exit cleanly)"; return 1; }
        cg_self_by_object "$f" >>"$TMP/cg-$tag.tsv"
    done
}

# measure_instructions PEER: INSTR[PEER,SCENARIO] and INSTR_TOP[...], the
# difference between a start with N requests of SCENARIO and one without.
measure_instructions() {
    local peer=$1 sc
    instr_run "$peer" "$peer-cg-base" - 0 || return 0
    for sc in "${INSTR_SCENARIOS[@]}"; do
        instr_run "$peer" "$peer-cg-$sc" "$sc" "$INSTR_N" || continue
        ((INSTR_OK > 0)) || { log "$peer: instructions ($sc): no request succeeded"; continue; }
        IFS=$'\t' read -r "INSTR[$peer,$sc]" "INSTR_TOP[$peer,$sc]" \
            < <(instr_summary "$TMP/cg-$peer-cg-$sc.tsv" "$TMP/cg-$peer-cg-base.tsv" "$INSTR_OK")
        log "$peer: instructions ($sc): ${INSTR[$peer,$sc]:-?} per request (${INSTR_TOP[$peer,$sc]:-})"
    done
}

# instr_rows: "peer<TAB>h2c<TAB>vs best<TAB>h1<TAB>vs best<TAB>where (h2c)"
instr_rows() {
    local peer sc
    local -A best=()
    for sc in "${INSTR_SCENARIOS[@]}"; do
        for peer in $PEERS; do
            local v=${INSTR[$peer,$sc]:-}
            [[ -n $v ]] && { [[ -z ${best[$sc]:-} ]] || ((v < best[$sc])); } && best[$sc]=$v
        done
    done
    for peer in $PEERS; do
        [[ $peer == direct* ]] && continue
        local cells
        cells=$(peer_label "$peer")
        for sc in "${INSTR_SCENARIOS[@]}"; do
            local v=${INSTR[$peer,$sc]:-}
            if [[ -n $v ]]; then cells+=$'\t'$v$'\t'$(ratio "$v" "${best[$sc]}")
            else cells+=$'\t-\t-'; fi
        done
        printf '%s\t%s\n' "$cells" "${INSTR_TOP[$peer,h2c]:-${INSTR_TOP[$peer,h1]:--}}"
    done
}

mark_all() { # mark_all PEER ROUND STATUS NOTE
    local i
    for i in "${!SC_NAMES[@]}"; do STATUS[$1,$i,$2]=$3; NOTE[$1,$i,$2]=$4; done
}

# ---------------------------------------------------------------- peers

# start_peer PEER ROUND: write its config, start it pinned to PROXY_CPU, wait
# until it answers over h2c. Each round gets its own run directory (config,
# logs, pid file) and port. Sets PEER_PID, PEER_DIR and PORT. Returns 1 on failure.
start_peer() {
    local peer=$1 dir=$TMP/$1/r$(($2 + 1)) bin
    PEER_DIR=$dir
    mkdir -p "$dir"
    pick_port
    local ifroot="# "
    [[ $(id -u) == 0 ]] && ifroot=""
    # nginx and HAProxy take HTTP/1.1 on a port of its own; the others tell the
    # protocols apart on one port, as sluice does
    PORT_H1=$PORT
    if [[ $peer == nginx* || $peer == haproxy* ]]; then
        local h2_port=$PORT
        pick_port
        PORT_H1=$PORT PORT=$h2_port
    fi
    # a -h2c row is the same proxy with an h2c pool to the backend in --h2c mode
    local sock=$SOCK haproxy_proto="" nghttpx_proto=http/1.1
    if [[ $peer == *-h2c ]]; then
        sock=$SOCK_H2C haproxy_proto="proto h2" nghttpx_proto=h2
    fi
    # and TLS on one more
    local main_port=$PORT
    pick_port
    PORT_TLS=$PORT PORT=$main_port
    local subst=("PORT=$PORT" "PORT_H1=$PORT_H1" "PORT_TLS=$PORT_TLS" "SOCK=$sock" "RUNDIR=$dir"
                 "IF_ROOT=$ifroot" "HAPROXY_PROTO=$haproxy_proto" "NGHTTPX_PROTO=$nghttpx_proto"
                 "CERT=$TMP/bench.crt" "KEY=$TMP/bench.key" "PEM=$TMP/bench.pem")
    case $peer in
    sluice | sluice-stats | sluice-base | sluice-h2c | sluice-events | sluice-access)
        bin=$SLUICE_BIN
        [[ $peer == sluice-base ]] && bin=${BENCH_BASE_SLUICE:-}
        [[ -x $bin ]] || { PEER_FAIL="not built (${bin:-BENCH_BASE_SLUICE unset} missing)"; return 1; }
        fill "$PEERS_DIR/sluice.yaml.in" "$dir/sluice.yaml" "${subst[@]}"
        # the backend's mapping ends the template: its last key can follow
        [[ $peer == sluice-h2c ]] && printf '    protocol: h2c\n' >>"$dir/sluice.yaml"
        # the same sluice, keeping its stats segment: what the stats cost
        [[ $peer == sluice-stats ]] && echo "stats_path: $dir/sluice.stats" >>"$dir/sluice.yaml"
        # the same sluice, sending its events: what the event sink costs
        if [[ $peer == sluice-events ]]; then
            [[ -n $STATSD_PORT ]] || { PEER_FAIL="statsd not installed (run tools/install-deps.sh)"; return 1; }
            printf 'events:\n  address: udp:127.0.0.1:%s\n' "$STATSD_PORT" >>"$dir/sluice.yaml"
        fi
        # the same sluice, logging every request: what the access log costs
        [[ $peer == sluice-access ]] &&
            printf 'access_log:\n  path: %s/access.log\n' "$dir" >>"$dir/sluice.yaml"
        start_pinned "$PROXY_CPU" "$dir/stderr.log" "${PROXY_WRAP[@]}" "$bin" -c "$dir/sluice.yaml"
        ;;
    nginx | nginx-access)
        bin=$(find_bin nginx) || { PEER_FAIL="nginx not installed"; return 1; }
        local access_log="access_log off;"
        [[ $peer == nginx-access ]] && access_log="$NGINX_ACCESS_LOG access_log $dir/access.log sluice buffer=256k flush=1s;"
        fill "$PEERS_DIR/nginx.conf.in" "$dir/nginx.conf" "${subst[@]}" "ACCESS_LOG=$access_log"
        start_pinned "$PROXY_CPU" "$dir/stderr.log" "${PROXY_WRAP[@]}" "$bin" -p "$dir/" -c "$dir/nginx.conf" \
            -e "$dir/error.log" -g 'daemon off;'
        ;;
    h2o)
        bin=$(find_bin h2o) || { PEER_FAIL="h2o not installed"; return 1; }
        fill "$PEERS_DIR/h2o.conf.in" "$dir/h2o.conf" "${subst[@]}"
        start_pinned "$PROXY_CPU" "$dir/stderr.log" "${PROXY_WRAP[@]}" "$bin" -c "$dir/h2o.conf"
        ;;
    haproxy | haproxy-h2c)
        bin=$(find_bin haproxy) || { PEER_FAIL="haproxy not installed"; return 1; }
        fill "$PEERS_DIR/haproxy.cfg.in" "$dir/haproxy.cfg" "${subst[@]}"
        start_pinned "$PROXY_CPU" "$dir/stderr.log" "${PROXY_WRAP[@]}" "$bin" -db -f "$dir/haproxy.cfg"
        ;;
    nghttpx | nghttpx-h2c)
        bin=$(find_bin nghttpx) || { PEER_FAIL="nghttpx not installed"; return 1; }
        fill "$PEERS_DIR/nghttpx.conf.in" "$dir/nghttpx.conf" "${subst[@]}"
        start_pinned "$PROXY_CPU" "$dir/stderr.log" "${PROXY_WRAP[@]}" "$bin" --conf="$dir/nghttpx.conf"
        ;;
    *) die "unknown peer '$peer'" ;;
    esac
    PEER_PID=$STARTED_PID
    if ! wait_ready "$PEER_PID" curl_h2c_code "$PORT"; then
        if alive "$PEER_PID"; then
            PEER_FAIL="no HTTP 200 over h2c on 127.0.0.1:$PORT within ${START_TIMEOUT}s (last status: $LAST_CODE)"
        else
            wait "$PEER_PID" 2>/dev/null
            PEER_FAIL="exited during start-up (status $?)"
        fi
        return 1
    fi
    return 0
}

peer_version() {
    local bin
    case $1 in
    direct | direct-h2c) echo "-" ;;
    sluice | sluice-stats | sluice-h2c | sluice-events | sluice-access)
        local v=""
        [[ -x $SLUICE_BIN ]] && v=$(timeout 2 "$SLUICE_BIN" -V 2>&1 </dev/null | head -n 1)
        [[ $v == *[0-9]* && $v != *rror* && $v != *nknown* && $v != *sage* ]] || v="sluice"
        echo "$v (git $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$(
            [[ -n $(git -C "$REPO_DIR" status --porcelain -- proxy hpack policy 2>/dev/null) ]] && echo ', modified'))"
        ;;
    sluice-base)
        local at
        at=$(git -C "$(dirname "${BENCH_BASE_SLUICE:-.}")" rev-parse --short HEAD 2>/dev/null || echo '?')
        echo "sluice ${BENCH_BASE_SLUICE:-(BENCH_BASE_SLUICE unset)} (git $at)"
        ;;
    nginx | nginx-access) bin=$(find_bin nginx) && "$bin" -v 2>&1 | head -n 1 ;;
    h2o) bin=$(find_bin h2o) && "$bin" --version 2>&1 | head -n 1 ;;
    haproxy | haproxy-h2c) bin=$(find_bin haproxy) && "$bin" -v 2>&1 | head -n 1 ;;
    nghttpx | nghttpx-h2c) bin=$(find_bin nghttpx) && "$bin" --version 2>&1 | head -n 1 ;;
    esac
}

peer_label() {
    case $1 in
    direct) echo backend-direct ;;
    direct-h2c) echo backend-h2c-direct ;;
    *) echo "$1" ;;
    esac
}

# ---------------------------------------------------------------- report

ratio() { # ratio VALUE BASE
    [[ -n ${1:-} && -n ${2:-} ]] || { echo "-"; return; }
    awk -v v="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2fx\n", v / b }'
}

fmt_lat() {
    awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2fms\n", u / 1000; else printf "%.1fus\n", u }'
}

fmt_rps() { awk -v r="$1" 'BEGIN { printf "%.0f\n", r }'; }

median() { # median VALUE...: the middle value, or the mean of the two middle ones
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Fill the per-row arrays (M_RPS ... ROW_STATUS) from the per-run ones.
aggregate() {
    local peer i r k row
    local -a v_rps v_lat v_cpu v_bcpu v_sysc v_share
    for peer in $PEERS; do
        for i in "${!SC_NAMES[@]}"; do
            row=$peer,$i v_rps=() v_lat=() v_cpu=() v_bcpu=() v_sysc=() v_share=()
            N_OK[$row]=0 N_NOISE[$row]=0 FAILED_SUM[$row]=0 ROW_STATUS[$row]=""
            for ((r = 0; r < ROUNDS; r++)); do
                k=$row,$r
                [[ ${NOISY[$k]:-} == 1 ]] && N_NOISE[$row]=$((N_NOISE[$row] + 1))
                if [[ ${STATUS[$k]:-} != ok ]]; then
                    [[ -z ${ROW_STATUS[$row]} && -n ${STATUS[$k]:-} ]] && ROW_STATUS[$row]=${STATUS[$k]}
                    continue
                fi
                N_OK[$row]=$((N_OK[$row] + 1))
                v_rps+=("${RPS[$k]}")
                v_lat+=("${LAT[$k]}")
                [[ -n ${CPU[$k]:-} ]] && v_cpu+=("${CPU[$k]}")
                [[ -n ${BCPU[$k]:-} ]] && v_bcpu+=("${BCPU[$k]}")
                [[ -n ${SYSC[$k]:-} ]] && v_sysc+=("${SYSC[$k]}")
                [[ -n ${SHARE[$k]:-} ]] && v_share+=("${SHARE[$k]}")
                FAILED_SUM[$row]=$((FAILED_SUM[$row] + ${FAILED[$k]:-0}))
            done
            if ((N_OK[$row] == 0)); then
                ROW_STATUS[$row]=${ROW_STATUS[$row]:-skipped}
                continue
            fi
            ROW_STATUS[$row]=ok
            M_RPS[$row]=$(median "${v_rps[@]}")
            M_LAT[$row]=$(median "${v_lat[@]}")
            ((${#v_bcpu[@]})) && M_BCPU[$row]=$(median "${v_bcpu[@]}")
            ((${#v_sysc[@]})) && M_SYSC[$row]=$(median "${v_sysc[@]}")
            ((${#v_share[@]})) && M_SHARE[$row]=$(median "${v_share[@]}")
            if ((${#v_cpu[@]})); then
                M_CPU[$row]=$(median "${v_cpu[@]}")
                CPU_MIN[$row]=$(printf '%s\n' "${v_cpu[@]}" | sort -g | head -n 1)
                CPU_MAX[$row]=$(printf '%s\n' "${v_cpu[@]}" | sort -g | tail -n 1)
            fi
        done
    done
}

# row cells for PEER and scenario I, from the medians: label rps rps_ratio lat
# lat_ratio cpu cpu_ratio cpu_min-max backend_cpu syscalls runs noise failed
row_cells() {
    local peer=$1 i=$2 row=$1,$2
    local st=${ROW_STATUS[$row]:-skipped} label
    label=$(peer_label "$peer")
    if [[ $st != ok ]]; then
        printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t0/%s\t-\t-\n' "$label" "$st" "$ROUNDS"
        return
    fi
    local base_ok=0
    [[ ${ROW_STATUS[nginx,$i]:-} == ok ]] && base_ok=1
    local rr="-" lr="-" cr="-" cpu="-" range="-" noise="-"
    if ((base_ok)); then
        rr=$(ratio "${M_RPS[$row]}" "${M_RPS[nginx,$i]}")
        lr=$(ratio "${M_LAT[$row]}" "${M_LAT[nginx,$i]}")
    fi
    if [[ -n ${M_CPU[$row]:-} ]]; then
        cpu=${M_CPU[$row]}
        range="${CPU_MIN[$row]}-${CPU_MAX[$row]}"
        ((base_ok)) && cr=$(ratio "$cpu" "${M_CPU[nginx,$i]:-}")
    fi
    # NOISE is only measured with a proxy on its core.
    [[ $peer != direct* ]] && noise=${N_NOISE[$row]}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(fmt_rps "${M_RPS[$row]}")" \
        "$rr" "$(fmt_lat "${M_LAT[$row]}")" "$lr" "$cpu" "$cr" "$range" "${M_BCPU[$row]:--}" \
        "${M_SYSC[$row]:--}" "${N_OK[$row]}/$ROUNDS" "$noise" "${FAILED_SUM[$row]}"
}

added_latency_line() { # for the -c1 -m1 scenario: proxy median minus backend-direct median
    local i=$1 peer out=""
    [[ ${ROW_STATUS[direct,$i]:-} == ok ]] || return 0
    for peer in $PEERS; do
        [[ $peer == direct* || ${ROW_STATUS[$peer,$i]:-} != ok ]] && continue
        out+="${out:+, }$peer $(awk -v a="${M_LAT[$peer,$i]}" -v b="${M_LAT[direct,$i]}" 'BEGIN { printf "%+.1fus", a - b }')"
    done
    [[ -n $out ]] && printf 'latency added over backend-direct (median of means): %s\n' "$out"
}

# note_lines PEER I: the warnings of PEER's runs of scenario I, one line per
# distinct text, "label (round 1, 3): text".
note_lines() {
    local peer=$1 i=$2 r t label j
    local -a texts=() rounds=()
    label=$(peer_label "$peer")
    for ((r = 0; r < ROUNDS; r++)); do
        t=${NOTE[$peer,$i,$r]:-}
        [[ -n $t ]] || continue
        for j in "${!texts[@]}"; do
            [[ ${texts[j]} == "$t" ]] && { rounds[j]+=", $((r + 1))"; continue 2; }
        done
        texts+=("$t")
        rounds+=("$((r + 1))")
    done
    for j in "${!texts[@]}"; do
        printf '%s (round %s): %s\n' "$label" "${rounds[j]}" "${texts[j]}"
    done
}

# cmd_lines: the h2load command line of every run. A proxy's runs differ from
# round to round only by its port, so each command is printed once with PORT
# in place of the port, and the ports of each round listed first; a command
# that differs otherwise is printed once per round.
cmd_lines() {
    local i peer r c port label j
    local -a ports
    for peer in $PEERS; do
        [[ $peer == direct* ]] && continue
        ports=()
        for ((r = 0; r < ROUNDS; r++)); do ports+=("${PEER_PORTS[$peer,$r]:--}"); done
        [[ ${ports[*]} == *[0-9]* ]] || continue
        printf 'PORT of %s, by round: %s\n' "$peer" "${ports[*]}"
    done
    for i in "${!SC_NAMES[@]}"; do
        for peer in $PEERS; do
            label=$(peer_label "$peer")
            local -a cmds=() rnds=()
            for ((r = 0; r < ROUNDS; r++)); do
                c=${CMDS[$peer,$i,$r]:-}
                [[ -n $c ]] || continue
                port=${PEER_PORTS[$peer,$r]:-}
                [[ -n $port ]] && c=${c//127.0.0.1:$port\//127.0.0.1:PORT/}
                for j in "${!cmds[@]}"; do
                    [[ ${cmds[j]} == "$c" ]] && { rnds[j]+=",$((r + 1))"; continue 2; }
                done
                cmds+=("$c")
                rnds+=("$((r + 1))")
            done
            if ((${#cmds[@]} == 1)); then
                printf '%-19s %s\n' "$label:" "${cmds[0]}"
            else
                for j in "${!cmds[@]}"; do printf '%-15s %s\n' "$label (r${rnds[j]}):" "${cmds[j]}"; done
            fi
        done
    done
}

rounds_desc() {
    local r out=""
    for ((r = 0; r < ROUNDS; r++)); do out+="${out:+; }$((r + 1)): ${ORDERS[r]:-}"; done
    printf '%s\n' "$out"
}

# run_size SCENARIO: "N requests", or wrk's duration.
run_size() {
    if [[ ${SC_PROTO[$1]} == wrk ]]; then
        echo "${WRK_S} s"
    else
        echo "$(scale_n "${SC_BASE_N[$1]}" $((SC_C[$1] * SC_M[$1]))) requests"
    fi
}

# A guest that reports its free pages to the hypervisor gets them back as
# fresh host pages: every new page-cache page a log write takes is then a
# host fault, which the writer's CPU time pays (bench/README.md).
page_reporting_desc() {
    local dir=/sys/module/page_reporting/parameters order reported
    order=$(cat "$dir/page_reporting_order" 2>/dev/null) || { echo "none"; return; }
    reported=$(cat "$dir/reported_kib" 2>/dev/null) || reported=0
    ((reported > 0)) || { echo "none (nothing reported so far)"; return; }
    echo "order $order (freed blocks of $((4 << order)) KiB go back to the hypervisor; $((reported >> 20)) GiB so far)"
}

# How an idle vCPU waits decides what a wake-up costs: with the haltpoll
# driver polling for a while before it halts, a wake-up soon after a CPU went
# idle is a store; with polling off (guest_halt_poll_ns 0) it is an IPI to a
# halted vCPU, a VM exit and entry. The serial shape is made of such wake-ups
# (bench/README.md, "The serial shape").
halt_poll_desc() {
    local driver ns
    driver=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null) || driver=none
    [[ $driver == haltpoll ]] || { echo "cpuidle driver $driver"; return; }
    ns=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null) || ns=unknown
    if [[ $ns == 0 ]]; then echo "cpuidle haltpoll, guest_halt_poll_ns 0 (no polling: every wake-up of an idle CPU is an IPI)"
    else echo "cpuidle haltpoll, guest_halt_poll_ns $ns (an idle CPU polls that long before it halts)"; fi
}

elapsed_desc() { printf '%dm%02ds\n' $((BENCH_ELAPSED / 60)) $((BENCH_ELAPSED % 60)); }

print_text_report() {
    local i peer
    echo
    echo "sluice core benchmark  $RUN_DATE"
    echo "machine: nproc=$(nproc), $CPU_MODEL, kernel $(uname -r), loadavg at start: $LOADAVG"
    echo "free page reporting: $PAGE_REPORTING"
    echo "idle: $HALT_POLL"
    echo "pinning: proxy on CPU $PROXY_CPU; h2load and backend on CPU $LOAD_CPU; loopback only"
    echo "backend: $BACKEND_DESC"
    echo "body: $BODY ($(wc -c <"$BODY") B POST, content-type: application/json)"
    echo "cpu: utime+stime of the proxy's process tree from /proc, CLK_TCK=$CLK_TCK (1 tick = $((1000 / CLK_TCK)) ms), per succeeded request; backend: the same of the backend behind it"
    echo "syscalls: $SYSCALLS_DESC"
    echo "rounds: $ROUNDS, peer order by round: $(rounds_desc); measuring took $(elapsed_desc)"
    echo "versions:"
    for peer in $PEERS h2load; do
        [[ $peer == direct* ]] && continue
        if [[ $peer == h2load ]]; then printf '  %-8s %s\n' h2load "$(h2load --version 2>&1 | head -n 1)"
        else printf '  %-8s %s\n' "$peer" "${VERSION[$peer]}"; fi
    done
    for i in "${!SC_NAMES[@]}"; do
        echo
        echo "== ${SC_TITLE[i]}, $(run_size "$i") per run"
        echo "   medians over $ROUNDS rounds; ratios are of medians, to nginx; cpu min-max over the rounds"
        {
            printf 'peer\treq/s\tvs nginx\tmean lat\tvs nginx\tcpu us/req\tvs nginx\tcpu min-max\tbackend\tsyscalls\truns\tnoise\tfailed\n'
            for peer in $PEERS; do row_cells "$peer" "$i"; done
        } | awk -F'\t' '{ printf "%-18s %9s %8s %9s %8s %10s %8s %13s %8s %8s %5s %5s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
        [[ ${SC_NAMES[i]} == c1m1 ]] && added_latency_line "$i"
        for peer in $PEERS; do note_lines "$peer" "$i" | sed 's/^/  /'; done
    done
    local own
    own=$(own_cost_rows)
    if [[ -n $own ]]; then
        echo
        echo "== own cost: $OWN_COST_DESC"
        awk -F'\t' '{ printf "%-10s", $1; for (j = 2; j <= NF; j++) printf " %20s", $j; printf "\n" }' <<<"$own"
    fi
    echo
    echo "== memory: $MEMORY_DESC"
    {
        printf 'peer\tKiB/idle conn\tKiB/open stream\n'
        memory_rows
    } | awk -F'\t' '{ printf "%-18s %14s %16s\n", $1, $2, $3 }'
    if ((INSTRUCTIONS)); then
        echo
        echo "== instructions: $INSTR_DESC"
        {
            printf 'peer\th2c -c1\tvs best\tHTTP/1.1 -c1\tvs best\twhere (h2c)\n'
            instr_rows
        } | awk -F'\t' '{ printf "%-18s %9s %8s %13s %8s   %s\n", $1, $2, $3, $4, $5, $6 }'
    fi
    echo
    echo "h2load command lines:"
    cmd_lines | sed 's/^/  /'
}

print_markdown_report() {
    local i peer
    echo "# sluice core benchmark, $RUN_DATE"
    echo
    echo "Produced by \`bench/core.sh\` (see bench/README.md)."
    echo
    echo "- machine: nproc=$(nproc), $CPU_MODEL, kernel $(uname -r), loadavg at start: $LOADAVG"
    echo "- free page reporting: $PAGE_REPORTING"
    echo "- idle: $HALT_POLL"
    echo "- pinning: proxy on CPU $PROXY_CPU; h2load and backend on CPU $LOAD_CPU; loopback only"
    echo "- backend: $BACKEND_DESC"
    echo "- body: \`$(basename "$BODY")\`, $(wc -c <"$BODY") B POST"
    echo "- CPU: utime+stime of the proxy's process tree from /proc, CLK_TCK=$CLK_TCK, per succeeded request; backend CPU: the same of the backend behind it in the same run"
    echo "- syscalls: $SYSCALLS_DESC"
    echo "- rounds: $ROUNDS, peer order by round: $(rounds_desc); measuring took $(elapsed_desc)"
    echo "- versions:"
    for peer in $PEERS; do
        [[ $peer == direct* ]] && continue
        echo "  - $peer: ${VERSION[$peer]}"
    done
    echo "  - h2load: $(h2load --version 2>&1 | head -n 1)"
    for i in "${!SC_NAMES[@]}"; do
        echo
        echo "## ${SC_TITLE[i]}"
        echo
        echo "$(run_size "$i") per run; medians over $ROUNDS rounds; ratios are of medians, to nginx; CPU min-max over the rounds; runs: ok runs of $ROUNDS; noise: runs flagged NOISE; failed: h2load failures summed over the runs."
        echo
        echo "| peer | req/s | vs nginx | mean latency | vs nginx | CPU µs/req | vs nginx | CPU min-max | backend CPU µs/req | syscalls/req | runs | noise | failed |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for peer in $PEERS; do
            row_cells "$peer" "$i" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
        done
        if [[ ${SC_NAMES[i]} == c1m1 ]]; then
            local l
            l=$(added_latency_line "$i")
            [[ -n $l ]] && { echo; echo "$l"; }
        fi
        local notes
        notes=$(for peer in $PEERS; do note_lines "$peer" "$i"; done | sed 's/^/- /')
        [[ -n $notes ]] && { echo; printf '%s\n' "$notes"; }
    done
    local own
    own=$(own_cost_rows)
    if [[ -n $own ]]; then
        echo
        echo "## Own cost of the event sink and the access log"
        echo
        echo "${OWN_COST_DESC^}."
        echo
        awk -F'\t' '{ line = "|"; for (j = 1; j <= NF; j++) line = line " " $j " |"; print line
                       if (NR == 1) { line = "|---|"; for (j = 2; j <= NF; j++) line = line "---:|"; print line } }' <<<"$own"
    fi
    echo
    echo "## Memory"
    echo
    echo "$MEMORY_DESC."
    echo
    echo "| peer | KiB per idle connection | KiB per open stream |"
    echo "|---|---:|---:|"
    memory_rows | awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
    if ((INSTRUCTIONS)); then
        echo
        echo "## Instructions per request"
        echo
        echo "$INSTR_DESC."
        echo
        echo "| peer | h2c -c1 | vs best | HTTP/1.1 -c1 | vs best | where (h2c) |"
        echo "|---|---:|---:|---:|---:|---|"
        instr_rows | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
    fi
    echo
    echo "## Every run"
    echo
    echo "In the order measured. CPU is blank for backend-direct."
    echo
    echo "| round | peer | scenario | req/s | mean latency | CPU µs/req | status | notes |"
    echo "|---:|---|---|---:|---:|---:|---|---|"
    local r k
    for ((r = 0; r < ROUNDS; r++)); do
        for peer in ${ORDERS[r]:-}; do
            for i in "${!SC_NAMES[@]}"; do
                k=$peer,$i,$r
                if [[ ${STATUS[$k]:-} == ok ]]; then
                    printf '| %s | %s | %s | %s | %s | %s | ok | %s |\n' "$((r + 1))" "$(peer_label "$peer")" \
                        "${SC_NAMES[i]}" "$(fmt_rps "${RPS[$k]}")" "$(fmt_lat "${LAT[$k]}")" "${CPU[$k]:-}" "${NOTE[$k]:-}"
                else
                    printf '| %s | %s | %s | | | | %s | %s |\n' "$((r + 1))" "$(peer_label "$peer")" \
                        "${SC_NAMES[i]}" "${STATUS[$k]:-skipped}" "${NOTE[$k]:-}"
                fi
            done
        done
    done
    echo
    echo "## h2load command lines"
    echo
    echo '```'
    cmd_lines
    echo '```'
}

# ---------------------------------------------------------------- main

# Etsy's statsd, on the load generator's core, for the sluice-events row; sets
# STATSD_PORT, left empty when statsd is not installed.
start_statsd() {
    STATSD_PORT=""
    [[ " $PEERS " == *" sluice-events "* ]] || return 0
    local js=$REPO_DIR/tools/node/node_modules/statsd/stats.js
    [[ -f $js ]] && command -v node >/dev/null || { log "statsd not installed: no sluice-events row"; return 0; }
    pick_port
    local udp=$PORT
    pick_port
    mkdir -p "$TMP/statsd"
    printf '{ port: %s, mgmt_port: %s, address: "127.0.0.1", mgmt_address: "127.0.0.1", backends: [] }\n' \
        "$udp" "$PORT" >"$TMP/statsd/config.js"
    start_pinned "$LOAD_CPU" "$TMP/statsd/stderr.log" node "$js" "$TMP/statsd/config.js"
    local deadline=$((SECONDS + START_TIMEOUT))
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
        ((SECONDS < deadline)) && alive "$STARTED_PID" || { log "statsd did not start"; return 0; }
        sleep 0.05
    done
    STATSD_PORT=$udp
    log "statsd ready on udp 127.0.0.1:$udp"
}

# The same backend in --h2c mode, on its own socket, for the -h2c rows.
start_h2c_backend() {
    SOCK_H2C=$TMP/backend-h2c.sock
    [[ " $PEERS " == *-h2c\ * ]] || return 0
    [[ $STANDIN == 1 ]] && die "BENCH_STANDIN_BACKEND=1 has no h2c backend: leave out the -h2c rows"
    mkdir -p "$TMP/backend-h2c"
    start_pinned "$LOAD_CPU" "$TMP/backend-h2c/stderr.log" "$BACKEND_BIN" --h2c \
        --listen "unix:$SOCK_H2C" --quiet
    BACKEND_H2C_PID=$STARTED_PID
    if ! wait_ready "$STARTED_PID" curl_unix_h2c_code "$SOCK_H2C"; then
        log_tail "$TMP/backend-h2c/stderr.log" >&2
        die "h2c backend did not answer 200 on $SOCK_H2C"
    fi
    BACKEND_DESC+="; for the -h2c rows the same backend with --h2c (cleartext HTTP/2) on another"
    log "h2c backend ready on $SOCK_H2C"
}

main() {
    ensure_packages
    local tool
    for tool in h2load curl taskset timeout; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is required (Debian: nghttp2-client, curl, util-linux, coreutils)"
    done
    [[ -r $BODY ]] || die "request body $BODY not readable (set BENCH_BODY)"
    [[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1)) || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"
    [[ -n ${PEERS// /} ]] || die "BENCH_PEERS is empty"
    local cpus
    for cpus in "$PROXY_CPU" "$LOAD_CPU"; do
        taskset -c "$cpus" true 2>/dev/null ||
            die "cannot pin to CPU(s) '$cpus' (this machine: $(nproc) CPUs; set BENCH_PROXY_CPU/BENCH_LOAD_CPU)"
    done
    [[ $PROXY_CPU == "$LOAD_CPU" ]] && log "warning: proxy and load generator share CPU $PROXY_CPU"

    # 200 front plus up to 256 backend connections per proxy: lift the soft
    # descriptor limit to the hard one for everything started from here.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

    CLK_TCK=$(getconf CLK_TCK)
    RUN_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    local stamp
    stamp=$(date -u '+%Y%m%d-%H%M%S')
    CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    CPU_MODEL=${CPU_MODEL:-unknown CPU}
    PAGE_REPORTING=$(page_reporting_desc)
    HALT_POLL=$(halt_poll_desc)
    LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX") || die "mktemp failed"
    SOCK=$TMP/backend.sock
    # one self-signed certificate for every proxy's TLS listener (HAProxy
    # takes it and its key in one file)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$TMP/bench.key" -out "$TMP/bench.crt" >/dev/null 2>&1 ||
        die "openssl could not make the TLS certificate"
    cat "$TMP/bench.crt" "$TMP/bench.key" >"$TMP/bench.pem"

    # The backend, on the load generator's core.
    mkdir -p "$TMP/backend"
    if [[ $STANDIN == 1 ]]; then
        local nginx_bin
        nginx_bin=$(find_bin nginx) || die "BENCH_STANDIN_BACKEND=1 needs nginx"
        fill "$PEERS_DIR/standin-backend.conf.in" "$TMP/backend/nginx.conf" \
            "SOCK=$SOCK" "RUNDIR=$TMP/backend" "IF_ROOT=$([[ $(id -u) == 0 ]] || echo '# ')"
        start_pinned "$LOAD_CPU" "$TMP/backend/stderr.log" "$nginx_bin" -p "$TMP/backend/" \
            -c "$TMP/backend/nginx.conf" -e "$TMP/backend/error.log" -g 'daemon off;'
        BACKEND_DESC="STAND-IN (nginx, fixed reply; development only, not comparable)"
    else
        [[ -x $BACKEND_BIN ]] ||
            die "$BACKEND_BIN not found: build it first (cmake -S . -B build && cmake --build build --target sluice-demo-backend), or set BUILD_DIR"
        start_pinned "$LOAD_CPU" "$TMP/backend/stderr.log" "$BACKEND_BIN" --listen "unix:$SOCK" --quiet
        BACKEND_DESC="sluice-demo-backend (HTTP/1.1 keep-alive) on a Unix socket"
    fi
    BACKEND_PID=$STARTED_PID
    if ! wait_ready "$BACKEND_PID" curl_unix_code "$SOCK"; then
        log_tail "$TMP/backend/stderr.log" "$TMP/backend/error.log" >&2
        die "backend did not answer 200 on $SOCK"
    fi
    curl -s -o "$TMP/reference.body" --unix-socket "$SOCK" -H 'content-type: application/json' \
        --data-binary "@$BODY" http://localhost/bid
    log "backend ready on $SOCK ($(wc -c <"$TMP/reference.body") B reply)"
    start_h2c_backend
    start_statsd
    HAS_PERF=0
    SYSCALLS_DESC="not counted: perf cannot count raw_syscalls:sys_enter here (Debian package linux-perf, and perf_event_paranoid <= 1 or root)"
    if perf stat -x, -e raw_syscalls:sys_enter -o /dev/null -- true >/dev/null 2>&1; then
        HAS_PERF=1
        SYSCALLS_DESC="the proxy's process tree's, per succeeded request, counted by perf stat (raw_syscalls:sys_enter) in a second run of each scenario with a fifth of the requests (wrk: 1 s), so that counting does not slow the measured run"
    fi
    HAS_PROFILE=0
    perf record -q -F 99 --call-graph dwarf -o "$TMP/perf-check.data" -- true >/dev/null 2>&1 && HAS_PROFILE=1
    rm -f "$TMP/perf-check.data"

    local peer r j
    local -a plist order
    read -ra plist <<<"$PEERS"
    for peer in "${plist[@]}"; do VERSION[$peer]=$(peer_version "$peer"); done
    BENCH_T0=$SECONDS
    for ((r = 0; r < ROUNDS; r++)); do
        # Rotate: round r starts at the (r mod n)-th peer, so that no peer is
        # always measured first or last, nor always right after the same one.
        order=()
        for ((j = 0; j < ${#plist[@]}; j++)); do order+=("${plist[(r + j) % ${#plist[@]}]}"); done
        ORDERS[$r]="${order[*]}"
        log "round $((r + 1))/$ROUNDS: ${order[*]}"
        for peer in "${order[@]}"; do
            if [[ $peer == direct ]]; then
                log "backend-direct: measuring (round $((r + 1)))"
                measure direct "" "$r" - --h1 -B "unix:$SOCK" http://localhost/bid
                continue
            fi
            if [[ $peer == direct-h2c ]]; then
                log "backend-h2c-direct: measuring (round $((r + 1)))"
                measure direct-h2c "" "$r" - -B "unix:$SOCK_H2C" http://localhost/bid
                continue
            fi
            PEER_FAIL=""
            PEER_PID=""
            if ! start_peer "$peer" "$r"; then
                log "$peer r$((r + 1)): FAILED: $PEER_FAIL"
                log_tail "$PEER_DIR/stderr.log" "$PEER_DIR/error.log" >&2
                local st=failed
                [[ $PEER_FAIL == "not built"* ]] && st="not built"
                [[ $PEER_FAIL == *"not installed" ]] && st="missing"
                mark_all "$peer" "$r" "$st" "$PEER_FAIL"
                [[ -n $PEER_PID ]] && stop_tree "$PEER_PID"
                continue
            fi
            PEER_PORTS[$peer,$r]=$PORT
            if ! verify_h2c "$PORT"; then
                log "$peer r$((r + 1)): FAILED verification: $VERIFY_MSG"
                log_tail "$PEER_DIR/stderr.log" "$PEER_DIR/error.log" >&2
                mark_all "$peer" "$r" failed "$VERIFY_MSG"
                stop_tree "$PEER_PID"
                continue
            fi
            reuse_check "$PORT"
            log "$peer r$((r + 1)): ready on 127.0.0.1:$PORT ($VERIFY_MSG; $REUSE_MSG)"
            log "$peer r$((r + 1)): process tree measured: $(tree_desc "$PEER_PID")"
            measure_memory "$peer" "$PEER_PID" "$r"
            TLS_URL=https://127.0.0.1:$PORT_TLS/bid
            measure "$peer" "$PEER_PID" "$r" "http://127.0.0.1:$PORT_H1/bid" \
                "http://127.0.0.1:$PORT/bid"
            alive "$PEER_PID" || { log "$peer r$((r + 1)): died during the run"; log_tail "$PEER_DIR/stderr.log" "$PEER_DIR/error.log" >&2; }
            stop_tree "$PEER_PID"
        done
    done
    BENCH_ELAPSED=$((SECONDS - BENCH_T0))
    if ((INSTRUCTIONS)) && ! command -v callgrind_control >/dev/null; then
        INSTR_DESC="not measured: valgrind is not installed"
    elif ((INSTRUCTIONS)); then
        for peer in "${plist[@]}"; do [[ $peer == direct* ]] || measure_instructions "$peer"; done
    fi

    aggregate
    print_text_report
    mkdir -p "$RESULTS_DIR"
    local md=$RESULTS_DIR/core-$stamp.md
    print_markdown_report >"$md"
    echo
    echo "markdown: $md"
}

main "$@"
