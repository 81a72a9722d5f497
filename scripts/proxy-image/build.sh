#!/usr/bin/env bash
# Build a stand-in for the official `haproxy` image that the built-in service
# socketProxy runs, from Debian bookworm's haproxy package (no image can be pulled on
# these machines): mmdebstrap rootfs -> docker import, with the official image's
# entrypoint script, command, user and config folder.
#
#   scripts/proxy-image/build.sh [--rebuild] [IMAGE]
#
# IMAGE defaults to what `iocdock swarm --gen-built-in-services` renders with the
# default settings: registry.iasf/<image>:<tag> of the entry `socket-proxy` of
# imsrvs/images.yaml. An image that exists with the current recipe revision is kept
# unless --rebuild is given. The haproxy inside is Debian's (2.6), not the tag's:
# the tag is only a name. Messages go to stderr.
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror (default: the first one apt uses here)
#   REGISTRY        registry part of the default name (default registry.iasf)
set -euo pipefail

# Bump when the recipe changes, so an image built by an older recipe is rebuilt.
readonly RECIPE_REV=1

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

say() { printf 'proxy-image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# image and tag of the images.yaml entry `haproxy`: "<key>:\n  image: X\n  tag: Y"
default_image() {
    awk '
        $1 == "socket-proxy:" { inside = 1; next }
        inside && /^[^ #]/ { inside = 0 }
        inside && $1 == "image:" { image = $2 }
        inside && $1 == "tag:" { tag = $2 }
        END { gsub(/"/, "", image); gsub(/"/, "", tag); if (image != "" && tag != "") print image ":" tag }
    ' "$repo/imsrvs/images.yaml"
}

# shellcheck source=../lib/args.sh
source "$here/../lib/args.sh"
image_script_args "" "$@"
if [[ -z "$image" ]]; then
    entry="$(default_image)"
    [[ -n "$entry" ]] || die "imsrvs/images.yaml has no entry socket-proxy with image and tag"
    image="${REGISTRY:-registry.iasf}/$entry"
fi

command -v docker >/dev/null || die "no docker client in PATH"
timeout 10 docker info >/dev/null 2>&1 || die "the Docker daemon does not answer"

keep_current_image iocdock.proxy-image.rev "$RECIPE_REV"

[[ $EUID -eq 0 ]] || die "building the rootfs needs root (mmdebstrap in root mode)"

# shellcheck source=../lib/debian.sh
source "$here/../lib/debian.sh"
mirror="$(debian_mirror)"
ensure_mmdebstrap

t_start=$EPOCHREALTIME
work="$(mktemp -d /tmp/iocdock-proxy-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

say "mmdebstrap bookworm + haproxy from $mirror"
mmdebstrap --quiet --variant=essential --include=haproxy \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$rootfs" "$mirror" >&2
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
[[ -x "$rootfs/usr/sbin/haproxy" ]] || die "the rootfs has no /usr/sbin/haproxy"

# The official image: its entrypoint adds -W (master-worker) and -db (foreground) to
# `haproxy ...`, and its configuration lives in /usr/local/etc/haproxy.
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/etc/haproxy"
cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# as the official haproxy image's entrypoint
set -e
if [ "${1#-}" != "$1" ]; then
    set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
SH
chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
# Debian's package ships a configuration of its own, for its systemd unit; the
# official image has none.
rm -f "$rootfs/etc/haproxy/haproxy.cfg"

say "docker import -> $image"
replaced="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
tar -C "$rootfs" --numeric-owner -cf - . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
        --change 'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
        --change 'USER haproxy' \
        --change 'WORKDIR /var/lib/haproxy' \
        --change "LABEL iocdock.proxy-image.rev=$RECIPE_REV" \
        --message "Debian bookworm haproxy as $image" \
        - "$image" >/dev/null
if [[ -n "$replaced" && "$replaced" != "$(docker image inspect --format '{{.Id}}' "$image")" ]]; then
    docker image rm "$replaced" >/dev/null 2>&1 || say "kept the previous image ${replaced#sha256:} (still in use)"
fi
# The whole output first: `| head -n1` under pipefail fails when haproxy is still
# writing its second line as head exits (SIGPIPE), which a loaded machine makes likely.
version="$(docker run --rm --network none --entrypoint haproxy "$image" -v 2>&1)" ||
    die "$image: haproxy does not run: $version"
version="${version%%$'\n'*}"
size="$(docker image inspect --format '{{.Size}}' "$image")"
say "built $image ($version, $((size / 1000000)) MB) in $(elapsed "$t_start") s"
