#!/bin/sh
# The PACS the tests run against (tests/orthanc.py): Debian's orthanc and orthanc-dicomweb packages.
# `make test` calls this best effort (where it cannot install, the PACS tests skip and say why);
# CI calls it with --required, so a missing server fails the build instead of skipping.
if command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; then
    exit 0
fi
as_root=""
[ "$(id -u)" = 0 ] || as_root="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ -z "$as_root" ] || sudo -n true 2>/dev/null; }; then
    export DEBIAN_FRONTEND=noninteractive
    $as_root apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null 2>&1 ||
        { $as_root apt-get update -qq && $as_root apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null; }
fi
if command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; then
    exit 0
fi
echo "install_orthanc: Orthanc could not be installed (needs apt-get as root); the PACS tests will be skipped" >&2
[ "$1" = "--required" ] && exit 1
exit 0
