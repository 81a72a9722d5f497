#!/usr/bin/env bash
# Build the demo "generic IOC image": a real EPICS base 7 IOC that runs the st.cmd
# iocdock generates, plus Channel Access client tools, made from package registries
# only (no image can be pulled on these machines).
#
#   scripts/demo-image/build.sh [--rebuild] [IMAGE]     (default iocdock-demo/ioc-exec:2.1)
#
# Steps: mmdebstrap a Debian bookworm rootfs (python3, libstdc++6, hostname, procps,
# bash) -> pip-install the epicscorelibs wheel (EPICS base libraries and dbd files)
# and caproto into it -> lay out EPICS base, the client tools, iocLogServer and the
# IOC where IocDock's own IOC image has them -> docker import.
# See scripts/demo-image/README.md for the layout. An image that exists with the
# current recipe revision is kept unless --rebuild is given. Messages go to stderr.
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror (default: the first one apt uses here)
set -euo pipefail

readonly DEFAULT_IMAGE="iocdock-demo/ioc-exec:2.1"
# Bump when the recipe changes, so an image built by an older recipe is rebuilt.
readonly RECIPE_REV=6
readonly BIN="ST-IOC"
readonly EPICS_TOP="/opt/EPICS"
readonly HOST_ARCH="linux-x86_64"
# Where IocDock's IOC image (imtools/image-factory) installs EPICS base; there is no
# /opt/EPICS/base, so tools are found through EPICS_BASE/EPICS_HOST_ARCH or PATH.
readonly EPICS_BASE_DIR="$EPICS_TOP/base-7.0.8.1"
readonly BASE_BIN_DIR="$EPICS_BASE_DIR/bin/$HOST_ARCH"
readonly SITE_PACKAGES="/usr/local/lib/python3.11/dist-packages"

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

say() { printf 'demo-image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# shellcheck source=../lib/args.sh
source "$here/../lib/args.sh"
image_script_args "$DEFAULT_IMAGE" "$@"

command -v docker >/dev/null || die "no docker client in PATH"
timeout 10 docker info >/dev/null 2>&1 || die "the Docker daemon does not answer"

keep_current_image iocdock.demo-image.rev "$RECIPE_REV"

[[ $EUID -eq 0 ]] || die "building the rootfs needs root (mmdebstrap in root mode)"

# Versions pinned where the test harness pins them, so the image runs the EPICS base
# that tests/epics checks generated databases against.
requirement() {
    local line
    line="$(grep -E "^$1[[:space:]]*[~=<>!]" "$repo/tests/epics/requirements.txt" | head -n1)"
    [[ -n "$line" ]] || die "tests/epics/requirements.txt pins no $1"
    printf '%s' "${line%%#*}" | tr -d '[:space:]'
}
epics_req="$(requirement epicscorelibs)"
caproto_req="$(requirement caproto)"

# shellcheck source=../lib/debian.sh
source "$repo/scripts/lib/debian.sh"
mirror="$(debian_mirror)"
ensure_mmdebstrap

t_start=$EPOCHREALTIME
work="$(mktemp -d /tmp/iocdock-demo-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

# ---------------------------------------------------------------------------------
say "mmdebstrap bookworm from $mirror"
t0=$EPOCHREALTIME
# Documentation and translations are a third of a minimal system and no IOC reads
# them; unsafe-io: a throwaway rootfs needs no fsync after every file dpkg writes.
mmdebstrap --quiet --variant=essential \
    --include=python3,libstdc++6,hostname,procps,bash \
    --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$rootfs" "$mirror" >&2
# apt's lists and caches only make the image bigger; nothing is installed later.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
say "rootfs done in $(elapsed "$t0") s"

# ---------------------------------------------------------------------------------
# The wheels are staged without running anything inside the rootfs. --no-deps: the
# IOC loads the shared libraries by path, so epicscorelibs' Python helpers
# (setuptools_dso, numpy) are not needed at run time.
say "pip install $epics_req $caproto_req"
t0=$EPOCHREALTIME
python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$rootfs$SITE_PACKAGES" \
    --platform manylinux2014_x86_64 --only-binary=:all: \
    --python-version 3.11 --implementation cp \
    "$epics_req" "$caproto_req" >&2
say "pip done in $(elapsed "$t0") s"

epics_pkg="$SITE_PACKAGES/epicscorelibs"
[[ -f "$rootfs$epics_pkg/lib/libdbCore.so" && -f "$rootfs$epics_pkg/dbd/base.dbd" ]] ||
    die "the epicscorelibs wheel has no lib/libdbCore.so or dbd/base.dbd"

# ---------------------------------------------------------------------------------
# EPICS base where IocDock's image has it: libraries and dbd files of the wheel, the
# client tools and iocLogServer in bin/<arch>.
base="$rootfs$EPICS_BASE_DIR"
mkdir -p "$base/lib" "$base/bin/$HOST_ARCH" "$rootfs$EPICS_TOP/RUN"
ln -s "$epics_pkg/lib" "$base/lib/$HOST_ARCH"
ln -s "$epics_pkg/dbd" "$base/dbd"
install -D -m 0644 "$here/ioc.py" "$base/lib/python/ioc.py"
install -D -m 0644 "$here/ca_tools.py" "$base/lib/python/ca_tools.py"
install -D -m 0644 "$here/ioc_log_server.py" "$base/lib/python/ioc_log_server.py"
for tool in caget caput cainfo camonitor; do
    printf '#!/bin/sh\n# Channel Access client on caproto (see %s).\nexec /usr/bin/python3 -u %s %s "$@"\n' \
        "$EPICS_BASE_DIR/lib/python/ca_tools.py" "$EPICS_BASE_DIR/lib/python/ca_tools.py" "$tool" \
        >"$base/bin/$HOST_ARCH/$tool"
    chmod 0755 "$base/bin/$HOST_ARCH/$tool"
done
printf '#!/bin/sh\n# EPICS iocLogServer (see %s).\nexec /usr/bin/python3 -u %s "$@"\n' \
    "$EPICS_BASE_DIR/lib/python/ioc_log_server.py" "$EPICS_BASE_DIR/lib/python/ioc_log_server.py" \
    >"$base/bin/$HOST_ARCH/iocLogServer"
chmod 0755 "$base/bin/$HOST_ARCH/iocLogServer"

# The IOC the generated st.cmd names: its shebang is the executable, it reads envPaths
# from iocBoot/ioc<BIN> and loads dbd/<BIN>.dbd relative to TOP.
ioc_top="$rootfs$EPICS_TOP/IOC/$BIN"
mkdir -p "$ioc_top/bin/$HOST_ARCH" "$ioc_top/dbd" "$ioc_top/iocBoot/ioc$BIN"
printf '#!/bin/sh\n# The IOC executable %s: EPICS base through Python ctypes.\nexec /usr/bin/python3 -u %s %s "$@"\n' \
    "$BIN" "$EPICS_BASE_DIR/lib/python/ioc.py" "$BIN" >"$ioc_top/bin/$HOST_ARCH/$BIN"
chmod 0755 "$ioc_top/bin/$HOST_ARCH/$BIN"
printf 'epicsEnvSet("IOC","ioc%s")\nepicsEnvSet("TOP","%s")\nepicsEnvSet("EPICS_BASE","%s")\n' \
    "$BIN" "$EPICS_TOP/IOC/$BIN" "$EPICS_BASE_DIR" >"$ioc_top/iocBoot/ioc$BIN/envPaths"

# One dbd without includes, because st.cmd loads it with no include path: base.dbd
# (records, device support, links, the CA server) plus system (the `system` command)
# and dlload. Every include is inlined where it stands, repeats too: each record type
# includes dbCommon.dbd inside its body, and the loader ignores repeated menus.
dbd_src="$rootfs$epics_pkg/dbd"
expand_dbd() {
    local file="$1" depth="$2" line
    [[ -f "$dbd_src/$file" ]] || die "dbd file $file is not in the epicscorelibs wheel"
    ((depth < 16)) || die "dbd includes nest deeper than 16 at $file (a cycle?)"
    while IFS= read -r line || [[ -n "$line" ]]; do
        if [[ "$line" =~ ^[[:space:]]*include[[:space:]]+\"([^\"]+)\" ]]; then
            expand_dbd "${BASH_REMATCH[1]}" $((depth + 1))
        else
            printf '%s\n' "$line"
        fi
    done <"$dbd_src/$file"
}
{
    expand_dbd base.dbd 0
    expand_dbd system.dbd 0
    expand_dbd dlload.dbd 0
} >"$ioc_top/dbd/$BIN.dbd"

# ---------------------------------------------------------------------------------
say "docker import -> $image"
t0=$EPOCHREALTIME
replaced="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
tar -C "$rootfs" --numeric-owner -cf - . |
    docker import \
        --change "WORKDIR $EPICS_TOP" \
        --change "ENV PATH=$BASE_BIN_DIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV EPICS_BASE=$EPICS_BASE_DIR" \
        --change "ENV EPICS_HOST_ARCH=$HOST_ARCH" \
        --change "ENV EPICS_CA_AUTO_ADDR_LIST=YES" \
        --change "LABEL iocdock.ioc-bins=$BIN" \
        --change "LABEL iocdock.demo-image.rev=$RECIPE_REV" \
        --change 'CMD ["/bin/bash"]' \
        - "$image" >/dev/null
say "import done in $(elapsed "$t0") s"
# A rebuild leaves the previous image without a name; it is ours, so it goes too
# (unless a container still uses it, which docker refuses and we accept).
if [[ -n "$replaced" && "$replaced" != "$(docker image inspect --format '{{.Id}}' "$image")" ]]; then
    docker image rm "$replaced" >/dev/null 2>&1 || say "kept the previous image ${replaced#sha256:} (still in use)"
fi

# The layout the tests rely on: tools through PATH and through EPICS_BASE/EPICS_HOST_ARCH,
# and no /opt/EPICS/base that would hide a fixed path.
docker run --rm --network none "$image" sh -c '
    set -e
    test ! -e /opt/EPICS/base
    test "$(command -v caget)" = "$EPICS_BASE/bin/$EPICS_HOST_ARCH/caget"
    test -x "$EPICS_BASE/bin/$EPICS_HOST_ARCH/iocLogServer"
    test -f "$EPICS_BASE/lib/$EPICS_HOST_ARCH/libdbCore.so"' ||
    die "$image does not have the layout of IocDock's IOC image"

size="$(docker image inspect --format '{{.Size}}' "$image")"
say "built $image ($((size / 1000000)) MB) in $(elapsed "$t_start") s"
