#!/usr/bin/env bash
# The main job on a fresh machine, in one command: install iocdock, bring up Docker in
# swarm mode, build the demo EPICS IOC image, create the five test IOCs
# worker_test_1..5, deploy them as swarm services, start the EPICS client service,
# show the panel and read a PV through the client.
#
#   scripts/quickstart.sh [--home DIR]     (default $IOCDOCK_HOME or /opt/IocDockHome)
#
# Safe to run again: existing IOCs are kept, regenerated and redeployed.
#
# This machine is a single-node swarm: its only node is a manager, and the default
# placement of IOCs (`node.role==worker`, setting ioc_default_constraints) would keep
# them Pending. The test IOCs therefore get `[DEPLOY] constraints = node.role==manager`.
set -euo pipefail
cd "$(dirname "$0")/.."

home="${IOCDOCK_HOME:-/opt/IocDockHome}"
if [[ "${1:-}" == --home && -n "${2:-}" ]]; then home=$2; fi
export IOCDOCK_HOME=$home
say() { printf '\n==> %s\n' "$*" >&2; }

say "install"
./install.sh --home "$home"
iocdock=$(command -v iocdock || echo /usr/local/bin/iocdock)

say "Docker Engine in swarm mode"
scripts/docker-up.sh

# The demo image stands in for the cluster's generic IOC image: it is tagged with the
# name the IOCs and the built-in client service use (`<registry>/ioc-exec:<tag>`),
# since no registry can be reached here.
say "demo EPICS IOC image"
scripts/demo-image/build.sh
registry=$("$iocdock" config REGISTRY_COMMON_NAME)
port=$("$iocdock" config REGISTRY_PORT)
[[ "$port" == 443 ]] || registry="$registry:$port"
tag=$(awk '/^ioc-exec:/ { found = 1 } found && /tag:/ { gsub(/[" ]/, "", $2); print $2; exit }' imsrvs/images.yaml)
image="$registry/ioc-exec:$tag"
docker tag iocdock-demo/ioc-exec:2.1 "$image"

say "test IOCs"
iocs=(worker_test_1 worker_test_2 worker_test_3 worker_test_4 worker_test_5)
existing=" $("$iocdock" list) "
for ioc in "${iocs[@]}"; do
    if [[ "$existing" != *" $ioc "* ]]; then
        "$iocdock" create "$ioc" -f templates/test/test.ini
    fi
    # The demo image is plain EPICS base: no autosave, caPutLog or devIocStats.
    "$iocdock" set "$ioc" -o "image=$image" module=
    # Every IOC serves its own PVs: ramper:<name>, limit:<name>, ...
    "$iocdock" set "$ioc" -s db -o "load=ramper.db, name=$ioc"
    "$iocdock" set "$ioc" -s deploy -o "constraints=node.role==manager"
done
"$iocdock" exec "${iocs[@]}" --add-src-file templates/test
"$iocdock" exec "${iocs[@]}" --deploy
"$iocdock" exec "${iocs[@]}" --add-snapshot-file

say "deploy"
"$iocdock" swarm --deploy-all-iocs
# The built-in services need the registry logins (pull and push) and the monitoring and
# grafana passwords; a demo home gets random ones (read them in settings.yaml).
settings=$home/settings.yaml
random_password() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
add_setting() {
    local tmp
    tmp=$(mktemp "$home/.settings.XXXXXX")
    { cat "$settings" 2>/dev/null || true; printf '%s\n' "$@"; } >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$settings"
}
for identity in login:iocdock push:iocdock-push; do
    kind=${identity%%:*} user=${identity#*:}
    if [[ -z "$("$iocdock" config "REGISTRY_${kind^^}_USERNAME")" ]]; then
        add_setting "registry_${kind}_username: $user" "registry_${kind}_password: $(random_password)"
        say "wrote demo registry_${kind}_* credentials into $settings"
    fi
done
for key in monitoring_admin_password grafana_admin_password; do
    if [[ -z "$("$iocdock" config "$key")" ]]; then
        add_setting "$key: $(random_password)"
        say "wrote a demo $key into $settings"
    fi
done
"$iocdock" swarm --gen-built-in-services
"$iocdock" service client --deploy

# A task runs once its first health check has passed, one check interval (30 s)
# after the IOC started.
say "waiting for the IOCs to run"
for _ in $(seq 120); do
    running=$("$iocdock" list -p | grep -c 'Running' || true)
    ((running >= ${#iocs[@]})) && break
    sleep 1
done
"$iocdock" list -p
"$iocdock" swarm --show-digest --service-type ioc global

say "reading a PV through the client service"
for _ in $(seq 30); do
    "$iocdock" client caget ramper:worker_test_1 && exit 0
    sleep 1
done
exit 1
