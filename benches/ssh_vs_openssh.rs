//! 50 commands on each of 3 hosts: through postmortem's SSH transport (one connection per host,
//! channels in parallel) against the same commands run as one OpenSSH `ssh` process each, in
//! sequence. Both against real sshd on loopback, measured in the same run; prints the ratio.
//! Run as root: `cargo bench --bench ssh_vs_openssh`.

#[path = "../tests/common/sshd.rs"]
mod sshd;

use postmortem::journal::redact::Redactor;
use postmortem::transport::ssh::{SshOptions, SshPool};
use postmortem::transport::ssh_config::SshConfig;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const COMMANDS: usize = 50;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sshd::keygen(&d.join("id_ed25519"), "ed25519", &[]);
    let key = d.join("id_ed25519");
    let servers: Vec<sshd::Sshd> = ["h1", "h2", "h3"]
        .iter()
        .map(|n| sshd::Sshd::start(d, n, &[&key]))
        .collect();
    let kh: String = servers
        .iter()
        .map(|s| s.known_hosts_line("ed25519"))
        .collect();
    std::fs::write(d.join("known_hosts"), kh).unwrap();
    let mut cfg = String::new();
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!(
            "Host h{}\n  HostName 127.0.0.1\n  Port {}\n",
            i + 1,
            s.port
        ));
    }
    cfg.push_str(&format!(
        "Host *\n  User root\n  IdentityFile {k}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  BatchMode yes\n",
        k = key.display(),
        kh = d.join("known_hosts").display()
    ));
    let cfg_path = d.join("ssh_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let hosts = ["h1", "h2", "h3"];
    let command = |i: usize| format!("echo command {i}; cat /proc/loadavg");

    // OpenSSH: one process per command, in sequence.
    let t0 = Instant::now();
    for h in hosts {
        for i in 0..COMMANDS {
            let st = Command::new("ssh")
                .arg("-F")
                .arg(&cfg_path)
                .arg(h)
                .arg(command(i))
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        }
    }
    let openssh = t0.elapsed();

    // postmortem: one connection per host, all commands as parallel channels.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = Instant::now();
    let ok = rt.block_on(async {
        let opts = SshOptions {
            config: SshConfig::load(&cfg_path, false).unwrap(),
            ..Default::default()
        };
        let pool = Arc::new(SshPool::new(opts));
        let red = Redactor::new();
        let mut tasks = Vec::new();
        for h in hosts {
            for i in 0..COMMANDS {
                let (pool, red, cmd) = (pool.clone(), red.clone(), command(i));
                tasks.push(tokio::spawn(async move {
                    pool.run(h, &cmd, 1 << 20, None, false, &red).await
                }));
            }
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().outcome.is_success() {
                ok += 1;
            }
        }
        pool.close().await;
        ok
    });
    let ours = t0.elapsed();
    assert_eq!(ok, hosts.len() * COMMANDS, "every command succeeded");
    println!(
        "{} commands on {} hosts: OpenSSH one process each {:.3} s, postmortem {:.3} s; postmortem takes {:.3} of OpenSSH's time ({:.1}x faster; target: at most 0.2)",
        COMMANDS * hosts.len(),
        hosts.len(),
        openssh.as_secs_f64(),
        ours.as_secs_f64(),
        ours.as_secs_f64() / openssh.as_secs_f64(),
        openssh.as_secs_f64() / ours.as_secs_f64()
    );
}
