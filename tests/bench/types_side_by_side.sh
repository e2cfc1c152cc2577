#!/usr/bin/env bash
# Side-by-side benchmark of the collection commands: redis-benchmark against, in one run and on
# one machine,
#   redis            redis-server, no persistence (appendonly no, no RDB saves)
#   redis-fsync      redis-server, appendonly yes + appendfsync always (fsync before each reply)
#   tanli-1          one tanli-server node (Raft log fsynced before each reply)
#   tanli-3-leader   the leader of a 3-node tanli cluster with one data shard (node 1 bootstraps,
#                    the others --join; majority fsync before reply, the default lease reads)
#   tanli-3-readidx  the same cluster with --read-policy read-index (each group of reads
#                    confirmed by a heartbeat round instead of the leader's lease)
# each with `redis-benchmark -c $CLIENTS -n $REQUESTS -r $KEYSPACE -d $VALUE_SIZE` at every
# pipeline depth in $PIPELINES, for redis-benchmark's built-in collection tests in $TESTS, and
# prints per row: ops/s, p50/p99 latency (ms) and the ratio of tanli's ops/s to redis without
# persistence and to redis with appendfsync always. The table's CPU column (lib.sh) stays "-"
# here: the tests run in one redis-benchmark, in an order that matters (LPUSH before LPOP), so
# their CPU time cannot be told apart.
#
# The built-in tests use one key per type (mylist, myset, myhash, myzset; -r only randomises the
# members: `SADD myset element:__rand_int__`, `HSET myhash element:__rand_int__ <value>`,
# `ZADD myzset <score> element:__rand_int__`), so every command is single-key and tanli needs no
# hash tags; the 3-node cluster still has one data shard so the leader owns every key, as in
# side_by_side.sh. LRANGE_100 first fills mylist with LPUSH ("LPUSH (needed to benchmark
# LRANGE)", not reported) and then reads its first 100 elements. Every test's command is first
# sent once with redis-cli to every target, and an error reply stops the run; error replies
# during the run are counted on each server (redis: INFO total_error_replies, tanli:
# tanli_command_errors_total of the benchmarked commands on /metrics) and printed under the
# table -- they must be 0, since redis-benchmark counts an error reply as an answer.
#
# Not a test and not run by CI. Needs redis-server, redis-cli, redis-benchmark (redis-tools 7,
# whose --csv output carries the latency percentiles) and a built tanli-server:
#   cargo build --release -p tanli-node && tests/bench/types_side_by_side.sh
# Environment:
#   TANLI_SERVER_BIN  default: $CARGO_TARGET_DIR or ./target, release/tanli-server (copy the binary
#                     somewhere private first if others may rebuild it during the run)
#   REQUESTS (50000) CLIENTS (50) KEYSPACE (100000) VALUE_SIZE (100) PIPELINES ("1 16")
#   TESTS ("lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100"; any of those)
#   TARGETS ("redis redis-fsync tanli-1 tanli-3 tanli-3-readidx"; ratios need both redis targets)
#   ROUNDS (1)        the whole sequence runs ROUNDS times; the table shows each row's median
# Every target runs at once; each pipeline depth's tests run against one target after another,
# so the machine's drift in speed (a busy neighbour) reaches a row's targets alike.
# Everything listens on loopback on free ports and lives in one temp dir, removed on exit; every
# process started here is stopped by its PID on exit (also on error or Ctrl-C). The machine's
# load average is printed before and after, since numbers from a busy machine mean little.
set -euo pipefail

REQUESTS=${REQUESTS:-50000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-1}
TESTS=${TESTS:-"lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100"}
TARGETS=${TARGETS:-"redis redis-fsync tanli-1 tanli-3 tanli-3-readidx"}

# Shared settings, checks and functions (starting the targets, redis-benchmark, the table).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# The tests, in order: redis-benchmark's built-in tests (-t), reported under their upper-case
# names (LRANGE_100 for "LRANGE_100 (first 100 elements)").
BUILTIN=()
IFS=, read -r -a wanted <<<"$TESTS"
for t in "${wanted[@]}"; do
    case ${t,,} in
        lpush | rpush | lpop | rpop | sadd | hset | spop | zadd | lrange_100) BUILTIN+=("${t,,}") ;;
        *) echo "error: unknown test '$t' in TESTS (lpush rpush lpop rpop sadd hset spop zadd lrange_100)" >&2; exit 1 ;;
    esac
done
TEST_NAMES=()
for t in "${BUILTIN[@]}"; do TEST_NAMES+=("${t^^}"); done
((${#TEST_NAMES[@]})) || { echo "error: TESTS is empty" >&2; exit 1; }

VALUE=$(head -c "$VALUE_SIZE" /dev/zero | tr '\0' x)

# Sends each test's command once (on keys of its own) and stops the run on an error reply (e.g.
# an unknown command), since redis-benchmark would count error replies as answers.
check_commands() { # target port
    local target=$1 port=$2 test reply
    for test in "${TEST_NAMES[@]}"; do
        case $test in
            LPUSH) reply=$(cli "$port" LPUSH bench:list "$VALUE") ;;
            RPUSH) reply=$(cli "$port" RPUSH bench:list "$VALUE") ;;
            LPOP) reply=$(cli "$port" LPOP bench:list) ;;
            RPOP) reply=$(cli "$port" RPOP bench:list) ;;
            SADD) reply=$(cli "$port" SADD bench:set element:1) ;;
            HSET) reply=$(cli "$port" HSET bench:hash element:1 "$VALUE") ;;
            SPOP) reply=$(cli "$port" SPOP bench:set) ;;
            ZADD) reply=$(cli "$port" ZADD bench:zset 1 element:1) ;;
            LRANGE_100) reply=$(cli "$port" LRANGE bench:list 0 99) ;;
        esac
        if [[ $reply == *ERR* || $reply == *WRONGTYPE* || $reply == *CROSSSLOT* || $reply == *MOVED* || $reply == *TRYAGAIN* || $reply == *CLUSTERDOWN* ]]; then
            echo "error: $target answers $test with: $reply" >&2
            exit 1
        fi
    done
    cli "$port" DEL bench:list bench:set bench:hash bench:zset >/dev/null
}


# The tanli error counters of the benchmarked commands, and the summary table's test column.
# shellcheck disable=SC2034 # used by lib.sh
METRIC_COMMANDS="lpush|rpush|lpop|rpop|sadd|hset|spop|zadd|lrange"
# shellcheck disable=SC2034 # used by lib.sh
TEST_WIDTH=10
BENCH_TESTS=$(
    IFS=,
    echo "${BUILTIN[*]}"
)

# The test a CSV row reports: the first word of its title ("LRANGE_100 (first 100 elements)" is
# LRANGE_100); nothing for the LPUSH that fills the list for LRANGE, which is not recorded.
csv_test_name() { # title
    [[ $1 == *needed\ to\ benchmark* ]] || echo "${1%% *}"
}

# Runs the tests at one pipeline depth in one redis-benchmark, in its order (LPUSH, RPUSH, LPOP,
# RPOP, SADD, HSET, SPOP, ZADD, LRANGE), so the pops find what the pushes left, from empty keys
# at each depth.
bench_pipeline() { # target port pipeline
    cli "$2" DEL mylist myset myhash myzset >/dev/null
    run_benchmark "$1" "$2" "$3" -d "$VALUE_SIZE" -t "$BENCH_TESTS"
}

run_all
