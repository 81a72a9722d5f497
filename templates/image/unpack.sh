#!/bin/sh
# unpack.sh ARCHIVE DEST: unpacks a source archive into DEST and prints the name of
# the one top-level folder it must hold. Archives are unpacked inside the build
# container, so whatever paths an archive holds, it cannot write outside the image.
set -eu
archive="$1"
dest="$2"
scratch="$dest/.iocdock-unpack"
rm -rf "$scratch"
mkdir -p "$scratch"
case "$archive" in
    *.zip) unzip -q "$archive" -d "$scratch" ;;
    *.tar.gz | *.tgz) tar -xzf "$archive" -C "$scratch" ;;
    *.tar.bz2) tar -xjf "$archive" -C "$scratch" ;;
    *.tar.xz) tar -xJf "$archive" -C "$scratch" ;;
    *.tar) tar -xf "$archive" -C "$scratch" ;;
    *) echo "unpack.sh: $archive: unknown archive type" >&2; exit 1 ;;
esac
set -- "$scratch"/*
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "unpack.sh: $(basename "$archive") must hold exactly one top-level folder" >&2
    exit 1
fi
name="$(basename "$1")"
rm -rf "${dest:?}/$name"
mv "$1" "$dest/$name"
rmdir "$scratch"
echo "$name"
