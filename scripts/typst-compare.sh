#!/usr/bin/env bash
# The typst wheel's compiler against typst-cli, on the committed example journals' reports and
# answers: the same page count and the same extracted text, page for page. Needs both: the
# wheel's `typst` (/opt/postmortem-tools/bin/typst, from install-deps.sh) and typst-cli
# (~/.cargo/bin/typst, or TYPST_CLI). Prints one line per PDF and exits 1 on any difference.
# POSTMORTEM names a built postmortem binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=${TYPST_WHEEL:-/opt/postmortem-tools/bin/typst}
cli=${TYPST_CLI:-$HOME/.cargo/bin/typst}
for t in "$wheel" "$cli"; do
  [ -x "$t" ] || { echo "typst-compare: $t is missing (install both: see the script's header)" >&2; exit 2; }
done
export PATH="$HOME/.cargo/bin:$PATH"
pm=${POSTMORTEM:-target/release/postmortem}
[ -n "${POSTMORTEM:-}" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bad=0
for j in reports/example/journal.jsonl reports/example-manual/journal.jsonl; do
  for side in wheel cli; do
    t=$wheel; [ $side = cli ] && t=$cli
    POSTMORTEM_TYPST=$t "$pm" report --journal "$j" --format pdf \
      --out "$work/$side/$(dirname "$j")" >/dev/null 2>&1 || true
  done
  for pdf in "$work/wheel/$(dirname "$j")"/*.pdf; do
    other="$work/cli/${pdf#"$work/wheel/"}"
    name=${pdf#"$work/wheel/"}
    pw=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
    pc=$(pdfinfo "$other" 2>/dev/null | awk '/^Pages:/ {print $2}')
    if [ "$pw" = "$pc" ] && cmp -s <(pdftotext -layout "$pdf" - 2>/dev/null) <(pdftotext -layout "$other" - 2>/dev/null); then
      same=$(cmp -s "$pdf" "$other" && echo "byte-identical" || echo "same pages and text")
      echo "$name: $pw pages, $same"
    else
      echo "$name: DIFFERS (wheel $pw pages, cli $pc pages)"
      diff <(pdftotext -layout "$pdf" - 2>/dev/null) <(pdftotext -layout "$other" - 2>/dev/null) | head -20 || true
      bad=1
    fi
  done
done
echo "wheel: $("$wheel" --version); cli: $("$cli" --version)"
exit $bad
