//! Passwords the operator types, on the lab built with `--sudo-password` (as root): `user` on
//! server01 logs in and uses sudo with a password, as on contest hosts. The password is typed
//! into a real pseudo-terminal (util-linux `script`), never passed as an argument. Covered:
//! password login on the jump host of a ProxyJump chain (-k), sudo with a password (-K), wrong
//! passwords, no terminal, --yes, and the password in no file and no command line.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run postmortem in the operator's network namespace under a pseudo-terminal; `typed` is what
/// the operator types (after the prompt has had time to appear).
fn typed(dir: &std::path::Path, args: &str, typed: &str) -> (i32, String) {
    let cmd = format!("ip netns exec pm-operator {} {args}", bin().display());
    let mut child = Command::new("script")
        .current_dir(dir)
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = typed.to_string();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        std::thread::sleep(Duration::from_millis(800));
        let _ = stdin.write_all(text.as_bytes());
        std::thread::sleep(Duration::from_millis(200));
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o) + &stderr(&o))
}

fn lab_env(key: &str) -> String {
    let env = pm_ok(&["lab", "env"]);
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("lab env has no {key}: {env}"))
        .to_string()
}

/// Every file under `dir`, read as bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn typed_passwords_log_in_and_sudo_and_are_written_nowhere() {
    require("script", "apt-get install bsdutils");
    let _g = lab_lock();
    pm_ok(&["lab", "up", "--sudo-password"]);
    let pw = lab_env("SUDO_PASSWORD");
    assert!(pw.len() >= 16, "{pw}");
    let d = tempfile::tempdir().unwrap();

    // The jump host takes only the password: its key is not offered.
    let cfg = std::fs::read_to_string(lab_env("SSH_CONFIG")).unwrap();
    let key = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("IdentityFile "))
        .unwrap()
        .to_string();
    let cfg = cfg
        .replace(&format!("  IdentityFile {key}\n"), "")
        .replace(
            "  User user\n",
            "  User user\n  IdentityFile /nonexistent\n",
        )
        .replace(
            "Host *\n",
            &format!("Host node1 node2\n  IdentityFile {key}\nHost *\n"),
        );
    std::fs::write(d.path().join("cfg"), cfg).unwrap();

    // The task's first step, through the lab's openstack (the cloud's CLI needs no password).
    let (code, out) = lab_exec(
        "server01",
        "su - user -c 'openstack server start ictsc-master'",
    );
    assert_eq!(code, 0, "{out}");
    let t0 = Instant::now();
    loop {
        let (c, out) = typed(
            d.path(),
            "record --ssh-config cfg --on node1 -k -- hostname",
            &format!("{pw}\n"),
        );
        if c == 0 {
            assert!(
                out.contains("SSH password:"),
                "asked on the terminal: {out}"
            );
            assert!(out.contains("node1"), "{out}");
            assert!(!out.contains(&pw), "the password is not echoed: {out}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "node1 never answered through server01: {out}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // A wrong login password: a clear error, the command does not run.
    let (code, out) = typed(
        d.path(),
        "record --ssh-config cfg --on server01 -k -- hostname",
        "not-the-password\n",
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("Permission denied (publickey,password)")
            && out.contains("the password was refused"),
        "{out}"
    );

    // sudo with the password typed: the command runs as root; the process list never shows it.
    let lab_cfg = lab_env("SSH_CONFIG");
    let watcher = {
        let pw = pw.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut seen = false;
            while t0.elapsed() < Duration::from_secs(4) {
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                        seen |= String::from_utf8_lossy(&c).contains(&pw);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    let (code, out) = typed(
        d.path(),
        &format!("record --ssh-config {lab_cfg} --on server01 --sudo -K -- sh -c 'sleep 2; id -u'"),
        &format!("{pw}\n"),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BECOME password:"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "0"), "ran as root: {out}");
    assert!(
        !watcher.join().unwrap(),
        "the password was on a command line"
    );

    // Without -K, sudo's wish for a password is named, with the way out.
    let o = Command::new("ip")
        .current_dir(d.path())
        .args(["netns", "exec", "pm-operator"])
        .arg(bin())
        .args([
            "record",
            "--ssh-config",
            &lab_cfg,
            "--on",
            "server01",
            "--sudo",
            "--",
            "id",
            "-u",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        stderr(&o)
            .contains("sudo on server01 wants a password: type it with --ask-become-pass (-K)"),
        "{}",
        stderr(&o)
    );

    // A wrong sudo password.
    let (code, out) = typed(
        d.path(),
        &format!("record --ssh-config {lab_cfg} --on server01 --sudo -K -- id -u"),
        "wrong-sudo-password\n",
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("sudo on server01 refused the password given with --ask-become-pass (-K)"),
        "{out}"
    );

    // No terminal: a clear error at once, never a wait.
    let t0 = Instant::now();
    let o = Command::new("setsid")
        .current_dir(d.path())
        .args(["-w", "ip", "netns", "exec", "pm-operator"])
        .arg(bin())
        .args([
            "record",
            "--ssh-config",
            &lab_cfg,
            "--on",
            "server01",
            "--sudo",
            "-K",
            "--",
            "id",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("there is no terminal to ask on"),
        "{}",
        stderr(&o)
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    // --yes: nothing may be asked.
    let o = pm(
        d.path(),
        &[
            "run",
            "--target",
            "lab",
            "--yes",
            "-K",
            "--journal",
            "j2.jsonl",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--yes says nothing is asked"),
        "{}",
        stderr(&o)
    );

    // The password is in no file the tool wrote (journal, report).
    let o = pm(d.path(), &["report", "--format", "md,html", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    pm_ok(&["lab", "down"]);
    let written = files(d.path());
    assert!(written.iter().any(|(p, _)| p.ends_with("journal.jsonl")));
    for (p, bytes) in written {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&pw),
            "the password reached {}",
            p.display()
        );
    }
}
