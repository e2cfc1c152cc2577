#!/usr/bin/env bash
# The storage floor of issue 7's SET target, measured beside Redis in one run on one machine.
#
# Issue 7 asks a 3-node tanli cluster for SET >= 1.0x Redis with `appendfsync always`. Every
# replica of a shard writes each SET to its own RocksDB: the log entry, a WAL sync, the record.
# `storage/examples/write_floor.rs` does only that, 3 replicas at once, with no Raft, no network,
# no RESP and no client, in batches as large as the benchmark's clients could ever make (50 at
# -P 1, 50 x 16 at -P 16), and reports the SETs per second all 3 replicas complete: no 3-node
# cluster storing its records in RocksDB, as tanli does, can go faster on this machine.
# It prints, per pipeline depth and in medians of $ROUNDS rounds:
#   redis-fsync      redis-benchmark SET against redis-server --appendfsync always
#   floor-3          3 replicas: log + sync + records (the floor of a 3-node cluster)
#   floor-3-log      3 replicas: log + sync only (the log's share of that floor)
#   floor-1          1 replica: log + sync + records (the floor of one node)
#   aof-1            one file appended and fdatasync'd per batch, as Redis's AOF is
# with each row's ratio to redis-fsync and its CPU time per SET (all of the floor's threads,
# RocksDB's flushes and compactions included; redis: redis-server's, not redis-benchmark's).
#
# Not a test and not run by CI. Needs redis-server, redis-cli, redis-benchmark and:
#   cargo build --release --workspace --examples && tests/bench/storage_floor.sh
# (with --workspace, RocksDB is built with the features the whole workspace asks for, as for the
# node, and reused; `-p tanli-storage` alone asks for fewer and compiles RocksDB's C++ again).
# Environment: REQUESTS (200000 SETs per redis row), FLOOR_WRITES (400000 per floor row at -P 1,
# 4x that at -P 16), CLIENTS (50), KEYSPACE (100000), VALUE_SIZE (100), ROUNDS (3),
# WRITE_FLOOR_BIN (default: $CARGO_TARGET_DIR or ./target, release/examples/write_floor).
# Everything lives in one temp dir, removed on exit; redis-server is stopped by its PID.
set -euo pipefail

REQUESTS=${REQUESTS:-200000}
FLOOR_WRITES=${FLOOR_WRITES:-400000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}
ROUNDS=${ROUNDS:-3}
PIPELINES="1 16"
TARGETS=redis-fsync
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
FLOOR=${WRITE_FLOOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/write_floor}
if [[ ! -x $FLOOR ]]; then
    echo "error: no write_floor at $FLOOR; run: cargo build --release --workspace --examples" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A OPS CPUS
ROWS=(redis-fsync floor-3 floor-3-log floor-1 aof-1)

redis_row() { # port pipeline
    local pid=${PIDS[0]} cpu0 cpu1 rps
    cpu0=$(cpu_ticks "$pid")
    rps=$(timeout "$BENCH_TIMEOUT_S" redis-benchmark -h "$HOST" -p "$1" -c "$CLIENTS" \
        -n "$REQUESTS" -r "$KEYSPACE" -d "$VALUE_SIZE" -P "$2" -t set --csv |
        tr -d '"' | awk -F, '$1 == "SET" { print $2 }')
    cpu1=$(cpu_ticks "$pid")
    [[ -n $rps ]] || { echo "error: redis-benchmark printed no SET row" >&2; exit 1; }
    OPS[redis-fsync|$2]+="$rps "
    # redis-server's CPU per SET (the floor rows have no client either).
    CPUS[redis-fsync|$2]+="$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$REQUESTS" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / n }') "
}

floor_row() { # row pipeline env...
    local row=$1 pipeline=$2 out
    shift 2
    local writes=$((pipeline == 1 ? FLOOR_WRITES : FLOOR_WRITES * 4))
    out=$(env "$@" BATCH=$((CLIENTS * pipeline)) WRITES="$writes" KEYSPACE="$KEYSPACE" \
        VALUE_SIZE="$VALUE_SIZE" FLOOR_DIR="$WORK" "$FLOOR")
    read -r _ _ rps cpu _ <<<"$out"
    OPS[$row|$pipeline]+="$rps "
    CPUS[$row|$pipeline]+="$cpu "
}

echo "$(load) (before)" >&2
free_port
start_redis redis-fsync "$PORT" --appendonly yes --appendfsync always
REDIS_PORT=$PORT
for round in $(seq "$ROUNDS"); do
    echo "round $round of $ROUNDS" >&2
    for pipeline in $PIPELINES; do
        redis_row "$REDIS_PORT" "$pipeline"
        floor_row floor-3 "$pipeline" REPLICAS=3
        floor_row floor-3-log "$pipeline" REPLICAS=3 MODE=log
        floor_row floor-1 "$pipeline" REPLICAS=1
        floor_row aof-1 "$pipeline" REPLICAS=1 MODE=aof
    done
done
echo "$(load) (after)" >&2

echo
((ROUNDS == 1)) || echo "each figure: the median of $ROUNDS rounds; a floor row's batch is $CLIENTS x pipeline SETs"
printf "%-12s %8s %12s %10s %10s\n" row pipeline "SET/s" "/fsync" "cpu us/op"
for pipeline in $PIPELINES; do
    # shellcheck disable=SC2086 # the figures are space-separated on purpose
    fsync=$(median ${OPS[redis-fsync|$pipeline]})
    for row in "${ROWS[@]}"; do
        # shellcheck disable=SC2086
        printf "%-12s %8s %12.0f %10s %10s\n" "$row" "$pipeline" "$(median ${OPS[$row|$pipeline]})" \
            "$(ratio "$(median ${OPS[$row|$pipeline]})" "$fsync")" "$(median ${CPUS[$row|$pipeline]})"
    done
done
