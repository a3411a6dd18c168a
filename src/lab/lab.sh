#!/bin/bash
# The lab's builder: namespaces, "VMs", network, services. Called by `postmortem lab`, which
# checks root and packages first and sets: LAB (state dir), FAULTS (comma list), NODES (count).
# Every lab namespace is named pm-*; nothing is created in the machine's own network namespace.
set -euo pipefail
: "${LAB:?}" "${NODES:=2}" "${FAULTS=ip-forward,sg-bgp}"
SELF="$LAB/lab.sh"
ANSIBLE_VENV="${ANSIBLE_VENV:-/opt/postmortem-lab/ansible}"
has_fault() { [[ ",$FAULTS," == *",$1,"* ]]; }
nsx() { local ns=$1; shift; ip netns exec "pm-$ns" "$@"; }
log() { [ -n "${LAB_VERBOSE:-}" ] && echo "lab: $*" >&2 || true; }

# --- the address plan ----------------------------------------------------------------------
# node i (1-based): fixed 192.168.222.x, floating 10.20.20.y, pod block 10.233.z.0/24
node_fixed() { case $1 in 1) echo 192.168.222.222;; 2) echo 192.168.222.157;; *) echo "192.168.222.$((10 + $1))";; esac; }
node_float() { case $1 in 1) echo 10.20.20.235;; 2) echo 10.20.20.206;; *) echo "10.20.20.$((100 + $1))";; esac; }
node_block() { case $1 in 1) echo 10.233.96;; 2) echo 10.233.92;; *) echo "10.233.$((100 + $1))";; esac; }
node_group() { [ "$1" = 1 ] && echo master || echo worker; }

sysctls() { # the per-namespace basics; new namespaces copy some values from the root one
  local ns=$1 fwd=$2
  nsx "$ns" sh -c "echo $fwd > /proc/sys/net/ipv4/ip_forward
    for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > \$f; done
    for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > \$f; done 2>/dev/null || true"
}

veth() { # veth NS_A IF_A NS_B IF_B: created directly inside its namespaces
  ip -n "pm-$1" link add "$2" type veth peer name "$4" netns "pm-$3"
  ip -n "pm-$1" link set "$2" up
  ip -n "pm-$3" link set "$4" up
}

# --- VMs: a network namespace plus pid, mount and uts namespaces, with an overlay root ------
vm_start() { # vm_start NAME ROLE
  local name=$1 role=$2 d="$LAB/vms/$1"
  mkdir -p "$d"
  echo "$role" > "$d/role"
  # Mounts propagate into the VM (slave), never out of it.
  ip netns exec "pm-$name" setsid unshare --pid --fork --kill-child --mount-proc --mount --uts \
    --propagation slave /bin/bash "$SELF" vm-init "$name" "$role" \
    >>"$d/console.log" 2>&1 < /dev/null &
  echo $! > "$d/unshare.pid"
}

vm_pid() { # the host PID of a VM's PID 1
  local u; u=$(cat "$LAB/vms/$1/unshare.pid" 2>/dev/null) || return 1
  local c; c=$(cat "/proc/$u/task/$u/children" 2>/dev/null | awk '{print $1}')
  [ -n "$c" ] && echo "$c"
}

vm_wait() { # until the VM says it is up
  local i
  for i in $(seq 1 300); do
    [ -e "$LAB/vms/$1/up" ] && return 0
    sleep 0.05
  done
  echo "lab: VM $1 did not come up; its console:" >&2
  tail -20 "$LAB/vms/$1/console.log" >&2
  return 1
}

vm_stop() {
  local u; u=$(cat "$LAB/vms/$1/unshare.pid" 2>/dev/null) || return 0
  rm -f "$LAB/vms/$1/up"
  kill -KILL "$u" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    { [ -d "/proc/$u" ] && ! grep -q '^State:.*Z' "/proc/$u/status" 2>/dev/null; } || break
    sleep 0.02
  done
}

# Runs as PID 1 inside the VM.
vm_init() {
  local name=$1 role=$2 d="$LAB/vms/$1"
  hostname "$name"
  for dir in etc var root home usr opt srv; do
    mkdir -p "$d/upper/$dir" "$d/work/$dir"
    mount -t overlay "vm-$dir" -o "lowerdir=/$dir,upperdir=$d/upper/$dir,workdir=$d/work/$dir" "/$dir"
  done
  mount -t tmpfs tmpfs /tmp
  # The VM gets its own /run; the lab's state directory (under /run) is bound back into it.
  # So are the lab's network namespaces, for the stand-ins of the control planes.
  mkdir -p /tmp/.lab /tmp/.netns
  mount --bind "$LAB" /tmp/.lab
  mount --rbind /run/netns /tmp/.netns
  mount -t tmpfs tmpfs /run
  mkdir -p "$LAB" /run/sshd /run/bird /run/netns
  mount --move /tmp/.lab "$LAB"
  mount --move /tmp/.netns /run/netns
  chmod 755 /run
  # Only the network part of /proc/sys is the VM's own; kernel.* and fs.* stay read-only.
  mount --bind /proc/sys /proc/sys
  mount -o remount,bind,ro /proc/sys
  mount --bind /proc/sys/net /proc/sys/net
  mount -o remount,bind,rw /proc/sys/net
  [ -e "$d/provisioned" ] || { provision "$name" "$role"; touch "$d/provisioned"; }
  # A boot starts from the kernel's defaults; only what /etc/sysctl.d says is applied again.
  echo 0 > /proc/sys/net/ipv4/ip_forward
  sysctl --system >/dev/null 2>&1 || true
  /usr/sbin/sshd -f /etc/ssh/sshd_config
  if [ "$role" = node ]; then
    bird -c /etc/bird/bird.conf -s /run/bird/bird.ctl
  fi
  touch "$d/up"
  trap 'exit 0' TERM
  while :; do sleep 3600 & wait $! || true; done
}

add_user() { # add_user NAME: passwordless sudo, the contest's key
  local u=$1
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
  usermod -p '*' "$u"
  install -d -m 700 -o "$u" -g "$u" "/home/$u/.ssh"
  install -m 600 -o "$u" -g "$u" "$LAB/keys/ictsc_rsa.pub" "/home/$u/.ssh/authorized_keys"
  echo "$u ALL=(ALL) NOPASSWD:ALL" > "/etc/sudoers.d/90-lab-$u"
  chmod 440 "/etc/sudoers.d/90-lab-$u"
}

provision() { # first boot, inside the VM: its own /etc, users, keys, services' configuration
  local name=$1 role=$2
  echo "$name" > /etc/hostname
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" > /etc/hosts
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > /etc/resolv.conf
  cat > /etc/os-release <<'OS'
NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
OS
  rm -f /etc/sysctl.conf /etc/sysctl.d/*.conf
  rm -f /etc/ssh/ssh_host_* /etc/ssh/sshd_config.d/*.conf
  cp "$LAB/hostkeys/$name/"ssh_host_* /etc/ssh/
  cat > /etc/ssh/sshd_config <<'SSHD'
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowTcpForwarding yes
UseDNS no
PrintMotd no
LogLevel ERROR
MaxSessions 64
MaxStartups 64
Subsystem sftp /usr/lib/openssh/sftp-server
SSHD
  case $role in
    hypervisor)
      add_user user
      install -m 600 -o user -g user "$LAB/keys/ictsc_rsa" /home/user/.ssh/ictsc_rsa
      install -m 644 -o user -g user "$LAB/known_hosts.nodes" /home/user/.ssh/known_hosts
      has_fault ip-forward || echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/60-microstack.conf
      kubespray_tree /home/user/kubespray
      chown -R user:user /home/user/kubespray
      ln -sf "$ANSIBLE_VENV/bin/ansible-playbook" /usr/local/bin/ansible-playbook
      ln -sf "$ANSIBLE_VENV/bin/ansible" /usr/local/bin/ansible
      mkdir -p /usr/local/lib/lab
      cp "$LAB/openstack.py" /usr/local/lib/lab/openstack.py
      printf '#!/bin/sh\nexec sudo -n LAB=%s /usr/bin/python3 /usr/local/lib/lab/openstack.py "$@"\n' "$LAB" > /usr/local/bin/openstack
      chmod 755 /usr/local/bin/openstack
      ;;
    node)
      add_user ubuntu
      # A Kubernetes node routes for its pods (kubespray persists this).
      echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-kubernetes-cri.conf
      rm -f /etc/apt/sources.list.d/*
      echo 'deb [trusted=yes] http://archive.ubuntu.com/ubuntu focal main' > /etc/apt/sources.list
      printf 'Acquire::http::Timeout "5";\nAcquire::Retries "0";\n' > /etc/apt/apt.conf.d/99lab
      echo '203.0.113.80 archive.ubuntu.com' >> /etc/hosts
      rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
      # An Ubuntu image's apt state: lists two days old, and update-notifier's success stamp,
      # which only a successful update renews and which kubespray's cache_valid_time reads first.
      mkdir -p /var/lib/apt/lists/partial /var/lib/apt/periodic
      echo 'APT::Update::Post-Invoke-Success {"touch /var/lib/apt/periodic/update-success-stamp 2>/dev/null || true";};' \
        > /etc/apt/apt.conf.d/15update-stamp
      touch -d '2 days ago' /var/lib/apt/lists /var/lib/apt/lists/partial /var/lib/apt/periodic/update-success-stamp
      mkdir -p /etc/bird /usr/local/lib/lab
      cp "$LAB/bird/$name.conf" /etc/bird/bird.conf
      cp "$LAB/calicoctl.py" /usr/local/lib/lab/calicoctl.py
      printf '#!/bin/sh\nexec /usr/bin/python3 /usr/local/lib/lab/calicoctl.py "$@"\n' > /usr/local/bin/calicoctl
      chmod 755 /usr/local/bin/calicoctl
      if [ "$name" = node1 ]; then
        cp "$LAB/kubectl.py" /usr/local/lib/lab/kubectl.py
        printf '#!/bin/sh\nexec sudo -n LAB=%s /usr/bin/python3 /usr/local/lib/lab/kubectl.py "$@"\n' "$LAB" > /usr/local/bin/kubectl
        chmod 755 /usr/local/bin/kubectl
        mkdir -p /etc/kubernetes
        kubeconfig > /etc/kubernetes/admin.conf
        chmod 600 /etc/kubernetes/admin.conf
        # As the contest's operator did after the deployment: a copy for ubuntu.
        install -d -o ubuntu -g ubuntu /home/ubuntu/.kube
        install -m 600 -o ubuntu -g ubuntu /etc/kubernetes/admin.conf /home/ubuntu/.kube/config
      fi
      ;;
  esac
}

kubespray_tree() { # a small kubespray: its inventory layout and the APT task, verbatim
  local k=$1 i
  mkdir -p "$k/inventory/mycluster" "$k/roles/kubernetes/preinstall/tasks"
  cat > "$k/ansible.cfg" <<'CFG'
[defaults]
roles_path = roles
host_key_checking = True
retry_files_enabled = False
interpreter_python = auto_silent
CFG
  cat > "$k/cluster.yml" <<'PLAY'
---
- hosts: k8s_cluster
  gather_facts: true
  any_errors_fatal: false
  module_defaults:
    apt:
      # The lab's only change to kubespray's behaviour: one retry instead of five, so a failing
      # run takes seconds, not a minute. The task and its message are kubespray's own.
      update_cache_retries: 1
  roles:
    - { role: kubernetes/preinstall, tags: preinstall }
PLAY
  cat > "$k/roles/kubernetes/preinstall/tasks/main.yml" <<'TASKS'
---
- name: Update package management cache (APT)
  apt:
    update_cache: yes
    cache_valid_time: 3600
  when: ansible_os_family == "Debian"
  tags:
    - bootstrap-os

- name: Install packages requirements
  package:
    name: lab-hello
    state: present
  when: ansible_os_family == "Debian"
TASKS
  {
    echo "all:"
    echo "  hosts:"
    for i in $(seq 1 "$NODES"); do
      echo "    node$i:"
      echo "      ansible_host: $(node_float "$i")"
      echo "      ip: $(node_fixed "$i")"
      echo "      access_ip: $(node_fixed "$i")"
    done
    echo "  children:"
    echo "    kube_control_plane:"
    echo "      hosts:"
    echo "        node1:"
    echo "    kube_node:"
    echo "      hosts:"
    for i in $(seq 1 "$NODES"); do echo "        node$i:"; done
    echo "    etcd:"
    echo "      hosts:"
    echo "        node1:"
    echo "    k8s_cluster:"
    echo "      children:"
    echo "        kube_control_plane:"
    echo "        kube_node:"
    echo "    calico_rr:"
    echo "      hosts: {}"
  } > "$k/inventory/mycluster/hosts.yaml"
}

kubeconfig() { # a kubeconfig of kubespray's shape; its key is made up, and secret-looking on purpose
  local key; key=$(head -c 48 /dev/urandom | base64 -w0)
  cat <<KUBE
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://127.0.0.1:6443
  name: cluster.local
contexts:
- context:
    cluster: cluster.local
    user: kubernetes-admin
  name: kubernetes-admin@cluster.local
current-context: kubernetes-admin@cluster.local
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    client-key-data: $key
KUBE
}

k8s_state() { # the cluster as the kubectl stand-in sees it: nodes, and the pods lab up wired
  mkdir -p "$LAB/k8s"
  local t; t=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  {
    echo '{"nodes": ['
    local i sep=""
    for i in $(seq 1 "$NODES"); do
      printf '%s{"name": "node%d", "ip": "%s", "block": "%s", "master": %s, "created": "%s"}\n' \
        "$sep" "$i" "$(node_fixed "$i")" "$(node_block "$i")" "$([ "$i" = 1 ] && echo true || echo false)" "$t"
      sep=","
    done
    echo '], "pods": ['
    sep=""
    while read -r pod node ip; do
      printf '%s{"name": "%s", "node": "node%s", "ip": "%s", "image": "busybox", "args": ["sleep", "infinity"], "created": "%s"}\n' \
        "$sep" "$pod" "$node" "$ip" "$t"
      sep=","
    done < "$LAB/pods"
    echo ']}'
  } > "$LAB/k8s/state.json"
}

# --- the network ---------------------------------------------------------------------------
net_up() {
  local i
  for ns in operator internet server01 qrouter; do ip netns add "pm-$ns"; done
  for i in $(seq 1 "$NODES"); do ip netns add "pm-node$i"; done
  for ns in operator internet qrouter; do sysctls $ns 1; done
  sysctls server01 "$(has_fault ip-forward && echo 0 || echo 1)"
  for ns in operator internet server01 qrouter; do ip -n "pm-$ns" link set lo up; done

  # operator -- server01 (management network)
  veth operator eth0 server01 mgmt0
  ip -n pm-operator addr add 198.18.0.10/24 dev eth0
  ip -n pm-server01 addr add 198.18.0.1/24 dev mgmt0

  # internet -- server01 (uplink); the mirror lives on 203.0.113.80 in internet
  veth internet eth0 server01 uplink0
  ip -n pm-internet addr add 198.51.100.1/24 dev eth0
  ip -n pm-internet addr add 203.0.113.80/32 dev lo
  ip -n pm-server01 addr add 198.51.100.2/24 dev uplink0
  ip -n pm-server01 route add default via 198.51.100.1

  # server01 br-ex -- qrouter (external side), as microstack's br-ex
  ip -n pm-server01 link add br-ex type bridge
  ip -n pm-server01 link set br-ex up
  ip -n pm-server01 addr add 10.20.20.1/24 dev br-ex
  veth server01 qg-port qrouter qg0
  ip -n pm-server01 link set qg-port master br-ex
  ip -n pm-qrouter addr add 10.20.20.2/24 dev qg0
  ip -n pm-qrouter route add default via 10.20.20.1

  # server01 br-int -- qrouter (internal side) and the VMs' tap ports
  ip -n pm-server01 link add br-int type bridge
  ip -n pm-server01 link set br-int up
  veth server01 qr-port qrouter qr0
  ip -n pm-server01 link set qr-port master br-int
  ip -n pm-qrouter addr add 192.168.222.1/24 dev qr0
  nsx server01 sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables' 2>/dev/null || true

  # masquerade the cloud's external network out of the uplink, as microstack does
  nsx server01 nft -f - <<NFT
table ip microstack-nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.20.20.0/24 oifname "uplink0" masquerade
  }
}
NFT

  local qnat="table ip neutron-qrouter {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
  }
}"
  nsx qrouter nft -f - <<<"$qnat"
  for i in $(seq 1 "$NODES"); do
    local fixed float block
    fixed=$(node_fixed "$i"); float=$(node_float "$i"); block=$(node_block "$i")
    sysctls "node$i" 0
    ip -n "pm-node$i" link set lo up
    veth "node$i" ens3 server01 "tap-node$i"
    ip -n pm-server01 link set "tap-node$i" master br-int
    ip -n "pm-node$i" addr add "$fixed/24" dev ens3
    ip -n "pm-node$i" route add default via 192.168.222.1
    ip -n pm-qrouter addr add "$float/32" dev qg0
    nsx qrouter nft add rule ip neutron-qrouter prerouting ip daddr "$float" dnat to "$fixed"
    nsx qrouter nft add rule ip neutron-qrouter postrouting ip saddr "$fixed" oifname qg0 snat to "$float"
  done
  # nodes route each other's pod blocks only through BGP; the node itself forwards for its pods
  for i in $(seq 1 "$NODES"); do sysctls "node$i" 1; done
}

pods_up() { # pods wired the Calico way: /32 on eth0, default via 169.254.1.1, proxy ARP on cali*
  local i
  for i in $(seq 1 "$NODES"); do
    local block; block=$(node_block "$i")
    if [ "$i" = 1 ]; then pod_add shell1 1 "$block.3"; pod_add shell2 1 "$block.4";
    elif [ "$i" = 2 ]; then pod_add shell3 2 "$block.2";
    else pod_add "shell$((i + 1))" "$i" "$block.2"; fi
  done
}

pod_add() { # pod_add NAME NODE IP
  local pod=$1 node=$2 ip=$3 cali
  cali="cali$(echo -n "$pod" | sha1sum | cut -c1-11)"
  ip netns add "pm-pod-$pod"
  sysctls "pod-$pod" 0
  ip -n "pm-pod-$pod" link set lo up
  ip -n "pm-node$node" link add "$cali" type veth peer name eth0 netns "pm-pod-$pod"
  ip -n "pm-node$node" link set "$cali" up
  ip -n "pm-pod-$pod" link set eth0 up
  ip -n "pm-pod-$pod" addr add "$ip/32" dev eth0
  ip -n "pm-pod-$pod" route add 169.254.1.1 dev eth0 scope link
  ip -n "pm-pod-$pod" route add default via 169.254.1.1 dev eth0
  nsx "node$node" sh -c "echo 1 > /proc/sys/net/ipv4/conf/$cali/proxy_arp; echo 0 > /proc/sys/net/ipv4/neigh/$cali/proxy_delay"
  ip -n "pm-node$node" route add "$ip/32" dev "$cali" scope link
  echo "$pod $node $ip" >> "$LAB/pods"
}

bird_configs() { # Calico's full-mesh iBGP, AS 64512, Calico's timers
  local i j
  mkdir -p "$LAB/bird"
  for i in $(seq 1 "$NODES"); do
    local me; me=$(node_fixed "$i")
    {
      echo "router id $me;"
      echo 'protocol device { scan time 10; }'
      echo 'protocol direct { ipv4; interface "ens3"; }'
      echo 'protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; learn; merge paths on; scan time 10; }'
      echo "protocol static { ipv4; route $(node_block "$i").0/24 blackhole; }"
      echo 'template bgp bgp_template {'
      echo '  local as 64512;'
      echo '  ipv4 { import all; export where source = RTS_STATIC; next hop self; };'
      echo '  connect delay time 2; connect retry time 5; error wait time 5,30;'
      echo '}'
      for j in $(seq 1 "$NODES"); do
        [ "$i" = "$j" ] && continue
        local peer; peer=$(node_fixed "$j")
        echo "protocol bgp Mesh_${peer//./_} from bgp_template { neighbor $peer as 64512; source address $me; }"
      done
    } > "$LAB/bird/node$i.conf"
  done
}

mirror_up() { # a real HTTP apt mirror with one package, in the internet namespace
  local m="$LAB/mirror"
  mkdir -p "$m/pkg/DEBIAN" "$m/ubuntu/pool/main" "$m/ubuntu/dists/focal/main/binary-amd64"
  printf 'Package: lab-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: lab <lab@example.invalid>\nDescription: a package of the lab mirror\n' > "$m/pkg/DEBIAN/control"
  dpkg-deb --build "$m/pkg" "$m/ubuntu/pool/main/lab-hello_1.0_all.deb" >/dev/null
  (cd "$m/ubuntu" && dpkg-scanpackages pool/main /dev/null 2>/dev/null > dists/focal/main/binary-amd64/Packages \
    && gzip -kf dists/focal/main/binary-amd64/Packages \
    && apt-ftparchive -o APT::FTPArchive::Release::Suite=focal -o APT::FTPArchive::Release::Codename=focal \
       -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures=amd64 \
       release dists/focal > dists/focal/Release)
  nsx internet setsid /usr/bin/python3 -m http.server --bind 203.0.113.80 80 --directory "$m" \
    > "$LAB/mirror.log" 2>&1 < /dev/null &
}

keys() { # the contest's key, every VM's host keys, and the known_hosts that go with them
  mkdir -p "$LAB/keys"
  ssh-keygen -q -t rsa -b 3072 -N '' -C ictsc -f "$LAB/keys/ictsc_rsa"
  : > "$LAB/known_hosts"
  : > "$LAB/known_hosts.nodes"
  local name
  for name in server01 $(seq -f 'node%g' 1 "$NODES"); do
    mkdir -p "$LAB/hostkeys/$name"
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$LAB/hostkeys/$name/ssh_host_ed25519_key"
  done
  local k; k=$(cut -d' ' -f1,2 "$LAB/hostkeys/server01/ssh_host_ed25519_key.pub")
  echo "198.18.0.1 $k" >> "$LAB/known_hosts"
  local i
  for i in $(seq 1 "$NODES"); do
    k=$(cut -d' ' -f1,2 "$LAB/hostkeys/node$i/ssh_host_ed25519_key.pub")
    echo "$(node_float "$i") $k" >> "$LAB/known_hosts"
    echo "$(node_float "$i"),$(node_fixed "$i") $k" >> "$LAB/known_hosts.nodes"
  done
}

ssh_config() {
  {
    echo "# The lab's hosts, reached as in the contest: server01 directly, the nodes through it."
    echo "Host server01"
    echo "  HostName 198.18.0.1"
    echo "  User user"
    local i
    for i in $(seq 1 "$NODES"); do
      local alias="node$i"
      [ "$i" = 1 ] && alias="node1 ictsc-master"
      [ "$i" = 2 ] && alias="node2 ictsc-worker"
      echo "Host $alias"
      echo "  HostName $(node_float "$i")"
      echo "  User ubuntu"
      echo "  ProxyJump server01"
    done
    echo "Host *"
    echo "  IdentityFile $LAB/keys/ictsc_rsa"
    echo "  IdentitiesOnly yes"
    echo "  UserKnownHostsFile $LAB/known_hosts"
    echo "  StrictHostKeyChecking yes"
    echo "  ConnectTimeout 10"
  } > "$LAB/ssh_config"
}

up() {
  mkdir -p "$LAB/vms"
  echo "$FAULTS" > "$LAB/faults"
  echo "$NODES" > "$LAB/nodes"
  : > "$LAB/pods"
  keys
  ssh_config
  bird_configs
  net_up
  security_groups_init
  pods_up
  k8s_state
  mirror_up
  vm_start server01 hypervisor
  local i
  for i in $(seq 1 "$NODES"); do vm_start "node$i" node; done
  vm_wait server01
  for i in $(seq 1 "$NODES"); do vm_wait "node$i"; done
}

security_groups_init() {
  /usr/bin/python3 "$LAB/openstack.py" --lab-init "$LAB" "$NODES" "$FAULTS"
}

down() {
  local d
  for d in "$LAB"/vms/*/; do [ -d "$d" ] && vm_stop "$(basename "$d")"; done
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep '^pm-' || true); do
    local p
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  vm-init) vm_init "$2" "$3" ;;
  vm-start) vm_start "$2" "$(cat "$LAB/vms/$2/role")"; vm_wait "$2" ;;
  vm-stop) vm_stop "$2" ;;
  vm-pid) vm_pid "$2" ;;
  *) echo "usage: lab.sh up|down|vm-start NAME|vm-stop NAME|vm-pid NAME" >&2; exit 2 ;;
esac
