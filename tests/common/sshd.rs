//! Real OpenSSH sshd instances on loopback, started and stopped by the tests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn keygen(path: &Path, kind: &str, extra: &[&str]) {
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", "postmortem-test", "-f"];
    let p = path.to_str().unwrap();
    args.push(p);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(&args);
    // -N given twice: the last wins, so extra may set a passphrase.
    cmd.args(extra);
    let st = cmd
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(st.success(), "ssh-keygen failed for {}", path.display());
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    /// Start sshd on 127.0.0.1 with its own host keys, accepting the given public keys for root.
    pub fn start(dir: &Path, name: &str, authorized: &[&Path]) -> Sshd {
        Sshd::start_with(dir, name, authorized, "")
    }

    /// As `start`, with more lines of sshd_config (`SetEnv PATH=…` for a session's programs).
    pub fn start_with(dir: &Path, name: &str, authorized: &[&Path], extra: &str) -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").is_file(),
            "OpenSSH's sshd is needed by this test: apt-get install -y openssh-server"
        );
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        for kind in ["ed25519", "rsa"] {
            let k = dir.join(format!("host_{kind}"));
            if !k.exists() {
                keygen(&k, kind, &[]);
            }
        }
        let mut auth = String::new();
        for k in authorized {
            auth.push_str(&std::fs::read_to_string(k.with_extension("pub")).unwrap());
        }
        std::fs::write(dir.join("authorized_keys"), auth).unwrap();
        let port = free_port();
        let cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nHostKey {d}/host_rsa\n\
             PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             AllowTcpForwarding yes\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n{extra}",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), cfg).unwrap();
        let mut s = Sshd {
            port,
            dir,
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Sessions run the login user's shell, which reads ~/.bashrc; this machine's root has a
        // slow one (pyenv). sshd runs in its own mount namespace with an empty one instead, so
        // tests and benchmarks measure SSH, not a shell's start-up.
        let empty = self.dir.join("empty_bashrc");
        std::fs::write(&empty, "").unwrap();
        let script = format!(
            "[ -e /root/.bashrc ] && mount --bind {} /root/.bashrc; exec /usr/sbin/sshd -D -e -f {}",
            empty.display(),
            self.dir.join("sshd_config").display()
        );
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "sshd on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host key line for known_hosts.
    pub fn known_hosts_line(&self, kind: &str) -> String {
        let pubkey = std::fs::read_to_string(self.dir.join(format!("host_{kind}.pub"))).unwrap();
        let mut f = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            f.next().unwrap(),
            f.next().unwrap()
        )
    }

    /// Kill the listener and every session process it forked.
    pub fn kill_all(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id();
            for p in descendants(pid) {
                unsafe { libc::kill(p as i32, libc::SIGKILL) };
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
            let ppid: u32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if ppid == p {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}
