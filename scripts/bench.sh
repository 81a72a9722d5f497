#!/usr/bin/env bash
# Speed benchmark of iocdock on a large repository. Prints min and median wall time
# of repeated runs; the figures go into docs/PERFORMANCE.md.
#
#   scripts/bench.sh [N_IOCS] [RUNS]      (defaults: 1000 IOCs, 15 runs)
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

echo "iocdock $("$bin" --version | cut -d' ' -f2), $n IOCs, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
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

# ---------------------------------------------------------------------------------
# Swarm: 50 IOC services. Needs a swarm manager (scripts/docker-up.sh); the IOC image
# is the demo image when it exists (scripts/demo-image/build.sh), else the test image.
services=${BENCH_SERVICES:-50}
if ! docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null | grep -q true; then
    echo "swarm benchmarks skipped: no swarm manager reachable (run scripts/docker-up.sh)"
    exit 0
fi
image=iocdock-demo/ioc-exec:2.1
docker image inspect "$image" >/dev/null 2>&1 || image=iocdock-test/busybox:latest
prefix=bench$$
export IOCDOCK_HOME=$work/swarm-home
mkdir -p "$IOCDOCK_HOME"
printf 'prefix_stack_name: %s\nioc_default_constraints: [node.role==manager]\n' "$prefix" \
    >"$IOCDOCK_HOME/settings.yaml"
svc_names=()
for ((i = 1; i <= services; i++)); do svc_names+=("sb$i"); done
"$bin" create "${svc_names[@]}" -f templates/test/test.ini -o "image=$image" module= >/dev/null 2>&1
for name in "${svc_names[@]}"; do
    "$bin" set "$name" -s db -o "load=ramper.db, name=$name" >/dev/null 2>&1
done
# The demo image's caget is Python: 50 health checks would load the machine being
# measured, where a compiled caget costs nothing.
"$bin" set "${svc_names[@]}" -s deploy -o health-check=false >/dev/null 2>&1
"$bin" exec "${svc_names[@]}" --add-src-file templates/test >/dev/null 2>&1
"$bin" exec "${svc_names[@]}" --deploy >/dev/null 2>&1
cleanup_stack() {
    local ids
    ids=$(docker service ls -q --filter "label=com.docker.stack.namespace=$1")
    [[ -z "$ids" ]] || docker service rm $ids >/dev/null
    # Removal is asynchronous; wait so the next round starts from nothing.
    while [[ -n "$(docker service ls -q --filter "label=com.docker.stack.namespace=$1")" ]]; do sleep 0.2; done
}
# Containers may still write their logs while their services go away: retry the removal.
trap 'cleanup_stack "$prefix"; cleanup_stack "${prefix}cli"; rm -rf "$work" 2>/dev/null || { sleep 3; rm -rf "$work"; }' EXIT

deploy_ours() { "$bin" swarm --deploy-all-iocs; }
deploy_cli() {
    for name in "${svc_names[@]}"; do
        docker stack deploy -c "$IOCDOCK_HOME/IocDock/service-files/$name/compose-swarm.yaml" "${prefix}cli"
    done
}
count_services() { docker service ls -q --filter "label=com.docker.stack.namespace=$1" | wc -l; }
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
for _ in $(seq 120); do
    running=$(docker service ls --filter "label=com.docker.stack.namespace=$prefix" --format '{{.Replicas}}' | grep -c '^1/1' || true)
    ((running == services)) && break
    sleep 1
done
sleep 5
time_it "list -p ($services IOCs deployed)" "$runs" "$bin" list -p
time_it "swarm --show-digest ($services IOCs deployed)" "$runs" "$bin" swarm --show-digest
