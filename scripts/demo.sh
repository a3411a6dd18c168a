#!/usr/bin/env bash
# The main job, on the built-in lab: build it with the contest's two faults, collect the evidence
# over SSH from the operator host, diagnose, fix (least privilege), verify with the same probes,
# write the answers per phase and the report (ja and en; md, html, pdf) under reports/demo/, take
# the lab down, and replay each answer on a fresh lab in its phase's initial state.
# Needs root (the lab uses network namespaces). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The build needs only cargo and a C compiler: where cargo is already there, it runs while
# install-deps installs the rest (2 cores: the build is CPU-bound, the installs mostly wait on
# the network).
build=
if command -v cargo >/dev/null && command -v cc >/dev/null; then
  cargo build --release --quiet & build=$!
fi
bash scripts/install-deps.sh
[ -z "$build" ] || wait "$build"
cargo build --release --quiet
target/release/postmortem demo --out reports/demo
