//! The kinds of record a journal holds.
//!
//! Later kinds (findings, fix plans, fix results, constraint checks) are added here as variants;
//! a journal is read strictly, so a record of a kind this version does not know is an error that
//! names its line rather than something silently skipped.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    Run(RunMeta),
    Evidence(Evidence),
    Note(Note),
    /// The scenario a collection ran with, in full, so a diagnosis can be made from the journal alone.
    Scenario(ScenarioRecord),
    /// What `diagnose` concluded from the evidence collected under the last scenario record.
    Diagnosis(DiagnosisRecord),
    /// A fix: planned, applied (or found already in place), verified, failed or rolled back.
    Fix(FixRecord),
    /// A rule of the task, checked before or after the fix.
    Constraint(ConstraintRecord),
    /// A step the task itself prescribes (start the VMs, run the deployment, set up kubectl):
    /// planned or applied, never a cause.
    Step(StepRecord),
    /// The end of one round of `run`: what its collection showed, what it planned and did.
    Round(RoundRecord),
    /// `journal repair` cut an incomplete last line (an interrupted write) off the journal.
    Repair(RepairRecord),
    /// An SSH signature (SSHSIG) over the head of the chain at that point.
    Signature(SignatureRecord),
    /// An answer's solution run again, verbatim, on a freshly built initial state.
    Replay(ReplayRecord),
    /// A recorded shell (`postmortem shell`) started or ended; its commands are evidence
    /// records that name it.
    Session(SessionRecord),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    /// started or ended
    pub stage: String,
    pub host: String,
    /// The terminal it ran in: TERM and the size at the start.
    pub term: String,
    pub cols: u16,
    pub rows: u16,
    /// On `ended`: the seq of its `started` record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// On `ended`: the integration that ran (bash, zsh), or `none` when the session was kept
    /// whole as one record.
    #[serde(default)]
    pub shell: String,
    #[serde(default)]
    pub commands: u64,
    #[serde(default)]
    pub notes: u64,
    /// On `ended`: how the shell itself ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplayRecord {
    pub phase: u32,
    /// The answer file replayed, and the SHA-256 of its solution's commands.
    pub answer: String,
    pub commands_sha256: String,
    pub commands: usize,
    /// Each end state of the phase: held, failed or not_observed.
    pub end_states: std::collections::BTreeMap<String, String>,
    /// Every command succeeded and every end state of the phase held.
    pub ok: bool,
    /// The replay's own journal (its evidence).
    pub journal: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignatureRecord {
    /// The head this signs: its seq and hash (the message is `sign::head_message`).
    pub head_seq: u64,
    pub head_hash: String,
    pub namespace: String,
    /// The signer's public key (OpenSSH form, no comment), its SHA-256 fingerprint and the
    /// key's comment as the signer's agent or key file gave it.
    pub public_key: String,
    pub fingerprint: String,
    pub comment: String,
    /// The armored SSHSIG, byte for byte what `ssh-keygen -Y verify -s` reads.
    pub signature: String,
    /// agent, key file, or imported (made by ssh-keygen -Y sign).
    pub how: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepairRecord {
    /// How many bytes were cut, their SHA-256, and the side file that keeps them.
    pub bytes: u64,
    pub sha256: String,
    pub side_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub id: String,
    pub phase: u32,
    /// planned, applied, failed
    pub stage: String,
    pub summary: String,
    /// The commands, as the task gives them.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Why: the task's own words.
    #[serde(default)]
    pub reason: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub records: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundRecord {
    pub round: u32,
    /// The seq of the scenario record of the collection this round judged.
    pub collection: u64,
    /// Causes claimed in this round's collection.
    #[serde(default)]
    pub causes: Vec<String>,
    /// Fixes (cause ids) and steps (step ids) planned in this round.
    #[serde(default)]
    pub planned: Vec<String>,
    /// The task's end states: id → held, failed or not_observed.
    #[serde(default)]
    pub end_states: std::collections::BTreeMap<String, String>,
    /// What the round concluded: done, applied, planned (dry run), stuck.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FixRecord {
    pub cause: String,
    /// sysctl, nft, sg_rule, calico_patch, port_allowed_address, subnet_dns or dhcp_renew
    pub fix_kind: String,
    /// What is changed, where: "server01 net.ipv4.ip_forward", "security group master".
    pub target: String,
    /// planned, applied, already, failed, verified, rolled_back
    pub stage: String,
    pub summary: String,
    /// The commands that make the change (planned) or undo it (applied).
    #[serde(default)]
    pub commands: Vec<String>,
    /// How security changes, and why no more than needed, per language.
    #[serde(default)]
    pub delta: std::collections::BTreeMap<String, String>,
    /// The evidence records of this step.
    #[serde(default)]
    pub records: Vec<u64>,
    /// On `planned`: the file the fix writes and what it will hold (an answer shows it with cat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileShown>,
    /// The host its commands run on (empty in journals before it was recorded: the hypervisor).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileShown {
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConstraintRecord {
    pub id: String,
    /// before or after
    pub when: String,
    pub ok: bool,
    /// What was seen: a digest, an observation.
    pub value: String,
    #[serde(default)]
    pub records: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioRecord {
    pub id: String,
    pub source: String,
    /// Where the probes ran: lab, or the operator's own SSH configuration.
    pub target: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiagnosisRecord {
    pub scenario: String,
    /// The seq of the scenario record whose collection this diagnoses.
    pub collection: u64,
    pub result: serde_json::Value,
}

/// Who made the journal, where and with what. Written once, as the first record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    pub tool: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub hostname: String,
    pub user: String,
    pub os: String,
}

impl RunMeta {
    /// Metadata of the machine and user running this process.
    pub fn here(title: Option<String>) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(user_from_uid)
            .unwrap_or_else(|| "unknown".into());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("PRETTY_NAME=")
                        .map(|v| v.trim_matches('"').to_string())
                })
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        RunMeta {
            tool: "postmortem".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title,
            hostname,
            user,
            os,
        }
    }
}

/// The name of this process's user: $USER, $LOGNAME, else from its uid and /etc/passwd.
pub fn current_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_uid)
}

/// The name of this process's user, from its uid and /etc/passwd.
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

/// A command that was run on a host, and everything it produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// The host's label (as the user or the scenario names it).
    pub host: String,
    /// The address it resolved to, when the command ran over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The host key fingerprint that was verified, when the command ran over SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// The user it ran as, when known (an answer's prompt names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The command as run (shell-quoted when it was an argument vector), redacted.
    pub command: String,
    /// The working directory it ran in, when known (a recorded shell's commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The seq of the `session` record of the recorded shell it ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// The scenario probe this evidence was collected for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The step of a probe made of several commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: u64,
    pub outcome: Outcome,
    pub stdout: Stream,
    pub stderr: Stream,
}

/// How a command ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It exited with this status.
    Exited { code: i32 },
    /// A signal ended it.
    Signaled { signal: i32, name: String },
    /// It could not be run at all (not found, connection refused, ...).
    Failed { message: String },
    /// It was still running when its time ran out, and was stopped.
    TimedOut { after_ms: u64 },
}

impl Outcome {
    /// How it ended, in a few words: "exit 2", "killed by SIGKILL", "timed out after 5000 ms".
    pub fn describe(&self) -> String {
        match self {
            Outcome::Exited { code } => format!("exit {code}"),
            Outcome::Signaled { name, .. } => format!("killed by {name}"),
            Outcome::Failed { message } => format!("failed: {message}"),
            Outcome::TimedOut { after_ms } => format!("timed out after {after_ms} ms"),
        }
    }

    /// The status a shell would report for this outcome.
    pub fn shell_status(&self) -> i32 {
        match self {
            Outcome::Exited { code } => *code,
            Outcome::Signaled { signal, .. } => 128 + signal,
            Outcome::Failed { .. } => 127,
            Outcome::TimedOut { .. } => 124,
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited { code: 0 })
    }
}

/// One output stream of a command, as kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stream {
    /// The text kept: all of it, or head and tail around an omission marker when the cap was hit.
    /// Invalid UTF-8 is shown as U+FFFD, secrets as `[REDACTED:kind]`.
    pub text: String,
    /// Bytes the command wrote to this stream in all.
    pub bytes: u64,
    /// Bytes left out between head and tail because of the cap (0: nothing left out).
    #[serde(default)]
    pub omitted: u64,
    /// Bytes that were not valid UTF-8 (each run shown as U+FFFD).
    #[serde(default)]
    pub invalid_utf8: u64,
    /// How many secrets were replaced by a marker.
    #[serde(default)]
    pub redactions: u64,
}

/// Something a person wrote down during the work.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Note {
    pub text: String,
    /// What the note is in an answer or a post-mortem (`trouble`, `cause`, `fix`, ...: see
    /// [`ROLES`]); none for a plain note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The evidence record the note is about, and the lines of its output it quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
}

/// The roles a note can have, in the order an answer tells them.
pub const ROLES: &[&str] = &[
    "trouble",
    "finding",
    "cause",
    "fix",
    "verify",
    "impact",
    "detection",
    "action",
    "lesson",
];

/// A record a note is about: its seq and, optionally, lines of its output (1-based, inclusive,
/// counted over stdout then stderr as kept).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct About {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<(usize, usize)>,
}

impl About {
    /// Parse `SEQ` or `SEQ:LINE` or `SEQ:FIRST-LAST`.
    pub fn parse(s: &str) -> Result<About, String> {
        let bad = || {
            format!("--about {s:?}: expected SEQ, SEQ:LINE or SEQ:FIRST-LAST (12, 12:3, 12:3-5)")
        };
        let (seq, lines) = match s.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let seq = seq
            .trim()
            .trim_start_matches('#')
            .parse()
            .map_err(|_| bad())?;
        let lines = match lines {
            None => None,
            Some(l) => {
                let (a, b) = l.split_once('-').unwrap_or((l, l));
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a == 0 || b < a {
                    return Err(bad());
                }
                Some((a, b))
            }
        };
        Ok(About { seq, lines })
    }
}

/// A note's role as typed (`cause`, `Cause`), checked against [`ROLES`].
pub fn role_of(s: &str) -> Result<String, String> {
    let r = s.trim().to_ascii_lowercase();
    if ROLES.contains(&r.as_str()) {
        Ok(r)
    } else {
        Err(format!(
            "no note role {s:?}: the roles are {}",
            ROLES.join(", ")
        ))
    }
}

impl Evidence {
    /// The lines of its output as kept (stdout, then stderr), the way `--about SEQ:LINES`
    /// counts them.
    pub fn output_lines(&self) -> Vec<&str> {
        self.stdout
            .text
            .lines()
            .chain(self.stderr.text.lines())
            .collect()
    }
}
