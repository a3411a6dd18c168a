#!/usr/bin/env bash
# Run every test of postmortem: installs what the tests need first (see install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The build needs only cargo and a C compiler: where cargo is already there, it runs while
# install-deps installs the rest (2 cores: the build is CPU-bound, the installs mostly wait on
# the network).
build=
if command -v cargo >/dev/null && command -v cc >/dev/null; then
  cargo test --no-run --quiet & build=$!
fi
bash scripts/install-deps.sh
[ -z "$build" ] || wait "$build"
cargo test --no-fail-fast
