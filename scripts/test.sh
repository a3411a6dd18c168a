#!/usr/bin/env bash
# Run every test of postmortem: installs what the tests need first (see install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo test
