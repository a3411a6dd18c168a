//! `postmortem shell`: the user's own shell in a pseudo-terminal, locally or over SSH, where each
//! command line run becomes one evidence record.
//!
//! The shell is started with integration marks (see `launch.sh`, `bash.rc`, `zsh.rc`): a random
//! nonce per session, OSC 133 around prompt, input and output, OSC 633 for the command line and
//! the working directory. [`term`] takes the marks out of what the user sees and reads the
//! output as a screen shows it. A record is written (and fsync'd) when its command ends, before
//! the next prompt is shown: a prompt on the screen means the command before it is in the
//! journal.
//!
//! What it keeps: the command line as the shell read it (from its history; the typed echo when
//! the history does not have it), the working directory, the output as shown (stdout and stderr
//! share the terminal, so they are one stream), the exit status, start and end. What it never
//! keeps: input. Keystrokes are not recorded at all, so what is typed with echo off (a password
//! prompt) cannot reach the journal; a full-screen program's screen is counted, not kept.
//!
//! What it cannot prove: that the user ran nothing outside it, or that a command's output on a
//! terminal that redraws in place is exactly what was read. A shell it cannot integrate with
//! (neither bash nor zsh) is kept whole, as one record, with a warning.

pub mod asciicast;
pub mod term;

use crate::journal::redact::Redactor;
use crate::journal::{Body, Evidence, Journal, Note, Outcome, SessionRecord, Stream};
use anyhow::{Context, Result};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;
use term::{Mark, Marks, Piece, Screen};

const LAUNCH: &str = include_str!("launch.sh");
const BASH_RC: &str = include_str!("bash.rc");
const ZSH_RC: &str = include_str!("zsh.rc");

/// The script `/bin/sh -c` runs to start `$SHELL` with this session's marks. `login`: read the
/// login files, as `ssh HOST` would.
pub fn launcher(nonce: &str, login: bool) -> String {
    LAUNCH
        .replace("@BASH_RC@", BASH_RC.trim_end())
        .replace("@ZSH_RC@", ZSH_RC.trim_end())
        .replace("@LOGIN_FLAG@", if login { "-l" } else { "" })
        .replace("@LOGIN@", if login { "1" } else { "0" })
        .replace("@NONCE@", nonce)
}

/// 16 random hex digits from the kernel.
pub fn nonce() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    crate::journal::hex(&b)
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    Prompt,
    Input,
    Running,
}

struct Running {
    started_at: String,
    t0: Instant,
    line: Option<String>,
    typed: String,
    cwd: Option<String>,
    out: Screen,
}

/// Where the session runs, as its records name it.
#[derive(Clone, Default)]
pub struct Place {
    pub host: String,
    pub address: Option<String>,
    pub host_key: Option<String>,
    /// The user the shell runs as.
    pub user: Option<String>,
}

/// A note typed as a comment line: `#note: TEXT` (a plain note) or `#ROLE: TEXT` with a note
/// role (`#cause: ...`). Returns the role and the text.
pub fn note_line(line: &str) -> Option<(Option<String>, &str)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (word, text) = rest.split_once(':')?;
    let word = word.trim();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if word == "note" {
        return Some((None, text));
    }
    crate::journal::ROLES
        .contains(&word)
        .then(|| (Some(word.to_string()), text))
}

/// Turns the marks and output of one session into journal records.
pub struct Recorder<'a> {
    journal: &'a Journal,
    red: &'a Redactor,
    place: Place,
    cap: usize,
    /// The seq of the session's `started` record.
    pub session: u64,
    phase: Phase,
    cwd: Option<String>,
    input: Screen,
    running: Option<Running>,
    /// The whole session, kept until the shell's integration shows itself.
    whole: Option<Screen>,
    pub shell: Option<String>,
    pub commands: u64,
    pub notes: u64,
    /// Messages for the user (a journal that could not take a record, no integration).
    pub messages: Vec<String>,
}

impl<'a> Recorder<'a> {
    /// Write the session's `started` record and begin.
    pub fn start(
        journal: &'a Journal,
        red: &'a Redactor,
        place: Place,
        cap: usize,
        term: &str,
        (cols, rows): (u16, u16),
    ) -> Result<Self> {
        let rec = SessionRecord {
            stage: "started".into(),
            host: place.host.clone(),
            term: term.into(),
            cols,
            rows,
            started: None,
            shell: String::new(),
            commands: 0,
            notes: 0,
            outcome: None,
        };
        let entry = journal.append(&crate::journal::now(), &Body::Session(rec))?;
        Ok(Recorder {
            journal,
            red,
            place,
            cap,
            session: entry.seq,
            phase: Phase::Idle,
            cwd: None,
            input: Screen::new(64 * 1024),
            running: None,
            whole: Some(Screen::new(cap)),
            shell: None,
            commands: 0,
            notes: 0,
            messages: Vec::new(),
        })
    }

    fn append(&mut self, body: &Body) {
        if let Err(e) = self.journal.append(&crate::journal::now(), body) {
            self.messages.push(format!("{e:#}"));
        }
    }

    /// Read one piece of the output.
    pub fn piece(&mut self, p: Piece) {
        match p {
            Piece::Text(t) => {
                if let Some(w) = self.whole.as_mut() {
                    w.feed(t);
                }
                match self.phase {
                    Phase::Input => self.input.feed(t),
                    Phase::Running => {
                        if let Some(r) = self.running.as_mut() {
                            r.out.feed(t)
                        }
                    }
                    _ => {}
                }
            }
            Piece::Mark(m) => self.mark(m),
        }
    }

    fn mark(&mut self, m: Mark) {
        match m {
            Mark::Shell(s) => {
                if s == "none" {
                    self.messages.push(
                        "this shell has no integration (bash and zsh have): the session is kept whole, as one record".into(),
                    );
                } else {
                    self.whole = None;
                }
                self.shell = Some(s);
            }
            Mark::Prompt => self.phase = Phase::Prompt,
            Mark::Input => {
                self.phase = Phase::Input;
                self.input = Screen::new(64 * 1024);
            }
            Mark::Output => {
                let typed = std::mem::replace(&mut self.input, Screen::new(64 * 1024)).finish();
                let typed = String::from_utf8_lossy(typed.head()).trim().to_string();
                self.running = Some(Running {
                    started_at: crate::journal::now(),
                    t0: Instant::now(),
                    line: None,
                    typed,
                    cwd: self.cwd.clone(),
                    out: Screen::new(self.cap),
                });
                self.phase = Phase::Running;
            }
            Mark::Line(line) => match self.running.as_mut() {
                Some(r) if self.phase == Phase::Running => r.line = Some(line),
                _ => {
                    if let Some((role, text)) = note_line(&line) {
                        let text = self.red.redact(text).0;
                        self.append(&Body::Note(Note {
                            text,
                            role,
                            about: None,
                        }));
                        self.notes += 1;
                    }
                }
            },
            Mark::Done(code) => {
                if self.phase == Phase::Running {
                    self.command_ended(Outcome::Exited { code });
                }
                self.phase = Phase::Idle;
            }
            Mark::Cwd(p) => self.cwd = Some(p),
        }
    }

    fn command_ended(&mut self, outcome: Outcome) {
        let Some(r) = self.running.take() else { return };
        let line = r.line.filter(|l| !l.trim().is_empty()).unwrap_or(r.typed);
        let full = r.out.full_screen_bytes;
        let mut stdout = r.out.finish().into_stream(self.red);
        if full > 0 {
            if !stdout.text.is_empty() && !stdout.text.ends_with('\n') {
                stdout.text.push('\n');
            }
            stdout.text.push_str(&format!(
                "[postmortem: a full-screen program; {full} bytes of its screen not kept]\n"
            ));
        }
        let ev = Evidence {
            host: self.place.host.clone(),
            address: self.place.address.clone(),
            host_key: self.place.host_key.clone(),
            user: self.place.user.clone(),
            command: self.red.redact(&line).0,
            cwd: r.cwd,
            session: Some(self.session),
            probe: None,
            step: None,
            started_at: r.started_at,
            ended_at: crate::journal::now(),
            duration_ms: r.t0.elapsed().as_millis() as u64,
            outcome,
            stdout,
            stderr: Stream::default(),
        };
        self.append(&Body::Evidence(ev));
        self.commands += 1;
    }

    /// The shell ended: keep a command it ended in (`exit`), or the whole session when there
    /// was no integration, then the `ended` record.
    pub fn finish(mut self, outcome: Outcome, shell_path: &str) -> (u64, u64, Vec<String>) {
        if self.phase == Phase::Running {
            self.command_ended(outcome.clone());
        }
        if let Some(whole) = self.whole.take() {
            let ev = Evidence {
                host: self.place.host.clone(),
                address: self.place.address.clone(),
                host_key: self.place.host_key.clone(),
                user: self.place.user.clone(),
                command: shell_path.to_string(),
                cwd: self.cwd.clone(),
                session: Some(self.session),
                probe: None,
                step: None,
                started_at: crate::journal::now(),
                ended_at: crate::journal::now(),
                duration_ms: 0,
                outcome: outcome.clone(),
                stdout: whole.finish().into_stream(self.red),
                stderr: Stream::default(),
            };
            self.append(&Body::Evidence(ev));
            self.commands += 1;
            if self.shell.is_none() {
                self.messages.push(
                    "the shell showed no integration marks: the session was kept whole, as one record".into(),
                );
            }
        }
        let rec = SessionRecord {
            stage: "ended".into(),
            host: self.place.host.clone(),
            term: String::new(),
            cols: 0,
            rows: 0,
            started: Some(self.session),
            shell: self.shell.clone().unwrap_or_else(|| "none".into()),
            commands: self.commands,
            notes: self.notes,
            outcome: Some(outcome),
        };
        self.append(&Body::Session(rec));
        (self.commands, self.notes, self.messages)
    }
}

/// The terminal in raw mode while the session runs; restored when dropped.
struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    fn enter() -> Option<Self> {
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSADRAIN, &t);
            Some(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        unsafe {
            libc::tcsetattr(0, libc::TCSADRAIN, &self.saved);
        }
    }
}

/// This terminal's size (columns, rows), 80x24 when there is none.
pub fn term_size() -> (u16, u16) {
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            (ws.ws_col, ws.ws_row)
        } else {
            (80, 24)
        }
    }
}

/// Input from this process's terminal.
type Input = Vec<u8>;

/// Most the writer takes in one write: what queued up meanwhile, up to this.
const OUTPUT_BATCH: usize = 256 * 1024;

/// The SSH channel the remote shell runs in.
struct Remote {
    read: russh::ChannelReadHalf,
    write: russh::ChannelWriteHalf<russh::client::Msg>,
    status: Option<Outcome>,
}

impl Remote {
    /// Wait for output and take it into `buf`. Err: the shell has ended, and how.
    async fn output(&mut self, buf: &mut Vec<u8>) -> Result<(), Outcome> {
        while let Some(msg) = self.read.wait().await {
            match msg {
                russh::ChannelMsg::Data { data } | russh::ChannelMsg::ExtendedData { data, .. } => {
                    buf.extend_from_slice(&data);
                    return Ok(());
                }
                russh::ChannelMsg::ExitStatus { exit_status } => {
                    self.status = Some(Outcome::Exited {
                        code: exit_status as i32,
                    })
                }
                russh::ChannelMsg::ExitSignal { signal_name, .. } => {
                    let (signal, name) = crate::transport::ssh::sig_number(&signal_name);
                    self.status = Some(Outcome::Signaled { signal, name })
                }
                _ => {}
            }
        }
        Err(self.status.take().unwrap_or_else(|| Outcome::Failed {
            message: "the connection was lost before the shell ended (no exit status)".into(),
        }))
    }
}

/// Where this process's input goes: a channel (to an SSH channel), or straight to a local
/// pseudo-terminal.
enum InputTo {
    Channel(tokio::sync::mpsc::Sender<Input>),
    Pty(std::sync::Arc<OwnedFd>),
}

/// Copy this process's standard input to the session, from a thread of its own (a blocking
/// read of the terminal cannot be cancelled; the thread ends with the process).
fn read_stdin(to: InputTo) {
    std::thread::spawn(move || {
        let mut stdin = unsafe { std::fs::File::from_raw_fd(0) };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let sent = match &to {
                        InputTo::Channel(tx) => tx.blocking_send(buf[..n].to_vec()).is_ok(),
                        InputTo::Pty(fd) => {
                            let mut w = unsafe {
                                std::mem::ManuallyDrop::new(std::fs::File::from_raw_fd(
                                    fd.as_raw_fd(),
                                ))
                            };
                            w.write_all(&buf[..n]).is_ok()
                        }
                    };
                    if !sent {
                        break;
                    }
                }
            }
        }
        // fd 0 stays open for the rest of the process.
        std::mem::forget(stdin);
    });
}

/// Write to this process's terminal from a thread of its own, so that reading the shell's
/// output goes on while the terminal takes what was read before. A few batches are queued at
/// most; the end of the process ends the thread.
fn write_stdout() -> (
    tokio::sync::mpsc::Sender<Vec<u8>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(32);
    let writer = std::thread::spawn(move || {
        let mut out = unsafe { std::mem::ManuallyDrop::new(std::fs::File::from_raw_fd(1)) };
        let mut pending: Vec<u8> = Vec::new();
        while let Some(b) = rx.blocking_recv() {
            // What queued up meanwhile goes in the same write: fewer, larger writes.
            pending.clear();
            pending.extend_from_slice(&b);
            while pending.len() < OUTPUT_BATCH {
                match rx.try_recv() {
                    Ok(more) => pending.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            // A terminal that is gone is not waited on: the session goes on being recorded.
            let _ = out.write_all(&pending);
        }
    });
    (tx, writer)
}

/// The session's loop over SSH: output to the screen (after its records are written), input
/// and window size to the channel, until the shell ends.
async fn relay_remote(mut ch: Remote, rec: &mut Recorder<'_>, nonce: &str) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    read_stdin(InputTo::Channel(tx));
    let mut stdin_open = true;
    let mut marks = Marks::new(nonce);
    let mut winch =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let (screen, writer) = write_stdout();
    let mut data: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        data.clear();
        tokio::select! {
            r = ch.output(&mut data) => {
                if let Err(outcome) = r {
                    // Everything read is shown before the session ends.
                    drop(screen);
                    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
                    return outcome;
                }
                let shown = record_and_show(&mut marks, rec, &data);
                // The terminal going away must not stop the recording.
                let _ = screen.send(shown).await;
            }
            input = rx.recv(), if stdin_open => match input {
                Some(input) => {
                    let _ = ch.write.data_bytes(input).await;
                }
                None => stdin_open = false,
            },
            Some(()) = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                let (cols, rows) = term_size();
                let _ = ch.write.window_change(cols as u32, rows as u32, 0, 0).await;
            }
        }
    }
}

/// Read one piece of the shell's output: its marks go to the recorder (which writes the
/// records they close), and what the user is to see comes back, with the recorder's messages.
fn record_and_show(marks: &mut Marks, rec: &mut Recorder<'_>, data: &[u8]) -> Vec<u8> {
    let mut shown = Vec::with_capacity(data.len());
    marks.feed(data, &mut |p| {
        if let Piece::Text(t) = &p {
            shown.extend_from_slice(t);
        }
        rec.piece(p);
    });
    for m in rec.messages.drain(..) {
        shown.extend_from_slice(
            format!("\r\npostmortem: {}\r\n", m.replace('\n', "\r\n")).as_bytes(),
        );
    }
    shown
}

/// The session's loop for a local terminal: one thread reads the shell's output, records it and
/// writes it to the screen; input goes straight to the terminal from its own thread; this
/// thread follows the window's size until the shell has ended.
fn relay_local(
    rt: &tokio::runtime::Runtime,
    master: OwnedFd,
    mut child: std::process::Child,
    rec: &mut Recorder<'_>,
    nonce: &str,
) -> Outcome {
    let master = std::sync::Arc::new(master);
    read_stdin(InputTo::Pty(master.clone()));
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|sc| {
        let reader = master.clone();
        sc.spawn(move || {
            // Read, record, write to the screen, in this one thread: no hand-over between
            // threads per chunk (on a busy machine every wake-up costs), and a slow screen
            // slows the shell's output as the terminal itself would.
            let mut out = unsafe { std::mem::ManuallyDrop::new(std::fs::File::from_raw_fd(1)) };
            let mut marks = Marks::new(nonce);
            let mut buf = vec![0u8; 64 * 1024];
            let fd = reader.as_raw_fd();
            loop {
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                let shown = record_and_show(&mut marks, rec, &buf[..n as usize]);
                // Shown only now: the records of what it holds are written. A terminal that
                // is gone is not waited on: the session goes on being recorded.
                let _ = out.write_all(&shown);
            }
            // The terminal's last user closed it (EIO): the shell has ended.
            let _ = ended_tx.send(());
        });
        rt.block_on(async {
            let mut winch =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
            let mut ended_rx = ended_rx;
            loop {
                tokio::select! {
                    _ = &mut ended_rx => break,
                    Some(()) = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                        let (cols, rows) = term_size();
                        let ws = libc::winsize { ws_col: cols, ws_row: rows, ws_xpixel: 0, ws_ypixel: 0 };
                        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                    }
                }
            }
        });
    });
    match child.wait() {
        Ok(st) => crate::transport::local::outcome_of(st),
        Err(e) => Outcome::Failed {
            message: format!("cannot wait for the shell: {e}"),
        },
    }
}

/// Run the user's shell here, recorded into `journal`.
pub fn run_local(journal: &Journal, red: &Redactor, cap: usize, host: String) -> Result<Summary> {
    let nonce = nonce();
    let size = term_size();
    let (master, slave) = openpty(size)?;
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(launcher(&nonce, false));
    let s = slave.as_raw_fd();
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // A terminal gives its shell the default signals, whatever it inherited: started
            // from a script's background job (SIGINT and SIGQUIT ignored), every command would
            // otherwise ignore Ctrl-C. Handlers are reset by exec; ignored signals are not.
            for sig in 1..32 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            if libc::setsid() < 0 || libc::ioctl(s, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for fd in 0..3 {
                if libc::dup2(s, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let term = std::env::var("TERM").unwrap_or_else(|_| "dumb".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let place = Place {
        host,
        user: crate::journal::current_user(),
        ..Default::default()
    };
    let mut rec = Recorder::start(journal, red, place, cap, &term, size)?;
    let child = cmd.spawn().context("cannot start /bin/sh for the shell")?;
    drop(slave);
    let raw = RawMode::enter();
    let outcome = relay_local(&rt, master, child, &mut rec, &nonce);
    drop(raw);
    Ok(Summary::of(rec, outcome, &shell))
}

/// Run the user's login shell on `alias` over SSH, recorded into `journal`.
pub fn run_remote(
    journal: &Journal,
    red: &Redactor,
    cap: usize,
    alias: &str,
    opts: crate::transport::ssh::SshOptions,
) -> Result<Summary> {
    let nonce = nonce();
    let size = term_size();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let command = format!(
        "exec /bin/sh -c {}",
        crate::transport::shell_quote(&launcher(&nonce, true))
    );
    let conn = rt
        .block_on(crate::transport::ssh::connect(alias, &opts))
        .map_err(|e| anyhow::anyhow!("{alias}: {e}"))?;
    let channel = rt
        .block_on(conn.open_shell(&command, &term, size))
        .map_err(|e| anyhow::anyhow!("{alias}: {e}"))?;
    let place = Place {
        host: alias.to_string(),
        address: Some(conn.address.clone()),
        host_key: Some(conn.fingerprint.clone()).filter(|k| !k.is_empty()),
        user: Some(conn.user.clone()),
    };
    let mut rec = Recorder::start(journal, red, place, cap, &term, size)?;
    let raw = RawMode::enter();
    let outcome = rt.block_on(async {
        let (read, write) = channel.split();
        let ch = Remote {
            read,
            write,
            status: None,
        };
        relay_remote(ch, &mut rec, &nonce).await
    });
    drop(raw);
    rt.block_on(conn.close());
    Ok(Summary::of(rec, outcome, "login shell"))
}

/// How a session went, for the user.
pub struct Summary {
    pub session: u64,
    pub commands: u64,
    pub notes: u64,
    pub shell: String,
    pub outcome: Outcome,
    pub messages: Vec<String>,
}

impl Summary {
    fn of(rec: Recorder, outcome: Outcome, shell_path: &str) -> Self {
        let session = rec.session;
        let shell = rec.shell.clone().unwrap_or_else(|| "none".into());
        let (commands, notes, messages) = rec.finish(outcome.clone(), shell_path);
        Summary {
            session,
            commands,
            notes,
            shell,
            outcome,
            messages,
        }
    }
}

fn openpty((cols, rows): (u16, u16)) -> Result<(OwnedFd, OwnedFd)> {
    let mut m = -1;
    let mut s = -1;
    let ws = libc::winsize {
        ws_col: cols,
        ws_row: rows,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot open a pseudo-terminal");
    }
    unsafe {
        libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC);
        Ok((OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)))
    }
}
