//! The lab: the incident reproduced for real on one Linux machine.
//!
//! server01 (the hypervisor and bastion), node1..N (the VMs), an operator host, an internet
//! host with an apt mirror, and pods, each in network namespaces named `pm-*` that the lab
//! creates and removes; the VMs also get pid, mount and uts namespaces and an overlay root. The
//! building is done by `lab.sh` (namespaces, addresses and daemons are shell's home ground). The
//! OpenStack control plane that cannot run here is a small API on server01 (`osapi.py`, over the
//! state and enforcement in `openstack.py`), and server01's `openstack` is the real client.
//! Nothing in the lab is linked to the machine's own network namespace.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const LAB_SH: &str = include_str!("lab.sh");
const OPENSTACK_PY: &str = include_str!("openstack.py");
const KUBECTL_PY: &str = include_str!("kubectl.py");
const CALICOCTL_PY: &str = include_str!("calicoctl.py");
const KUBEADM_PY: &str = include_str!("kubeadm.py");
const CALICO_NODE_PY: &str = include_str!("calico_node.py");
const OSAPI_PY: &str = include_str!("osapi.py");

/// Where the lab keeps its state: keys, ssh_config, known_hosts, the VMs' upper layers.
pub fn dir() -> PathBuf {
    std::env::var_os("POSTMORTEM_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/postmortem-lab"))
}

/// ansible-core up to 2.17 words the contest's message exactly ("unknown reason").
pub const ANSIBLE_CORE: &str = "2.15.13";
pub const ANSIBLE_VENV: &str = "/opt/postmortem-lab/ansible";
/// microstack's client (OpenStack ussuri): server01's `openstack`, against the lab's API.
pub const OSC_VERSION: &str = "5.2.0";
pub const OSC_VENV: &str = "/opt/postmortem-lab/osc";

pub const FAULTS: &[&str] = &[
    "ip-forward",
    "sg-bgp",
    "no-nat",
    "forward-drop",
    "sg-ipip",
    "sg-vxlan",
    "mtu",
    "pool-no-nat",
    "anti-spoofing",
    "vm-dns",
    "sg-k8s-ports",
];

/// Commands the lab runs, and the Debian package of each.
const NEEDS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("bird", "bird2"),
    ("birdc", "bird2"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("ping", "iputils-ping"),
    ("dpkg-scanpackages", "dpkg-dev"),
    ("apt-ftparchive", "apt-utils"),
    ("sudo", "sudo"),
    ("useradd", "passwd"),
    ("dnsmasq", "dnsmasq-base"),
    // What the lab's pods run, as the task's busybox image does.
    ("busybox", "busybox-static"),
];

fn find(cmd: &str) -> bool {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .any(|d| Path::new(d).join(cmd).is_file())
}

/// Root, and every command the lab needs, or a clear error saying what to install.
pub fn preflight() -> Result<()> {
    if !is_root() {
        bail!("the lab needs root (it creates network namespaces and mounts): run it with sudo or as root");
    }
    let mut missing: Vec<&str> = NEEDS
        .iter()
        .filter(|(c, _)| !find(c))
        .map(|(_, p)| *p)
        .collect();
    if !Path::new("/usr/bin/python3").is_file() {
        missing.push("python3");
    }
    if Command::new("/usr/bin/python3")
        .args(["-c", "import apt"])
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        missing.push("python3-apt");
    }
    missing.dedup();
    if !Path::new(ANSIBLE_VENV)
        .join("bin/ansible-playbook")
        .is_file()
    {
        bail!(
            "the lab needs ansible-core {ANSIBLE_CORE} in {ANSIBLE_VENV}: python3 -m venv {ANSIBLE_VENV} && \
             {ANSIBLE_VENV}/bin/pip install ansible-core=={ANSIBLE_CORE} (scripts/install-deps.sh does it)"
        );
    }
    if !Path::new(OSC_VENV).join("bin/openstack").is_file() {
        bail!(
            "the lab needs python-openstackclient {OSC_VERSION} in {OSC_VENV}: python3 -m venv {OSC_VENV} && \
             {OSC_VENV}/bin/pip install python-openstackclient=={OSC_VERSION} -c src/lab/osc-constraints.txt \
             (scripts/install-deps.sh does it)"
        );
    }
    if !missing.is_empty() {
        bail!(
            "the lab needs packages that are not installed: apt-get install -y {}",
            missing.join(" ")
        );
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn script(args: &[&str], env: &[(&str, String)]) -> Result<()> {
    let lab = dir();
    let mut cmd = Command::new("bash");
    cmd.arg(lab.join("lab.sh"))
        .args(args)
        .env("LAB", &lab)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().context("cannot run bash")?;
    // What the lab says it did to the machine itself (lines "lab: ..."), the user hears.
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        if out.status.success() && line.starts_with("lab: ") {
            eprintln!("{line}");
        }
    }
    if !out.status.success() {
        bail!(
            "lab {}: failed\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Lab namespaces that exist now.
pub fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with("pm-"))
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// Parse `--faults`: a comma list of known faults, or `none`.
pub fn parse_faults(list: &str) -> Result<Vec<String>> {
    if list == "none" {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !FAULTS.contains(&f) {
            bail!(
                "unknown fault {f:?}: the lab knows {} (or none)",
                FAULTS.join(", ")
            );
        }
        out.push(f.to_string());
    }
    Ok(out)
}

/// The faults `lab up` builds in unless told otherwise: the contest's two.
pub const DEFAULT_FAULTS: &str = "ip-forward,sg-bgp";

/// Calico's modes the lab deploys (kubespray's calico_ipip_mode, calico_vxlan_mode and
/// calico_network_backend): `ipip` (IP-in-IP Always, BIRD: kubespray 2.16 to 2.18, the contest's),
/// `vxlan` (VXLAN Always, no BGP: kubespray 2.19 and later), `native` (neither, BIRD: routes
/// to the other nodes' pods through their addresses on the tenant network).
pub const CALICO_MODES: &[&str] = &["ipip", "vxlan", "native"];

/// How `lab up` builds the lab.
#[derive(Debug, Clone)]
pub struct Options {
    pub faults: Vec<String>,
    pub nodes: usize,
    /// The state in which phase 2 was found (VMs running, kubespray run to its end).
    pub deployed: bool,
    /// `user` on server01 logs in and uses sudo with a password (printed by `lab env`), as on
    /// contest hosts; the nodes stay as cloud images are (key login, sudo without one).
    pub sudo_password: bool,
    /// One of CALICO_MODES.
    pub calico: String,
}

impl Options {
    pub fn new(faults: Vec<String>, deployed: bool) -> Options {
        Options {
            faults,
            nodes: 2,
            deployed,
            sudo_password: false,
            calico: "ipip".into(),
        }
    }
}

/// Build the lab. Leftovers of an earlier lab (killed, not taken down) are removed first.
/// Returns whether leftovers were cleaned.
pub fn up(o: &Options) -> Result<bool> {
    let (faults, nodes, deployed, sudo_password) =
        (&o.faults, o.nodes, o.deployed, o.sudo_password);
    if !CALICO_MODES.contains(&o.calico.as_str()) {
        bail!(
            "unknown Calico mode {:?}: the lab knows {}",
            o.calico,
            CALICO_MODES.join(", ")
        );
    }
    preflight()?;
    if !(1..=64).contains(&nodes) {
        bail!("--nodes must be between 1 and 64");
    }
    let leftovers = !namespaces().is_empty() || dir().exists();
    if leftovers {
        down()?;
    }
    let lab = dir();
    std::fs::create_dir_all(&lab).with_context(|| format!("cannot create {}", lab.display()))?;
    std::fs::write(lab.join("lab.sh"), LAB_SH)?;
    std::fs::write(lab.join("openstack.py"), OPENSTACK_PY)?;
    std::fs::write(lab.join("osapi.py"), OSAPI_PY)?;
    std::fs::write(lab.join("kubectl.py"), KUBECTL_PY)?;
    std::fs::write(lab.join("calicoctl.py"), CALICOCTL_PY)?;
    std::fs::write(lab.join("kubeadm.py"), KUBEADM_PY)?;
    std::fs::write(lab.join("calico_node.py"), CALICO_NODE_PY)?;
    if sudo_password {
        use std::os::unix::fs::OpenOptionsExt;
        let mut raw = [0u8; 12];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
        let pw = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(lab.join("sudo-password"))?
            .write_all(pw.as_bytes())?;
    }
    let env = [
        ("FAULTS", faults.join(",")),
        ("NODES", nodes.to_string()),
        ("DEPLOYED", if deployed { "1" } else { "0" }.to_string()),
        ("CALICO", o.calico.clone()),
    ];
    if let Err(e) = script(&["up"], &env) {
        let _ = down();
        return Err(e);
    }
    Ok(leftovers)
}

/// The password of `user` on server01 when the lab was built with `--sudo-password`.
pub fn sudo_password() -> Option<String> {
    std::fs::read_to_string(dir().join("sudo-password")).ok()
}

/// Take the lab down: every lab process, namespace and file.
pub fn down() -> Result<()> {
    let lab = dir();
    if !lab.join("lab.sh").exists() {
        std::fs::create_dir_all(&lab)?;
        std::fs::write(lab.join("lab.sh"), LAB_SH)?;
    }
    script(&["down"], &[])?;
    std::fs::remove_dir_all(&lab).with_context(|| format!("cannot remove {}", lab.display()))?;
    let left = namespaces();
    if !left.is_empty() {
        bail!("lab namespaces remain after down: {}", left.join(", "));
    }
    Ok(())
}

/// The VMs (hosts with their own pid and mount namespaces).
pub fn vms() -> Vec<String> {
    std::fs::read_dir(dir().join("vms"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .map(|mut v: Vec<String>| {
            v.sort();
            v
        })
        .unwrap_or_default()
}

fn vm_pid(name: &str) -> Option<u32> {
    let u: u32 = std::fs::read_to_string(dir().join("vms").join(name).join("unshare.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let children = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Canonical host name for the aliases the contest uses.
fn host_name(host: &str) -> &str {
    match host {
        "ictsc-master" => "node1",
        "ictsc-worker" => "node2",
        h => h,
    }
}

/// The command that runs `argv` as root inside a lab host, like `docker exec`.
pub fn exec_command(host: &str, argv: &[String]) -> Result<Command> {
    let host = host_name(host);
    let mut cmd;
    if vms().iter().any(|v| v == host) {
        let pid = vm_pid(host).with_context(|| {
            format!("lab host {host} is not running (lab reboot {host} starts it)")
        })?;
        cmd = Command::new("nsenter");
        cmd.args(["-t", &pid.to_string(), "-m", "-u", "-n", "-p", "-i", "--"]);
    } else if namespaces().iter().any(|n| n == &format!("pm-{host}")) {
        cmd = Command::new("ip");
        cmd.args(["netns", "exec", &format!("pm-{host}")]);
    } else {
        bail!("no lab host {host:?}: the lab has {}", hosts().join(", "));
    }
    cmd.args(argv);
    Ok(cmd)
}

/// Every lab host: VMs and the namespaces that are hosts of their own (operator, internet, pods).
pub fn hosts() -> Vec<String> {
    let mut h = vms();
    for n in namespaces() {
        let name = n.trim_start_matches("pm-").to_string();
        if !h.contains(&name) {
            h.push(name);
        }
    }
    h
}

/// Restart a VM: its processes end, its disk (upper layer) stays, it boots again.
pub fn reboot(host: &str) -> Result<()> {
    let host = host_name(host);
    if !vms().iter().any(|v| v == host) {
        bail!("{host} is not a lab VM: the VMs are {}", vms().join(", "));
    }
    script(&["vm-stop", host], &[])?;
    script(&["vm-start", host], &[])
}

/// One line per host: name, kind, state.
pub fn status() -> Vec<String> {
    let vms = vms();
    let mut out = Vec::new();
    for v in &vms {
        let state = if dir().join("vms").join(v).join("up").exists() && vm_pid(v).is_some() {
            "running"
        } else {
            "stopped"
        };
        out.push(format!("{v}\tvm\t{state}"));
    }
    for n in namespaces() {
        let name = n.trim_start_matches("pm-");
        if !vms.iter().any(|v| v == name) {
            out.push(format!("{name}\tnetns\trunning"));
        }
    }
    out
}
