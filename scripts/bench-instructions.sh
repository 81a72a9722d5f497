#!/usr/bin/env bash
# Instruction counts (valgrind's callgrind) of two iocdock binaries on the benchmark's
# repository of N IOCs: a before/after comparison of a change that a loaded machine
# cannot time, since counted instructions do not depend on what else runs.
#
#   scripts/bench-instructions.sh OLD_BINARY NEW_BINARY [N_IOCS]   (default 1000)
#
# Prints one line per command: both counts and the change in per cent. Figures go
# into docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -ge 2 ]] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
command -v valgrind >/dev/null || { echo "bench-instructions.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
old=$(realpath "$1")
new=$(realpath "$2")
n=${3:-1000}
template=$PWD/templates/test
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset MOUNT_PATH
names=()
for ((i = 1; i <= n; i++)); do names+=("ioc$i"); done

count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        awk '/Collected :/ { print $NF }'
}

# measure BINARY: "label count" lines, each command on a repository of its own.
measure() {
    local bin=$1
    export IOCDOCK_HOME
    IOCDOCK_HOME=$(mktemp -d "$work/home.XXXXXX")
    echo "create of $n names|$(count "$bin" create "${names[@]}" -f "$template/test.ini")"
    for args in "list" "list -d" "list -p" "list -i name=99"; do
        # shellcheck disable=SC2086
        echo "$args|$(count "$bin" $args)"
    done
    "$bin" exec "${names[@]}" --add-src-file "$template" >/dev/null 2>&1
    "$bin" exec "${names[@]}" --deploy >/dev/null 2>&1
    echo "exec --deploy of $n, unchanged|$(count "$bin" exec "${names[@]}" --deploy)"
    echo "exec -b of $n|$(count "$bin" exec -b --backup-path "$work/backups-$RANDOM")"
    echo "list -p, $n exported|$(count "$bin" list -p)"
}

paste -d'|' <(measure "$old") <(measure "$new" | cut -d'|' -f2) |
    awk -F'|' '{ printf "%-36s %15d %15d %+7.1f%%\n", $1, $2, $3, ($3 - $2) * 100 / $2 }'
