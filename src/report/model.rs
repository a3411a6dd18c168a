//! What an answer says, apart from how any format shows it: the trouble, the checks in order
//! (each with its command, the output lines that matter and the findings tied to it), the cause,
//! the changes in order (with the files they wrote, shown), why it works, and the end state as
//! checks run before and after the changes. Two fillers: the responder's roles (`roles.rs`) and
//! a scenario's diagnosis (`answer.rs`, which adds the task's end states, rules and replays);
//! one renderer (`written.rs`) turns either into Markdown, from which HTML and PDF are made.
//!
//! What it cannot prove: that the responder's notes are true. It quotes them as written and
//! shows beside them the records they are about; a judge (or `answer check`) compares the two.

/// A command as a person ran it, and the lines of its output an answer quotes.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub seq: u64,
    /// How the evidence names the record: `12`, or `alice#12` in a merged team's journal.
    pub id: String,
    /// Who recorded it, in a merged team's journal.
    pub author: Option<String>,
    pub at: String,
    pub user: Option<String>,
    pub host: String,
    /// The directory it ran in, when recorded (a recorded shell's commands).
    pub cwd: Option<String>,
    pub command: String,
    /// The output lines quoted: each a line of the record, redacted.
    pub lines: Vec<String>,
    /// The exit status, when not 0 (or how it ended, when it did not exit).
    pub status: Option<String>,
    /// A tool's probe, not a command a person typed: its command line is shown only when it is
    /// one short line, else only its host and its lines.
    pub probe: bool,
}

impl Shown {
    /// The prompt a person saw: `user@host:DIR$ ` (`#` for root), the directory as recorded,
    /// else `~`.
    pub fn prompt(&self) -> String {
        let user = self.user.as_deref().unwrap_or("user");
        let sign = if user == "root" { '#' } else { '$' };
        let dir = self
            .cwd
            .as_deref()
            .filter(|d| !d.is_empty() && !d.contains(char::is_whitespace))
            .unwrap_or("~");
        format!("{user}@{}:{dir}{sign} ", self.host)
    }
}

/// A responder's note, quoted as written.
#[derive(Debug, Clone, Default)]
pub struct Said {
    /// Shown in bold before the text (a scenario's cause: its title, `Why`, `Where`).
    pub lead: Option<String>,
    pub text: String,
    pub id: String,
    pub at: String,
    pub author: Option<String>,
}

/// A read-only command and what was concluded from it.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// What the check asks (a scenario's probe), shown after its number.
    pub title: Option<String>,
    /// The command that reached its host first (`ssh -i KEY ubuntu@ADDR` on the hypervisor),
    /// shown before it.
    pub login: Option<Shown>,
    pub shown: Shown,
    /// Further records of the same check (a probe of several commands or hosts).
    pub also: Vec<Shown>,
    /// The records its conclusion rests on (the HTML and PDF name them; the Markdown does not).
    pub refs: Vec<String>,
    pub findings: Vec<Said>,
    /// It showed a failure (a non-zero exit, an error line) or a finding was tied to it.
    pub telling: bool,
}

impl Check {
    /// Its commands in the order shown: the login that reached its host, its own, the rest.
    pub fn items(&self) -> Vec<&Shown> {
        self.login
            .iter()
            .chain(std::iter::once(&self.shown))
            .chain(&self.also)
            .collect()
    }
}

/// A command that changed a host, with the files it wrote.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Starts a numbered step of the solution (a scenario's step or fix), and why it is done.
    pub title: Option<String>,
    pub reason: Option<String>,
    /// How its host was reached, said before its step's commands (the first change on a host
    /// the operator logs in to from another).
    pub via: Option<String>,
    /// The command that reached its host, as recorded (`ssh -i KEY ubuntu@ADDR` on the
    /// hypervisor), shown before it.
    pub login: Option<Shown>,
    pub shown: Shown,
    /// Each file it wrote that a later `cat` on the same host showed.
    pub files: Vec<(String, Shown)>,
    /// Files it wrote that were never shown.
    pub unshown: Vec<String>,
    /// The fix notes tied to it (`note --as fix --about N`).
    pub notes: Vec<Said>,
}

/// The same check before the first change and after the last.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub before: Shown,
    pub after: Shown,
}

/// Whether an end state held, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    Held,
    Failed,
    #[default]
    NotObserved,
}

impl State {
    pub fn of(s: &str) -> State {
        match s {
            "held" => State::Held,
            "failed" => State::Failed,
            _ => State::NotObserved,
        }
    }
}

/// An end state the task names, as observed after the changes, with the lines that show it.
#[derive(Debug, Clone, Default)]
pub struct EndState {
    pub text: String,
    pub state: State,
    pub refs: Vec<String>,
    pub shown: Vec<Shown>,
    /// The same check before the changes, when it was run then (shown above `shown`).
    pub before: Vec<Shown>,
}

/// One of the task's patterns before and after the changes (`None`: not observed before).
#[derive(Debug, Clone, Default)]
pub struct Pattern {
    pub text: String,
    pub before: Option<(State, Vec<String>)>,
    pub after: (State, Vec<String>),
}

/// An alternative the evidence ruled out: what it was, the observation that ruled it out.
#[derive(Debug, Clone, Default)]
pub struct Ruled {
    pub title: String,
    /// What the evidence showed, as a sentence (the scenario's `because`).
    pub because: Option<String>,
    /// The command that showed it, when a person would type it as it is (one short line).
    pub command: Option<String>,
    pub observed: String,
    pub refs: Vec<String>,
}

/// One of the task's rules, and whether the evidence shows it kept.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub text: String,
    pub kept: bool,
    pub refs: Vec<String>,
    pub value: String,
}

/// What a judge or a reviewer would miss, said to the writer (stderr, the HTML), never in the
/// Markdown a judge reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    NoCause,
    NoTrouble,
    NoChange,
    NoCheckAfter { change: String, host: String },
    FileNotShown { file: String, host: String },
    NoUser { command: String, host: String },
    NotVerified { command: String, host: String },
    LeftOut { checks: usize },
}

impl Warning {
    pub fn text(&self, lang: super::Lang) -> String {
        use super::Lang::*;
        match (self, lang) {
            (Warning::NoCause, Ja) => "原因のメモがありません(postmortem note --as cause ...)".into(),
            (Warning::NoCause, En) => "no cause note: the answer states no cause (postmortem note --as cause ...)".into(),
            (Warning::NoTrouble, Ja) => "トラブルの内容のメモがありません(postmortem note --as trouble ...)".into(),
            (Warning::NoTrouble, En) => "no trouble note: the answer does not say what was wrong (postmortem note --as trouble ...)".into(),
            (Warning::NoChange, Ja) => "変更したコマンドの記録がありません".into(),
            (Warning::NoChange, En) => "no change was recorded: the solution is empty".into(),
            (Warning::NoCheckAfter { change, host }, Ja) => format!("{host} の変更 `{change}` のあとに確認のコマンドがありません"),
            (Warning::NoCheckAfter { change, host }, En) => format!("no check was run after the change `{change}` on {host}"),
            (Warning::FileNotShown { file, host }, Ja) => format!("{host} で書いたファイル {file} を cat で示していません"),
            (Warning::FileNotShown { file, host }, En) => format!("the file {file} written on {host} is never shown (no cat {file} after it)"),
            (Warning::NoUser { command, host }, Ja) => format!("{host} の `{command}` を実行したユーザーが記録にありません(プロンプトは user としました)"),
            (Warning::NoUser { command, host }, En) => format!("no user was recorded for `{command}` on {host}: its prompt says `user`"),
            (Warning::NotVerified { command, host }, Ja) => format!("{host} の `{command}` は変更のあとに実行し直していません(修正後の確認がありません)"),
            (Warning::NotVerified { command, host }, En) => format!("`{command}` on {host} was not verified after the change: it was never run again"),
            (Warning::LeftOut { checks }, Ja) => format!("長さのため、何も示さなかった確認 {checks} 件を回答から省きました"),
            (Warning::LeftOut { checks }, En) => format!("{checks} checks that showed nothing were left out of the answer for its length"),
        }
    }
}

/// One answer, whoever filled it. The parts after `warnings` are what a scenario knows of its
/// task (the responder's roles leave them empty): the phase, the topology, the alternatives
/// ruled out, the security delta, the task's end states and rules, and whether a replay held.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub title: String,
    pub team: String,
    pub trouble: Vec<Said>,
    /// Lines shown before the checks (a scenario's topology, the broken links marked).
    pub context: Vec<String>,
    pub checks: Vec<Check>,
    pub ruled_out: Vec<Ruled>,
    /// Checks left out for the answer's length.
    pub left_out: usize,
    pub causes: Vec<Said>,
    pub changes: Vec<Change>,
    pub works: Vec<Said>,
    pub verifications: Vec<Verification>,
    pub verified: Vec<Said>,
    /// Plain notes (no role), for the post-mortem's timeline.
    pub notes: Vec<Said>,
    pub impact: Vec<Said>,
    pub detection: Vec<Said>,
    pub actions: Vec<Said>,
    pub lessons: Vec<Said>,
    pub warnings: Vec<Warning>,
    pub phase: Option<u32>,
    /// What each change gives up in security, one item each.
    pub deltas: Vec<String>,
    pub states: Vec<EndState>,
    pub patterns: Vec<Pattern>,
    pub rules: Vec<Rule>,
    /// The solution was run again on a fresh initial state and every end state held.
    pub replayed: bool,
    /// Where the quoted evidence is: its file and the journal's head hash (HTML and PDF only).
    pub evidence: Option<(String, String)>,
}

impl Answer {
    /// The solution in steps: each titled change starts one (the first change always does),
    /// with the commands shown in it: each change, then the files it wrote as shown (a file
    /// shown once, though several changes wrote it).
    pub fn steps(&self) -> Vec<(&Change, Vec<&Shown>)> {
        let mut out: Vec<(&Change, Vec<&Shown>)> = Vec::new();
        let mut seen: Vec<(u64, Option<String>)> = Vec::new();
        for c in &self.changes {
            if c.title.is_some() || out.is_empty() {
                out.push((c, Vec::new()));
            }
            let items = &mut out.last_mut().expect("a step").1;
            items.extend(c.login.as_ref());
            items.push(&c.shown);
            for (_, f) in &c.files {
                let key = (f.seq, f.author.clone());
                if f.seq > 0 && seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                items.push(f);
            }
        }
        out
    }

    /// The solution's commands as typed, in order: (user, host, command).
    pub fn commands(&self) -> Vec<(String, String, String)> {
        self.steps()
            .iter()
            .flat_map(|(_, items)| items.iter())
            .map(|s| {
                let user = s.user.clone().unwrap_or_else(|| "user".into());
                (user, s.host.clone(), s.command.clone())
            })
            .collect()
    }

    /// The records of every command shown (checks, logins, changes, end states), in order.
    pub fn shown_records(&self) -> Vec<u64> {
        let checks = self.checks.iter().flat_map(Check::items);
        let changes = self.steps().into_iter().flat_map(|(_, items)| items);
        let states = self
            .states
            .iter()
            .flat_map(|s| s.before.iter().chain(&s.shown));
        let mut out: Vec<u64> = checks
            .chain(changes)
            .chain(states)
            .map(|s| s.seq)
            .filter(|s| *s > 0)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every quoted output line of a record (checks and end states), with its record.
    pub fn quotes(&self) -> Vec<(u64, String)> {
        let shown = self
            .checks
            .iter()
            .flat_map(|c| std::iter::once(&c.shown).chain(&c.also))
            .chain(
                self.states
                    .iter()
                    .flat_map(|s| s.before.iter().chain(&s.shown)),
            )
            .chain(
                self.verifications
                    .iter()
                    .flat_map(|v| [&v.before, &v.after]),
            );
        shown
            .filter(|s| s.seq > 0)
            .flat_map(|s| s.lines.iter().map(move |l| (s.seq, l.clone())))
            .collect()
    }
}
