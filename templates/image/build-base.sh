#!/bin/sh
# build-base.sh: compiles EPICS base from $ARCHIVE and installs it in $EPICS_BASE
# (INSTALL_LOCATION), then drops the sources. Run by the base Dockerfile with the
# values of build.env; a site may override this file in $TEMPLATE_PATH/image/.
set -eu
here="$(pwd)"
mkdir -p "$TOP/.base-src"
src="$TOP/.base-src/$(sh "$here/unpack.sh" "$here/$ARCHIVE" "$TOP/.base-src")"
printf '\nINSTALL_LOCATION=%s\n' "$EPICS_BASE" >> "$src/configure/CONFIG_SITE"
cd "$src"
make -j"${JOBS:-2}"
cd "$here"
rm -rf "$TOP/.base-src"
test -d "$EPICS_BASE/bin/$EPICS_HOST_ARCH" || {
    echo "build-base.sh: the build did not install $EPICS_BASE/bin/$EPICS_HOST_ARCH" >&2
    exit 1
}
