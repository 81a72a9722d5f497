#!/usr/bin/env bash
# Prove that the demo image runs an IOC iocdock generated and serves Channel Access:
#
#   scripts/demo-image/check.sh [IMAGE]        (default iocdock-demo/ioc-exec:2.1)
#
# 1. a throw-away iocdock home with one IOC made from templates/test (ramper.db, no
#    modules), its startup files generated;
# 2. `docker run` of the image with the IOC's project folder at /opt/EPICS/RUN/<ioc>
#    and the entrypoint a swarm service gets: cd RUN/<ioc>/startup/iocBoot; ./st.cmd;
#    until its log says "iocRun: All initialization complete";
# 3. a second container of the image (network host) runs `./caget ramper:<ioc>` in
#    the EPICS client bin dir twice; the value must change.
# Containers and files are removed on every path. Prints PASS/FAIL; exit 0 on pass.
#
# Environment:
#   IOCDOCK   the iocdock binary (default: target/debug/iocdock, then PATH)
set -euo pipefail

image="${1:-iocdock-demo/ioc-exec:2.1}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

iocdock="${IOCDOCK:-}"
if [[ -z "$iocdock" ]]; then
    for candidate in "${CARGO_TARGET_DIR:-$repo/target}/debug/iocdock" "$(command -v iocdock || true)"; do
        [[ -n "$candidate" && -x "$candidate" ]] && { iocdock="$candidate"; break; }
    done
fi
[[ -n "$iocdock" ]] || fail "no iocdock binary (cargo build, or set IOCDOCK)"
docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image (scripts/demo-image/build.sh)"

# A name of its own: with network host every IOC on this machine answers CA
# searches, so a common name like t1 could be answered by someone else's IOC.
ioc="democheck$$"
ioc_container="demo-check-ioc-$$"
home="$(mktemp -d /tmp/iocdock-demo-check.XXXXXX)"
cleanup() {
    docker rm -f "$ioc_container" >/dev/null 2>&1 || true
    rm -rf "$home"
}
trap cleanup EXIT

t0=$EPOCHREALTIME
"$iocdock" --home "$home" -q create "$ioc" -f "$repo/templates/test/test.ini" -o module=
"$iocdock" --home "$home" -q set "$ioc" -s db -o "load=ramper.db, name=$ioc"
"$iocdock" --home "$home" -q exec "$ioc" --add-src-file "$repo/templates/test"
"$iocdock" --home "$home" -q exec "$ioc" --gen-startup-file
project="$home/IocDock/ioc-repository/$ioc/project"
# An export has logs/; st.cmd's report-info lines write there.
mkdir -p "$project/logs"

docker run -d --name "$ioc_container" --network host \
    -v "$project:/opt/EPICS/RUN/$ioc" \
    "$image" bash -c "cd RUN/$ioc/startup/iocBoot; ./st.cmd;" >/dev/null
for _ in $(seq 1 60); do
    if docker logs "$ioc_container" 2>&1 | grep -q 'iocRun: All initialization complete'; then
        break
    fi
    [[ "$(docker inspect -f '{{.State.Running}}' "$ioc_container")" == true ]] ||
        { docker logs "$ioc_container" 2>&1 | tail -20 >&2; fail "the IOC container exited"; }
    sleep 0.5
done
docker logs "$ioc_container" 2>&1 | grep -q 'iocRun: All initialization complete' ||
    { docker logs "$ioc_container" 2>&1 | tail -20 >&2; fail "no 'iocRun: All initialization complete' within 30 s"; }
ready="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"

# The client works in the image's EPICS bin dir, as `iocdock client` does.
values="$(docker run --rm --network host "$image" bash -c \
    "cd \"\$EPICS_BASE/bin/\$EPICS_HOST_ARCH\" && ./caget -w 3 ramper:$ioc && sleep 1.5 && ./caget -w 3 ramper:$ioc")" ||
    fail "caget ramper:$ioc failed: $values"
first="$(awk 'NR == 1 { print $2 }' <<<"$values")"
second="$(awk 'NR == 2 { print $2 }' <<<"$values")"
[[ -n "$first" && -n "$second" && "$first" != "$second" ]] ||
    fail "ramper:$ioc did not change: $(tr '\n' ' ' <<<"$values")"
printf 'PASS: IOC ready in %s s; caget ramper:%s %s -> %s\n' "$ready" "$ioc" "$first" "$second"
