# Shared part of the side-by-side benchmarks (side_by_side.sh: strings, types_side_by_side.sh:
# collections), sourced by both: `source "$(dirname "$0")/lib.sh"` once they have set REQUESTS,
# CLIENTS, KEYSPACE, VALUE_SIZE, PIPELINES, TESTS and TARGETS. It holds the fixed settings and the
# checks of the tools, the tanli binary and VALUE_SIZE (run when sourced), and the functions that
# start the targets (redis, redis-fsync, tanli-1, the leader of tanli-3, the same with ReadIndex
# reads) on free loopback ports,
# run redis-benchmark and record its CSV, count error replies, print the summary table and stop
# every process started here by its PID. `run_all` runs the whole benchmark: every target runs
# at once, and each pipeline depth's tests run against one target after another, so a drift of
# the machine's speed (a busy neighbour) reaches every target of a row alike; with ROUNDS > 1 the
# whole sequence repeats and the table shows each row's median.
#
# A script that sources it defines, before calling run_all:
#   TEST_NAMES       the reported tests, in order (upper case)
#   METRIC_COMMANDS  the benchmarked commands as an awk alternation ("set|get"): tanli's error
#                    counters of these are the error replies counted on tanli
#   TEST_WIDTH       the width of the summary table's test column
#   check_commands target port         sends each test's command once; exits on an error reply
#   bench_pipeline target port pipeline  runs the tests at one pipeline depth (run_benchmark)
#   csv_test_name title                prints the test a redis-benchmark CSV title reports,
#                                      nothing for a row not to record
# shellcheck shell=bash

HOST=127.0.0.1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TANLI=${TANLI_SERVER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tanli-server}
READY_TIMEOUT_S=30
BENCH_TIMEOUT_S=900
CLI_TIMEOUT_S=10

for tool in redis-server redis-cli redis-benchmark timeout; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install redis-tools redis-server)" >&2; exit 1; }
done
if [[ $TARGETS == *tanli* && ! -x $TANLI ]]; then
    echo "error: no tanli-server at $TANLI; run: cargo build --release --bins" >&2
    exit 1
fi
[[ $VALUE_SIZE =~ ^[1-9][0-9]*$ ]] || { echo "error: VALUE_SIZE must be a positive number" >&2; exit 1; }

WORK=""
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

cli() { # port args...
    local port=$1
    shift
    timeout "$CLI_TIMEOUT_S" redis-cli -h "$HOST" -p "$port" "$@"
}

start_redis() { # name port extra-args...
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --bind "$HOST" --port "$port" --dir "$WORK/$name" --save '' \
        --daemonize no --logfile "$WORK/$name/redis.log" "$@" &
    PIDS+=($!)
    wait_for "$name on port $port" cli "$port" PING
}

is_leader() { # port
    cli "$1" INFO raft | grep -q '^shard1_role:leader'
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

# One field of a node's ready line (`tanli ready node=1 resp=... cluster=... admin=...`).
ready_field() { # name field
    sed -n "s/^tanli ready .*$2=\([^ ]*\).*/\1/p" "$WORK/$1/out" | head -1
}

# The RESP port from a node's ready line: `tanli ready node=1 resp=127.0.0.1:6379 cluster=...`.
ready_port() { # name
    local addr
    wait_for "the ready line of $1" grep -q '^tanli ready ' "$WORK/$1/out"
    addr=$(ready_field "$1" resp)
    echo "${addr##*:}"
}

# Per "<target>|<test>|<pipeline>": one figure per round, space-separated.
declare -A OPS P50 P99 CPU
declare -A ERRORS ERRORS_BEFORE PORTS ADMINS TERMS TARGET_PIDS
CLK_TCK=$(getconf CLK_TCK)

# CPU time (user + system, in clock ticks) the processes have used so far, all their threads
# included; a process that has gone counts nothing.
cpu_ticks() { # pid...
    local pid total=0 t
    for pid in "$@"; do
        # Fields after the command name, which is in parentheses: utime and stime are the
        # 12th and 13th of them (the 14th and 15th of the line).
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
RAN=()

# Error replies the server has sent so far: redis's INFO counter, or the sum of tanli's error
# counters of the benchmarked commands ($METRIC_COMMANDS) on its admin port ($2: host:port;
# redis-benchmark's own CONFIG GET, which tanli refuses, is left out); "?" when unknown.
error_replies() { # port [admin]
    if [[ -n ${2:-} ]]; then
        command -v curl >/dev/null || { echo "?"; return; }
        timeout "$CLI_TIMEOUT_S" curl -sf "http://$2/metrics" |
            awk -v cmds="$METRIC_COMMANDS" '
                $0 ~ ("^tanli_command_errors_total\\{command=\"(" cmds ")\"\\}") { n += $NF }
                END { print n + 0 }' || echo "?"
    else
        cli "$1" INFO stats | tr -d '\r' | sed -n 's/^total_error_replies://p' | grep . || echo "?"
    fi
}

# Runs redis-benchmark with "$@" and records its CSV rows under "<target>|<test>|<pipeline>",
# a test being what csv_test_name makes of the row's title (rows it names nothing for are not
# recorded). When it ran one test, the CPU time the target's processes spent meanwhile is
# recorded too, per request (microseconds); several tests in one run cannot be told apart.
run_benchmark() { # target port pipeline redis-benchmark-args...
    local target=$1 port=$2 pipeline=$3 test rps avg min p50 p95 p99 max cpu0 cpu1 key
    local -a keys=()
    shift 3
    # shellcheck disable=SC2086 # the PIDs are space-separated on purpose
    cpu0=$(cpu_ticks ${TARGET_PIDS[$target]:-})
    if ! timeout "$BENCH_TIMEOUT_S" redis-benchmark -h "$HOST" -p "$port" -c "$CLIENTS" \
        -n "$REQUESTS" -r "$KEYSPACE" -P "$pipeline" --csv "$@" \
        >"$WORK/bench.csv" 2>"$WORK/bench.err"; then
        echo "error: redis-benchmark against $target failed:" >&2
        cat "$WORK/bench.csv" "$WORK/bench.err" >&2
        exit 1
    fi
    while IFS=, read -r test rps avg min p50 p95 p99 max; do
        [[ $test == test ]] && continue
        test=$(csv_test_name "$test")
        [[ -n $test ]] || continue
        key="$target|$test|$pipeline"
        keys+=("$key")
        OPS[$key]+="$rps "
        P50[$key]+="$p50 "
        P99[$key]+="$p99 "
    done < <(tr -d '"' <"$WORK/bench.csv")
    # shellcheck disable=SC2086
    cpu1=$(cpu_ticks ${TARGET_PIDS[$target]:-})
    if ((${#keys[@]} == 1)) && [[ -n ${TARGET_PIDS[$target]:-} ]]; then
        CPU[${keys[0]}]+="$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$REQUESTS" \
            'BEGIN { printf "%.1f", t * 1e6 / hz / n }') "
    fi
}

accepts_writes() { # port
    [[ $(cli "$1" SET bench:ready 1) == OK ]] && cli "$1" DEL bench:ready >/dev/null
}

# Readies a started target: waits until it accepts a write, checks each test's command once and
# notes its error replies so far.
prepare() { # target port [admin]
    local target=$1 port=$2 admin=${3:-}
    RAN+=("$target")
    PORTS[$target]=$port
    ADMINS[$target]=$admin
    # A new cluster may still be settling (its map not yet naming the leader it elected): wait
    # until a write is accepted before checking each test's command once.
    wait_for "$target to accept writes" accepts_writes "$port"
    check_commands "$target" "$port"
    ERRORS_BEFORE[$target]=$(error_replies "$port" "$admin")
    TERMS[$target]=$(leader_term "$target")
    [[ -n ${TERMS[$target]} ]] || { echo "error: $target's node does not lead shard 1" >&2; exit 1; }
}

# A tanli target's shard-1 term while the benchmarked node leads it ("" if it does not lead;
# "redis" for redis).
leader_term() { # target
    [[ $1 == tanli* ]] || { echo redis; return; }
    cli "${PORTS[$1]}" INFO raft | tr -d '\r' |
        awk -F: '$1 == "shard1_role" { lead = ($2 == "leader") } $1 == "shard1_term" { t = $2 }
                 END { if (lead) print t }'
}

# Stops the run if a tanli target's node no longer leads in the term it led in: its replies
# would then be MOVED redirects, which redis-benchmark counts as answers and tanli's error
# counters do not count.
check_leader() { # target
    local now
    now=$(leader_term "$1")
    if [[ $now != "${TERMS[$1]}" ]]; then
        echo "error: $1's node led shard 1 in term ${TERMS[$1]} and now: '${now}' (leadership moved during the run)" >&2
        exit 1
    fi
}

# Each target's error replies since `prepare`.
count_errors() {
    local target before after
    for target in "${RAN[@]}"; do
        before=${ERRORS_BEFORE[$target]}
        after=$(error_replies "${PORTS[$target]}" "${ADMINS[$target]}")
        if [[ $before == "?" || $after == "?" ]]; then
            ERRORS[$target]="?"
        else
            ERRORS[$target]=$((after - before))
        fi
    done
}

# A node's admin address from its ready line.
admin_addr() { # name
    ready_field "$1" admin
}

start_tanli_3() { # [extra node args...]; sets LEADER_PORT and LEADER_NAME (nodes $T3_NAME-n1..3)
    # Node 1 bootstraps a cluster with one data shard (so one node leads every key, as the
    # non-cluster-mode benchmark needs); nodes 2 and 3 join it and receive replicas of every shard.
    # Every node binds port 0 and says where it listens in its ready line: a port probed free
    # here could be taken (by a client's ephemeral port) before the node binds it.
    # Each node runs its default worker threads (one per core) unless TANLI3_WORKER_THREADS sets
    # them: the three nodes share this host's cores. On the 2-core machine one thread each made
    # GET -P 1 faster and GET -P 16 slower (the leader alone serves reads and is then held to
    # one core), so the default stays. TANLI3_CONNECTION_THREADS sets --connection-threads the
    # same way (0: connections on the worker threads, as before 2026-11-28).
    local -a resp node_args=()
    local id bus1 name=${T3_NAME:-tanli-3}
    [[ -z ${TANLI3_WORKER_THREADS:-} ]] || node_args=(--worker-threads "$TANLI3_WORKER_THREADS")
    [[ -z ${TANLI3_CONNECTION_THREADS:-} ]] ||
        node_args+=(--connection-threads "$TANLI3_CONNECTION_THREADS")
    node_args+=("$@")
    start_tanli "$name-n1" --port 0 --cluster-port 0 --initial-shards 1 "${node_args[@]}"
    resp[1]=$(ready_port "$name-n1")
    bus1=$(ready_field "$name-n1" cluster)
    for id in 2 3; do
        start_tanli "$name-n$id" --port 0 --cluster-port 0 --join "$bus1" "${node_args[@]}"
    done
    for id in 2 3; do
        resp[id]=$(ready_port "$name-n$id")
    done
    # Every node holds a replica of shard 1 once it lists the shard in INFO raft.
    hosts_shard1() { # port
        cli "$1" INFO raft | grep -q '^shard1_role:'
    }
    for id in 1 2 3; do
        wait_for "$name-n$id to hold a replica of shard 1" hosts_shard1 "${resp[id]}"
    done
    LEADER_PORT=""
    LEADER_NAME=""
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    while [[ -z $LEADER_PORT ]]; do
        for id in 1 2 3; do
            if is_leader "${resp[id]}" 2>/dev/null; then
                LEADER_PORT=${resp[id]}
                LEADER_NAME=$name-n$id
            fi
        done
        if [[ -z $LEADER_PORT ]]; then
            ((SECONDS < deadline)) || { echo "error: no tanli leader elected" >&2; exit 1; }
            sleep 0.1
        fi
    done
}

load() { sed 's/.*load average/load average/' < <(uptime); }

# The median of the numbers given (the lower middle one of an even count); "" for none.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

ratio() { # tanli-ops redis-ops
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

# The table of every target, test and pipeline depth, then each target's error replies.
print_summary() {
    local target test pipeline key vs_redis vs_fsync ops p50 p99 cpu redis fsync
    echo
    ((ROUNDS == 1)) || echo "each figure: the median of $ROUNDS rounds"
    printf "%-15s %-${TEST_WIDTH}s %8s %12s %8s %8s %12s %12s %10s\n" \
        target test pipeline "ops/s" "p50 ms" "p99 ms" "tanli/redis" "tanli/fsync" "cpu us/op"
    for target in "${RAN[@]}"; do
        for test in "${TEST_NAMES[@]}"; do
            for pipeline in $PIPELINES; do
                key="$target|$test|$pipeline"
                # shellcheck disable=SC2086 # the figures are space-separated on purpose
                {
                    ops=$(median ${OPS[$key]:-})
                    p50=$(median ${P50[$key]:-})
                    p99=$(median ${P99[$key]:-})
                    cpu=$(median ${CPU[$key]:-})
                    redis=$(median ${OPS[redis|$test|$pipeline]:-})
                    fsync=$(median ${OPS[redis-fsync|$test|$pipeline]:-})
                }
                vs_redis="-"
                vs_fsync="-"
                if [[ $target == tanli* ]]; then
                    vs_redis=$(ratio "${ops:-0}" "${redis:-0}")
                    vs_fsync=$(ratio "${ops:-0}" "${fsync:-0}")
                fi
                printf "%-15s %-${TEST_WIDTH}s %8s %12.0f %8s %8s %12s %12s %10s\n" "$target" \
                    "$test" "$pipeline" "${ops:-0}" "${p50:--}" "${p99:--}" "$vs_redis" \
                    "$vs_fsync" "${cpu:--}"
            done
        done
    done
    echo
    for target in "${RAN[@]}"; do
        echo "$target: ${ERRORS[$target]} error replies during the benchmark"
    done
}

# The whole benchmark: every target in $TARGETS is started (all run at once), then for each
# round and pipeline depth each target runs that depth's tests in turn; then the summary.
# Everything lives in one temp dir, removed on exit.
run_all() {
    local target round pipeline port
    WORK=$(mktemp -d -t tanli-bench-XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS must be a positive number" >&2; exit 1; }

    echo "redis-benchmark -c $CLIENTS -n $REQUESTS -r $KEYSPACE -d $VALUE_SIZE, tests: ${TEST_NAMES[*]}, pipelines: $PIPELINES, rounds: $ROUNDS" >&2
    echo "$(nproc) cpus, before: $(load)" >&2

    for target in $TARGETS; do
        local first_pid=${#PIDS[@]}
        case $target in
            redis)
                echo "starting redis (appendonly no)" >&2
                free_port
                start_redis redis "$PORT" --appendonly no
                prepare redis "$PORT"
                ;;
            redis-fsync)
                echo "starting redis (appendonly yes, appendfsync always)" >&2
                free_port
                start_redis redis-fsync "$PORT" --appendonly yes --appendfsync always
                prepare redis-fsync "$PORT"
                ;;
            tanli-1)
                echo "starting tanli, 1 node" >&2
                start_tanli tanli-1 --port 0 --cluster-port 0
                port=$(ready_port tanli-1)
                wait_for "tanli-1 to lead its shard" is_leader "$port"
                prepare tanli-1 "$port" "$(admin_addr tanli-1)"
                ;;
            tanli-3)
                echo "starting tanli, 3 nodes (benchmarked against the leader)" >&2
                T3_NAME=tanli-3 start_tanli_3
                prepare tanli-3-leader "$LEADER_PORT" "$(admin_addr "$LEADER_NAME")"
                ;;
            tanli-3-readidx)
                echo "starting tanli, 3 nodes with ReadIndex reads (benchmarked against the leader)" >&2
                T3_NAME=tanli-3-readidx start_tanli_3 --read-policy read-index
                prepare tanli-3-readidx "$LEADER_PORT" "$(admin_addr "$LEADER_NAME")"
                ;;
            *) echo "error: unknown target '$target' (redis, redis-fsync, tanli-1, tanli-3, tanli-3-readidx)" >&2; exit 1 ;;
        esac
        # Its processes (a cluster's every node), whose CPU time each run is charged.
        TARGET_PIDS[${RAN[-1]}]="${PIDS[*]:first_pid}"
    done
    for round in $(seq "$ROUNDS"); do
        for pipeline in $PIPELINES; do
            for target in "${RAN[@]}"; do
                echo "  round $round: $target -P $pipeline ..." >&2
                bench_pipeline "$target" "${PORTS[$target]}" "$pipeline"
                check_leader "$target"
            done
        done
    done
    count_errors
    stop_all
    echo "after: $(load)" >&2

    print_summary
}
