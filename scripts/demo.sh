#!/usr/bin/env bash
# The main job, on the built-in lab: build it with the contest's two faults, collect the evidence
# over SSH from the operator host, diagnose, fix (least privilege), verify with the same probes,
# write the answers per phase and the report (ja and en; md, html, pdf) under reports/demo/, take
# the lab down, and replay each answer on a fresh lab in its phase's initial state.
# Needs root (the lab uses network namespaces). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
target/release/postmortem demo --out reports/demo
