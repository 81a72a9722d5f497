# Shared by the scripts that make Debian root trees for test images (sourced, not run).
# Callers define say() and die().

# The Debian mirror apt uses on this machine, or $DEBIAN_MIRROR.
debian_mirror() {
    local mirror="${DEBIAN_MIRROR:-}"
    if [[ -z "$mirror" ]]; then
        mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    fi
    if [[ -z "$mirror" ]]; then
        mirror="$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
    fi
    [[ -n "$mirror" ]] || die "no Debian mirror found in apt's sources; set DEBIAN_MIRROR"
    printf '%s' "$mirror"
}

# Installs mmdebstrap when missing.
ensure_mmdebstrap() {
    command -v mmdebstrap >/dev/null && return 0
    say "installing mmdebstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends mmdebstrap >&2 ||
        { apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 &&
            apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends mmdebstrap >&2; }
}
