//! SSH: one connection per host, reused for every command (channels in parallel), reached the
//! way the operator reaches it (their ssh_config, ProxyJump chains, known_hosts).
//!
//! What it cannot prove: who is behind a host. A host is trusted by its key in known_hosts, as
//! OpenSSH trusts it, and that key's fingerprint is in every record made there.

use super::known_hosts::{self, Verdict};
use super::signal_name;
use super::ssh_config::{HostConfig, SshConfig, StrictHostKeyChecking};
use crate::capture::Capture;
use crate::journal::redact::Redactor;
use crate::journal::{Evidence, Outcome};
use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Sig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How to reach hosts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub config: SshConfig,
    /// Accept and record the key of a host not in known_hosts (like StrictHostKeyChecking=accept-new).
    pub accept_new: bool,
    /// Used when the configuration sets no ConnectTimeout.
    pub connect_timeout: Duration,
    /// Typed by the operator (--ask-pass, --ask-become-pass); never written anywhere.
    pub passwords: crate::prompt::Passwords,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            config: SshConfig::default(),
            accept_new: false,
            connect_timeout: Duration::from_secs(10),
            passwords: Default::default(),
        }
    }
}

/// What the host-key check decided, kept so a refusal can be explained.
#[derive(Debug, Clone, Default)]
struct KeyDecision {
    fingerprint: Option<String>,
    refusal: Option<String>,
}

struct Checker {
    files: Vec<PathBuf>,
    learn_file: Option<PathBuf>,
    host: String,
    port: u16,
    strict: StrictHostKeyChecking,
    decision: Arc<Mutex<KeyDecision>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let mut d = self.decision.lock().unwrap();
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            d.refusal = Some(format!(
                "{} presented a host certificate; postmortem accepts plain host keys only",
                self.host
            ));
            return Ok(false);
        };
        let fp = known_hosts::fingerprint(key);
        d.fingerprint = Some(fp.clone());
        let name = known_hosts::host_port(&self.host, self.port);
        match known_hosts::check(&self.files, &self.host, self.port, key) {
            Verdict::Match => Ok(true),
            Verdict::Mismatch { file, line } => {
                d.refusal = Some(format!(
                    "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for {name}! Someone could be eavesdropping \
                     (man-in-the-middle), or the host key has just been changed. The {} key sent by the remote host is {fp}. \
                     Offending key in {}:{}. Host key verification failed.",
                    key.algorithm(),
                    file.display(),
                    line
                ));
                Ok(false)
            }
            Verdict::Revoked { file, line } => {
                d.refusal = Some(format!(
                    "the host key {fp} of {name} is marked @revoked in {}:{}. Host key verification failed.",
                    file.display(),
                    line
                ));
                Ok(false)
            }
            Verdict::Unknown => match (&self.learn_file, self.strict) {
                (Some(file), _) => match known_hosts::learn(file, &self.host, self.port, key) {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        d.refusal = Some(format!(
                            "cannot record the host key of {name} in {}: {e}",
                            file.display()
                        ));
                        Ok(false)
                    }
                },
                (None, StrictHostKeyChecking::No) => Ok(true),
                _ => {
                    d.refusal = Some(format!(
                        "no host key is known for {name} ({} key {fp}) in {}. Host key verification failed \
                         (accept and record it with --accept-new, after checking the fingerprint)",
                        key.algorithm(),
                        self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
                    ));
                    Ok(false)
                }
            },
        }
    }
}

/// Below OpenSSH's default MaxSessions (10), leaving room for the operator's own sessions.
pub const MAX_SESSIONS: usize = 8;

/// How often a refused session is tried again (after 0.1, 0.2, 0.4 and 0.8 s).
const SESSION_RETRIES: u32 = 4;

/// An authenticated connection to one host, with the jump hosts it goes through.
pub struct Connection {
    handle: Handle<Checker>,
    _jumps: Vec<Handle<Checker>>,
    /// Sessions open at once on this connection: OpenSSH's sshd refuses more than MaxSessions
    /// (10 by default) with "open failed", so commands beyond this many wait their turn.
    sessions: Arc<tokio::sync::Semaphore>,
    pub alias: String,
    /// `host:port` as connected to (through the jumps when there are any).
    pub address: String,
    pub fingerprint: String,
    /// The user logged in as.
    pub user: String,
}

fn client_config(hc: &HostConfig) -> Arc<client::Config> {
    let preferred = russh::Preferred {
        key: known_hosts::preferred_algorithms(&hc.known_hosts_files, &hc.hostname, hc.port).into(),
        ..Default::default()
    };
    Arc::new(client::Config {
        preferred,
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    })
}

fn russh_error(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Connect and authenticate to one host, directly or through `via`.
async fn connect_one(
    hc: &HostConfig,
    via: Option<&Handle<Checker>>,
    opts: &SshOptions,
) -> Result<(Handle<Checker>, String, String), String> {
    let decision = Arc::new(Mutex::new(KeyDecision::default()));
    let learn_file = (opts.accept_new || hc.strict == StrictHostKeyChecking::AcceptNew)
        .then(|| hc.known_hosts_files.first().cloned())
        .flatten();
    let checker = Checker {
        files: hc.known_hosts_files.clone(),
        learn_file,
        host: hc.hostname.clone(),
        port: hc.port,
        strict: hc.strict,
        decision: decision.clone(),
    };
    let cfg = client_config(hc);
    let target = format!("{}:{}", hc.hostname, hc.port);
    let who = format!("{}@{} ({})", hc.user, hc.alias, target);
    let timeout = hc.connect_timeout.unwrap_or(opts.connect_timeout);
    let work = async {
        let (handle, address) = match via {
            None => {
                let stream = tokio::net::TcpStream::connect((hc.hostname.as_str(), hc.port))
                    .await
                    .map_err(|e| format!("cannot connect to {target}: {e}"))?;
                let address = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| target.clone());
                let _ = stream.set_nodelay(true);
                let h = client::connect_stream(cfg, stream, checker).await;
                (h, address)
            }
            Some(jump) => {
                let ch = jump
                    .channel_open_direct_tcpip(hc.hostname.clone(), hc.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        format!(
                            "the jump host cannot open a connection to {target}: {}",
                            russh_error(&e)
                        )
                    })?;
                (
                    client::connect_stream(cfg, ch.into_stream(), checker).await,
                    target.clone(),
                )
            }
        };
        let mut handle = handle.map_err(|e| {
            let d = decision.lock().unwrap();
            match &d.refusal {
                Some(r) => r.clone(),
                None => format!("SSH handshake with {target} failed: {}", russh_error(&e)),
            }
        })?;
        authenticate(
            &mut handle,
            hc,
            opts.passwords.ssh.as_deref().map(String::as_str),
        )
        .await
        .map_err(|e| format!("{who}: {e}"))?;
        let fingerprint = decision
            .lock()
            .unwrap()
            .fingerprint
            .clone()
            .unwrap_or_default();
        Ok::<_, String>((handle, address, fingerprint))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connection to {who} timed out after {} s",
            timeout.as_secs()
        )),
    }
}

async fn authenticate(
    handle: &mut Handle<Checker>,
    hc: &HostConfig,
    password: Option<&str>,
) -> Result<(), String> {
    let mut tried = Vec::new();
    let mut problems = Vec::new();
    // RSA signs with SHA-2 only: a server that only takes SHA-1 `ssh-rsa` gets no RSA key.
    let rsa_hash = match handle.best_supported_rsa_hash().await {
        Ok(Some(None)) => None,
        Ok(Some(Some(h))) => Some(h),
        _ => Some(russh::keys::HashAlg::Sha512),
    };
    if !hc.identities_only {
        if let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await {
            if let Ok(ids) = agent.request_identities().await {
                for id in ids {
                    let key = id.public_key().into_owned();
                    if key.algorithm().is_rsa() && rsa_hash.is_none() {
                        problems.push(
                            "the server accepts RSA only with SHA-1, which postmortem does not use"
                                .into(),
                        );
                        continue;
                    }
                    let hash = if key.algorithm().is_rsa() {
                        rsa_hash
                    } else {
                        None
                    };
                    tried.push(format!("agent key {}", known_hosts::fingerprint(&key)));
                    match handle
                        .authenticate_publickey_with(hc.user.clone(), key, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => {}
                        Err(e) => problems.push(format!("agent: {e}")),
                    }
                }
            }
        }
    }
    for file in &hc.identity_files {
        if !file.exists() {
            continue;
        }
        let key = match russh::keys::load_secret_key(file, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                problems.push(format!(
                    "{} is encrypted and no passphrase is available (add it to ssh-agent with ssh-add)",
                    file.display()
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("cannot load {}: {e}", file.display()));
                continue;
            }
        };
        if key.algorithm().is_rsa() && rsa_hash.is_none() {
            problems.push(format!(
                "{}: the server accepts RSA only with SHA-1, which postmortem does not use",
                file.display()
            ));
            continue;
        }
        tried.push(file.display().to_string());
        match handle
            .authenticate_publickey(
                hc.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash),
            )
            .await
        {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: {}", file.display(), russh_error(&e))),
        }
    }
    // Keys first, as ssh does; then the password the operator typed (--ask-pass), as a password
    // and, for servers that only offer that, as the answer to keyboard-interactive prompts.
    if let Some(pw) = password {
        tried.push("the password".into());
        match handle.authenticate_password(hc.user.clone(), pw).await {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => problems.push(format!("password: {}", russh_error(&e))),
        }
        use russh::client::KeyboardInteractiveAuthResponse as K;
        let mut reply = handle
            .authenticate_keyboard_interactive_start(hc.user.clone(), None)
            .await;
        for _ in 0..4 {
            match reply {
                Ok(K::Success) => return Ok(()),
                Ok(K::InfoRequest { prompts, .. }) => {
                    let answers = prompts
                        .iter()
                        .map(|p| {
                            if p.echo {
                                String::new()
                            } else {
                                pw.to_string()
                            }
                        })
                        .collect();
                    reply = handle
                        .authenticate_keyboard_interactive_respond(answers)
                        .await;
                }
                Ok(K::Failure { .. }) => break,
                Err(e) => {
                    problems.push(format!("keyboard-interactive: {}", russh_error(&e)));
                    break;
                }
            }
        }
        problems.push("the password was refused".into());
    }
    let mut msg = format!(
        "Permission denied ({}): tried {}",
        if password.is_some() {
            "publickey,password"
        } else {
            "publickey"
        },
        if tried.is_empty() {
            "no key".to_string()
        } else {
            tried.join(", ")
        }
    );
    if !problems.is_empty() {
        msg.push_str("; ");
        msg.push_str(&problems.join("; "));
    }
    Err(msg)
}

/// Connect to `alias`, through its ProxyJump chain when it has one.
pub async fn connect(alias: &str, opts: &SshOptions) -> Result<Connection, String> {
    let hc = opts.config.resolve(alias).map_err(|e| format!("{e:#}"))?;
    let mut jumps: Vec<Handle<Checker>> = Vec::new();
    for spec in &hc.proxy_jump {
        let mut jc = opts
            .config
            .resolve(&spec.host)
            .map_err(|e| format!("{e:#}"))?;
        if let Some(u) = &spec.user {
            jc.user = u.clone();
        }
        if let Some(p) = spec.port {
            jc.port = p;
        }
        let (h, _, _) = connect_one(&jc, jumps.last(), opts)
            .await
            .map_err(|e| format!("jump host {}: {e}", spec.host))?;
        jumps.push(h);
    }
    let (handle, address, fingerprint) = connect_one(&hc, jumps.last(), opts).await?;
    Ok(Connection {
        handle,
        _jumps: jumps,
        sessions: Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS)),
        alias: alias.to_string(),
        address,
        fingerprint,
        user: hc.user.clone(),
    })
}

/// A signal's number and name (SIGTERM), as an SSH exit-signal names it.
pub fn sig_number(sig: &Sig) -> (i32, String) {
    let n = match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => {
            let full = format!("SIG{name}");
            let n = (1..32).find(|&i| signal_name(i) == full).unwrap_or(0);
            return (n, full);
        }
    };
    (n, signal_name(n))
}

/// The result of one command on one connection.
pub struct ExecOutput {
    pub outcome: Outcome,
    pub stdout: Capture,
    pub stderr: Capture,
}

impl Connection {
    /// Run `command` (a shell command line, as `ssh host command` runs it).
    pub async fn exec(&self, command: &str, cap: usize, timeout: Option<Duration>) -> ExecOutput {
        self.exec_watched(command, None, cap, timeout, &|_| {})
            .await
    }

    /// As `exec`, and `watch` sees stdout as it arrives (a progress display).
    pub async fn exec_watched(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        cap: usize,
        timeout: Option<Duration>,
        watch: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> ExecOutput {
        self.exec_in_turn(command, stdin, cap, timeout, watch, None)
            .await
    }

    /// As `exec_watched`, in a session slot already taken (`turn`), else waiting for one.
    async fn exec_in_turn(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        cap: usize,
        timeout: Option<Duration>,
        watch: &(dyn Fn(&[u8]) + Send + Sync),
        turn: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> ExecOutput {
        let mut stdout = Capture::new(cap);
        let mut stderr = Capture::new(cap);
        let _turn = match turn {
            Some(t) => t,
            None => self
                .sessions
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        };
        // sshd frees a session's slot only once the channel's close is done, so a new session
        // right after one ended may be refused while others still run (MaxSessions): a refused
        // open is tried again, a few times, with growing pauses (1.5 s in all).
        let mut attempt = 0;
        let mut channel = loop {
            match self.handle.channel_open_session().await {
                Ok(c) => break c,
                Err(_) if attempt < SESSION_RETRIES => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    return ExecOutput {
                        outcome: Outcome::Failed {
                            message: format!("cannot open a session: {}", russh_error(&e)),
                        },
                        stdout,
                        stderr,
                    }
                }
            }
        };
        if let Err(e) = channel.exec(true, command).await {
            return ExecOutput {
                outcome: Outcome::Failed {
                    message: format!("cannot start the command: {}", russh_error(&e)),
                },
                stdout,
                stderr,
            };
        }
        // No input is an empty input, as `ssh host cmd </dev/null`: nothing waits on it.
        if let Some(input) = stdin {
            let _ = channel.data(input).await;
        }
        let _ = channel.eof().await;
        let t0 = Instant::now();
        let mut status: Option<Outcome> = None;
        let read = async {
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        watch(&data);
                        stdout.push(&data)
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => stderr.push(&data),
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(Outcome::Exited {
                            code: exit_status as i32,
                        })
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        let (signal, name) = sig_number(&signal_name);
                        status = Some(Outcome::Signaled { signal, name })
                    }
                    _ => {}
                }
            }
        };
        let timed_out = match timeout {
            Some(t) => tokio::time::timeout(t, read).await.is_err(),
            None => {
                read.await;
                false
            }
        };
        let outcome = if timed_out {
            let _ = channel.signal(Sig::KILL).await;
            let _ = channel.close().await;
            Outcome::TimedOut {
                after_ms: t0.elapsed().as_millis() as u64,
            }
        } else {
            status.unwrap_or_else(|| Outcome::Failed {
                message: "the connection was lost before the command ended (no exit status)".into(),
            })
        };
        ExecOutput {
            outcome,
            stdout,
            stderr,
        }
    }

    /// Open an interactive session: a pseudo-terminal of this size, then `command` in it.
    pub async fn open_shell(
        &self,
        command: &str,
        term: &str,
        (cols, rows): (u16, u16),
    ) -> Result<russh::Channel<client::Msg>, String> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| format!("cannot open a session: {}", russh_error(&e)))?;
        channel
            .request_pty(true, term, cols as u32, rows as u32, 0, 0, &[])
            .await
            .map_err(|e| format!("cannot get a terminal: {}", russh_error(&e)))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| format!("cannot start the shell: {}", russh_error(&e)))?;
        Ok(channel)
    }

    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// One host's connection, opened once by whoever asks first; an error is kept as the answer.
type Slot = Arc<OnceCell<Result<Arc<Connection>, String>>>;

/// The most connections a run opens to one host for commands that may spread (`run_spread`):
/// each allows `MAX_SESSIONS` sessions at once.
pub const MAX_LANES: usize = 4;

/// Connections shared by every command of a run: one per host, opened on first use, and for a
/// probe of many commands on one host (`run_spread`), up to `MAX_LANES` once the first is full.
pub struct SshPool {
    opts: SshOptions,
    conns: Mutex<HashMap<(String, usize), Slot>>,
    /// Whose turn it is among a host's lanes when every one is full.
    turn: std::sync::atomic::AtomicUsize,
}

impl SshPool {
    /// Whether sudo is given a password (`--ask-become-pass`): a command that calls `sudo`
    /// itself, as an operator types it, would then wait for one.
    pub fn sudo_has_password(&self) -> bool {
        self.opts.passwords.become_.is_some()
    }

    pub fn new(opts: SshOptions) -> Self {
        SshPool {
            opts,
            conns: Mutex::new(HashMap::new()),
            turn: Default::default(),
        }
    }

    pub async fn get(&self, alias: &str) -> Result<Arc<Connection>, String> {
        self.lane(alias, 0).await
    }

    /// The host's `lane`th connection, opened on first use.
    async fn lane(&self, alias: &str, lane: usize) -> Result<Arc<Connection>, String> {
        let cell = self
            .conns
            .lock()
            .unwrap()
            .entry((alias.to_string(), lane))
            .or_default()
            .clone();
        cell.get_or_init(|| async { connect(alias, &self.opts).await.map(Arc::new) })
            .await
            .clone()
    }

    /// A connection with a free session, its slot taken: the first lane's, else another's of
    /// up to `lanes` (opened when needed; one that cannot be opened is not waited for), else
    /// the lanes in turn, waiting there.
    async fn free(
        &self,
        alias: &str,
        lanes: usize,
    ) -> Result<(Arc<Connection>, Option<tokio::sync::OwnedSemaphorePermit>), String> {
        let first = self.lane(alias, 0).await?;
        if lanes <= 1 {
            return Ok((first, None));
        }
        if let Ok(t) = first.sessions.clone().try_acquire_owned() {
            return Ok((first, Some(t)));
        }
        let mut open = 1;
        for lane in 1..lanes {
            let Ok(c) = self.lane(alias, lane).await else {
                break;
            };
            open += 1;
            if let Ok(t) = c.sessions.clone().try_acquire_owned() {
                return Ok((c, Some(t)));
            }
        }
        let lane = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % open;
        Ok((self.lane(alias, lane).await.unwrap_or(first), None))
    }

    /// As `run`, on one of up to `MAX_LANES` connections to the host when the first has no
    /// free session: for a probe that runs many commands on one host at once.
    pub async fn run_spread(
        &self,
        alias: &str,
        command: &str,
        cap: usize,
        timeout: Option<Duration>,
        sudo: bool,
        red: &Redactor,
    ) -> Evidence {
        self.run_in_lanes(alias, command, cap, timeout, sudo, red, &|_| {}, MAX_LANES)
            .await
    }

    /// Run `command` on `alias` and make the evidence record (a failure to connect is one too).
    /// With `sudo`, the command runs as root through `sudo -n`; sudo asking for a password is
    /// then a failure that says so.
    pub async fn run(
        &self,
        alias: &str,
        command: &str,
        cap: usize,
        timeout: Option<Duration>,
        sudo: bool,
        red: &Redactor,
    ) -> Evidence {
        self.run_watched(alias, command, cap, timeout, sudo, red, &|_| {})
            .await
    }

    /// As `run`, and `watch` sees stdout as it arrives.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_watched(
        &self,
        alias: &str,
        command: &str,
        cap: usize,
        timeout: Option<Duration>,
        sudo: bool,
        red: &Redactor,
        watch: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> Evidence {
        self.run_in_lanes(alias, command, cap, timeout, sudo, red, watch, 1)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_in_lanes(
        &self,
        alias: &str,
        command: &str,
        cap: usize,
        timeout: Option<Duration>,
        sudo: bool,
        red: &Redactor,
        watch: &(dyn Fn(&[u8]) + Send + Sync),
        lanes: usize,
    ) -> Evidence {
        let started_at = crate::journal::now();
        let t0 = Instant::now();
        let become_pw = self.opts.passwords.become_.clone().filter(|_| sudo);
        let wrapped;
        let command = match (sudo, &become_pw) {
            (true, Some(_)) => {
                wrapped = with_sudo_password(command);
                wrapped.as_str()
            }
            (true, None) => {
                wrapped = with_sudo(command);
                wrapped.as_str()
            }
            _ => command,
        };
        let input = become_pw.as_ref().map(|p| format!("{p}\n"));
        let mut user = None;
        let (outcome, out, err, address, host_key) = match self.free(alias, lanes).await {
            Ok((conn, turn)) => {
                // Through sudo the command runs as root.
                user = Some(if sudo {
                    "root".to_string()
                } else {
                    conn.user.clone()
                });
                let r = conn
                    .exec_in_turn(
                        command,
                        input.as_deref().map(str::as_bytes),
                        cap,
                        timeout,
                        watch,
                        turn,
                    )
                    .await;
                let stderr_head = String::from_utf8_lossy(r.stderr.head()).into_owned();
                let failed = matches!(r.outcome, Outcome::Exited { code: 1 });
                let message =
                    if sudo && failed && become_pw.is_none() && sudo_wants_password(&stderr_head) {
                        Some(format!(
                        "sudo on {alias} wants a password: type it with --ask-become-pass (-K), \
                         or allow the command for this user with NOPASSWD in sudoers"
                    ))
                    } else if sudo
                        && failed
                        && become_pw.is_some()
                        && sudo_refused_password(&stderr_head)
                    {
                        Some(format!(
                        "sudo on {alias} refused the password given with --ask-become-pass (-K)"
                    ))
                    } else {
                        None
                    };
                (
                    match message {
                        Some(message) => Outcome::Failed { message },
                        None => r.outcome,
                    },
                    r.stdout,
                    r.stderr,
                    Some(conn.address.clone()),
                    Some(conn.fingerprint.clone()),
                )
            }
            Err(message) => (
                Outcome::Failed { message },
                Capture::new(cap),
                Capture::new(cap),
                None,
                None,
            ),
        };
        Evidence {
            host: alias.to_string(),
            address,
            host_key: host_key.filter(|k| !k.is_empty()),
            user,
            command: red.redact(command).0,
            cwd: None,
            session: None,
            probe: None,
            step: None,
            started_at,
            ended_at: crate::journal::now(),
            duration_ms: t0.elapsed().as_millis() as u64,
            outcome,
            stdout: out.into_stream(red),
            stderr: err.into_stream(red),
        }
    }

    pub async fn close(&self) {
        let conns: Vec<_> = self.conns.lock().unwrap().values().cloned().collect();
        for c in conns {
            if let Some(Ok(conn)) = c.get() {
                conn.close().await;
            }
        }
    }
}

/// Run one command on several hosts, at most `parallel` at once, one connection each; the
/// evidence comes back in the order of `hosts`.
#[allow(clippy::too_many_arguments)]
pub async fn run_on_hosts(
    opts: SshOptions,
    hosts: &[String],
    command: &str,
    cap: usize,
    timeout: Option<Duration>,
    sudo: bool,
    parallel: usize,
    red: &Redactor,
) -> Vec<Evidence> {
    let pool = Arc::new(SshPool::new(opts));
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::new();
    for host in hosts {
        let (pool, sem, host, command, red) = (
            pool.clone(),
            sem.clone(),
            host.clone(),
            command.to_string(),
            red.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            pool.run(&host, &command, cap, timeout, sudo, &red).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("a host's task panicked"));
    }
    pool.close().await;
    out
}

/// Wrap a command so that it runs as root through `sudo -n` (never prompting).
pub fn with_sudo(command: &str) -> String {
    format!("sudo -n -- sh -c {}", super::shell_quote(command))
}

/// Wrap a command so that it runs as root through `sudo -S`, which reads the password from the
/// command's standard input (never from its arguments: the process list does not show it). The
/// command itself reads /dev/null, so a sudo that asks for nothing leaves the password unread.
pub fn with_sudo_password(command: &str) -> String {
    format!(
        "sudo -S -p '' -- sh -c {}",
        super::shell_quote(&format!("exec </dev/null; {command}"))
    )
}

/// Did sudo refuse the password it was given?
pub fn sudo_refused_password(stderr: &str) -> bool {
    stderr.contains("incorrect password attempt")
        || stderr.contains("Sorry, try again")
        || stderr.contains("no password was provided")
}

/// Did sudo refuse because it wanted a password?
pub fn sudo_wants_password(stderr: &str) -> bool {
    stderr.contains("sudo: a password is required")
        || stderr.contains("sudo: a terminal is required")
}
