#!/bin/sh
# make-st-ioc.sh: generates the IOC executable $EXECUTABLE in $TOP/IOC/$EXECUTABLE
# with makeBaseApp.pl, links the modules built by build-modules.sh into it and makes
# it: bin/$EPICS_HOST_ARCH/$EXECUTABLE, dbd/$EXECUTABLE.dbd, iocBoot/ioc$EXECUTABLE/
# envPaths, and the db files of modules that have some (asynRecord.db).
# st-ioc.mk holds the modules' dbd and library lines, st-ioc-db.mk their
# DB_INSTALLS lines. A site may override this file in $TEMPLATE_PATH/image/.
set -eu
here="$(pwd)"
top="$TOP/IOC/$EXECUTABLE"
app="${EXECUTABLE}App"
rm -rf "$top"
mkdir -p "$top"
cp "$TOP/SUPPORT/modules.paths" "$TOP/IOC/RELEASE.local"
cd "$top"
makeBaseApp.pl -t ioc "$EXECUTABLE"
echo "$EXECUTABLE" | makeBaseApp.pl -i -t ioc "$EXECUTABLE"
chmod u+x "iocBoot/ioc$EXECUTABLE/st.cmd"

# `system` in st.cmd (iocdock's startup files use it).
echo 'registrar(iocshSystemCommand)' > "$app/src/systemCommand.dbd"
{
    echo
    echo "${EXECUTABLE}_DBD += systemCommand.dbd"
    echo
    echo '# PV Access server'
    echo 'ifdef EPICS_QSRV_MAJOR_VERSION'
    printf '\t%s_LIBS += qsrv\n' "$EXECUTABLE"
    printf '\t%s_LIBS += $(EPICS_BASE_PVA_CORE_LIBS)\n' "$EXECUTABLE"
    printf '\t%s_DBD += PVAServerRegister.dbd\n' "$EXECUTABLE"
    printf '\t%s_DBD += qsrv.dbd\n' "$EXECUTABLE"
    echo 'endif'
    echo
    cat "$here/st-ioc.mk"
} > "$here/lines.mk"

# Inserts FILE after the line MARKER of a makeBaseApp.pl Makefile.
insert_after() {
    awk -v marker="$1" -v lines="$3" '
        { print }
        $0 == marker && !done { while ((getline line < lines) > 0) print line; done = 1 }
        END { if (!done) exit 3 }
    ' "$2" > "$2.new" || {
        echo "make-st-ioc.sh: $2 has no line \"$1\" to add the modules after" >&2
        exit 1
    }
    mv "$2.new" "$2"
}
insert_after "#${EXECUTABLE}_LIBS += xxx" "$app/src/Makefile" "$here/lines.mk"
if [ -s "$here/st-ioc-db.mk" ]; then
    insert_after "#DB += xxx.db" "$app/Db/Makefile" "$here/st-ioc-db.mk"
fi

make -j"${JOBS:-2}"
test -x "bin/$EPICS_HOST_ARCH/$EXECUTABLE" || {
    echo "make-st-ioc.sh: make did not produce bin/$EPICS_HOST_ARCH/$EXECUTABLE" >&2
    exit 1
}
