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
