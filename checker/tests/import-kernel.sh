#!/bin/sh
# Fetches Debian's linux-source-7.2 with a private apt configuration (the
# machine's own apt sources are never touched), unpacks only the livepatch
# selftests and samples, and runs the import comparison tests on them.
# Usage: checker/tests/import-kernel.sh [WORKDIR]   (default /tmp/klpcheck-linux-src)
set -eu
work=${1:-/tmp/klpcheck-linux-src}
repo=$(cd "$(dirname "$0")/../.." && pwd)
src="$work/linux-source-7.2"
if [ ! -d "$src/tools/testing/selftests/livepatch/test_modules" ]; then
    mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/deb"
    echo 'deb http://deb.debian.org/debian sid main' > "$work/apt/sources.list"
    set -- -o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
    apt-get "$@" update >/dev/null
    (cd "$work" && apt-get "$@" download linux-source-7.2)
    dpkg-deb -x "$work"/linux-source-7.2_*_all.deb "$work/deb"
    tar -xJf "$work/deb/usr/src/linux-source-7.2.tar.xz" -C "$work" \
        --wildcards 'linux-source-7.2/tools/testing/selftests/livepatch/*' \
        'linux-source-7.2/samples/livepatch/*'
    rm -rf "$work/deb" "$work"/linux-source-7.2_*_all.deb
fi
cd "$repo"
KLP_LINUX_SRC="$src" cargo test -p klp-checker --test import -- --nocapture
