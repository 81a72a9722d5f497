#!/bin/sh
# packages.sh install|purge: the OS packages of an image build (`iocdock image build`).
# install: apt-get install $PACKAGES; purge: remove $PURGE (the build tools) and what
# only they needed, and the package lists, so the image keeps only what IOCs run with.
# A site may override this file in $TEMPLATE_PATH/image/ (e.g. for another package
# manager).
set -eu
export DEBIAN_FRONTEND=noninteractive
case "${1:-}" in
    install)
        [ -n "$PACKAGES" ] || exit 0
        apt-get update
        # shellcheck disable=SC2086 # a list of package names
        apt-get install -y $PACKAGES
        ;;
    purge)
        if [ -n "$PURGE" ]; then
            # shellcheck disable=SC2086
            apt-get remove -y --purge $PURGE
            apt-get autoremove -y
        fi
        apt-get clean
        rm -rf /var/lib/apt/lists/*
        ;;
    *)
        echo "packages.sh: expected install or purge" >&2
        exit 2
        ;;
esac
