#!/usr/bin/env bash
# Install what postmortem and its tests need on Debian, as root. Safe to run again: each step
# is skipped or a no-op when its work is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in pkg-config libssl-dev gcc fonts-noto-cjk poppler-utils ca-certificates curl openssh-server openssh-client \
    iproute2 nftables bird2 iputils-ping python3 python3-apt python3-venv python3-dev dpkg-dev apt-utils sudo util-linux bsdutils passwd chromium zsh less dnsmasq-base busybox-static; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "install-deps: installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

# The network-bound steps that share nothing run at once: npm and the ansible venv in the
# background, typst and asciinema (one venv) in the foreground; each failure stops the script.
bg=()
# remark-gfm + remark-breaks for the Markdown rendering test.
if [ ! -d tests/remark/node_modules/remark-gfm ]; then (
  echo "install-deps: npm ci in tests/remark"
  npm ci --prefix tests/remark --no-audit --no-fund --loglevel=error
) & bg+=($!); fi


# ansible-core for the lab's kubespray run, pinned: up to 2.17 it words the contest's message
# exactly ("Failed to update apt cache: unknown reason").
venv=/opt/postmortem-lab/ansible
if [ ! -x "$venv/bin/ansible-playbook" ]; then (
  echo "install-deps: ansible-core 2.15.13 in $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core==2.15.13
) & bg+=($!); fi

# python-openstackclient 5.2.0 (microstack's client, OpenStack ussuri): server01's `openstack` in
# the lab, against the lab's API. OpenStack's ussuri pins, with the three Python 3.11 needs
# (src/lab/osc-constraints.txt); some old packages compile (gcc, python3-dev). A failed install
# is removed whole: the lab refuses to start without it and says how to install it.
osc=${OSC_VENV:-/opt/postmortem-lab/osc}
if [ ! -x "$osc/bin/openstack" ]; then (
  echo "install-deps: python-openstackclient 5.2.0 in $osc"
  rm -rf "$osc"
  if ! { /usr/bin/python3 -m venv "$osc" &&
         "$osc/bin/pip" install -q python-openstackclient==5.2.0 -c src/lab/osc-constraints.txt &&
         "$osc/bin/openstack" --version >/dev/null; }; then
    rm -rf "$osc"
    echo "install-deps: python-openstackclient==5.2.0 (with src/lab/osc-constraints.txt) could not be installed" >&2
    exit 1
  fi
) & bg+=($!); fi


# typst (PDF), pinned to one minor version: the report's Typst source is tested with it, and a
# newer typst may change the language. First choice: the compiler prebuilt on PyPI (the `typst`
# wheel, seconds to install), in the tools venv, with scripts/typst-wheel.py as the `typst`
# command (/usr/local/bin/typst). Fallback when the wheel cannot be had: cargo install typst-cli
# (8 to 15 minutes on 2 cores). A typst of the pinned minor version already on PATH is kept.
TYPST_VERSION=0.15.0
tools=/opt/postmortem-tools
have_typst=$(typst --version 2>/dev/null | awk '{print $2}' || true)
if [ "${have_typst%.*}" != "${TYPST_VERSION%.*}" ]; then
  [ -x "$tools/bin/pip" ] || /usr/bin/python3 -m venv "$tools"
  if "$tools/bin/pip" install -q "typst==$TYPST_VERSION"; then
    echo "install-deps: typst $TYPST_VERSION from the prebuilt wheel in $tools"
    sed "1s|.*|#!$tools/bin/python3|" scripts/typst-wheel.py > "$tools/bin/typst.new"
    chmod 755 "$tools/bin/typst.new" && mv "$tools/bin/typst.new" "$tools/bin/typst"
    "$tools/bin/typst" --version >/dev/null
    ln -sf "$tools/bin/typst" /usr/local/bin/typst
  else
    echo "install-deps: the typst wheel $TYPST_VERSION could not be installed; cargo install --locked typst-cli $TYPST_VERSION (8 to 15 minutes on 2 cores)"
    cargo install --locked typst-cli --version "$TYPST_VERSION"
  fi
fi

# asciinema (the player of the asciicast files `journal export --asciicast` writes), pinned: the
# tests play a recorded session with it.
if [ ! -x "$tools/bin/asciinema" ]; then
  echo "install-deps: asciinema 2.4.0 in $tools"
  [ -x "$tools/bin/pip" ] || /usr/bin/python3 -m venv "$tools"
  "$tools/bin/pip" install -q asciinema==2.4.0
fi

for pid in "${bg[@]}"; do
  wait "$pid" || { echo "install-deps: a background step failed (its output is above)" >&2; exit 1; }
done
