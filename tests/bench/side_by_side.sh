#!/usr/bin/env bash
# Side-by-side benchmark: redis-benchmark against, in one run and on one machine,
#   redis            redis-server, no persistence (appendonly no, no RDB saves)
#   redis-fsync      redis-server, appendonly yes + appendfsync always (fsync before each reply)
#   tanli-1          one tanli-server node (Raft log fsynced before each reply)
#   tanli-3-leader   the leader of a 3-node tanli cluster with one data shard (node 1 bootstraps,
#                    the others --join; majority fsync before reply, the default lease reads)
#   tanli-3-readidx  the same cluster with --read-policy read-index (each group of reads
#                    confirmed by a heartbeat round instead of the leader's lease)
# each with `redis-benchmark -c $CLIENTS -n $REQUESTS -r $KEYSPACE -d $VALUE_SIZE` at every
# pipeline depth in $PIPELINES, for the tests in $TESTS, and prints per row: ops/s, p50/p99
# latency (ms), the ratio of tanli's ops/s to redis without persistence and to redis with
# appendfsync always, and the CPU time (user + system) the target's processes spent per request
# during the row, in microseconds (for a 3-node target, summed over its three nodes): what a
# request costs, beside how fast it went on a machine the targets share.
#
# MSET: redis-benchmark's built-in MSET test sends 10 keys `key:__rand_int__`, which hash to
# different slots, and tanli (a Redis Cluster) answers it with -CROSSSLOT even on one node that
# owns every slot -- redis-benchmark counts error replies as answers, so that test would measure
# error replies. Instead both sides run the same custom command,
#   MSET {k}:__rand_int__ <value> ... (10 keys, each an independent random key in one hash slot,
#   each value $VALUE_SIZE bytes)
# which is the built-in test's shape with a hash tag. Every test's command is first sent once with
# redis-cli to every target, and an error reply stops the run; error replies during the run
# (e.g. -TRYAGAIN under overload, which redis-benchmark counts as answers) are counted on each
# server (redis: INFO total_error_replies, tanli: tanli_command_errors_total on /metrics) and
# printed under the table.
#
# Not a test and not run by CI. Needs redis-server, redis-cli, redis-benchmark (redis-tools 7,
# whose --csv output carries the latency percentiles) and a built tanli-server:
#   cargo build --release --bins && tests/bench/side_by_side.sh
# Environment:
#   TANLI_SERVER_BIN  default: $CARGO_TARGET_DIR or ./target, release/tanli-server (copy the binary
#                     somewhere private first if others may rebuild it during the run)
#   REQUESTS (100000) CLIENTS (50) KEYSPACE (100000) VALUE_SIZE (100) PIPELINES ("1 16")
#   TESTS ("set,get,incr,mset"; any of those, comma-separated)
#   TARGETS ("redis redis-fsync tanli-1 tanli-3 tanli-3-readidx"; ratios need both redis targets)
#   ROUNDS (1)        the whole sequence runs ROUNDS times; the table shows each row's median
# Every target runs at once; each pipeline depth's tests run against one target after another,
# so the machine's drift in speed (a busy neighbour) reaches a row's targets alike.
# Everything listens on loopback on free ports and lives in one temp dir, removed on exit; every
# process started here is stopped by its PID on exit (also on error or Ctrl-C). The machine's
# load average is printed before and after, since numbers from a busy machine mean little.
set -euo pipefail

REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-1}
TESTS=${TESTS:-"set,get,incr,mset"}
TARGETS=${TARGETS:-"redis redis-fsync tanli-1 tanli-3 tanli-3-readidx"}

# Shared settings, checks and functions (starting the targets, redis-benchmark, the table).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# The tests, in order: built-in redis-benchmark tests (-t) and the custom MSET.
BUILTIN=()
WANT_MSET=0
IFS=, read -r -a wanted <<<"$TESTS"
for t in "${wanted[@]}"; do
    case ${t,,} in
        set | get | incr) BUILTIN+=("${t,,}") ;;
        mset) WANT_MSET=1 ;;
        *) echo "error: unknown test '$t' in TESTS (set, get, incr, mset)" >&2; exit 1 ;;
    esac
done
TEST_NAMES=()
for t in "${BUILTIN[@]}"; do TEST_NAMES+=("${t^^}"); done
((WANT_MSET)) && TEST_NAMES+=(MSET)
((${#TEST_NAMES[@]})) || { echo "error: TESTS is empty" >&2; exit 1; }

VALUE=$(head -c "$VALUE_SIZE" /dev/zero | tr '\0' x)
MSET_CMD=(MSET)
for _ in $(seq 10); do MSET_CMD+=("{k}:__rand_int__" "$VALUE"); done

# Sends each test's command once and stops the run on an error reply (e.g. -CROSSSLOT), since
# redis-benchmark would count error replies as answers.
check_commands() { # target port
    local target=$1 port=$2 test reply
    for test in "${TEST_NAMES[@]}"; do
        case $test in
            SET) reply=$(cli "$port" SET bench:check "$VALUE") ;;
            GET) reply=$(cli "$port" GET bench:check) ;;
            INCR) reply=$(cli "$port" INCR bench:counter) ;;
            MSET) reply=$(cli "$port" MSET "{k}:a" "$VALUE" "{k}:b" "$VALUE") ;;
        esac
        if [[ $reply == *ERR* || $reply == *CROSSSLOT* || $reply == *MOVED* || $reply == *TRYAGAIN* || $reply == *CLUSTERDOWN* ]]; then
            echo "error: $target answers $test with: $reply" >&2
            exit 1
        fi
    done
    cli "$port" DEL bench:check bench:counter "{k}:a" "{k}:b" >/dev/null
}


# The tanli error counters of the benchmarked commands, and the summary table's test column.
# shellcheck disable=SC2034 # used by lib.sh
METRIC_COMMANDS="set|get|incr|mset"
# shellcheck disable=SC2034 # used by lib.sh
TEST_WIDTH=5

# The test a CSV row reports: a custom command's title is the whole command line, so a title
# starting with "MSET" is MSET.
csv_test_name() { # title
    if [[ $1 == MSET* ]]; then echo MSET; else echo "$1"; fi
}

# Runs the tests at one pipeline depth: the built-in ones, one redis-benchmark each (so each
# test's CPU time is its own), then MSET.
bench_pipeline() { # target port pipeline
    local t
    for t in "${BUILTIN[@]}"; do
        run_benchmark "$1" "$2" "$3" -d "$VALUE_SIZE" -t "$t"
    done
    if ((WANT_MSET)); then
        run_benchmark "$1" "$2" "$3" "${MSET_CMD[@]}"
    fi
}

run_all
