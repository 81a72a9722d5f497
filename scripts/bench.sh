#!/usr/bin/env bash
# Speed benchmark of iocdock on a large repository. Prints min and median wall time
# of repeated runs; the figures go into docs/PERFORMANCE.md.
#
#   scripts/bench.sh [N_IOCS] [RUNS]      (defaults: 1000 IOCs, 15 runs)
#
# BENCH_ONLY=files|swarm|restart|multinode|history runs one part (default: all of them):
#   files      the repository commands on N_IOCS IOCs
#   swarm      50 IOC services on this machine's swarm: deploy against docker stack
#              deploy, then list -p and the digest beside `docker service ls`
#   restart    50 IOC services on this machine's swarm restarted with `service --restart`
#              in batches of 10 (each batch waits until its IOCs run again), beside 50
#              `docker service update --force` (each waits until its service converged)
#   multinode  100 IOC services on the multi-node harness (../shared/tools/multinode,
#              held under its lock), list -p and the digest beside `docker service ls`
#   history    1000 IOC services kept Pending by a constraint no node meets and
#              force-updated three times (about 4000 tasks), on this machine's swarm
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-1000}
runs=${2:-15}
cargo build --release --quiet
bin=$PWD/target/release/iocdock
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export IOCDOCK_HOME=$work/home
unset MOUNT_PATH

now_ns() { date +%s%N; }

# time_it LABEL RUNS CMD... : runs CMD RUNS times (output discarded), prints min/median in ms.
time_it() {
    local label=$1 count=$2
    shift 2
    local samples=()
    for ((i = 0; i < count; i++)); do
        local t0 t1
        t0=$(now_ns)
        "$@" >/dev/null 2>&1
        t1=$(now_ns)
        samples+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk -v label="$label" '
        { v[NR] = $1 }
        END {
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-44s min %8.1f ms   median %8.1f ms   (%d runs)\n", label, v[1] / 1000, med / 1000, NR
        }'
}

names=()
for ((i = 1; i <= n; i++)); do names+=("ioc$i"); done

# Every timed run writes into folders of its own and nothing is deleted until the end:
# ext4 searches longer for a free inode right after many files were deleted, which
# would measure the benchmark's own clean-up rather than iocdock.
created=0
fresh_create() {
    created=$((created + 1))
    IOCDOCK_HOME=$work/create-$created "$bin" create "${names[@]}" -f templates/test/test.ini
}

only=${BENCH_ONLY:-}
part() { [[ -z $only || $only == "$1" ]]; }

echo "iocdock $("$bin" --version | cut -d' ' -f2), $n IOCs, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
if part files; then
time_it "create $n names in one invocation" 3 fresh_create
"$bin" create "${names[@]}" -f templates/test/test.ini >/dev/null 2>&1
time_it "list" "$runs" "$bin" list
time_it "list -d" "$runs" "$bin" list -d
time_it "list name=1" "$runs" "$bin" list name=1
time_it "list -p" "$runs" "$bin" list -p
time_it "list -i name=99" "$runs" "$bin" list -i name=99

# The exec workflow over the whole repository in one invocation each. A first deploy
# writes every file; it is timed on fresh copies of the repository (made untimed).
"$bin" exec "${names[@]}" --add-src-file templates/test >/dev/null 2>&1
for copy in 1 2 3; do cp -a "$IOCDOCK_HOME" "$work/fresh-$copy"; done
sync
first=()
for copy in 1 2 3; do
    t0=$(now_ns)
    IOCDOCK_HOME=$work/fresh-$copy "$bin" exec "${names[@]}" --deploy >/dev/null 2>&1
    t1=$(now_ns)
    first+=($(((t1 - t0) / 1000)))
done
printf '%s\n' "${first[@]}" | sort -n | awk -v label="exec --deploy of $n IOCs (first deploy)" '
    { v[NR] = $1 }
    END { printf "%-44s min %8.1f ms   median %8.1f ms   (%d runs)\n", label, v[1] / 1000, v[2] / 1000, NR }'
"$bin" exec "${names[@]}" --deploy >/dev/null 2>&1
time_it "exec --deploy of $n IOCs (unchanged)" 3 "$bin" exec "${names[@]}" --deploy
time_it "exec --add-snapshot-file of $n IOCs" 3 "$bin" exec "${names[@]}" --add-snapshot-file
backups=$work/backups
time_it "exec -b of $n IOCs" 5 "$bin" exec -b --backup-path "$backups"
time_it "list -p ($n exported, snapshotted)" "$runs" "$bin" list -p
fi

# ---------------------------------------------------------------------------------
# Swarm: 50 IOC services. Needs a swarm manager (scripts/docker-up.sh); the IOC image
# is the demo image when it exists (scripts/demo-image/build.sh), else the test image.
services=${BENCH_SERVICES:-50}
if ! part swarm && ! part restart && ! part multinode && ! part history; then exit 0; fi
if ! docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null | grep -q true; then
    echo "swarm benchmarks skipped: no swarm manager reachable (run scripts/docker-up.sh)"
    exit 0
fi
image=iocdock-demo/ioc-exec:2.1
docker image inspect "$image" >/dev/null 2>&1 || image=iocdock-test/busybox:latest

# median_us CMD...: runs CMD once (output discarded), prints its wall time in µs.
once_us() {
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null 2>&1
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# beside LABEL CMD...: CMD and `docker service ls` (same engine, same moment) alternately,
# RUNS times each; min and median of both and the ratio of the medians.
beside() {
    local label=$1
    shift
    local ours=() theirs=()
    for ((i = 0; i < runs; i++)); do
        ours+=("$(once_us "$@")")
        theirs+=("$(once_us docker service ls)")
    done
    local mo mt
    mo=$(median "${ours[@]}")
    mt=$(median "${theirs[@]}")
    awk -v label="$label" -v mo="$mo" -v mt="$mt" \
        -v lo="$(printf '%s\n' "${ours[@]}" | sort -n | head -1)" \
        -v lt="$(printf '%s\n' "${theirs[@]}" | sort -n | head -1)" -v n="$runs" 'BEGIN {
        printf "%-44s min %8.1f ms   median %8.1f ms   (%d runs)\n", label, lo / 1000, mo / 1000, n
        printf "%-44s min %8.1f ms   median %8.1f ms   (%d runs)\n", "  docker service ls beside it", lt / 1000, mt / 1000, n
        printf "%-44s %.2fx\n", "  ratio of the medians", mo / mt
    }'
}

# quiet CMD...: runs a set-up step without its output; a failure stops the benchmark
# with the step and what it said.
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        echo "bench.sh: failed: $*" >&2
        { grep -m 5 '^error' "$log" || tail -5 "$log"; } >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

# make_iocs PREFIX COUNT CONSTRAINT IMAGE: a home of COUNT exported IOCs with service
# files (in $IOCDOCK_HOME), placed by CONSTRAINT (empty: the default, node.role==worker).
make_iocs() {
    local prefix=$1 count=$2 constraint=$3 img=$4
    mkdir -p "$IOCDOCK_HOME"
    printf 'prefix_stack_name: %s\n' "$prefix" >"$IOCDOCK_HOME/settings.yaml"
    svc_names=()
    for ((i = 1; i <= count; i++)); do svc_names+=("sb$i"); done
    quiet "$bin" create "${svc_names[@]}" -f templates/test/test.ini -o "image=$img" module=
    for name in "${svc_names[@]}"; do
        quiet "$bin" set "$name" -s db -o "load=ramper.db, name=$name"
        if [[ -n $constraint ]]; then
            quiet "$bin" set "$name" -s deploy -o "constraints=$constraint"
        fi
    done
    # The demo image's caget is Python: hundreds of health checks would load the
    # machine being measured, where a compiled caget costs nothing.
    quiet "$bin" set "${svc_names[@]}" -s deploy -o health-check=false
    quiet "$bin" exec "${svc_names[@]}" --add-src-file templates/test
    quiet "$bin" exec "${svc_names[@]}" --deploy
}
cleanup_stack() {
    local ids
    ids=$(docker service ls -q --filter "label=com.docker.stack.namespace=$1")
    [[ -z "$ids" ]] || docker service rm $ids >/dev/null
    # Removal is asynchronous; wait so the next round starts from nothing.
    while [[ -n "$(docker service ls -q --filter "label=com.docker.stack.namespace=$1")" ]]; do sleep 0.2; done
}
# Stacks to remove at the end, as DOCKER_HOST|prefix.
stacks=()
cleanup_all() {
    for entry in "${stacks[@]}"; do
        DOCKER_HOST=${entry%%|*} cleanup_stack "${entry#*|}" || true
    done
    # Containers may still write their logs while their services go away: retry.
    rm -rf "$work" 2>/dev/null || { sleep 3; rm -rf "$work"; }
}
trap cleanup_all EXIT
count_services() { docker service ls -q --filter "label=com.docker.stack.namespace=$1" | wc -l; }
# wait_running PREFIX COUNT SECONDS: until COUNT services of the stack show 1/1.
wait_running() {
    for ((s = 0; s < $3; s++)); do
        running=$(docker service ls --filter "label=com.docker.stack.namespace=$1" --format '{{.Replicas}}' | grep -c '^1/1' || true)
        ((running == $2)) && return 0
        sleep 1
    done
    echo "only $running of $2 services running after $3 s" >&2
}

if part swarm; then
    prefix=bench$$
    export IOCDOCK_HOME=$work/swarm-home
    stacks+=("${DOCKER_HOST:-}|$prefix" "${DOCKER_HOST:-}|${prefix}cli")
    make_iocs "$prefix" "$services" node.role==manager "$image"
    # --detach: docker stack deploy does not wait for the tasks either.
    deploy_ours() { "$bin" swarm --deploy-all-iocs --detach; }
    deploy_cli() {
        for name in "${svc_names[@]}"; do
            docker stack deploy -c "$IOCDOCK_HOME/IocDock/service-files/$name/compose-swarm.yaml" "${prefix}cli"
        done
    }
    ours=() cli=()
    for round in 1 2 3; do
        t0=$(now_ns); deploy_ours >/dev/null 2>&1; t1=$(now_ns)
        ours+=($(((t1 - t0) / 1000000)))
        # A fast failure must not pass for a fast deploy.
        made=$(count_services "$prefix")
        ((made == services)) || { echo "swarm --deploy-all-iocs created $made of $services services" >&2; exit 1; }
        cleanup_stack "$prefix"
        t0=$(now_ns); deploy_cli >/dev/null 2>&1; t1=$(now_ns)
        cli+=($(((t1 - t0) / 1000000)))
        cleanup_stack "${prefix}cli"
    done
    best() { printf '%s\n' "$@" | sort -n | head -1; }
    o=$(best "${ours[@]}"); c=$(best "${cli[@]}")
    printf '%-44s min %8d ms   (3 runs)\n' "swarm --deploy-all-iocs ($services IOCs)" "$o"
    printf '%-44s min %8d ms   (3 runs)\n' "$services x docker stack deploy (same files)" "$c"
    awk -v o="$o" -v c="$c" 'BEGIN { printf "%-44s %.1fx\n", "speed-up", c / o }'

    deploy_ours >/dev/null 2>&1
    # Timed once every task runs: 50 IOCs starting at once would load the machine.
    wait_running "$prefix" "$services" 120
    sleep 5
    beside "list -p ($services IOCs deployed)" "$bin" list -p
    beside "swarm --show-digest ($services IOCs deployed)" "$bin" swarm --show-digest
    cleanup_stack "$prefix"
fi

if part restart; then
    restarts=${BENCH_RESTART_SERVICES:-50}
    batch=${BENCH_RESTART_BATCH:-10}
    prefix=benchr$$
    export IOCDOCK_HOME=$work/restart-home
    stacks+=("${DOCKER_HOST:-}|$prefix")
    make_iocs "$prefix" "$restarts" node.role==manager "$image"
    quiet "$bin" swarm --deploy-all-iocs --detach
    wait_running "$prefix" "$restarts" 300
    sleep 5
    # Ours: a batch at a time, as an operator pipes names through xargs -n; each
    # invocation returns once its IOCs run again.
    t0=$(now_ns)
    printf '%s\n' "${svc_names[@]}" | xargs -n "$batch" "$bin" service --restart >/dev/null 2>&1 ||
        { echo "bench.sh: service --restart failed" >&2; exit 1; }
    t1=$(now_ns)
    ours_ms=$(((t1 - t0) / 1000000))
    wait_running "$prefix" "$restarts" 300
    sleep 5
    t0=$(now_ns)
    for name in "${svc_names[@]}"; do
        quiet docker service update --force "${prefix}_srv-$name"
    done
    t1=$(now_ns)
    cli_ms=$(((t1 - t0) / 1000000))
    printf '%-44s %8d ms\n' "service --restart, $restarts IOCs, batches of $batch" "$ours_ms"
    printf '%-44s %8d ms\n' "$restarts x docker service update --force" "$cli_ms"
    awk -v o="$ours_ms" -v c="$cli_ms" 'BEGIN { printf "%-44s %.1fx\n", "speed-up", c / o }'
    cleanup_stack "$prefix"
fi

if part history; then
    # Pending services run nothing: 1000 of them cost the engine its store only.
    history=${BENCH_HISTORY_SERVICES:-1000}
    prefix=benchh$$
    export IOCDOCK_HOME=$work/history-home
    stacks+=("${DOCKER_HOST:-}|$prefix")
    make_iocs "$prefix" "$history" "node.labels.iocdock-bench-nowhere==1" "$image"
    quiet "$bin" swarm --deploy-all-iocs --detach
    made=$(count_services "$prefix")
    ((made == history)) || { echo "swarm --deploy-all-iocs created $made of $history services" >&2; exit 1; }
    # Each forced update replaces every task: history grows by one task per service.
    # The engine's updaters, still busy with the last round, change the services'
    # versions under a large update ("update out of sequence"): those are made again.
    force_update_all() {
        local names=("${svc_names[@]}") out
        for attempt in 1 2 3 4 5 6; do
            out=$("$bin" service "${names[@]}" --update --detach 2>&1) && return 0
            mapfile -t names < <(grep -o "update of service ${prefix}_srv-[^ ]* failed" <<<"$out" |
                sed "s/^update of service ${prefix}_srv-//; s/ failed\$//")
            if ((${#names[@]} == 0)); then
                grep -m 5 '^error' <<<"$out" >&2
                exit 1
            fi
            sleep 2
        done
        echo "bench.sh: ${#names[@]} services still out of sequence after 6 attempts" >&2
        exit 1
    }
    for round in 1 2 3; do force_update_all; done
    sleep 5
    tasks=$(docker service ps -q $(docker service ls -q --filter "label=com.docker.stack.namespace=$prefix") 2>/dev/null | wc -l)
    echo "$history pending IOC services, $tasks tasks of theirs (history included)"
    beside "list -p ($history services, task history)" "$bin" list -p
    beside "swarm --show-digest (same)" "$bin" swarm --show-digest
    cleanup_stack "$prefix"
fi

if part multinode; then
    harness=../shared/tools/multinode
    if [[ ! -f $harness/up.sh ]]; then
        echo "multi-node benchmark skipped: no $harness"
        exit 0
    fi
    many=${BENCH_MULTINODE_SERVICES:-100}
    # The harness is shared: hold the tests' lock for the whole part.
    exec {lock}>/run/multinode-iocdock-tests.lock
    flock "$lock"
    bash "$harness/up.sh" >/dev/null
    bash "$harness/load-image.sh" "$image" >/dev/null
    export DOCKER_HOST=unix:///run/multinode/node0.sock
    prefix=benchm$$
    export IOCDOCK_HOME=$work/multinode-home
    stacks+=("$DOCKER_HOST|$prefix")
    # The default placement, node.role==worker: the two workers share the IOCs.
    make_iocs "$prefix" "$many" "" "$image"
    quiet "$bin" swarm --deploy-all-iocs --detach
    wait_running "$prefix" "$many" 300
    sleep 5
    nodes=$(docker node ls -q | wc -l)
    echo "$many IOC services on a $nodes-node swarm (multi-node harness)"
    beside "list -p ($many IOCs, $nodes nodes)" "$bin" list -p
    beside "swarm --show-digest ($many IOCs, $nodes nodes)" "$bin" swarm --show-digest
    cleanup_stack "$prefix"
    unset DOCKER_HOST
fi
