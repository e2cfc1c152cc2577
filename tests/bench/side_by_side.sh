#!/usr/bin/env bash
# Side-by-side benchmark: redis-benchmark against, in one run and on one machine,
#   redis            redis-server, no persistence (appendonly no, no RDB saves)
#   redis-fsync      redis-server, appendonly yes + appendfsync always (fsync before each reply)
#   tanli-1          one tanli-server node (Raft log fsynced before each reply)
#   tanli-3-leader   the leader of a 3-node tanli cluster with one data shard (node 1 bootstraps,
#                    the others --join; majority fsync before reply)
# each with `redis-benchmark -t set,get -c $CLIENTS -n $REQUESTS -r $KEYSPACE` at -P 1 and -P 16,
# and prints ops/s, p50/p99 latency (ms) and the ratio of tanli's ops/s to each redis.
#
# Not a test and not run by CI. Needs redis-server, redis-cli, redis-benchmark (redis-tools 7,
# whose --csv output carries the latency percentiles) and a built tanli-server:
#   cargo build --release --bins && tests/bench/side_by_side.sh
# Environment: TANLI_SERVER_BIN (default: $CARGO_TARGET_DIR or ./target, release/tanli-server),
# REQUESTS (default 100000), CLIENTS (50), KEYSPACE (100000), PIPELINES ("1 16").
# Everything listens on loopback on free ports, lives in a temp dir, and every process started
# here is stopped by its PID on exit.
set -euo pipefail

REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
PIPELINES=${PIPELINES:-"1 16"}
HOST=127.0.0.1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TANLI=${TANLI_SERVER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tanli-server}
READY_TIMEOUT_S=30
BENCH_TIMEOUT_S=900

for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install redis-tools redis-server)" >&2; exit 1; }
done
[[ -x $TANLI ]] || { echo "error: no tanli-server at $TANLI; run: cargo build --release --bins" >&2; exit 1; }

WORK=$(mktemp -d -t tanli-bench-XXXXXX)
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sets PORT to a loopback port nothing listens on and that this script has not handed out yet.
# (Not called in a subshell, so USED_PORTS remembers what was handed out.)
USED_PORTS=" "
free_port() {
    local candidate
    for _ in $(seq 1000); do
        candidate=$((20000 + RANDOM % 40000))
        [[ $USED_PORTS == *" $candidate "* ]] && continue
        if ! (exec 3<>"/dev/tcp/$HOST/$candidate") 2>/dev/null; then
            USED_PORTS+="$candidate "
            PORT=$candidate
            return
        fi
    done
    echo "error: no free port found" >&2
    exit 1
}

# Polls "$@" until it succeeds, for at most READY_TIMEOUT_S seconds.
wait_for() {
    local what=$1
    shift
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "error: timed out waiting for $what" >&2
            exit 1
        fi
        sleep 0.1
    done
}

start_redis() { # name port extra-args...
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --bind "$HOST" --port "$port" --dir "$WORK/$name" --save '' \
        --daemonize no --logfile "$WORK/$name/redis.log" "$@" &
    PIDS+=($!)
    wait_for "$name on port $port" redis-cli -h "$HOST" -p "$port" PING
}

is_leader() { # port
    redis-cli -h "$HOST" -p "$1" INFO raft | grep -q '^shard1_role:leader'
}

# Starts a tanli node in the background; its ready line goes to $WORK/<name>/out.
start_tanli() { # name args...
    local name=$1
    shift
    mkdir -p "$WORK/$name"
    "$TANLI" --bind "$HOST" --data-dir "$WORK/$name/data" --loglevel warning --admin-port 0 "$@" \
        >"$WORK/$name/out" 2>"$WORK/$name/log" &
    PIDS+=($!)
}

# The RESP port from a node's ready line: `tanli ready node=1 resp=127.0.0.1:6379 cluster=...`.
ready_port() { # name
    wait_for "the ready line of $1" grep -q '^tanli ready ' "$WORK/$1/out"
    sed -n 's/^tanli ready .*resp=[^ ]*:\([0-9]*\) .*/\1/p' "$WORK/$1/out" | head -1
}

declare -A OPS P50 P99
TARGETS=()

# Runs the benchmark against one target; records results under "<target>|<test>|<pipeline>".
bench() { # target port
    local target=$1 port=$2 pipeline test rps avg min p50 p95 p99 max
    TARGETS+=("$target")
    for pipeline in $PIPELINES; do
        echo "  $target -P $pipeline ..." >&2
        if ! timeout "$BENCH_TIMEOUT_S" redis-benchmark -h "$HOST" -p "$port" -t set,get \
            -c "$CLIENTS" -n "$REQUESTS" -r "$KEYSPACE" -P "$pipeline" --csv \
            >"$WORK/bench.csv" 2>"$WORK/bench.err"; then
            echo "error: redis-benchmark against $target failed:" >&2
            cat "$WORK/bench.csv" "$WORK/bench.err" >&2
            exit 1
        fi
        while IFS=, read -r test rps avg min p50 p95 p99 max; do
            [[ $test == test ]] && continue
            OPS["$target|$test|$pipeline"]=$rps
            P50["$target|$test|$pipeline"]=$p50
            P99["$target|$test|$pipeline"]=$p99
        done < <(tr -d '"' <"$WORK/bench.csv")
    done
}

echo "redis-benchmark -t set,get -c $CLIENTS -n $REQUESTS -r $KEYSPACE, pipelines: $PIPELINES" >&2

echo "redis (appendonly no)" >&2
free_port
start_redis redis "$PORT" --appendonly no
bench redis "$PORT"
stop_all

echo "redis (appendonly yes, appendfsync always)" >&2
free_port
start_redis redis-fsync "$PORT" --appendonly yes --appendfsync always
bench redis-fsync "$PORT"
stop_all

echo "tanli, 1 node" >&2
start_tanli tanli-1 --port 0 --cluster-port 0
port=$(ready_port tanli-1)
wait_for "tanli-1 to lead its shard" is_leader "$port"
bench tanli-1 "$port"
stop_all

echo "tanli, 3 nodes (against the leader)" >&2
# Node 1 bootstraps a cluster with one data shard (so one node leads every key, as the
# non-cluster-mode benchmark needs); nodes 2 and 3 join it and receive replicas of every shard.
declare -a RESP BUS
for id in 1 2 3; do
    free_port
    RESP[id]=$PORT
    free_port
    BUS[id]=$PORT
done
start_tanli tanli-3-n1 --port "${RESP[1]}" --cluster-port "${BUS[1]}" --initial-shards 1
ready_port tanli-3-n1 >/dev/null
for id in 2 3; do
    start_tanli "tanli-3-n$id" --port "${RESP[id]}" --cluster-port "${BUS[id]}" \
        --join "$HOST:${BUS[1]}"
done
for id in 2 3; do
    ready_port "tanli-3-n$id" >/dev/null
done
# Every node holds a replica of shard 1 once it lists the shard in INFO raft.
hosts_shard1() { # port
    redis-cli -h "$HOST" -p "$1" INFO raft | grep -q '^shard1_role:'
}
for id in 1 2 3; do
    wait_for "tanli-3-n$id to hold a replica of shard 1" hosts_shard1 "${RESP[id]}"
done
leader_port=""
deadline=$((SECONDS + READY_TIMEOUT_S))
while [[ -z $leader_port ]]; do
    for id in 1 2 3; do
        if is_leader "${RESP[id]}" 2>/dev/null; then
            leader_port=${RESP[id]}
        fi
    done
    if [[ -z $leader_port ]]; then
        ((SECONDS < deadline)) || { echo "error: no tanli leader elected" >&2; exit 1; }
        sleep 0.1
    fi
done
bench tanli-3-leader "$leader_port"
stop_all

ratio() { # tanli-ops redis-ops
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

echo
printf '%-15s %-4s %8s %12s %8s %8s %14s %14s\n' \
    target test pipeline "ops/s" "p50 ms" "p99 ms" "tanli/redis" "tanli/fsync"
for target in "${TARGETS[@]}"; do
    for test in SET GET; do
        for pipeline in $PIPELINES; do
            key="$target|$test|$pipeline"
            vs_redis="-"
            vs_fsync="-"
            if [[ $target == tanli* ]]; then
                vs_redis=$(ratio "${OPS[$key]}" "${OPS[redis|$test|$pipeline]}")
                vs_fsync=$(ratio "${OPS[$key]}" "${OPS[redis-fsync|$test|$pipeline]}")
            fi
            printf '%-15s %-4s %8s %12.0f %8s %8s %14s %14s\n' "$target" "$test" "$pipeline" \
                "${OPS[$key]}" "${P50[$key]}" "${P99[$key]}" "$vs_redis" "$vs_fsync"
        done
    done
done
