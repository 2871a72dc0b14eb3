#!/bin/sh
# Install githeal into a fresh virtualenv exactly as the image does (the Dockerfile RUNs this file;
# tests/ship/test_image.py runs it too, so the two cannot drift apart).
#   install.sh VENV LOCKFILE WHEEL...
# Dependencies come only from the hashed lock file (pip --require-hashes); the githeal wheel itself
# is installed without resolving anything else (--no-deps), so nothing unpinned enters the image.
set -eu
venv=$1
lock=$2
shift 2
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --require-hashes --only-binary=:all: -r "$lock"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps "$@"
"$venv/bin/pip" check
