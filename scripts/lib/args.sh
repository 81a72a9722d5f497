# The command line of the test-image scripts, `[--rebuild] [IMAGE]` (sourced, not
# run): sets `rebuild` (yes or no) and `image` (the first argument of the call when
# none is given); --help prints the script's header comment. Callers define die().
image_script_args() {
    local default="$1" arg
    shift
    rebuild=no
    image="$default"
    for arg in "$@"; do
        case "$arg" in
            --rebuild) rebuild=yes ;;
            -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
            -*) die "unknown option $arg (see --help)" ;;
            *) image="$arg" ;;
        esac
    done
}

# Exits 0, saying so, when $image exists with its recipe revision label $1 equal to $2
# and no --rebuild was given: the scripts rebuild only what an older recipe made.
keep_current_image() {
    local label="$1" revision="$2" current
    current="$(timeout 10 docker image inspect --format "{{index .Config.Labels \"$label\"}}" \
        "$image" 2>/dev/null || true)"
    if [[ $rebuild == no && "$current" == "$revision" ]]; then
        say "$image exists (recipe revision $revision); nothing to do (--rebuild to build anyway)"
        exit 0
    fi
}
