//! What an answer says, apart from how any format shows it: the trouble, the checks in order
//! (each with its command, the output lines that matter and the findings tied to it), the cause,
//! the changes in order (with the files they wrote, shown), why it works, and the end state as
//! checks run before and after the changes. The responder's roles fill it (`roles.rs`); the
//! renderers (`written.rs`) turn it into Markdown once, from which HTML and PDF are made.
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
    pub text: String,
    pub id: String,
    pub at: String,
    pub author: Option<String>,
}

/// A read-only command and what was concluded from it.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub shown: Shown,
    pub findings: Vec<Said>,
    /// It showed a failure (a non-zero exit, an error line) or a finding was tied to it.
    pub telling: bool,
}

/// A command that changed a host, with the files it wrote.
#[derive(Debug, Clone, Default)]
pub struct Change {
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

/// One answer, whoever filled it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub title: String,
    pub team: String,
    pub trouble: Vec<Said>,
    pub checks: Vec<Check>,
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
}
