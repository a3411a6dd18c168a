//! ssh_config resolution compared with OpenSSH's own (`ssh -G`) on Include and Host patterns.
//! One test in this binary: it sets HOME, which the resolution reads.

use postmortem::transport::ssh_config::{SshConfig, StrictHostKeyChecking};
use std::collections::HashMap;
use std::fs;
use std::process::Command;

fn ssh_g(
    home: &std::path::Path,
    cfg: &std::path::Path,
    host: &str,
) -> HashMap<String, Vec<String>> {
    let o = Command::new("ssh")
        .env("HOME", home)
        .arg("-G")
        .arg("-F")
        .arg(cfg)
        .arg(host)
        .output()
        .expect("ssh (openssh-client)");
    assert!(
        o.status.success(),
        "ssh -G {host}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    m
}

fn pw_home() -> String {
    let o = Command::new("sh")
        .args(["-c", "getent passwd $(id -u) | cut -d: -f6"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn resolution_matches_ssh_dash_g() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::env::set_var("HOME", h);
    std::env::set_var("USER", "root");
    fs::create_dir_all(h.join(".ssh/conf.d")).unwrap();
    fs::write(
        h.join(".ssh/conf.d/10-nodes.conf"),
        "Host node*\n  User ubuntu\n  ProxyJump server01\n  IdentityFile ~/.ssh/ictsc_rsa\n",
    )
    .unwrap();
    fs::write(
        h.join(".ssh/conf.d/20-lab.conf"),
        "Host node1\n  HostName 10.20.20.235\nHost node2\n  HostName 10.20.20.206\n  Port 2222\n",
    )
    .unwrap();
    // Included from inside `Host server01`: applies to server01 only, whatever its Host lines say.
    fs::write(
        h.join(".ssh/only-server01.conf"),
        "Host *\n  Port 2022\n  User conditional\n",
    )
    .unwrap();
    let cfg = h.join("config");
    fs::write(
        &cfg,
        format!("Include {h}/.ssh/conf.d/*.conf\n\
         Host server01\n  HostName 198.18.0.2\n  User user\n  IdentityFile ~/.ssh/ictsc_rsa\n  ConnectTimeout 7\n\
         \x20 Include {h}/.ssh/only-server01.conf\n\
         Host node3\n  ProxyJump user@jump1:2200,jump2\n\
         Host * !node2\n  StrictHostKeyChecking accept-new\n\
         Host *\n  UserKnownHostsFile ~/.ssh/lab_known_hosts\n  IdentityFile ~/.ssh/id_ed25519\n  Port 22\n",
            h = h.display()
        ),
    )
    .unwrap();
    let ours = SshConfig::load(&cfg, false).unwrap();
    for host in ["server01", "node1", "node2", "node3", "other"] {
        let g = ssh_g(h, &cfg, host);
        let r = ours.resolve(host).unwrap();
        let one = |k: &str| g[k][0].clone();
        assert_eq!(r.hostname, one("hostname"), "{host}: hostname");
        assert_eq!(r.user, one("user"), "{host}: user");
        assert_eq!(r.port.to_string(), one("port"), "{host}: port");
        let ids: Vec<String> = r
            .identity_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let g_ids: Vec<String> = g["identityfile"]
            .iter()
            .map(|p| p.replace('~', &h.display().to_string()))
            .collect();
        assert_eq!(ids, g_ids, "{host}: identity files");
        let jumps: Vec<String> = r
            .proxy_jump
            .iter()
            .map(|j| {
                format!(
                    "{}{}{}",
                    j.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default(),
                    j.host,
                    j.port.map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
            .collect();
        let g_jump = g
            .get("proxyjump")
            .map(|v| v[0].split(',').map(String::from).collect::<Vec<_>>())
            .unwrap_or_default();
        assert_eq!(jumps, g_jump, "{host}: proxyjump");
        let kh: Vec<String> = r
            .known_hosts_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        // OpenSSH expands ~ with the passwd entry's home; postmortem with $HOME (set here).
        let g_kh: Vec<String> = one("userknownhostsfile")
            .split(' ')
            .map(|p| p.replacen(&pw_home(), &h.display().to_string(), 1))
            .collect();
        assert_eq!(kh, g_kh, "{host}: known hosts");
        let strict = match r.strict {
            StrictHostKeyChecking::Yes => "ask",
            StrictHostKeyChecking::AcceptNew => "accept-new",
            StrictHostKeyChecking::No => "false",
        };
        let g_strict = one("stricthostkeychecking");
        assert!(
            g_strict == strict || (g_strict == "true" && strict == "ask"),
            "{host}: strict {g_strict} vs {strict}"
        );
        let timeout = r
            .connect_timeout
            .map(|d| d.as_secs().to_string())
            .unwrap_or_else(|| "none".into());
        assert_eq!(timeout, one("connecttimeout"), "{host}: connect timeout");
    }
    // A Match block is refused with the file and line, not guessed.
    fs::write(&cfg, "Host a\n  User x\nMatch host b\n  User y\n").unwrap();
    let err = format!("{:#}", SshConfig::load(&cfg, false).unwrap_err());
    assert!(
        err.contains(&format!("{}:3", cfg.display())) && err.contains("Match"),
        "{err}"
    );
}
