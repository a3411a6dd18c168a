#!/bin/bash
# The lab's builder: namespaces, "VMs", network, services. Called by `postmortem lab`, which
# checks root and packages first and sets: LAB (state dir), FAULTS (comma list), NODES (count),
# DEPLOYED (1: the state in which phase 2 was found; otherwise the state in which the task begins:
# the node VMs SHUTOFF, no Kubernetes until the lab's kubespray has run to its end), CALICO
# (Calico's mode as kubespray deploys it: ipip, vxlan or native).
# Every lab namespace is named pm-*; nothing is created in the machine's own network namespace.
set -euo pipefail
: "${LAB:?}" "${NODES:=2}" "${FAULTS=ip-forward,sg-bgp}" "${DEPLOYED:=0}" "${CALICO:=ipip}"
SELF="$LAB/lab.sh"
ANSIBLE_VENV="${ANSIBLE_VENV:-/opt/postmortem-lab/ansible}"
OSC_VENV="${OSC_VENV:-/opt/postmortem-lab/osc}"
has_fault() { [[ ",$FAULTS," == *",$1,"* ]]; }
nsx() { local ns=$1; shift; ip netns exec "pm-$ns" "$@"; }
log() { [ -n "${LAB_VERBOSE:-}" ] && echo "lab: $*" >&2 || true; }

# --- the address plan ----------------------------------------------------------------------
# node i (1-based): fixed 192.168.222.x, floating 10.20.20.y, pod block 10.233.z.0/24
node_fixed() { case $1 in 1) echo 192.168.222.222;; 2) echo 192.168.222.157;; *) echo "192.168.222.$((10 + $1))";; esac; }
node_float() { case $1 in 1) echo 10.20.20.235;; 2) echo 10.20.20.206;; *) echo "10.20.20.$((100 + $1))";; esac; }
# Pod blocks stay inside kubespray's pod subnet 10.233.64.0/18 (64 to 127), skipping node1's and node2's.
node_block() {
  case $1 in
    1) echo 10.233.96;; 2) echo 10.233.92;;
    *) local b=$((61 + $1)); [ $b -ge 92 ] && b=$((b + 1)); [ $b -ge 96 ] && b=$((b + 1)); echo "10.233.$b";;
  esac
}
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
vm_start() { # vm_start NAME ROLE: power on (boot); the VM's disk is its upper layer, kept
  local name=$1 role=$2 d="$LAB/vms/$1"
  mkdir -p "$d"
  echo "$role" > "$d/role"
  rm -f "$d/up"
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
  for i in $(seq 1 600); do
    [ -e "$LAB/vms/$1/up" ] && return 0
    sleep 0.05
  done
  echo "lab: VM $1 did not come up; its console:" >&2
  tail -20 "$LAB/vms/$1/console.log" >&2
  return 1
}

vm_stop() { # power off: every process of the VM ends, its NIC goes down (a guest that is off)
  local u; u=$(cat "$LAB/vms/$1/unshare.pid" 2>/dev/null) || return 0
  rm -f "$LAB/vms/$1/up" "$LAB/vms/$1/unshare.pid"
  kill -KILL "$u" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    { [ -d "/proc/$u" ] && ! grep -q '^State:.*Z' "/proc/$u/status" 2>/dev/null; } || break
    sleep 0.02
  done
  [ -e "/run/netns/pm-$1" ] && ip -n "pm-$1" link set ens3 down 2>/dev/null || true
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
  if [ "$role" = hypervisor ]; then
    # The firewall as a boot leaves it: the cloud's own tables (microstack's NAT as microstack
    # sets it up, the security groups), then /etc/nftables.conf as nftables.service loads it.
    # A rule added at run time and kept nowhere is gone.
    local fam tname
    nft list tables 2>/dev/null | while read -r _ fam tname; do
      case "$fam $tname" in
        "bridge sg-ports" | "inet sg" | "ip microstack-nat") ;;
        *) nft delete table "$fam" "$tname" ;;
      esac
    done
    microstack_nat | nft -f -
    if [ -r /etc/nftables.conf ]; then nft -f /etc/nftables.conf || echo "lab: /etc/nftables.conf did not load" >&2; fi
  fi
  if [ "$role" = node ]; then # the guest's network (netplan): its NIC and its default route
    ip link set ens3 up
    ip route replace default via 192.168.222.1 dev ens3
    lab_dhcp "$name"
  fi
  if [ "$role" = hypervisor ]; then
    # A DNS forwarder on microstack's external bridge (what the tenant subnet's dns_nameservers
    # name), forwarding to the outside's resolver; server01 itself uses it too.
    dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=10.20.20.1 \
      --server=203.0.113.53 --pid-file= >>/var/log/lab-dns.log 2>&1 &
    # The cloud's API on microstack's address; it returns once it listens.
    LAB="$LAB" /usr/bin/python3 /usr/local/lib/lab/osapi.py >>/var/log/lab-osapi.log 2>&1 \
      || echo "lab: the OpenStack API did not start (/var/log/lab-osapi.log on server01)" >&2
  fi
  /usr/sbin/sshd -f /etc/ssh/sshd_config
  # What the deployment installed starts again at boot (kubelet restarting calico-node).
  local s
  for s in /etc/lab/boot.d/*; do [ -x "$s" ] && "$s" >>/var/log/lab-boot.log 2>&1; done
  touch "$d/up"
  trap 'exit 0' TERM
  while :; do sleep 3600 & wait $! || true; done
}

# Neutron's DHCP for a node: the resolvers of its subnet (dns_nameservers) into the guest's
# resolv.conf; none: the guest's stub resolver (systemd-resolved's 127.0.0.53) has no server
# to ask, and names do not resolve.
lab_dhcp() {
  local dns d; dns=$(/usr/bin/python3 "$LAB/openstack.py" --lab-dhcp "$1")
  { if [ -n "$dns" ]; then for d in $dns; do echo "nameserver $d"; done; else echo 'nameserver 127.0.0.53'; fi
    echo 'options timeout:1 attempts:1'; } > /etc/resolv.conf
}

add_user() { # add_user NAME [password]: the contest's key; sudo without a password, or, with
  # `password` and `lab up --sudo-password`, a login password that sudo asks for too
  local u=$1
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
  usermod -p '*' "$u"
  install -d -m 700 -o "$u" -g "$u" "/home/$u/.ssh"
  install -m 600 -o "$u" -g "$u" "$LAB/keys/ictsc_rsa.pub" "/home/$u/.ssh/authorized_keys"
  if [ "${2:-}" = password ] && [ -s "$LAB/sudo-password" ]; then
    printf '%s:%s\n' "$u" "$(cat "$LAB/sudo-password")" | chpasswd
    echo "$u ALL=(ALL) ALL" > "/etc/sudoers.d/90-lab-$u"
    sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/' /etc/ssh/sshd_config
  else
    echo "$u ALL=(ALL) NOPASSWD:ALL" > "/etc/sudoers.d/90-lab-$u"
  fi
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
  rm -rf /etc/lab /etc/kubernetes /etc/cni /etc/calico /etc/containerd /root/.kube
  # Where the lab's control planes keep their state (the cloud's metadata, in effect).
  mkdir -p /etc/lab/boot.d
  echo "LAB=$LAB" > /etc/lab/env
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
MaxSessions 10
MaxStartups 64
Subsystem sftp /usr/lib/openssh/sftp-server
# Ubuntu's PATH for a login (its /etc/environment, which pam_env reads there): sysctl, ip and
# the other tools in sbin are found without a full path, as on the contest's hosts.
SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SSHD
  case $role in
    hypervisor)
      # server01 resolves through the DNS forwarder it runs on microstack's external bridge.
      printf 'nameserver 10.20.20.1\noptions timeout:1 attempts:1\n' > /etc/resolv.conf
      add_user user password
      install -m 600 -o user -g user "$LAB/keys/ictsc_rsa" /home/user/.ssh/ictsc_rsa
      install -m 644 -o user -g user "$LAB/known_hosts.nodes" /home/user/.ssh/known_hosts
      has_fault ip-forward || echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/60-microstack.conf
      # No firewall configuration of this machine's own (Debian's flushes the whole ruleset).
      rm -rf /etc/nftables.conf /etc/nftables.d
      has_fault forward-drop && host_firewall > /etc/nftables.conf
      kubespray_tree /home/user/kubespray
      chown -R user:user /home/user/kubespray
      ln -sf "$ANSIBLE_VENV/bin/ansible-playbook" /usr/local/bin/ansible-playbook
      ln -sf "$ANSIBLE_VENV/bin/ansible" /usr/local/bin/ansible
      # The cloud's API (osapi.py, started at every boot) and microstack's `openstack` (a snap
      # alias that carries the admin credentials): the real client, python-openstackclient 5.2.0.
      mkdir -p /usr/local/lib/lab
      cp "$LAB/openstack.py" "$LAB/osapi.py" /usr/local/lib/lab/
      { echo "export OS_AUTH_URL=http://10.20.20.1:5000/v3/ OS_IDENTITY_API_VERSION=3 OS_AUTH_TYPE=password"
        echo "export OS_USERNAME=admin OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=default OS_PROJECT_DOMAIN_NAME=default"
        echo "export OS_REGION_NAME=microstack OS_PASSWORD='$(cat "$LAB/openstack/password")'"
      } > /etc/lab/admin-openrc
      chown root:user /etc/lab/admin-openrc && chmod 640 /etc/lab/admin-openrc
      printf '#!/bin/sh\n. /etc/lab/admin-openrc\nexec %s/bin/openstack "$@"\n' "$OSC_VENV" > /usr/local/bin/openstack
      chmod 755 /usr/local/bin/openstack
      ;;
    node)
      # An Ubuntu 20.04 cloud image: no Kubernetes, no Calico; what kubespray installs comes
      # from the mirror when kubespray runs.
      add_user ubuntu
      rm -f /etc/apt/sources.list.d/*
      # Whatever this machine has installed of Kubernetes is not on a fresh VM (the overlay hides it).
      local b d
      for b in kubectl kubeadm kubelet calicoctl calico-node crictl; do
        for d in /usr/bin /usr/local/bin /usr/sbin /usr/local/sbin; do rm -f "$d/$b"; done
      done
      echo 'deb [trusted=yes] http://archive.ubuntu.com/ubuntu focal main' > /etc/apt/sources.list
      printf 'Acquire::http::Timeout "5";\nAcquire::Retries "0";\n' > /etc/apt/apt.conf.d/99lab
      # Names resolve through the resolver the subnet's DHCP gives (lab_dhcp), as on a cloud image.
      # The guest's DHCP client, as Ubuntu's networkctl: `networkctl renew IFACE` takes a new lease.
      printf '#!/bin/sh\n# The lab guest'"'"'s DHCP client (systemd-networkd'"'"'s networkctl, renew only).\n[ "$1" = renew ] && [ -n "$2" ] || { echo "networkctl: the lab knows renew IFACE" >&2; exit 1; }\n[ "$(id -u)" = 0 ] || { echo "Failed to renew dynamic configuration of interface $2: Access denied" >&2; exit 1; }\nexec env LAB=%s /bin/bash %s/lab.sh dhcp "$(hostname)"\n' "$LAB" "$LAB" > /usr/local/bin/networkctl
      chmod 755 /usr/local/bin/networkctl
      rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
      # An Ubuntu image's apt state: lists two days old, and update-notifier's success stamp,
      # which only a successful update renews and which kubespray's cache_valid_time reads first.
      mkdir -p /var/lib/apt/lists/partial /var/lib/apt/periodic
      echo 'APT::Update::Post-Invoke-Success {"touch /var/lib/apt/periodic/update-success-stamp 2>/dev/null || true";};' \
        > /etc/apt/apt.conf.d/15update-stamp
      touch -d '2 days ago' /var/lib/apt/lists /var/lib/apt/lists/partial /var/lib/apt/periodic/update-success-stamp
      # The task's pods run busybox's image: its tools (Debian's busybox-static, one link per
      # applet) are all a pod's command finds (kubectl.py), not the VM's own.
      mkdir -p /usr/local/lib/lab/busybox
      busybox --install -s /usr/local/lib/lab/busybox
      ;;
  esac
}

# --- the lab's kubespray: kubespray 2.16's cluster.yml for the part it models ---------------
# Its plays, roles and task names in kubespray's order; the APT task verbatim. What it installs
# comes from the mirror (packages by apt, the binaries by get_url), so nothing after the APT task
# can happen while the nodes cannot reach the mirror. The binaries are the lab's stand-ins.
kubespray_tree() {
  local k=$1 i
  mkdir -p "$k/inventory/mycluster/group_vars" "$k/roles"
  cat > "$k/ansible.cfg" <<'CFG'
[ssh_connection]
pipelining=True
[defaults]
roles_path = roles
host_key_checking = True
retry_files_enabled = False
interpreter_python = auto_silent
forks = 50
CFG
  cat > "$k/cluster.yml" <<'PLAY'
---
- hosts: k8s_cluster:etcd
  strategy: linear
  any_errors_fatal: false
  gather_facts: false
  roles:
    - { role: bootstrap-os, tags: bootstrap-os }

- hosts: k8s_cluster:etcd
  gather_facts: false
  tasks:
    - name: Gather minimal facts
      setup:
        gather_subset: '!all'

- hosts: k8s_cluster:etcd
  gather_facts: false
  any_errors_fatal: false
  module_defaults:
    apt:
      # The lab's only change to kubespray's behaviour: one retry instead of five, so a failing
      # run takes seconds, not a minute. The task and its message are kubespray's own.
      update_cache_retries: 1
  roles:
    - { role: kubernetes/preinstall, tags: preinstall }
    - { role: container-engine, tags: container-engine }
    - { role: download, tags: download }

- hosts: kube_control_plane
  gather_facts: false
  roles:
    - { role: kubernetes/control-plane, tags: master }
    - { role: kubernetes/client, tags: client }

- hosts: k8s_cluster
  gather_facts: false
  roles:
    - { role: kubernetes/kubeadm, tags: kubeadm }
    - { role: network_plugin/calico, tags: network }
PLAY
  task_file() { mkdir -p "$k/roles/$1/tasks"; cat > "$k/roles/$1/tasks/main.yml"; }
  task_file bootstrap-os <<'T'
---
- name: Fetch /etc/os-release
  raw: cat /etc/os-release
  register: os_release
  changed_when: false
T
  task_file kubernetes/preinstall <<'T'
---
- name: Create kubernetes directories
  file:
    path: "{{ item }}"
    state: directory
    owner: root
    mode: 0755
  with_items:
    - /etc/kubernetes
    - /etc/kubernetes/ssl
    - /etc/kubernetes/manifests
    - /usr/local/bin/kubernetes-scripts

- name: Update package management cache (APT)
  apt:
    update_cache: yes
    cache_valid_time: 3600
  when: ansible_os_family == "Debian"
  tags:
    - bootstrap-os

- name: Install packages requirements
  package:
    name: [conntrack, socat, ipset]
    state: present
  when: ansible_os_family == "Debian"

- name: Enable ip forwarding
  lineinfile:
    path: /etc/sysctl.d/99-sysctl.conf
    line: net.ipv4.ip_forward=1
    create: yes
    mode: 0644
  register: ip_forward_file

- name: Enable ip forwarding (apply)
  command: sysctl -p /etc/sysctl.d/99-sysctl.conf
  when: ip_forward_file.changed
T
  task_file container-engine <<'T'
---
- name: containerd | Install containerd
  apt:
    name: containerd
    state: present

- name: containerd | Create containerd configuration directory
  file:
    path: /etc/containerd
    state: directory
    mode: 0755

- name: containerd | Write containerd configuration
  copy:
    content: |
      version = 2
      [plugins."io.containerd.grpc.v1.cri".containerd]
        snapshotter = "overlayfs"
    dest: /etc/containerd/config.toml
    mode: 0644
T
  mkdir -p "$k/roles/download/defaults"
  cat > "$k/roles/download/defaults/main.yml" <<'T'
---
kube_version: v1.20.7
calico_version: v3.17.4
# The lab's mirror answers for these hosts over plain HTTP.
downloads:
  - { name: kubeadm, url: "http://storage.googleapis.com/kubernetes-release/release/{{ kube_version }}/bin/linux/amd64/kubeadm" }
  - { name: kubectl, url: "http://storage.googleapis.com/kubernetes-release/release/{{ kube_version }}/bin/linux/amd64/kubectl" }
  - { name: calicoctl, url: "http://github.com/projectcalico/calicoctl/releases/download/{{ calico_version }}/calicoctl-linux-amd64" }
  - { name: calico-node, url: "http://quay.io/calico/node/{{ calico_version }}/calico-node" }
T
  task_file download <<'T'
---
- name: download | Create dest directory on node
  file:
    path: /tmp/releases
    state: directory
    mode: 0755

- name: download_file | Download item
  get_url:
    url: "{{ item.url }}"
    dest: "/tmp/releases/{{ item.name }}"
    mode: 0755
    timeout: 10
  with_items: "{{ downloads }}"

- name: download | Install binaries
  copy:
    src: "/tmp/releases/{{ item.name }}"
    dest: "/usr/local/bin/{{ item.name }}"
    remote_src: yes
    mode: 0755
  with_items: "{{ downloads }}"
T
  task_file kubernetes/control-plane <<'T'
---
- name: kubeadm | Initialize first master
  command: /usr/local/bin/kubeadm init
  args:
    creates: /etc/kubernetes/admin.conf
T
  task_file kubernetes/client <<'T'
---
- name: Create kube config dir for current/ansible become user
  file:
    path: /root/.kube
    mode: 0700
    state: directory

- name: Copy admin kubeconfig to current/ansible become user home
  copy:
    src: /etc/kubernetes/admin.conf
    dest: /root/.kube/config
    remote_src: yes
    mode: 0600
T
  task_file kubernetes/kubeadm <<'T'
---
- name: Join to cluster
  command: /usr/local/bin/kubeadm join
  args:
    creates: /etc/kubernetes/kubelet.conf
T
  task_file network_plugin/calico <<'T'
---
- name: Calico | Create calico manifests directories
  file:
    path: "{{ item }}"
    state: directory
    mode: 0755
  with_items:
    - /etc/cni/net.d
    - /etc/calico

- name: Calico | Write Calico cni config
  copy:
    content: |
      {"name": "k8s-pod-network", "cniVersion": "0.3.1",
       "plugins": [{"type": "calico", "ipam": {"type": "calico-ipam"}, "mtu": 1480}, {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}]}
    dest: /etc/cni/net.d/10-calico.conflist
    mode: 0644

- name: Calico | Configure calico network pool
  copy:
    content: |
      {"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
       "metadata": {"name": "default-pool"},
       "spec": {"cidr": "10.233.64.0/18", "blockSize": 24,
                "ipipMode": "{{ calico_ipip_mode }}", "vxlanMode": "{{ calico_vxlan_mode }}",
                "natOutgoing": {{ nat_outgoing | default(true) | bool | to_json }}}}
    dest: /etc/calico/pool.json
    mode: 0644
  run_once: true

- name: Calico | Apply calico network pool
  command: /usr/local/bin/calicoctl apply -f /etc/calico/pool.json
  run_once: true
  changed_when: false

- name: Calico | Start calico-node
  command: /usr/local/bin/calico-node start
  environment:
    CALICO_NETWORKING_BACKEND: "{{ calico_network_backend }}"
  register: calico_node_start
  changed_when: "'started' in calico_node_start.stdout"
T
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
  { echo '---'
    case $CALICO in # kubespray's variables for each mode (2.19 and later default to vxlan)
      ipip) printf 'calico_ipip_mode: Always\ncalico_vxlan_mode: Never\ncalico_network_backend: bird\n' ;;
      vxlan) printf 'calico_ipip_mode: Never\ncalico_vxlan_mode: Always\ncalico_network_backend: vxlan\n' ;;
      native) printf 'calico_ipip_mode: Never\ncalico_vxlan_mode: Never\ncalico_network_backend: bird\n' ;;
    esac
    # kubespray's nat_outgoing (default true): the pool's natOutgoing.
    if has_fault pool-no-nat; then echo 'nat_outgoing: false'; fi
  } > "$k/inventory/mycluster/group_vars/k8s_cluster.yml"
}

# --- the network ---------------------------------------------------------------------------
# microstack's NAT of its external network to the outside, as microstack sets it up at each
# start (its rule, in nft); with the no-nat fault, the chain is there and the rule is not.
microstack_nat() {
  local rule='ip saddr 10.20.20.0/24 oifname "uplink0" masquerade'
  has_fault no-nat && rule='# (no masquerade: the no-nat fault)'
  printf 'table ip microstack-nat\ndelete table ip microstack-nat\ntable ip microstack-nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    %s\n  }\n}\n' "$rule"
}

# The host's own firewall with the forward-drop fault: what it routes is dropped unless a rule
# accepts it, as Docker (iptables' FORWARD policy DROP) or ufw leave a host; it accepts only
# its own bridges. In /etc/nftables.conf, which the hypervisor loads at boot (nftables.service).
host_firewall() {
  cat <<'NFT'
#!/usr/sbin/nft -f
# The host's firewall: what it routes is dropped unless a rule accepts it.
table inet filter
delete table inet filter
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "br-int" oifname "br-int" accept
    iifname "docker0" oifname != "docker0" accept
    oifname "docker0" ct state established,related accept
  }
}
NFT
}

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
  if has_fault mtu; then
    ip -n pm-server01 link set qr-port mtu 1450
    ip -n pm-qrouter link set qr0 mtu 1450
  fi
  nsx server01 sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables' 2>/dev/null || true

  microstack_nat | nsx server01 nft -f -

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
    # The tenant network's MTU: 1450 with the mtu fault (a Neutron VXLAN network), else 1500.
    if has_fault mtu; then
      ip -n "pm-node$i" link set ens3 mtu 1450
      ip -n pm-server01 link set "tap-node$i" mtu 1450
    fi
    ip -n "pm-node$i" link set ens3 down # the VM is off: its guest brings it up when it boots
    ip -n pm-qrouter addr add "$float/32" dev qg0
    nsx qrouter nft add rule ip neutron-qrouter prerouting ip daddr "$float" dnat to "$fixed"
    nsx qrouter nft add rule ip neutron-qrouter postrouting ip saddr "$fixed" oifname qg0 snat to "$float"
  done
  # nodes route each other's pod blocks only through BGP; the node itself forwards for its pods
  for i in $(seq 1 "$NODES"); do sysctls "node$i" 1; done
}

mirror_up() { # a real HTTP mirror in the internet namespace: apt packages, and the binaries
  local m="$LAB/mirror" pkg
  mkdir -p "$m/ubuntu/pool/main" "$m/ubuntu/dists/focal/main/binary-amd64"
  for pkg in conntrack:1:1.4.5-2 socat:1.7.3.3-2 ipset:7.5-1~exp1 containerd:1.4.4-0ubuntu1~20.04.2; do
    local name=${pkg%%:*} version=${pkg#*:}
    mkdir -p "$m/build/$name/DEBIAN"
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: lab <lab@example.invalid>\nDescription: %s (a package of the lab mirror)\n' \
      "$name" "$version" "$name" > "$m/build/$name/DEBIAN/control"
    dpkg-deb --build "$m/build/$name" "$m/ubuntu/pool/main/${name}_all.deb" >/dev/null
  done
  rm -rf "$m/build"
  (cd "$m/ubuntu" && dpkg-scanpackages pool/main /dev/null 2>/dev/null > dists/focal/main/binary-amd64/Packages \
    && gzip -kf dists/focal/main/binary-amd64/Packages \
    && apt-ftparchive -o APT::FTPArchive::Release::Suite=focal -o APT::FTPArchive::Release::Codename=focal \
       -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures=amd64 \
       release dists/focal > dists/focal/Release)
  # The binaries kubespray downloads, at their upstream paths: the lab's stand-ins.
  local kr="$m/kubernetes-release/release/v1.20.7/bin/linux/amd64"
  mkdir -p "$kr" "$m/projectcalico/calicoctl/releases/download/v3.17.4" "$m/calico/node/v3.17.4"
  cp "$LAB/kubeadm.py" "$kr/kubeadm"
  cp "$LAB/kubectl.py" "$kr/kubectl"
  cp "$LAB/calicoctl.py" "$m/projectcalico/calicoctl/releases/download/v3.17.4/calicoctl-linux-amd64"
  cp "$LAB/calico_node.py" "$m/calico/node/v3.17.4/calico-node"
  nsx internet setsid /usr/bin/python3 -m http.server --bind 203.0.113.80 80 --directory "$m" \
    > "$LAB/mirror.log" 2>&1 < /dev/null &
  # The outside's DNS: the mirror's names (its hosts, as the nodes' apt sources and kubespray's
  # downloads name them), and nothing else.
  ip -n pm-internet addr add 203.0.113.53/32 dev lo
  nsx internet setsid dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address=203.0.113.53 \
    --address=/archive.ubuntu.com/storage.googleapis.com/github.com/quay.io/203.0.113.80 --pid-file= \
    > "$LAB/dns.log" 2>&1 < /dev/null &
}

plan() { # the address plan, for the stand-ins (Calico's IPAM, the OpenStack servers)
  local i
  for i in $(seq 1 "$NODES"); do
    echo "node$i $(node_fixed "$i") $(node_float "$i") $(node_block "$i") $(node_group "$i")"
  done > "$LAB/plan"
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

# Every network namespace shares one kernel neighbour (ARP) table, limited by gc_thresh3 (1024 by
# default): the VMs of a real cloud each have their own. A full mesh of N nodes needs about N*(N-1)
# entries (BIRD's peers), and past the limit no new neighbour resolves: SSH to the nodes times out
# ("neighbor table overflow" in the kernel log) until the garbage collector frees some. So a large
# lab raises the limits while it is up, says so, and `down` puts them back.
NEIGH=/proc/sys/net/ipv4/neigh/default
neigh_room() {
  local need=$(( NODES * (NODES - 1) + 8 * NODES + 256 )) t2 t3
  t2=$(cat "$NEIGH/gc_thresh2"); t3=$(cat "$NEIGH/gc_thresh3")
  [ "$need" -le "$t2" ] && return 0
  echo "$t2 $t3" > "$LAB/neigh.saved"
  echo $(( need * 2 )) > "$NEIGH/gc_thresh3"
  echo "$need" > "$NEIGH/gc_thresh2"
  echo "lab: all network namespaces share the kernel's neighbour table, and a full mesh of $NODES nodes needs about $need entries: net.ipv4.neigh.default.gc_thresh2/3 raised from $t2/$t3 to $need/$(( need * 2 )) until lab down" >&2
}

neigh_restore() {
  [ -e "$LAB/neigh.saved" ] || return 0
  local t2 t3
  read -r t2 t3 < "$LAB/neigh.saved"
  echo "$t3" > "$NEIGH/gc_thresh3"
  echo "$t2" > "$NEIGH/gc_thresh2"
  rm -f "$LAB/neigh.saved"
}

up() {
  mkdir -p "$LAB/vms"
  neigh_room
  echo "$FAULTS" > "$LAB/faults"
  echo "$NODES" > "$LAB/nodes"
  echo "$CALICO" > "$LAB/calico"
  plan
  keys
  ssh_config
  net_up
  security_groups_init
  mirror_up
  agent_start
  vm_start server01 hypervisor
  local i
  for i in $(seq 1 "$NODES"); do mkdir -p "$LAB/vms/node$i"; echo node > "$LAB/vms/node$i/role"; done
  vm_wait server01
  [ "$DEPLOYED" = 1 ] && deployed
  steady
}

# The state in which phase 2 was found: the VMs running, the task's kubespray command run to its
# end (by the lab's own kubespray, for real), kubectl set up for ubuntu with the task's commands.
# With the ip-forward, no-nat and forward-drop faults, the VMs reach the outside only while
# kubespray runs (a reboot undid forwarding; the NAT or the firewall is as it was found).
deployed() {
  local i
  for i in $(seq 1 "$NODES"); do power on "node$i"; done
  for i in $(seq 1 "$NODES"); do vm_wait "node$i"; set_status "node$i" ACTIVE; done
  ssh_ready
  # The faults that keep the VMs from the outside are lifted while the deployment runs (the
  # state phase 2 was found in came after phase 1's fix), and put back after.
  has_fault ip-forward && vmx server01 sysctl -qw net.ipv4.ip_forward=1
  has_fault no-nat && vmx server01 nft add rule ip microstack-nat postrouting ip saddr 10.20.20.0/24 oifname uplink0 masquerade
  has_fault forward-drop && vmx server01 nft insert rule inet filter forward accept
  if has_fault vm-dns; then for i in $(seq 1 "$NODES"); do vmx "node$i" sh -c 'echo nameserver 10.20.20.1 > /etc/resolv.conf'; done; fi
  if ! vmx server01 su - user -c 'cd ~/kubespray && ansible-playbook -i inventory/mycluster/hosts.yaml --become --become-user=root cluster.yml -u ubuntu --private-key=~/.ssh/ictsc_rsa' \
      > "$LAB/deploy.log" 2>&1; then
    echo "lab: the deployment failed; the end of its log ($LAB/deploy.log):" >&2
    tail -30 "$LAB/deploy.log" >&2
    return 1
  fi
  has_fault ip-forward && vmx server01 sysctl -qw net.ipv4.ip_forward=0
  has_fault no-nat && vmx server01 nft flush chain ip microstack-nat postrouting
  has_fault forward-drop && vmx server01 nft -f /etc/nftables.conf
  if has_fault vm-dns; then for i in $(seq 1 "$NODES"); do vmx "node$i" /bin/bash "$SELF" dhcp "node$i"; done; fi
  vmx node1 su - ubuntu -c 'mkdir -p $HOME/.kube && sudo cp /etc/kubernetes/admin.conf $HOME/.kube/config && sudo chown $(id -u):$(id -g) $HOME/.kube/config'
}

vmx() { # vmx VM CMD...: run a command as root inside a running VM
  local pid; pid=$(vm_pid "$1"); shift
  nsenter -t "$pid" -m -u -n -p -i -- "$@"
}

set_status() { /usr/bin/python3 "$LAB/openstack.py" --lab-status "$1" "$2"; }

# The hypervisor's agent (libvirt's part of nova-compute): powers VMs on and off when the
# cloud's API on server01 asks, through a FIFO in the lab's state directory.
agent_start() {
  mkfifo "$LAB/agent.fifo"
  setsid /bin/bash "$SELF" agent < /dev/null >> "$LAB/agent.log" 2>&1 &
  echo $! > "$LAB/agent.pid"
}

agent() {
  local verb name
  exec 3<>"$LAB/agent.fifo"
  while read -r verb name <&3; do
    case $verb in
      start) ( power on "$name"; vm_wait "$name" && set_status "$name" ACTIVE ) & ;;
      stop) power off "$name"; set_status "$name" SHUTOFF ;;
    esac
  done
}

power() { # power on|off VM
  case $1 in
    on) [ -e "$LAB/vms/$2/unshare.pid" ] || vm_start "$2" node ;;
    off) vm_stop "$2" ;;
  esac
}

# `lab up` returns when the lab is steady: every running VM answers SSH, and every BGP session
# that can establish (none while TCP/179 is blocked) has.
steady() {
  ssh_ready
  # No BGP runs with Calico's VXLAN backend.
  [ "$DEPLOYED" = 1 ] && ! has_fault sg-bgp && [ "$CALICO" != vxlan ] && bgp_ready
  return 0
}

ssh_ready() {
  local i n
  banner 198.18.0.1 operator || { echo "lab: server01 does not answer SSH" >&2; return 1; }
  for i in $(seq 1 "$NODES"); do
    n="node$i"
    [ -e "$LAB/vms/$n/up" ] || continue
    banner "$(node_float "$i")" server01 || { echo "lab: $n does not answer SSH" >&2; return 1; }
  done
}

banner() { # banner ADDR FROM_NS: until sshd on ADDR:22 sends its banner (at most 15 s)
  local k
  for k in $(seq 1 150); do
    nsx "$2" timeout 1 bash -c "exec 3<>/dev/tcp/$1/22 && head -c 4 <&3" 2>/dev/null | grep -q '^SSH-' && return 0
    sleep 0.1
  done
  return 1
}

bgp_ready() { # every node's mesh sessions Established (at most 30 s)
  local k i all
  for k in $(seq 1 300); do
    all=1
    for i in $(seq 1 "$NODES"); do
      vmx "node$i" birdc -s /run/bird/bird.ctl show protocols 2>/dev/null | awk '/^Mesh_/ && !/Established/ {bad=1} END {exit bad}' || { all=0; break; }
    done
    [ $all = 1 ] && return 0
    sleep 0.1
  done
  echo "lab: BGP did not establish within 30 s" >&2
  return 1
}

security_groups_init() {
  mkdir -p "$LAB/openstack"
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$LAB/openstack/password")
  /usr/bin/python3 "$LAB/openstack.py" --lab-init "$LAB" "$NODES" "$FAULTS" "$DEPLOYED" "$CALICO"
}

down() {
  local d
  [ -e "$LAB/agent.pid" ] && kill -KILL "$(cat "$LAB/agent.pid")" 2>/dev/null || true
  for d in "$LAB"/vms/*/; do [ -d "$d" ] && vm_stop "$(basename "$d")"; done
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep '^pm-' || true); do
    local p
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  neigh_restore
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  vm-init) vm_init "$2" "$3" ;;
  vm-start) vm_start "$2" "$(cat "$LAB/vms/$2/role")"; vm_wait "$2" ;;
  agent) agent ;;
  vm-stop) vm_stop "$2" ;;
  vm-pid) vm_pid "$2" ;;
  dhcp) lab_dhcp "$2" ;;
  *) echo "usage: lab.sh up|down|vm-start NAME|vm-stop NAME|vm-pid NAME" >&2; exit 2 ;;
esac
