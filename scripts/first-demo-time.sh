#!/usr/bin/env bash
# How long a newcomer waits for the first answer: a fresh clone of this repository, built with an
# empty cargo home (every crate downloaded and compiled) and an empty target directory, then
# `bash scripts/demo.sh` as the README says. Prints the time to the first answer written
# (reports/demo/answer.phase1.ja.md) and to the end of the demo (answers, report, replays).
# Meanwhile, the Python tools that install-deps installs (typst's wheel, asciinema, ansible-core)
# are installed again into a fresh venv, to time them as a fresh machine would (they run beside
# the build there too). Debian's packages and the Rust toolchain are taken as present: apt and
# rustup are the parts no project can shorten.
# Needs root (the demo's lab uses network namespaces); no other lab may run at the same time.
# Usage: bash scripts/first-demo-time.sh [KEEP_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/postmortem-first-demo.XXXXXX)}
mkdir -p "$work"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_HOME="$work/cargo-home"
mkdir -p "$CARGO_HOME"
t0=$(date +%s)
git clone -q "$src" "$work/postmortem"
(
  python3 -m venv "$work/tools" &&
    "$work/tools/bin/pip" install -q typst==0.15.0 asciinema==2.4.0 ansible-core==2.15.13 &&
    echo "first-demo-time: the Python tools in a fresh venv: $(($(date +%s) - t0)) s"
) > "$work/tools.log" 2>&1 &
tools=$!
cd "$work/postmortem"
bash scripts/demo.sh > "$work/demo.log" 2>&1 &
demo=$!
first=
while kill -0 "$demo" 2>/dev/null; do
  if [ -z "$first" ] && [ -s reports/demo/answer.phase1.ja.md ]; then
    first=$(($(date +%s) - t0))
    echo "first-demo-time: first answer after $first s"
  fi
  sleep 2
done
wait "$demo" || { echo "first-demo-time: the demo failed; its log: $work/demo.log" >&2; tail -20 "$work/demo.log" >&2; exit 1; }
end=$(($(date +%s) - t0))
[ -n "$first" ] || first=$end
wait "$tools" || true
cat "$work/tools.log"
echo "first-demo-time: fresh clone to first answer $first s, to the end of the demo $end s ($(nproc) cores)"
[ -n "${1:-}" ] || rm -rf "$work"
