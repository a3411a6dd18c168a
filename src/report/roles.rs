//! Fills the answer model from what the responder ran and noted: any journal, any incident.
//! Commands are checks or changes by `classify` (or by the responder's `--as fix|finding
//! --about N`); notes fill the parts their roles name; the same check run before the first change
//! and after the last is a verification pair, found without being told.
//!
//! What it cannot prove: that a note's claim follows from its evidence, or that a check run
//! after a change tests what the change fixed. It only puts them side by side, and says (as
//! warnings) what a judge would find missing.

use super::classify::{classify, normal};
use super::model::*;
use crate::journal::redact::Redactor;
use crate::journal::{Body, Entry, Evidence, Note};

/// One record of one journal, as the filler sees it.
pub struct Rec<'a> {
    pub id: String,
    pub author: Option<String>,
    pub seq: u64,
    pub at: String,
    pub body: &'a Body,
}

/// The records of one journal, unnamed.
pub fn recs(entries: &[Entry]) -> Vec<Rec<'_>> {
    entries
        .iter()
        .map(|e| Rec {
            id: e.seq.to_string(),
            author: None,
            seq: e.seq,
            at: e.at.clone(),
            body: &e.body,
        })
        .collect()
}

/// Lines that tell something: an error, a failure, a status line.
fn telling_line(l: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            // A configuration's `LogLevel ERROR` is no error: upper-case words count only as
            // a message's tag (`ERROR:`, `[ERROR]`).
            r"^HTTP/\d|\b[Ee]rrors?\b|\bERROR\b[:\]]|(?i)\b(fail|failed|failure|denied|refused|not found|no such|cannot|can't|unable|timed? ?out|unreachable|no route|packet loss|inactive|dead|invalid|forbidden|unauthori[sz]ed|bad gateway|exception|fatal|panic)\b|Active:|^Err:|^E: ",
        )
        .expect("a valid regex")
    })
    .is_match(l)
}

const MAX_LINES: usize = 6;
const MAX_WIDTH: usize = 200;

/// The output lines of a record, as kept, redacted and made visible, without blank lines.
pub fn lines_of(ev: &Evidence, red: &Redactor) -> Vec<String> {
    ev.output_lines()
        .into_iter()
        .map(|l| super::text::visible(&red.redact(l.trim_end()).0))
        .collect()
}

fn pick(lines: &[String], want: impl Fn(&str) -> bool, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        if l.trim().is_empty() || l.chars().count() > MAX_WIDTH || out.contains(l) {
            continue;
        }
        if want(l) {
            out.push(l.clone());
            if out.len() >= n {
                break;
            }
        }
    }
    out
}

/// The lines an answer quotes of a record when no note chose them: those that tell (an error,
/// a status), else the last lines of a failed command, else the first.
fn lines_that_matter(all: &[String], failed: bool) -> Vec<String> {
    let t = pick(all, telling_line, MAX_LINES);
    if !t.is_empty() {
        return t;
    }
    if failed {
        let start = all.len().saturating_sub(MAX_LINES);
        return pick(&all[start..], |_| true, MAX_LINES);
    }
    pick(all, |_| true, MAX_LINES)
}

/// The lines of `a` that `b` does not have, those that tell first.
fn differing(a: &[String], b: &[String]) -> Vec<String> {
    let only: Vec<String> = a.iter().filter(|l| !b.contains(l)).cloned().collect();
    let t = pick(&only, telling_line, 4);
    if t.is_empty() {
        pick(&only, |_| true, 4)
    } else {
        t
    }
}

fn status_of(ev: &Evidence) -> Option<String> {
    match &ev.outcome {
        crate::journal::Outcome::Exited { code: 0 } => None,
        crate::journal::Outcome::Exited { code } => Some(code.to_string()),
        other => Some(other.describe()),
    }
}

struct Cmd<'a> {
    /// Its index in the records.
    ri: usize,
    rec: &'a Rec<'a>,
    ev: &'a Evidence,
    change: bool,
    key: (String, String),
    all: Vec<String>,
}

fn shown(c: &Cmd, lines: Vec<String>) -> Shown {
    Shown {
        seq: c.rec.seq,
        id: c.rec.id.clone(),
        author: c.rec.author.clone(),
        at: c.rec.at.clone(),
        user: c.ev.user.clone(),
        host: c.ev.host.clone(),
        cwd: c.ev.cwd.clone(),
        command: c.ev.command.clone(),
        lines,
        status: status_of(c.ev),
        probe: false,
    }
}

fn said(r: &Rec, n: &Note) -> Said {
    Said {
        lead: None,
        text: n.text.clone(),
        id: r.id.clone(),
        at: r.at.clone(),
        author: r.author.clone(),
    }
}

/// Fill the answer model from a journal's records (in time order), as the responder's roles
/// say. `red` redacts again what reaches the answer.
pub fn fill(records: &[Rec], title: &str, team: &str, red: &Redactor) -> Answer {
    let mut a = Answer {
        title: red.redact(title).0,
        team: team.to_string(),
        ..Default::default()
    };
    // The responder's overrides: `--as fix --about N` (a change), `--as finding --about N`.
    let about = |r: &Rec, role: &str| -> Option<(Option<String>, u64)> {
        match r.body {
            Body::Note(n) if n.role.as_deref() == Some(role) => {
                n.about.map(|ab| (r.author.clone(), ab.seq))
            }
            _ => None,
        }
    };
    let forced_change: Vec<_> = records.iter().filter_map(|r| about(r, "fix")).collect();
    let forced_check: Vec<_> = records.iter().filter_map(|r| about(r, "finding")).collect();
    let cmds: Vec<Cmd> = records
        .iter()
        .enumerate()
        .filter_map(|(ri, r)| match r.body {
            Body::Evidence(ev) if ev.probe.is_none() => Some((ri, r, ev)),
            _ => None,
        })
        // `cd` and the like are neither a check nor a change (the prompts show the directory).
        .filter(|(_, r, ev)| {
            let me = (r.author.clone(), r.seq);
            forced_change.contains(&me)
                || forced_check.contains(&me)
                || !classify(&ev.command).ignore
        })
        .map(|(ri, r, ev)| {
            let me = (r.author.clone(), r.seq);
            let change = if forced_change.contains(&me) {
                true
            } else if forced_check.contains(&me) {
                false
            } else {
                classify(&ev.command).change
            };
            Cmd {
                ri,
                rec: r,
                ev,
                change,
                key: (ev.host.clone(), normal(&ev.command)),
                all: lines_of(ev, red),
            }
        })
        .collect();
    let first_change = cmds.iter().position(|c| c.change);
    let last_change = cmds.iter().rposition(|c| c.change);

    // Verification pairs: a check's last run before the first change and its last run after
    // the last change.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    if let (Some(f), Some(l)) = (first_change, last_change) {
        for c in &cmds[..f] {
            if c.change || pairs.iter().any(|&(b, _)| cmds[b].key == c.key) {
                continue;
            }
            let before = (0..f)
                .rev()
                .find(|&j| !cmds[j].change && cmds[j].key == c.key);
            let after = (l + 1..cmds.len()).rev().find(|&j| cmds[j].key == c.key);
            if let (Some(b), Some(af)) = (before, after) {
                pairs.push((b, af));
            }
        }
    }
    let is_after = |i: usize| pairs.iter().any(|&(_, af)| af == i);

    // Files written by changes, and the cat that showed each.
    let mut shows_file: Vec<usize> = Vec::new();
    for (i, c) in cmds.iter().enumerate().filter(|(_, c)| c.change) {
        let kind = classify(&c.ev.command);
        let mut ch = Change {
            shown: shown(c, pick(&c.all, |_| true, MAX_LINES)),
            ..Default::default()
        };
        for f in kind.writes {
            let cat = (i + 1..cmds.len()).find(|&j| {
                cmds[j].ev.host == c.ev.host && classify(&cmds[j].ev.command).cats.contains(&f)
            });
            match cat {
                Some(j) => {
                    shows_file.push(j);
                    let all = &cmds[j].all;
                    let lines = all.iter().take(20).cloned().collect();
                    ch.files.push((f, shown(&cmds[j], lines)));
                }
                None => {
                    a.warnings.push(Warning::FileNotShown {
                        file: f.clone(),
                        host: c.ev.host.clone(),
                    });
                    ch.unshown.push(f);
                }
            }
        }
        a.changes.push(ch);
    }
    if let Some(l) = last_change {
        if !cmds[l + 1..].iter().any(|c| !c.change) {
            a.warnings.push(Warning::NoCheckAfter {
                change: red.redact(&cmds[l].ev.command).0,
                host: cmds[l].ev.host.clone(),
            });
        }
    } else {
        a.warnings.push(Warning::NoChange);
    }

    // The checks, in order, with the findings noted after each (or about it).
    let mut check_of: Vec<(usize, usize)> = Vec::new(); // (cmd index, check index)
    for (i, c) in cmds.iter().enumerate() {
        if c.change || is_after(i) || shows_file.contains(&i) {
            continue;
        }
        let pair = pairs.iter().find(|&&(b, _)| b == i);
        let failed = !c.ev.outcome.is_success();
        let lines = match pair {
            Some(&(_, af)) => {
                let d = differing(&c.all, &cmds[af].all);
                if d.is_empty() {
                    lines_that_matter(&c.all, failed)
                } else {
                    d
                }
            }
            None => lines_that_matter(&c.all, failed),
        };
        let telling = failed || pair.is_some() || c.all.iter().any(|l| telling_line(l));
        check_of.push((i, a.checks.len()));
        a.checks.push(Check {
            shown: shown(c, lines),
            telling,
            ..Default::default()
        });
    }
    for (b, af) in &pairs {
        let (cb, ca) = (&cmds[*b], &cmds[*af]);
        let mut before = differing(&cb.all, &ca.all);
        let mut after = differing(&ca.all, &cb.all);
        if before.is_empty() && after.is_empty() {
            before = lines_that_matter(&cb.all, !cb.ev.outcome.is_success());
            after = lines_that_matter(&ca.all, !ca.ev.outcome.is_success());
        }
        a.verifications.push(Verification {
            before: shown(cb, before),
            after: shown(ca, after),
        });
    }

    // Notes, by role.
    // How many commands were recorded before the record at `ri`.
    let pos_of = |ri: usize| -> usize { cmds.iter().take_while(|c| c.ri < ri).count() };
    for (ri, r) in records.iter().enumerate() {
        let Body::Note(n) = r.body else { continue };
        let s = said(r, n);
        match n.role.as_deref() {
            Some("trouble") => a.trouble.push(s),
            Some("cause") => a.causes.push(s),
            Some("verify") => a.verified.push(s),
            Some("impact") => a.impact.push(s),
            Some("detection") => a.detection.push(s),
            Some("action") => a.actions.push(s),
            Some("lesson") => a.lessons.push(s),
            Some("fix") => {
                let target = n.about.and_then(|ab| {
                    a.changes
                        .iter_mut()
                        .find(|c| c.shown.seq == ab.seq && c.shown.author == r.author)
                });
                match target {
                    Some(c) => c.notes.push(s),
                    None => a.works.push(s),
                }
            }
            Some("finding") => {
                // The check it is about, else the last check before it.
                let idx = match n.about {
                    Some(ab) => cmds
                        .iter()
                        .position(|c| c.rec.seq == ab.seq && c.rec.author == r.author),
                    None => pos_of(ri).checked_sub(1).and_then(|p| {
                        (0..=p)
                            .rev()
                            .find(|&j| check_of.iter().any(|&(ci, _)| ci == j))
                    }),
                };
                let check = idx.and_then(|i| check_of.iter().find(|&&(ci, _)| ci == i));
                match (check, n.about) {
                    (Some(&(ci, k)), ab) => {
                        if let Some((x, y)) = ab.and_then(|ab| ab.lines) {
                            let all: Vec<String> = cmds[ci]
                                .ev
                                .output_lines()
                                .iter()
                                .map(|l| super::text::visible(&red.redact(l.trim_end()).0))
                                .collect();
                            a.checks[k].shown.lines =
                                all[(x - 1).min(all.len())..y.min(all.len())].to_vec();
                        }
                        a.checks[k].telling = true;
                        a.checks[k].findings.push(s);
                    }
                    (None, _) => a.notes.push(s),
                }
            }
            _ => a.notes.push(s),
        }
    }

    // What a judge would miss.
    if a.trouble.is_empty() {
        a.warnings.insert(0, Warning::NoTrouble);
    }
    if a.causes.is_empty() {
        a.warnings.insert(0, Warning::NoCause);
    }
    if let Some(f) = first_change {
        for c in &a.checks {
            let i = cmds
                .iter()
                .position(|x| x.rec.seq == c.shown.seq && x.rec.author == c.shown.author)
                .unwrap_or(0);
            let failed = c.shown.status.is_some() || !c.findings.is_empty();
            if i < f && failed && !pairs.iter().any(|&(b, _)| cmds[b].key == cmds[i].key) {
                let w = Warning::NotVerified {
                    command: red.redact(&c.shown.command).0,
                    host: c.shown.host.clone(),
                };
                if !a.warnings.contains(&w) {
                    a.warnings.push(w);
                }
            }
        }
    }
    let mut no_user: Vec<String> = Vec::new();
    for c in cmds.iter().filter(|c| c.ev.user.is_none()) {
        if !no_user.contains(&c.ev.host) {
            no_user.push(c.ev.host.clone());
            a.warnings.push(Warning::NoUser {
                command: red.redact(&c.ev.command).0,
                host: c.ev.host.clone(),
            });
        }
    }
    a
}

/// Leave out the checks that lead to nothing (no finding, no failure, not verified again),
/// last first, until `fits` holds or none is left. Returns how many were left out.
pub fn shorten(a: &mut Answer, fits: impl Fn(&Answer) -> bool) -> usize {
    let mut n = 0;
    while !fits(a) {
        let Some(i) = a.checks.iter().rposition(|c| !c.telling) else {
            break;
        };
        a.checks.remove(i);
        n += 1;
    }
    a.left_out += n;
    if n > 0 {
        a.warnings.push(Warning::LeftOut { checks: n });
    }
    n
}
