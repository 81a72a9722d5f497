#!/bin/sh
# build-modules.sh: compiles the support modules of modules.list in
# $TOP/SUPPORT/<folder of the archive>, in the order listed (each after the modules it
# needs). Before each make, $TOP/SUPPORT/RELEASE.local names EPICS base and the
# modules it needs, which the modules' configure/RELEASE include. The paths of the
# modules built go to $TOP/SUPPORT/modules.paths for the IOC executable.
# modules.list: "name archive VARIABLE DEPENDENCY,VARIABLES" ("-" for none).
# A site may override this file in $TEMPLATE_PATH/image/.
set -eu
here="$(pwd)"
support="$TOP/SUPPORT"
mkdir -p "$support"
: > "$support/modules.paths"
while read -r name archive variable depends; do
    [ -n "$name" ] || continue
    echo "==> $name ($archive)"
    folder="$(sh "$here/unpack.sh" "$here/sources/$archive" "$support")"
    {
        echo "EPICS_BASE=$EPICS_BASE"
        if [ "$depends" != - ]; then
            for dependency in $(echo "$depends" | tr ',' ' '); do
                grep "^$dependency=" "$support/modules.paths"
            done
        fi
    } > "$support/RELEASE.local"
    (cd "$support/$folder" && make -j"${JOBS:-2}")
    echo "$variable=$support/$folder" >> "$support/modules.paths"
done < modules.list
