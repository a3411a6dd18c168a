#!/usr/bin/env bash
# The main job, for now: record a few real commands and notes on this machine into a fresh
# journal, then render the report (ja and en; md, html, pdf) under reports/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
pm=target/release/postmortem
out=reports/demo
rm -rf "$out"
mkdir -p "$out"
export POSTMORTEM_JOURNAL="$out/journal.jsonl"
$pm journal init --title "postmortem demo: evidence from $(hostname)" "$POSTMORTEM_JOURNAL" >/dev/null
$pm note "転送設定を確認する。Check whether this machine forwards IPv4."
$pm record --host "$(hostname)" -- sysctl net.ipv4.ip_forward
$pm record --host "$(hostname)" -- sh -c 'grep -rs ip_forward /etc/sysctl.conf /etc/sysctl.d/ || echo "(not persisted)"'
$pm record --host "$(hostname)" -- ip route
$pm note "証跡を記録した。The evidence is recorded; the report follows."
$pm journal verify "$POSTMORTEM_JOURNAL"
$pm report --out "$out"
echo "report written to $out/"
