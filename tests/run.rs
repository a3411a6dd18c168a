//! `run` on the lab (as root): the contest fixed, proven and reported; nothing changed without
//! --apply; nothing added the second time; a fix that does not cure its symptoms rolled back;
//! a run killed while applying finishes the same when run again.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn lab_sh(host: &str, script: &str) -> String {
    let o = Command::new(bin())
        .args(["lab", "exec", host, "--", "sh", "-c", script])
        .output()
        .unwrap();
    stdout(&o)
}

/// What the fixes could change: forwarding, the sysctl files, the security-group rules.
fn state() -> (String, String, Vec<(String, String, String, String)>) {
    let fwd = lab_sh("server01", "cat /proc/sys/net/ipv4/ip_forward")
        .trim()
        .to_string();
    let files = lab_sh("server01", "ls /etc/sysctl.d");
    let rules: Vec<Value> = serde_json::from_str(&lab_sh(
        "server01",
        "su - user -c 'openstack security group rule list --long -f json'",
    ))
    .unwrap();
    let mut rules: Vec<(String, String, String, String)> = rules
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (
                s("Security Group"),
                s("Port Range"),
                s("Remote Security Group"),
                s("ID"),
            )
        })
        .collect();
    rules.sort();
    (fwd, files, rules)
}

fn run(dir: &Path, apply: bool) -> (i32, String) {
    let j = dir.join("journal.jsonl");
    let mut args = vec!["run", "--target", "lab", "--journal", j.to_str().unwrap()];
    if apply {
        args.extend(["--apply", "--yes"]);
    }
    let o = Command::new(bin()).args(&args).output().unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o) + &stderr(&o))
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ping_ok(from: &str, ip: &str) -> bool {
    Command::new(bin())
        .args([
            "lab",
            "exec",
            &format!("pod-{from}"),
            "--",
            "ping",
            "-c1",
            "-W1",
            ip,
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn the_contest_fixed_proven_and_reported() {
    let _g = lab_lock();
    pm_ok(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
    let (_, _, rules_before) = state();
    let dir = tempdir();
    let (code, out) = run(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    // Forwarding on, at runtime and after a reboot.
    let (fwd, files, rules_after) = state();
    assert_eq!(fwd, "1");
    assert!(files.contains("90-postmortem-ip-forward.conf"), "{files}");
    pm_ok(&["lab", "reboot", "server01"]);
    assert_eq!(
        lab_sh("server01", "cat /proc/sys/net/ipv4/ip_forward").trim(),
        "1",
        "lost after reboot"
    );
    // Exactly two new rules: TCP/179, each from the other group.
    let new: Vec<_> = rules_after
        .iter()
        .filter(|r| !rules_before.contains(r))
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    for r in &new {
        assert_eq!(r.1, "179:179");
        assert!(
            !r.2.is_empty() && r.2 != r.0,
            "a remote group, the other one: {r:?}"
        );
    }
    assert!(rules_after.len() == rules_before.len() + 2);
    // Pods talk across nodes and on the same node.
    assert!(ping_ok("shell3", "10.233.96.3") && ping_ok("shell2", "10.233.96.3"));
    // The journal: the kubespray run after the fix has failed=0; the task's rules held.
    let recs = records(dir.path());
    let last_kubespray = recs
        .iter()
        .rev()
        .find(|r| r["probe"] == "kubespray")
        .unwrap();
    let recap: Vec<&str> = last_kubespray["stdout"]["text"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| l.contains("failed="))
        .collect();
    assert_eq!(recap.len(), 2);
    assert!(recap.iter().all(|l| l.contains("failed=0")), "{recap:?}");
    let kube: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "constraint" && r["id"] == "kubespray-unchanged")
        .collect();
    assert_eq!(kube.len(), 2);
    assert!(kube.iter().all(|r| r["ok"] == true));
    assert_eq!(
        kube[0]["value"], kube[1]["value"],
        "the kubespray directory's fingerprint changed"
    );
    let stages: Vec<&str> = recs
        .iter()
        .filter(|r| r["kind"] == "fix")
        .map(|r| r["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages.iter().filter(|s| **s == "verified").count(),
        3,
        "{stages:?}"
    );
    pm_ok(&[
        "journal",
        "verify",
        dir.path().join("journal.jsonl").to_str().unwrap(),
    ]);
    // All six report files, with the before and after evidence.
    for lang in ["ja", "en"] {
        for ext in ["md", "html", "pdf"] {
            assert!(
                dir.path().join(format!("report.{lang}.{ext}")).is_file(),
                "report.{lang}.{ext}"
            );
        }
    }
    let ja = std::fs::read_to_string(dir.path().join("report.ja.md")).unwrap();
    for t in [
        "## 修正前後の比較",
        "runtime 0 \\/ persisted nowhere",
        "runtime 1 \\/ persisted 1",
        "same\\-node pings answered 3\\/3\\, cross\\-node 0\\/5",
        "cross\\-node 5\\/5",
        "## 問題の前提条件",
        "## 修正とその検証",
        "verified",
    ] {
        assert!(ja.contains(t), "{t:?} not in the report");
    }
    // The pictures: the failing links marked, the ping matrix before and after; inlined in HTML.
    let topo = std::fs::read_to_string(dir.path().join("report.topology.svg")).unwrap();
    assert!(
        topo.contains("not forwarded")
            && topo.contains("BGP (TCP/179)")
            && topo.contains("class=\"fail\"")
    );
    let before = std::fs::read_to_string(dir.path().join("report.pings-before.svg")).unwrap();
    let after = std::fs::read_to_string(dir.path().join("report.pings-after.svg")).unwrap();
    assert!(before.contains("class=\"lost\"") && !after.contains("class=\"lost\""));
    assert!(ja.contains("](report.topology.svg)") && ja.contains("](report.pings-after.svg)"));
    let html = std::fs::read_to_string(dir.path().join("report.ja.html")).unwrap();
    assert_eq!(html.matches("src=\"data:image/svg+xml;base64,").count(), 3);
    assert!(!html.contains("src=\"report."), "the HTML refers to a file");
    // The same journal as a team post-mortem.
    let pm_dir = dir.path().join("pm");
    pm_ok(&[
        "report",
        "--journal",
        dir.path().join("journal.jsonl").to_str().unwrap(),
        "--style",
        "postmortem",
        "--format",
        "md",
        "--out",
        pm_dir.to_str().unwrap(),
    ]);
    let pm = std::fs::read_to_string(pm_dir.join("report.en.md")).unwrap();
    for t in [
        "## Summary",
        "## Impact",
        "## Root causes",
        "## Trigger",
        "## Resolution",
        "## Detection",
        "## Action items",
        "## Lessons learned",
        "## Timeline",
    ] {
        assert!(pm.contains(t), "{t:?} not in the post-mortem");
    }
    assert!(
        pm.contains("part of building a microstack host")
            && pm.contains("security\\-group templates"),
        "action items: {pm}"
    );
    assert!(
        pm.contains("0 known causes and 0 unexplained failures"),
        "{pm}"
    );
    let pdf = pdftotext(&dir.path().join("report.en.pdf"));
    assert!(
        pdf.contains("Before and after") && pdf.contains("cross-node 5/5"),
        "{pdf}"
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn without_apply_nothing_changes_and_twice_adds_nothing() {
    let _g = lab_lock();
    pm_ok(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
    let before = state();
    let dir = tempdir();
    let (code, out) = run(dir.path(), false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(state(), before, "run without --apply changed a host");
    let planned = records(dir.path())
        .iter()
        .filter(|r| r["kind"] == "fix" && r["stage"] == "planned")
        .count();
    assert_eq!(planned, 3);

    let (code, out) = run(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    let once = state();
    let n = records(dir.path()).len();
    let (code, out) = run(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to fix"), "{out}");
    assert_eq!(state(), once, "a second run changed something");
    let second: Vec<Value> = records(dir.path()).into_iter().skip(n).collect();
    assert!(
        !second.iter().any(|r| r["kind"] == "fix"),
        "the second run planned or applied a fix"
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn a_fix_that_does_not_cure_is_rolled_back_and_reported() {
    let _g = lab_lock();
    pm_ok(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
    let (_, _, rules_before) = state();
    // BIRD on node2 refuses its peer: TCP/179 alone cannot bring BGP up.
    lab_sh(
        "node2",
        "birdc -s /run/bird/bird.ctl disable Mesh_192_168_222_222",
    );
    let dir = tempdir();
    let (code, out) = run(dir.path(), true);
    assert_ne!(code, 0, "{out}");
    let (fwd, _, rules_after) = state();
    assert_eq!(fwd, "1", "the forwarding fix cured its symptoms and stays");
    assert_eq!(
        rules_after, rules_before,
        "the security-group rules were not rolled back"
    );
    let recs = records(dir.path());
    let stage = |target: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| r["kind"] == "fix" && r["target"] == target)
            .map(|r| r["stage"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        stage("security group master"),
        vec!["planned", "applied", "rolled_back"]
    );
    assert_eq!(
        stage("server01 net.ipv4.ip_forward"),
        vec!["planned", "applied", "verified"]
    );
    let en = std::fs::read_to_string(dir.path().join("report.en.md")).unwrap();
    assert!(
        en.contains("| sg\\-bgp\\-blocked | security group master | rolled\\_back"),
        "{en}"
    );
    pm_ok(&["lab", "down"]);
}

#[test]
fn a_run_killed_while_applying_ends_the_same_when_run_again() {
    let _g = lab_lock();
    pm_ok(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
    let (_, _, rules_before) = state();
    let dir = tempdir();
    let j = dir.path().join("journal.jsonl");
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(bin())
        .args([
            "run",
            "--apply",
            "--yes",
            "--target",
            "lab",
            "--journal",
            j.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Kill it as soon as the first fix is applied.
    let t0 = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&j).unwrap_or_default();
        if text.contains("\"stage\":\"applied\"") {
            break;
        }
        assert!(t0.elapsed().as_secs() < 60, "no fix was applied");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
    pm_ok(&["journal", "verify", j.to_str().unwrap()]);
    let (code, out) = run(dir.path(), true);
    assert_eq!(code, 0, "{out}");
    let (fwd, files, rules_after) = state();
    assert_eq!(fwd, "1");
    assert!(files.contains("90-postmortem-ip-forward.conf"));
    assert_eq!(rules_after.len(), rules_before.len() + 2, "{rules_after:?}");
    assert!(ping_ok("shell3", "10.233.96.3"));
    pm_ok(&["journal", "verify", j.to_str().unwrap()]);
    pm_ok(&["lab", "down"]);
}
