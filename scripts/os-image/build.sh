#!/usr/bin/env bash
# Build the OS image that the image-build tests start the EPICS base image FROM (the
# setting image_os_image; on a site it is ubuntu:24.04, which cannot be pulled here):
# a minimal Debian bookworm root with apt, pointed at this machine's Debian mirror so
# the build's `apt-get install` steps work, made with mmdebstrap and `docker import`.
#
#   scripts/os-image/build.sh [--rebuild] [IMAGE]    (default iocdock-test/debian:bookworm)
#
# An image that exists with the current recipe revision is kept unless --rebuild is
# given. Messages go to stderr. Needs root.
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror (default: the first one apt uses here)
set -euo pipefail

readonly DEFAULT_IMAGE="iocdock-test/debian:bookworm"
# Bump when the recipe changes, so an image built by an older recipe is rebuilt.
readonly RECIPE_REV=1

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

say() { printf 'os-image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# shellcheck source=../lib/args.sh
source "$here/../lib/args.sh"
image_script_args "$DEFAULT_IMAGE" "$@"

timeout 10 docker info >/dev/null 2>&1 || die "the Docker daemon does not answer"
keep_current_image iocdock.os-image.rev "$RECIPE_REV"
[[ $EUID -eq 0 ]] || die "building the root tree needs root (mmdebstrap in root mode)"

# shellcheck source=../lib/debian.sh
source "$repo/scripts/lib/debian.sh"
mirror="$(debian_mirror)"
ensure_mmdebstrap

work="$(mktemp -d /tmp/iocdock-os-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
say "mmdebstrap bookworm (minbase) from $mirror"
mmdebstrap --quiet --variant=minbase \
    --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$work/rootfs" "$mirror" >&2
# The lists are fetched again by the build's apt-get update.
rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin
tar -C "$work/rootfs" -c . | docker import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL iocdock.os-image.rev=$RECIPE_REV" \
    - "$image" >/dev/null
say "$image built"
