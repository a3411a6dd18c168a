//! The lab, for real (as root): the contest's faults, their cures, each fault alone, a healthy
//! lab, reboots, and a clean machine after `lab down`. Lab tests hold one lock: one lab at a time.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

use common::lab_exec as exec;

fn up(faults: &str) {
    pm_ok(&["lab", "up", "--faults", faults]);
}

fn apt_update_ok(node: &str) -> bool {
    let (code, out) = exec(node, "apt-get -o APT::Update::Error-Mode=any update");
    if code != 0 {
        assert!(
            out.contains("Could not connect") || out.contains("timed out"),
            "{node}: unexpected apt failure: {out}"
        );
    }
    code == 0
}

/// kubectl as ubuntu on node1, as the task's operator runs it.
fn kubectl(cmd: &str) -> (i32, String) {
    exec(
        "node1",
        &format!("su - ubuntu -c \"kubectl {}\"", cmd.replace('"', "\\\"")),
    )
}

/// The task's four commands, as ubuntu on node1.
fn setup_kubectl() {
    let (code, out) = exec("node1", "su - ubuntu -c 'mkdir -p $HOME/.kube && sudo cp /etc/kubernetes/admin.conf $HOME/.kube/config && sudo chown $(id -u):$(id -g) $HOME/.kube/config && export KUBECONFIG=$HOME/.kube/config'");
    assert_eq!(code, 0, "{out}");
}

/// A busybox pod pinned to `node` (a correct nodeName override); its IP.
fn pod(name: &str, node: &str) -> String {
    let (code, out) = kubectl(&format!("run {name} --image busybox --overrides='{{ \"apiVersion\": \"v1\", \"spec\": {{ \"nodeName\": \"{node}\" }} }}' -- sleep 3600"));
    assert_eq!(code, 0, "{out}");
    let (_, json) = kubectl(&format!("get pod {name} -o json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["spec"]["nodeName"], node);
    v["status"]["podIP"].as_str().unwrap().to_string()
}

fn ping(pod: &str, ip: &str) -> bool {
    kubectl(&format!("exec {pod} -- ping -c1 -W1 {ip}")).0 == 0
}

fn bgp_established(node: &str) -> bool {
    let (_, out) = exec(node, "birdc -s /run/bird/bird.ctl show protocols");
    out.lines()
        .filter(|l| l.starts_with("Mesh_"))
        .all(|l| l.contains("Established"))
}

/// Poll until `f` holds, at most `secs` seconds.
fn within(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The contest's command, verbatim, as `user` on server01.
fn kubespray() -> (i32, String) {
    exec(
        "server01",
        "su - user -c 'cd ~/kubespray && ansible-playbook -i inventory/mycluster/hosts.yaml --become --become-user=root cluster.yml -u ubuntu --private-key=~/.ssh/ictsc_rsa'",
    )
}

fn openstack(cmd: &str) -> (i32, String) {
    exec("server01", &format!("su - user -c 'openstack {cmd}'"))
}

#[test]
fn the_incident_as_found_phase_by_phase() {
    let _g = lab_lock();
    up("ip-forward,sg-bgp");
    // As found: server01 was just rebooted, both VMs are SHUTOFF, nothing answers on them.
    let (_, show) = openstack("server show ictsc-master -f json");
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["status"], "SHUTOFF");
    assert_eq!(show["OS-EXT-STS:power_state"], "Shutdown");
    assert_eq!(show["OS-EXT-STS:vm_state"], "stopped");
    let status = pm_ok(&["lab", "status"]);
    assert!(
        status.contains("node1\tvm\tstopped") && status.contains("node2\tvm\tstopped"),
        "{status}"
    );
    let ssh22 = "timeout 3 bash -c 'exec 3<>/dev/tcp/10.20.20.235/22 && head -c 4 <&3'";
    assert_ne!(
        exec("server01", ssh22).0,
        0,
        "ssh to a SHUTOFF VM must not answer"
    );
    // kubespray cannot reach them either.
    let (code, out) = kubespray();
    assert_ne!(code, 0);
    assert!(out.contains("unreachable=1"), "{out}");

    // The task's first step: openstack server start (SHUTOFF while its task is powering-on,
    // then ACTIVE, then sshd answers).
    let (code, _) = openstack("server start ictsc-master");
    assert_eq!(code, 0);
    let (_, st) = openstack("server show ictsc-master -f json -c status -c OS-EXT-STS:task_state");
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert!(
        matches!(
            (st["status"].as_str(), st["OS-EXT-STS:task_state"].as_str()),
            (Some("SHUTOFF"), Some("powering-on")) | (Some("ACTIVE"), None)
        ),
        "{st}"
    );
    let (code, _) = openstack("server start ictsc-worker");
    assert_eq!(code, 0);
    start_vms_wait();
    assert!(
        within(15, || exec("server01", ssh22).0 == 0),
        "sshd answers once booted"
    );
    let (code, err) = openstack("server start ictsc-master");
    assert_ne!(code, 0);
    assert!(err.contains("while it is in vm_state active"), "{err}");

    // Phase 1: no Kubernetes at all, and kubespray stops at the APT task with the task's words.
    let (code, out) = kubectl("get nodes");
    assert_eq!(code, 127, "no kubectl before the deployment: {out}");
    assert_ne!(exec("node1", "calicoctl node status").0, 0);
    assert_eq!(
        exec("server01", "sysctl -n net.ipv4.ip_forward").1.trim(),
        "0"
    );
    let (code, out) = kubespray();
    assert_ne!(code, 0);
    assert!(
        out.contains("TASK [kubernetes/preinstall : Update package management cache (APT)]"),
        "{out}"
    );
    for node in ["node1", "node2"] {
        assert!(
            out.contains(&format!("fatal: [{node}]: FAILED! => {{\"changed\": false, \"msg\": \"Failed to update apt cache: unknown reason\"}}")),
            "{out}"
        );
        let recap = out
            .lines()
            .find(|l| l.starts_with(node) && l.contains("failed="))
            .expect("PLAY RECAP");
        assert!(recap.contains("failed=1"), "{recap}");
    }
    assert!(
        !out.contains("TASK [container-engine"),
        "no later role ran: {out}"
    );
    let (code, _) = exec("node1", "test -e /usr/local/bin/kubectl || test -e /etc/kubernetes/admin.conf || ip link show tunl0");
    assert_ne!(code, 0, "nothing after the APT task happened");
    assert!(!apt_update_ok("node1"));

    // Cure 1, then kubespray runs to its end; a second run changes nothing.
    exec("server01", "sysctl -w net.ipv4.ip_forward=1");
    assert!(apt_update_ok("node1") && apt_update_ok("node2"));
    let (code, out) = kubespray();
    assert_eq!(code, 0, "{out}");
    for task in [
        "containerd | Install containerd",
        "kubeadm | Initialize first master",
        "Join to cluster",
        "Calico | Start calico-node",
    ] {
        assert!(out.contains(task), "{task}: {out}");
    }
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("failed=0") && l.contains("unreachable=0"))
            .count(),
        2,
        "{out}"
    );
    let (code, again) = kubespray();
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        again
            .lines()
            .filter(|l| l.contains("changed=0") && l.contains("failed=0"))
            .count(),
        2,
        "a second run changes nothing: {again}"
    );

    // kubectl as ubuntu fails as the real one does until the task's four commands are run.
    let (code, err) = kubectl("get nodes");
    assert_eq!(code, 1);
    assert!(err.contains("The connection to the server localhost:8080 was refused - did you specify the right host or port?"), "{err}");
    assert_eq!(
        exec("node1", "kubectl get nodes").0,
        0,
        "root's kubeconfig, as kubespray writes it"
    );
    setup_kubectl();
    let (code, nodes) = kubectl("get nodes");
    assert_eq!(code, 0, "{nodes}");
    assert!(nodes.starts_with("NAME    STATUS   ROLES                  AGE   VERSION\nnode1   Ready    control-plane,master"), "{nodes}");
    assert!(
        nodes
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("node2   Ready    <none>"),
        "{nodes}"
    );
    let (_, pods) = kubectl("get pods");
    assert!(
        pods.contains("No resources found"),
        "no pods until someone creates them: {pods}"
    );

    // Phase 2: Calico IP-in-IP (tunl0), no BGP, so no route to the other node's block.
    assert_eq!(exec("node1", "ip -o link show tunl0").0, 0);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!bgp_established("node1"));
    assert!(
        !exec("node2", "ip route").1.contains("tunl0"),
        "no route without BGP"
    );
    let shell1 = pod("shell1", "node1");
    pod("myshell2", "node2");
    pod("myshell3", "node1");
    assert!(ping("myshell3", &shell1), "pattern B: same node");
    assert!(!ping("myshell2", &shell1), "pattern A must fail");
    // A pod is what the task's busybox image is: its own hostname and /etc/hosts (hostname -i
    // is its address), busybox's tools (its ping's summary), none of the VM's.
    let (code, out) = kubectl("exec shell1 -- hostname -i");
    assert_eq!((code, out.trim()), (0, shell1.as_str()), "{out}");
    let (code, out) = kubectl("exec shell1 -- hostname");
    assert_eq!((code, out.trim()), (0, "shell1"), "{out}");
    let (code, out) = kubectl(&format!("exec myshell3 -- ping -c 1 -W 1 {shell1}"));
    assert!(
        code == 0 && out.contains("1 packets transmitted, 1 packets received"),
        "{out}"
    );
    let (_, out) = kubectl("exec shell1 -- readlink /proc/self/exe");
    assert!(out.trim().ends_with("/busybox"), "{out}");
    let (code, rules) = openstack("security group rule list master -f json");
    assert_eq!(code, 0, "{rules}");
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let rules = rules.as_array().unwrap();
    assert!(rules.iter().all(|r| r["Port Range"] != "179:179"));
    assert!(
        rules
            .iter()
            .any(|r| r["IP Protocol"] == "4" && r["Remote Security Group"].is_string()),
        "IP-in-IP between the groups"
    );
    // Cure 2: TCP/179 between the groups; the route goes through tunl0, protocol 4 on the wire.
    for (group, remote) in [("master", "worker"), ("worker", "master")] {
        let (code, out) = openstack(&format!("security group rule create --protocol tcp --dst-port 179:179 --remote-group {remote} {group}"));
        assert_eq!(code, 0, "{out}");
    }
    assert!(
        within(15, || bgp_established("node1") && bgp_established("node2")),
        "BGP within 15 s"
    );
    assert!(
        within(15, || ping("myshell2", &shell1)),
        "pattern A within 15 s"
    );
    assert!(exec("node2", "ip route")
        .1
        .contains("10.233.96.0/24 dev tunl0 proto bird"));
    let (code, out) = openstack(
        "security group rule create --protocol tcp --dst-port 179:179 --remote-group worker master",
    );
    assert_ne!(code, 0);
    // As python-openstackclient 5.2.0 prints it (tests/samples/osc-5.2), its rule id readable.
    assert!(
        out.contains("ConflictException: 409, Security group rule already exists. Rule id is "),
        "{out}"
    );
    assert!(
        postmortem::probe::osc_table::conflicting_rule(&out).is_some(),
        "{out}"
    );

    // A runtime sysctl does not survive a reboot; a file in /etc/sysctl.d does. Calico comes back.
    pm_ok(&["lab", "reboot", "server01"]);
    assert_eq!(
        exec("server01", "sysctl -n net.ipv4.ip_forward").1.trim(),
        "0"
    );
    exec(
        "server01",
        "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-forward.conf",
    );
    pm_ok(&["lab", "reboot", "server01"]);
    assert_eq!(
        exec("server01", "sysctl -n net.ipv4.ip_forward").1.trim(),
        "1"
    );
    pm_ok(&["lab", "reboot", "node2"]);
    assert!(
        within(15, || ping("myshell2", &shell1)),
        "calico-node starts again at boot"
    );
    pm_ok(&["lab", "down"]);
}

fn start_vms_wait() {
    assert!(
        within(30, || openstack("server list -f value -c Status")
            .1
            .lines()
            .all(|l| l == "ACTIVE")),
        "ACTIVE within 30 s"
    );
}

/// `lab up --deployed`: the state in which phase 2 was found, steady on return.
fn up_deployed(faults: &str) {
    pm_ok(&["lab", "up", "--deployed", "--faults", faults]);
}

#[test]
fn deployed_healthy_and_each_fault_alone_steady_on_return() {
    let _g = lab_lock();
    up_deployed("none");
    // Steady on return: BGP already established, SSH answering, kubectl set up for ubuntu.
    assert!(
        bgp_established("node1") && bgp_established("node2"),
        "BGP established when lab up returns"
    );
    assert_eq!(exec("node1", "su - ubuntu -c 'kubectl get nodes'").0, 0);
    assert!(apt_update_ok("node1"));
    let shell1 = pod("shell1", "node1");
    pod("p2", "node2");
    assert!(within(5, || ping("p2", &shell1)));

    up_deployed("ip-forward");
    assert!(!apt_update_ok("node2"));
    assert!(
        bgp_established("node2"),
        "ip-forward alone leaves BGP alone"
    );
    assert_eq!(
        exec("server01", "sysctl -n net.ipv4.ip_forward").1.trim(),
        "0"
    );
    assert_eq!(
        exec(
            "server01",
            "cat /etc/sysctl.conf /etc/sysctl.d/* 2>/dev/null | grep -c ip_forward"
        )
        .1
        .trim(),
        "0",
        "persisted nowhere"
    );

    up_deployed("sg-bgp");
    assert!(apt_update_ok("node2"), "sg-bgp alone leaves apt alone");
    assert!(!within(6, || bgp_established("node1")));
    let shell1 = pod("shell1", "node1");
    pod("p2", "node2");
    pod("p3", "node1");
    assert!(!ping("p2", &shell1));
    assert!(ping("p3", &shell1));
    pm_ok(&["lab", "down"]);
}

fn host_state() -> String {
    let sh = |c: &str| {
        let o = Command::new("sh").args(["-c", c]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    [
        sh("ip -br link; ip -br addr; ip route; ip rule"),
        sh("cat /proc/sys/net/ipv4/ip_forward"),
        sh("sha256sum /etc/passwd /etc/group /etc/shadow /etc/hosts /etc/hostname /etc/resolv.conf 2>/dev/null; ls -la /etc/sysctl.d /etc/ssh /etc/sudoers.d /home"),
        sh("ls -la --time-style=full-iso /var/lib/apt/lists | grep -v ' lock$'"),
        sh("nft list ruleset 2>/dev/null"),
    ]
    .join("\n--\n")
}

#[test]
fn down_leaves_nothing_and_the_host_untouched() {
    let _g = lab_lock();
    let _ = Command::new(bin()).args(["lab", "down"]).output();
    let before = host_state();
    up_deployed("ip-forward,sg-bgp");
    // Work inside the VMs that would touch the host if it leaked.
    exec(
        "node1",
        "apt-get update; useradd leaky; echo x > /etc/leak; sysctl -w net.ipv4.ip_forward=1",
    );
    exec(
        "server01",
        "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/99-leak.conf; sysctl --system",
    );
    assert_eq!(host_state(), before, "the lab changed the host while up");
    assert!(
        !Command::new("dpkg")
            .args(["-s", "containerd"])
            .output()
            .unwrap()
            .status
            .success(),
        "a package installed in node1 reached the host"
    );
    pm_ok(&["lab", "down"]);
    assert_eq!(host_state(), before, "the lab left changes on the host");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!stdout(&netns).contains("pm-"), "{}", stdout(&netns));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("postmortem-lab") && !mounts.contains("/run/netns/pm-"),
        "{mounts}"
    );
    let procs = Command::new("sh")
        .args([
            "-c",
            "grep -l 'postmortem-la[b]' /proc/[0-9]*/cmdline 2>/dev/null | grep -v self",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&procs).trim(), "", "lab processes remain");
    assert!(!std::path::Path::new("/run/postmortem-lab").exists());
}

#[test]
fn leftovers_of_a_killed_lab_are_cleaned_by_up() {
    let _g = lab_lock();
    up("none");
    // A lab whose tool was killed: its namespaces and processes are still there.
    let o = Command::new(bin())
        .args(["lab", "up", "--faults", "none"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("leftovers"), "{}", stderr(&o));
    let status = pm_ok(&["lab", "status"]);
    assert!(
        status.contains("server01\tvm\trunning") && status.contains("node2\tvm\tstopped"),
        "{status}"
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn bad_lab_input_is_refused_clearly() {
    let o = Command::new(bin())
        .args(["lab", "up", "--faults", "ip-forward,dns"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown fault \"dns\"") && stderr(&o).contains("ip-forward, sg-bgp"),
        "{}",
        stderr(&o)
    );
    let _g = lab_lock();
    up("none");
    let o = Command::new(bin())
        .args(["lab", "exec", "node9", "--", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no lab host \"node9\""),
        "{}",
        stderr(&o)
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn kubectl_and_calicoctl_speak_their_formats_over_the_real_state() {
    let _g = lab_lock();
    up_deployed("ip-forward,sg-bgp");
    let shell1 = pod("shell1", "node1");
    let (_, wide) = kubectl("get pod shell1 -o wide");
    assert!(
        wide.lines()
            .nth(1)
            .unwrap()
            .contains(&format!(" {shell1} "))
            && wide.contains(" node1 "),
        "{wide}"
    );
    assert!(shell1.starts_with("10.233.96."), "node1's block: {shell1}");
    // The contest's own command: --overrides after `--` belongs to the container's command.
    let (code, out) = kubectl("run myshell2 --image busybox -- sh --overrides='{ \"apiVersion\": \"v1\", \"spec\": { \"nodename\": \"node2\" } }'");
    assert_eq!(code, 0, "{out}");
    let (_, json) = kubectl("get pod myshell2 -o json");
    let pod: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["args"][1],
        "--overrides={ \"apiVersion\": \"v1\", \"spec\": { \"nodename\": \"node2\" } }"
    );
    assert_eq!(kubectl("delete pod shell1 myshell2").0, 0);
    assert!(kubectl("get pods").1.contains("No resources found"));
    // A node whose VM is off is NotReady.
    openstack("server stop ictsc-worker");
    assert!(within(5, || kubectl("get nodes")
        .1
        .contains("node2   NotReady")));
    openstack("server start ictsc-worker");
    assert!(within(30, || kubectl("get nodes")
        .1
        .contains("node2   Ready")));

    // calicoctl: Calico's table over the node's real BIRD.
    let (code, status) = exec("node1", "calicoctl node status");
    assert_eq!(code, 0, "{status}");
    assert!(
        status.starts_with("Calico process is running.\n\nIPv4 BGP status\n"),
        "{status}"
    );
    assert!(
        status.contains("|  PEER ADDRESS   |     PEER TYPE     | STATE |  SINCE   |"),
        "{status}"
    );
    let row = status
        .lines()
        .find(|l| l.starts_with("| 192.168.222.157 "))
        .expect("the mesh peer");
    assert!(
        row.contains("| node-to-node mesh |") && !row.contains("Established"),
        "{row}"
    );
    let (code, msg) = exec("node1", "su - ubuntu -c 'calicoctl node status'");
    assert_ne!(code, 0);
    assert!(msg.contains("must be run as root"), "{msg}");
    for (g, r) in [("master", "worker"), ("worker", "master")] {
        openstack(&format!(
            "security group rule create --protocol tcp --dst-port 179:179 --remote-group {r} {g}"
        ));
    }
    assert!(within(15, || exec("node2", "calicoctl node status")
        .1
        .contains("| up    |")));
    let (_, status) = exec("node2", "calicoctl node status");
    assert!(
        status.contains("| 192.168.222.222 | node-to-node mesh | up    |")
            && status.contains("Established"),
        "{status}"
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn thirty_two_nodes_deployed_steady_on_return() {
    let _g = lab_lock();
    let thresh3 =
        || std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3").unwrap();
    let before = thresh3();
    pm_ok(&[
        "lab",
        "up",
        "--deployed",
        "--faults",
        "none",
        "--nodes",
        "32",
    ]);
    // One neighbour table for every namespace: raised for the full mesh while the lab is up.
    assert!(
        thresh3().trim().parse::<u64>().unwrap() >= 32 * 31,
        "{}",
        thresh3()
    );
    let returned = Instant::now();
    // Collected at once, again as soon as that ends, and 30 s after `lab up` returned: nothing
    // missing any time, and no probe's wall time grows with the 32 nodes (the MTU probe samples
    // 3 of its 31 peers and says so).
    let d = tempdir();
    for (i, at) in [0u64, 0, 30].into_iter().enumerate() {
        if let Some(wait) = Duration::from_secs(at).checked_sub(returned.elapsed()) {
            std::thread::sleep(wait);
        }
        let since = returned.elapsed().as_secs();
        let j = d.path().join(format!("journal{i}.jsonl"));
        let t0 = Instant::now();
        pm_ok(&[
            "collect",
            "--target",
            "lab",
            "--journal",
            j.to_str().unwrap(),
        ]);
        let took = t0.elapsed().as_secs_f64();
        let o = Command::new(bin())
            .args(["diagnose", "--json", "--journal", j.to_str().unwrap()])
            .output()
            .unwrap();
        let dg: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
        assert_eq!(
            dg["missing"].as_array().map(Vec::len),
            Some(0),
            "collected {since} s after lab up returned ({took:.1} s): {:#}",
            dg["missing"]
        );
        assert!(dg["causes"].as_array().unwrap().is_empty(), "{dg:#}");
        let text = std::fs::read_to_string(&j).unwrap();
        let mtu: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["kind"] == "evidence" && r["probe"] == "tunnel_mtu")
            .collect();
        assert_eq!(mtu.len(), 32, "one MTU probe per node");
        for r in &mtu {
            let out = r["stdout"]["text"].as_str().unwrap_or_default();
            assert!(out.contains("peers 31, sampled 3"), "{}: {out}", r["host"]);
            let targets = out.lines().filter(|l| l.starts_with("target ")).count();
            assert_eq!(targets, 3, "{}: {out}", r["host"]);
        }
        eprintln!(
            "32 nodes, collected {since} s after lab up returned: {took:.1} s, nothing missing"
        );
    }
    // Steady when `lab up` returns: every session established at once, no waiting here.
    for n in ["node1", "node17", "node32"] {
        assert!(bgp_established(n), "{n}: BGP established on return");
    }
    let (_, protos) = exec("node17", "birdc -s /run/bird/bird.ctl show protocols");
    assert_eq!(
        protos.lines().filter(|l| l.starts_with("Mesh_")).count(),
        31
    );
    let shell1 = pod("shell1", "node1");
    pod("p32", "node32");
    assert!(
        within(5, || ping("p32", &shell1)),
        "pod on node32 to shell1"
    );
    pm_ok(&["lab", "down"]);
    assert_eq!(
        thresh3(),
        before,
        "lab down puts the neighbour table's limit back"
    );
}

/// `record --on HOST --sudo` from the operator host, with the lab's ssh_config.
fn record_from_operator(
    journal: &std::path::Path,
    hosts: &[&str],
    extra: &[&str],
    cmd: &str,
) -> (i32, Vec<serde_json::Value>) {
    let mut args: Vec<String> = ["netns", "exec", "pm-operator"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(bin().display().to_string());
    args.extend(["record", "--journal"].iter().map(|s| s.to_string()));
    args.push(journal.display().to_string());
    args.extend([
        "--ssh-config".to_string(),
        "/run/postmortem-lab/ssh_config".to_string(),
    ]);
    for h in hosts {
        args.extend(["--on".to_string(), h.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([
        "--".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        cmd.to_string(),
    ]);
    let o = Command::new("ip").args(&args).output().unwrap();
    let recs = std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "evidence")
        .collect();
    (o.status.code().unwrap_or(-1), recs)
}

#[test]
fn ssh_from_the_operator_host_through_the_bastion_with_sudo() {
    let _g = lab_lock();
    up_deployed("ip-forward,sg-bgp");
    let d = tempdir();
    let j = d.path().join("journal.jsonl");
    let (code, recs) = record_from_operator(
        &j,
        &["server01", "node1", "ictsc-worker"],
        &["--sudo"],
        "id -un; hostname",
    );
    assert_eq!(code, 0, "{recs:?}");
    assert_eq!(recs[0]["stdout"]["text"], "root\nserver01\n");
    assert_eq!(recs[1]["stdout"]["text"], "root\nnode1\n");
    assert_eq!(recs[2]["stdout"]["text"], "root\nnode2\n");
    assert_eq!(
        recs[1]["address"], "10.20.20.235:22",
        "node1 through the jump, at its floating address"
    );
    assert!(
        recs[1]["command"]
            .as_str()
            .unwrap()
            .starts_with("sudo -n -- sh -c "),
        "the command as run"
    );
    // A user whose sudo wants a password: a clear record, and the other host carries on.
    exec(
        "node1",
        "sed -i 's/NOPASSWD://' /etc/sudoers.d/90-lab-ubuntu",
    );
    let (code, recs) = record_from_operator(&j, &["node1", "node2"], &["--sudo"], "true");
    assert_eq!(code, 1);
    let msg = recs[3]["outcome"]["failed"]["message"].as_str().unwrap();
    assert!(msg.contains("sudo on node1 wants a password"), "{msg}");
    assert_eq!(recs[4]["outcome"]["exited"]["code"], 0);
    pm_ok(&["lab", "down"]);
}

#[test]
fn the_lab_refuses_without_root() {
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["lab", "up"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the lab needs root"), "{}", stderr(&o));
}

#[test]
fn openstack_server_stop_and_start_act_on_the_vm() {
    let _g = lab_lock();
    up("none");
    let (code, list) = openstack("server list -f json");
    assert_eq!(code, 0, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["Name"], "ictsc-master");
    assert_eq!(list[0]["Networks"], "test=192.168.222.222, 10.20.20.235");
    let (_, show) = openstack("server show ictsc-worker -f json");
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["OS-EXT-SRV-ATTR:host"], "server01");
    // python-openstackclient 5.2 flattens it, even in JSON.
    assert_eq!(show["security_groups"], "name='worker'");
    assert_ne!(
        exec("server01", "ping -c1 -W1 10.20.20.206").0,
        0,
        "a SHUTOFF VM answers"
    );
    let (code, err) = openstack("server stop ictsc-worker");
    assert_ne!(code, 0);
    assert!(err.contains("while it is in vm_state stopped"), "{err}");
    assert_eq!(openstack("server start ictsc-worker").0, 0);
    assert!(
        within(15, || exec("server01", "ping -c1 -W1 10.20.20.206").0 == 0),
        "a started VM answers"
    );
    exec("node2", "sysctl -w net.ipv4.ip_forward=1");
    assert_eq!(openstack("server stop ictsc-worker").0, 0);
    let (_, st) = openstack("server show ictsc-worker -f value -c status");
    assert_eq!(st.trim(), "SHUTOFF");
    assert_ne!(
        exec("server01", "ping -c1 -W1 10.20.20.206").0,
        0,
        "a stopped VM still answers"
    );
    assert!(
        pm_ok(&["lab", "status"]).contains("node2\tvm\tstopped"),
        "a stopped VM's processes end"
    );
    assert_eq!(openstack("server start ictsc-worker").0, 0);
    assert!(within(15, || exec("server01", "ping -c1 -W1 10.20.20.206")
        .0
        == 0));
    assert_eq!(
        exec("node2", "sysctl -n net.ipv4.ip_forward").1.trim(),
        "0",
        "a boot starts from the defaults"
    );
    pm_ok(&["lab", "down"]);
}

/// server01's `openstack` is the real client of microstack's release (python-openstackclient
/// 5.2.0) against the lab's API: its version, and its own words for a wrong password, a start of
/// a started server, a request the API does not implement (which the API logs) and an API that
/// does not answer; collecting with the API down, the tool says which probe on which host could
/// not be read and what the client said, and claims nothing from it.
#[test]
fn the_real_openstack_client_and_its_errors() {
    let _g = lab_lock();
    up("none");
    let (code, v) = openstack("--version");
    assert_eq!((code, v.trim()), (0, "openstack 5.2.0"));
    let (code, err) = exec(
        "server01",
        "su - user -c '. /etc/lab/admin-openrc; OS_PASSWORD=wrong /opt/postmortem-lab/osc/bin/openstack server list'",
    );
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "The request you have made requires authentication. (HTTP 401) (Request-ID: req-"
        ),
        "{err}"
    );
    assert_eq!(openstack("server start ictsc-master").0, 0);
    let (code, err) = openstack("server start ictsc-master");
    assert_ne!(code, 0);
    assert!(
        err.contains("Cannot 'start' instance ") && err.contains("(HTTP 409) (Request-ID: req-"),
        "{err}"
    );
    let (code, err) = openstack("router list");
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");
    let log = std::fs::read_to_string(postmortem::lab::dir().join("openstack/api.log")).unwrap();
    assert!(log.contains("GET /v2.0/routers 404"), "{log}");

    exec("server01", "pkill -f osapi.py");
    let (code, err) = openstack("server list");
    assert_ne!(code, 0);
    assert!(
        err.contains("Unable to establish connection to http://10.20.20.1:5000/v3/auth/tokens"),
        "{err}"
    );
    let dir = tempdir();
    let j = dir.path().join("j.jsonl");
    pm_ok(&[
        "collect",
        "--target",
        "lab",
        "--journal",
        j.to_str().unwrap(),
    ]);
    // No cause holds in what could be read (diagnose says so and exits non-zero).
    let d = stdout(&pm(
        dir.path(),
        &["diagnose", "--journal", j.to_str().unwrap()],
    ));
    for probe in ["security_groups", "ports", "subnets"] {
        let line = d
            .lines()
            .find(|l| l.starts_with(&format!("missing evidence: {probe} on server01: ")))
            .unwrap_or_else(|| panic!("{probe} not missing: {d}"));
        assert!(
            line.contains("it said: Unable to establish connection"),
            "{line}"
        );
    }
    assert!(
        !d.lines()
            .any(|l| l.starts_with("ruled out: vm-dns-missing")),
        "ruled out on no subnet at all: {d}"
    );
    pm_ok(&["lab", "down"]);
}
