//! The SSH transport against real OpenSSH sshd on loopback (run as root).

mod common;
#[path = "common/sshd.rs"]
mod sshd;
use common::*;
use serde_json::Value;
use sshd::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Lab {
    dir: tempfile::TempDir,
    a: Sshd,
    b: Sshd,
    c: Sshd,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempdir();
        let d = dir.path();
        keygen(&d.join("id_ed25519"), "ed25519", &[]);
        keygen(&d.join("id_rsa"), "rsa", &["-b", "2048"]);
        keygen(&d.join("id_rsa_pem"), "rsa", &["-b", "2048", "-m", "PEM"]);
        keygen(&d.join("id_enc"), "ed25519", &["-N", "a passphrase"]);
        let keys: Vec<PathBuf> = ["id_ed25519", "id_rsa", "id_rsa_pem", "id_enc"]
            .iter()
            .map(|k| d.join(k))
            .collect();
        let refs: Vec<&Path> = keys.iter().map(|p| p.as_path()).collect();
        let a = Sshd::start(d, "a", &refs);
        let b = Sshd::start(d, "b", &refs);
        let c = Sshd::start(d, "c", &refs);
        let lab = Lab { dir, a, b, c };
        lab.write_known_hosts(&[&lab.a, &lab.b, &lab.c]);
        lab.write_config("");
        lab
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn write_known_hosts(&self, servers: &[&Sshd]) {
        let text: String = servers
            .iter()
            .map(|s| s.known_hosts_line("ed25519"))
            .collect();
        fs::write(self.path("known_hosts"), text).unwrap();
    }

    fn write_config(&self, extra: &str) {
        let d = self.dir.path().display();
        let cfg = format!(
            "{extra}\n\
             Host a a-rsa a-pem a-agent a-enc\n  HostName 127.0.0.1\n  Port {pa}\n\
             Host b\n  HostName 127.0.0.1\n  Port {pb}\n  ProxyJump a\n\
             Host c\n  HostName 127.0.0.1\n  Port {pc}\n  ProxyJump a,b\n\
             Host refused\n  HostName 127.0.0.1\n  Port {free}\n\
             Host a-rsa\n  IdentityFile {d}/id_rsa\n\
             Host a-pem\n  IdentityFile {d}/id_rsa_pem\n\
             Host a-enc\n  IdentityFile {d}/id_enc\n\
             Host a-agent\n  IdentityFile {d}/nonexistent\n  IdentitiesOnly no\n\
             Host * !a-enc !a-agent\n  IdentityFile {d}/id_ed25519\n\
             Host *\n  User root\n  IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile {d}/known_hosts\n  ConnectTimeout 5\n",
            pa = self.a.port,
            pb = self.b.port,
            pc = self.c.port,
            free = free_port(),
        );
        fs::write(self.path("ssh_config"), cfg).unwrap();
    }

    fn record(
        &self,
        hosts: &[&str],
        extra: &[&str],
        cmd: &[&str],
    ) -> (std::process::Output, Vec<Value>) {
        let mut args: Vec<String> = vec![
            "record".into(),
            "--ssh-config".into(),
            self.path("ssh_config").display().to_string(),
        ];
        for h in hosts {
            args.push("--on".into());
            args.push(h.to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--".into());
        args.extend(cmd.iter().map(|s| s.to_string()));
        let before = self.records().len();
        let o = Command::new(bin())
            .current_dir(self.dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .args(&args)
            .output()
            .unwrap();
        let all = self.records();
        (
            o,
            all[before.max(1).min(all.len())..]
                .iter()
                .filter(|r| r["kind"] == "evidence")
                .cloned()
                .collect(),
        )
    }

    fn records(&self) -> Vec<Value> {
        fs::read_to_string(self.path("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn fingerprint(pubfile: &Path) -> String {
    let o = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubfile)
        .output()
        .unwrap();
    String::from_utf8(o.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn ed25519_rsa_and_pem_keys_log_in_and_record_the_host() {
    let lab = Lab::new();
    for host in ["a", "a-rsa", "a-pem"] {
        let (o, recs) = lab.record(&[host], &[], &["echo", "hello from", "$(hostname)"]);
        assert_eq!(o.status.code(), Some(0), "{host}: {}", stderr(&o));
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r["host"], host);
        assert_eq!(
            r["stdout"]["text"], "hello from $(hostname)\n",
            "arguments are quoted for the remote shell"
        );
        assert_eq!(r["address"], format!("127.0.0.1:{}", lab.a.port));
        assert_eq!(
            r["host_key"],
            fingerprint(&lab.a.dir.join("host_ed25519.pub"))
        );
    }
}

#[test]
fn agent_authentication() {
    let lab = Lab::new();
    let sock = lab.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !sock.exists() {
        assert!(t0.elapsed().as_secs() < 5, "ssh-agent did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = Command::new("ssh-add")
        .arg(lab.path("id_rsa"))
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let o = Command::new(bin())
        .current_dir(lab.dir.path())
        .env("SSH_AUTH_SOCK", &sock)
        .args(["record", "--ssh-config"])
        .arg(lab.path("ssh_config"))
        .args(["--on", "a-agent", "--", "echo", "agent"])
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Without the agent the same host has no usable key.
    let (o, recs) = lab.record(&["a-agent"], &[], &["true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        recs[0]["outcome"]["failed"]["message"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{:?}",
        recs[0]
    );
}

#[test]
fn proxy_jump_and_two_hop_chain() {
    let lab = Lab::new();
    let (o, recs) = lab.record(&["b", "c"], &[], &["sh", "-c", "echo $SSH_CONNECTION"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // sshd b and c see a connection to their own port: the jumps delivered it.
    assert!(
        recs[0]["stdout"]["text"]
            .as_str()
            .unwrap()
            .trim()
            .ends_with(&format!(" {}", lab.b.port)),
        "{:?}",
        recs[0]
    );
    assert!(
        recs[1]["stdout"]["text"]
            .as_str()
            .unwrap()
            .trim()
            .ends_with(&format!(" {}", lab.c.port)),
        "{:?}",
        recs[1]
    );
    assert_eq!(
        recs[1]["host_key"],
        fingerprint(&lab.c.dir.join("host_ed25519.pub"))
    );
}

#[test]
fn host_key_mismatch_is_refused_even_with_accept_new() {
    let lab = Lab::new();
    // known_hosts says a's port has b's key.
    let wrong = lab
        .b
        .known_hosts_line("ed25519")
        .replace(&lab.b.port.to_string(), &lab.a.port.to_string());
    fs::write(lab.path("known_hosts"), wrong).unwrap();
    for extra in [&[][..], &["--accept-new"]] {
        let (o, recs) = lab.record(&["a"], extra, &["echo", "should not run"]);
        assert_ne!(o.status.code(), Some(0));
        let msg = recs[0]["outcome"]["failed"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") && msg.contains("known_hosts:1"),
            "{msg}"
        );
        assert!(recs[0]["stdout"]["text"] == "");
    }
}

#[test]
fn unknown_host_refused_then_accepted_and_recorded_on_request() {
    let lab = Lab::new();
    fs::write(lab.path("known_hosts"), "").unwrap();
    let (o, recs) = lab.record(&["a"], &[], &["true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        recs[0]["outcome"]["failed"]["message"]
            .as_str()
            .unwrap()
            .contains("no host key is known"),
        "{:?}",
        recs[0]
    );
    let (o, _) = lab.record(&["a"], &["--accept-new"], &["true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kh = fs::read_to_string(lab.path("known_hosts")).unwrap();
    assert!(
        kh.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", lab.a.port)),
        "{kh}"
    );
    // OpenSSH itself accepts what was recorded.
    let st = Command::new("ssh")
        .args(["-F"])
        .arg(lab.path("ssh_config"))
        .args(["-o", "BatchMode=yes", "a", "true"])
        .status()
        .unwrap();
    assert!(
        st.success(),
        "OpenSSH rejects the recorded known_hosts line"
    );
    let (o, _) = lab.record(&["a"], &[], &["true"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn hashed_known_hosts_and_rsa_only_entries() {
    let lab = Lab::new();
    // Only an RSA host key is known, hashed: the RSA host key must be asked for.
    fs::write(lab.path("known_hosts"), lab.a.known_hosts_line("rsa")).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(lab.path("known_hosts"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(fs::read_to_string(lab.path("known_hosts"))
        .unwrap()
        .starts_with("|1|"));
    let (o, recs) = lab.record(&["a"], &[], &["true"]);
    assert_eq!(o.status.code(), Some(0), "{}: {:?}", stderr(&o), recs);
    assert_eq!(
        recs[0]["host_key"],
        fingerprint(&lab.a.dir.join("host_rsa.pub"))
    );
}

#[test]
fn exit_codes_signals_streams_and_bytes() {
    let lab = Lab::new();
    let (o, recs) = lab.record(
        &["a"],
        &[],
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; printf '\\377\\376\\n'; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let r = &recs[0];
    assert_eq!(r["outcome"]["exited"]["code"], 3);
    assert_eq!(r["stdout"]["text"], "out\n\u{fffd}\u{fffd}\n");
    assert_eq!(r["stdout"]["invalid_utf8"], 2);
    assert_eq!(r["stderr"]["text"], "err\n");
    let (o, recs) = lab.record(&["a"], &[], &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15), "{}", stderr(&o));
    assert_eq!(recs[0]["outcome"]["signaled"]["name"], "SIGTERM");
}

#[test]
fn several_hosts_one_failing_the_rest_carry_on() {
    let lab = Lab::new();
    let (o, recs) = lab.record(&["a", "refused", "b"], &[], &["echo", "ok"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("2 of 3 hosts succeeded; failed: refused"),
        "{}",
        stderr(&o)
    );
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["stdout"]["text"], "ok\n");
    assert!(
        recs[1]["outcome"]["failed"]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{:?}",
        recs[1]
    );
    assert_eq!(recs[2]["stdout"]["text"], "ok\n");
}

#[test]
fn encrypted_key_without_agent_says_so() {
    let lab = Lab::new();
    let (o, recs) = lab.record(&["a-enc"], &[], &["true"]);
    assert_ne!(o.status.code(), Some(0));
    let msg = recs[0]["outcome"]["failed"]["message"].as_str().unwrap();
    assert!(
        msg.contains("id_enc is encrypted") && msg.contains("ssh-add"),
        "{msg}"
    );
}

#[test]
fn a_hanging_command_times_out() {
    let lab = Lab::new();
    let (o, recs) = lab.record(&["a", "b"], &["--timeout", "1"], &["sleep", "30"]);
    assert_eq!(o.status.code(), Some(1));
    for r in &recs {
        assert!(
            r["outcome"]["timed_out"]["after_ms"].as_u64().unwrap() >= 1000,
            "{r:?}"
        );
        assert!(r["duration_ms"].as_u64().unwrap() < 20_000);
    }
}

#[test]
fn sshd_killed_mid_command_gives_a_record_and_the_run_goes_on() {
    let mut lab = Lab::new();
    let mut args: Vec<String> = vec![
        "record".into(),
        "--ssh-config".into(),
        lab.path("ssh_config").display().to_string(),
    ];
    for h in ["c", "a"] {
        args.extend(["--on".to_string(), h.to_string()]);
    }
    args.extend(
        ["--", "sh", "-c", "echo started; sleep 5; echo done"]
            .iter()
            .map(|s| s.to_string()),
    );
    let child = Command::new(bin())
        .current_dir(lab.dir.path())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    lab.c.kill_all();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let recs: Vec<Value> = lab
        .records()
        .into_iter()
        .filter(|r| r["kind"] == "evidence")
        .collect();
    assert_eq!(recs.len(), 2);
    assert!(
        recs[0]["outcome"]["failed"]["message"]
            .as_str()
            .unwrap()
            .contains("connection was lost"),
        "{:?}",
        recs[0]
    );
    assert_eq!(recs[0]["stdout"]["text"], "started\n");
    assert_eq!(recs[1]["stdout"]["text"], "started\ndone\n");
}

#[test]
fn remote_output_of_200_mib_keeps_memory_bounded() {
    let lab = Lab::new();
    let mut child = Command::new(bin())
        .current_dir(lab.dir.path())
        .args(["record", "--ssh-config"])
        .arg(lab.path("ssh_config"))
        .args([
            "--on",
            "a",
            "--",
            "sh",
            "-c",
            "yes 'all work and no play' | head -c 209715200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let _ = child.try_wait();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let recs = lab.records();
    assert_eq!(recs[1]["stdout"]["bytes"], 209715200u64);
    eprintln!("peak RSS over SSH for 200 MiB: {} KiB", usage.ru_maxrss);
    assert!(
        usage.ru_maxrss < 96 * 1024,
        "peak RSS {} KiB",
        usage.ru_maxrss
    );
}

/// Many commands at once on one host: `run` keeps to one connection (its sessions, 8 at a time,
/// the rest waiting their turn); `run_spread` opens more connections once the first is full, at
/// most MAX_LANES, through the same jump host. Each command prints the client end of its SSH
/// connection as sshd sees it (SSH_CONNECTION), so the connections are counted on the server.
#[test]
fn spread_commands_open_more_connections_and_no_more_than_the_lanes() {
    use postmortem::journal::redact::Redactor;
    use postmortem::transport::ssh::{SshOptions, SshPool, MAX_LANES, MAX_SESSIONS};
    let lab = Lab::new();
    let opts = SshOptions {
        config: postmortem::transport::ssh_config::SshConfig::load(&lab.path("ssh_config"), false)
            .unwrap(),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ports = |spread: bool| -> std::collections::BTreeSet<String> {
        rt.block_on(async {
            let pool = SshPool::new(opts.clone());
            let red = Redactor::new();
            let n = MAX_SESSIONS * (MAX_LANES + 1);
            let runs = (0..n).map(|_| async {
                let cmd = "echo \"$SSH_CONNECTION\"; sleep 1";
                let t = Some(std::time::Duration::from_secs(30));
                if spread {
                    pool.run_spread("b", cmd, 4096, t, false, &red).await
                } else {
                    pool.run("b", cmd, 4096, t, false, &red).await
                }
            });
            let evs = futures::future::join_all(runs).await;
            pool.close().await;
            evs.iter()
                .map(|e| {
                    assert!(e.outcome.is_success(), "{e:?}");
                    // "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT": one client port per connection.
                    e.stdout.text.split_whitespace().nth(1).unwrap().to_string()
                })
                .collect()
        })
    };
    assert_eq!(ports(false).len(), 1);
    let spread = ports(true);
    assert!(spread.len() > 1 && spread.len() <= MAX_LANES, "{spread:?}");
}
