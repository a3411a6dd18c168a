//! The scenario's filler of the answer model: one answer per phase, from the journal's
//! diagnoses (the chain of checks from the symptom to the cause, the alternatives ruled out),
//! the steps and fixes applied (the commands as an operator types them, created files shown with
//! `cat`), the end states the task names (before and after), the task's rules and the replays.
//! `written.rs` renders it, as it renders the responder's answers (`roles.rs`); `answers` gives
//! each phase's Markdown, the text a reader should see, its solution's commands and its quotes.
//!
//! Every quoted output line is a line of the journal's evidence, byte for byte (after
//! redaction), and names its record (in the HTML and PDF).
//!
//! What it cannot show: anything the journal does not hold. A phase whose cause was never
//! claimed, or whose fix was never applied, gets an answer that says so, not an invented one.
//! A fix's commands are shown as its plan previews them. The sysctl and security-group fixes
//! (and the one-command ones) ran exactly those, so `answer check` finds each in the journal; an
//! nftables fix adds only the rules that are missing, in a command of its own, so an answer that
//! shows its preview does not pass `answer check`.

use super::model::{self, Change, Check, EndState, Pattern, Rule, Ruled, Said, Shown, State};
use super::{written, Lang};
use crate::journal::redact::Redactor;
use crate::journal::{Body, Entry, Evidence};
use crate::scenario::{FixSpec, Scenario};
use serde_json::Value;
use std::collections::BTreeMap;

/// One phase's answer.
pub struct Answer {
    pub phase: u32,
    /// The Markdown with what only the HTML and PDF show marked: `for_score_server` for the
    /// `.md` file, `with_links` for the HTML and the PDF.
    pub md: String,
    /// The text a reader should see (blocks on lines of their own).
    pub text: String,
    /// The solution's commands: (user, host, command), in order.
    pub commands: Vec<(String, String, String)>,
    /// Every quoted output line, with the record it comes from.
    pub quotes: Vec<(u64, String)>,
    /// The records of every command it shows (a PDF's appendix holds these only).
    pub shown: Vec<u64>,
}

fn tx(t: &BTreeMap<String, String>, lang: Lang) -> String {
    t.get(lang.code())
        .or_else(|| t.get("en"))
        .cloned()
        .unwrap_or_default()
}

fn vtx(v: &Value, lang: Lang) -> String {
    v[lang.code()]
        .as_str()
        .or(v["en"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The lines of an evidence record a reader needs: those `quote` matches (else the first
/// non-empty ones), at most `n`, redacted as the report redacts.
fn key_lines(ev: &Evidence, quote: Option<&str>, n: usize, red: &Redactor) -> Vec<String> {
    let re = quote.and_then(|q| regex::Regex::new(q).ok());
    let mut out = Vec::new();
    for s in [&ev.stdout.text, &ev.stderr.text] {
        for l in red.redact(s).0.lines() {
            let l = l.trim_end();
            if l.trim().is_empty() || l.chars().count() > 160 {
                continue;
            }
            let take = match &re {
                Some(re) => re.is_match(l),
                None => true,
            };
            if take && !out.contains(&l.to_string()) {
                out.push(l.to_string());
            }
            if out.len() >= n {
                return out;
            }
        }
    }
    out
}

/// Quoted lines from several records: the first record's `n` lines when the probe runs one
/// command, else one line from each record that has one (a probe of several commands), at most
/// `n` in all. Returns (record, line) pairs.
fn quote_records(
    recs: &[u64],
    ev: &BTreeMap<u64, &Evidence>,
    quote: Option<&str>,
    n: usize,
    red: &Redactor,
) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    // The same command on several hosts speaks through its first record; different commands
    // (a probe of several steps) each give a line.
    let cmds: Vec<&str> = recs
        .iter()
        .filter_map(|s| ev.get(s))
        .map(|e| e.command.as_str())
        .collect();
    let same = cmds.windows(2).all(|w| w[0] == w[1]);
    let per = if same { n } else { 1 };
    for seq in recs {
        let Some(e) = ev.get(seq) else { continue };
        for l in key_lines(e, quote, per, red) {
            if out.len() < n {
                out.push((*seq, l));
            }
        }
        // Without a quote pattern, or for one command on several hosts, the first record that
        // has lines speaks for the probe.
        if (quote.is_none() || same) && !out.is_empty() {
            break;
        }
    }
    out
}

/// The items of a diagnosis list (`causes`, `ruled_out`) that belong to phase `p`.
fn of_phase<'a>(d: &'a Value, key: &str, p: u32) -> Vec<&'a Value> {
    d[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["phase"].as_u64() == Some(p as u64))
        .collect()
}

/// The prompt user for a host: the hypervisor's user, else the nodes'.
fn user_of(sc: &Scenario, host: &str) -> String {
    let role = if host == sc.hosts.hypervisor {
        "hypervisor"
    } else {
        "nodes"
    };
    sc.hosts
        .users
        .get(role)
        .cloned()
        .unwrap_or_else(|| "user".into())
}

/// The most lines of a probe's `show` command an answer quotes.
const SHOW_LINES: usize = 20;

/// A probe's record as the answer shows it: the command as a person would type it, on its host,
/// as the scenario's user there.
fn probe_shown(
    seq: u64,
    e: &Evidence,
    lines: Vec<String>,
    at: &BTreeMap<u64, &str>,
    sc: &Scenario,
    red: &Redactor,
) -> Shown {
    Shown {
        seq,
        id: seq.to_string(),
        at: at.get(&seq).map(|s| s.to_string()).unwrap_or_default(),
        user: Some(user_of(sc, &e.host)),
        host: e.host.clone(),
        command: super::check::typed(&red.redact(&e.command).0),
        lines,
        probe: true,
        ..Default::default()
    }
}

/// A record of a command a person types (a login, a step's wait), shown as the probes' are.
fn typed_record(
    seq: u64,
    e: &Evidence,
    lines: Vec<String>,
    at: &BTreeMap<u64, &str>,
    sc: &Scenario,
    red: &Redactor,
) -> Shown {
    Shown {
        probe: false,
        ..probe_shown(seq, e, lines, at, sc, red)
    }
}

/// A record shown with the lines `quote` matches, or its first `SHOW_LINES` without one.
fn whole_of(
    seq: u64,
    ev: &BTreeMap<u64, &Evidence>,
    quote: Option<&regex::Regex>,
    at: &BTreeMap<u64, &str>,
    sc: &Scenario,
    red: &Redactor,
) -> Option<Shown> {
    let e = ev.get(&seq)?;
    let all = super::roles::lines_of(e, red);
    let lines = match quote {
        Some(q) => all.into_iter().filter(|l| q.is_match(l)).collect(),
        None => all.into_iter().take(SHOW_LINES).collect(),
    };
    Some(probe_shown(seq, e, lines, at, sc, red))
}

/// Quoted (record, line) pairs as the records that hold them, in order; a record that gave no
/// line is shown when it is the only one.
fn shown_of(
    q: &[(u64, String)],
    recs: &[u64],
    ev: &BTreeMap<u64, &Evidence>,
    at: &BTreeMap<u64, &str>,
    sc: &Scenario,
    red: &Redactor,
) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    for (seq, l) in q {
        match out.last_mut() {
            Some(s) if s.seq == *seq => s.lines.push(l.clone()),
            _ => {
                if let Some(e) = ev.get(seq) {
                    out.push(probe_shown(*seq, e, vec![l.clone()], at, sc, red));
                }
            }
        }
    }
    if out.is_empty() {
        if let Some((&seq, e)) = recs.first().and_then(|s| ev.get_key_value(s)) {
            out.push(probe_shown(seq, e, Vec::new(), at, sc, red));
        }
    }
    out
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|s| s.to_string())
        .collect()
}

fn seqs(v: &Value) -> Vec<u64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

fn said(text: String) -> Said {
    Said {
        text,
        ..Default::default()
    }
}

/// A command of the solution, as typed by `user` on `host`.
fn typed(user: &str, host: &str, command: &str) -> Shown {
    Shown {
        user: Some(user.to_string()),
        host: host.to_string(),
        command: command.to_string(),
        ..Default::default()
    }
}

/// The answer model of each phase the scenario knows, filled from the journal's diagnoses,
/// steps, fixes, end states, rules and replays.
#[allow(clippy::too_many_arguments)]
pub fn fill(
    entries: &[Entry],
    sc: &Scenario,
    before: &Value,
    last: Option<&Value>,
    lang: Lang,
    team: &str,
    evidence_file: &str,
    red: &Redactor,
) -> Vec<model::Answer> {
    let ev: BTreeMap<u64, &Evidence> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Evidence(v) => Some((e.seq, v)),
            _ => None,
        })
        .collect();
    let at: BTreeMap<u64, &str> = entries.iter().map(|e| (e.seq, e.at.as_str())).collect();
    // The head the answer names: the last record that is not a signature (a signature over it,
    // appended after the answer was written, does not change the answer).
    let head = entries
        .iter()
        .rev()
        .find(|e| !matches!(e.body, Body::Signature(_)))
        .map(|e| e.hash.clone())
        .unwrap_or_default();
    let mut phases: Vec<u32> = sc.phases.iter().map(|p| p.phase).collect();
    if phases.is_empty() {
        phases = sc.causes.iter().map(|c| c.phase).collect();
        phases.sort();
        phases.dedup();
    }
    let probe = |id: &str| sc.probes.iter().find(|p| p.id == id);
    let mut out = Vec::new();
    for p in phases {
        let mut a = model::Answer {
            title: tx(&sc.title, lang),
            team: team.to_string(),
            phase: Some(p),
            evidence: Some((evidence_file.to_string(), head.clone())),
            ..Default::default()
        };
        if let Some(ph) = sc.phases.iter().find(|x| x.phase == p) {
            a.trouble.push(said(tx(&ph.trouble, lang)));
        }
        let causes = of_phase(before, "causes", p);

        // The topology, as text (the picture is in the HTML and PDF): where this phase broke.
        if !causes.is_empty() {
            let marks: Vec<(&str, String)> = sc
                .causes
                .iter()
                .filter(|c| c.phase == p && causes.iter().any(|f| f["id"] == c.id.as_str()))
                .filter_map(|c| {
                    let text = c.mark_text.as_ref().unwrap_or(&c.title);
                    Some((c.marks.as_deref()?, text.get(lang.code()).cloned()?))
                })
                .collect();
            a.context = topology_text(before, &marks, lang);
        }
        // The investigation: the chain from the symptom back to the cause.
        for c in &causes {
            let chain: Vec<&Value> = c["chain"].as_array().into_iter().flatten().collect();
            for link in chain.iter().rev() {
                let pid = link["probe"].as_str().unwrap_or("");
                let (shows, recs): (Vec<u64>, Vec<u64>) = seqs(&link["records"])
                    .into_iter()
                    .partition(|s| ev.get(s).is_some_and(|e| e.step.as_deref() == Some("show")));
                let shown: Vec<Shown> = if shows.is_empty() {
                    let quote = probe(pid).and_then(|p| p.quote.as_deref());
                    let q = quote_records(&recs, &ev, quote, 2, red);
                    shown_of(&q, &recs, &ev, &at, sc, red)
                } else {
                    // What a person types to see it, on the first host it ran on: the lines
                    // the probe's quote matches, else its whole output.
                    let quote = probe(pid)
                        .and_then(|p| p.quote.as_deref())
                        .and_then(|q| regex::Regex::new(q).ok());
                    let first = shows
                        .first()
                        .and_then(|s| ev.get(s))
                        .map(|e| e.host.clone());
                    shows
                        .iter()
                        .filter(|s| ev.get(s).map(|e| &e.host) == first.as_ref())
                        .filter_map(|s| {
                            let e = ev.get(s)?;
                            let all = super::roles::lines_of(e, red);
                            let q = quote.as_ref().filter(|q| all.iter().any(|l| q.is_match(l)));
                            whole_of(*s, &ev, q, &at, sc, red)
                        })
                        .collect()
                };
                let mut shown = shown.into_iter();
                let Some(first) = shown.next() else { continue };
                a.checks.push(Check {
                    title: probe(pid).map(|p| tx(&p.text, lang)),
                    shown: first,
                    also: shown.collect(),
                    refs: ids(&link["records"]),
                    findings: vec![said(vtx(&link["text"], lang))],
                    telling: true,
                    ..Default::default()
                });
            }
        }
        // A node is shown reached before the investigation's first command on it: the login
        // its collection recorded before probing it.
        let mut reached: Vec<String> = vec![sc.hosts.hypervisor.clone()];
        for c in a.checks.iter_mut() {
            let host = c.shown.host.clone();
            if reached.contains(&host) {
                continue;
            }
            reached.push(host.clone());
            let Some((_, cmd)) = crate::step::login(sc, entries, &host) else {
                continue;
            };
            let seq = c.shown.seq;
            c.login = ev
                .range(..seq)
                .rev()
                .find(|(_, e)| e.step.as_deref() == Some("login") && e.command == cmd)
                .map(|(s, e)| typed_record(*s, e, Vec::new(), &at, sc, red));
        }
        for r in of_phase(before, "ruled_out", p) {
            // The first record whose command a person would type as it is.
            // (A probe's own command or what a person types beside it, never an inner step.)
            let command = seqs(&r["records"]).iter().find_map(|s| {
                let e = ev
                    .get(s)
                    .filter(|e| matches!(e.step.as_deref(), None | Some("show")))?;
                let c = super::check::typed(&red.redact(&e.command).0);
                (c.chars().count() <= 60 && !c.contains(['\n', ';', '|', '&'])).then_some(c)
            });
            let because = vtx(&r["because"], lang);
            a.ruled_out.push(Ruled {
                title: vtx(&r["title"], lang),
                because: (!because.is_empty()).then_some(because),
                command,
                observed: red.redact(r["observed"][0].as_str().unwrap_or("")).0,
                refs: ids(&r["records"]),
            });
        }

        // The cause.
        for c in &causes {
            let lead = |s: &str, t: String| Said {
                lead: Some(s.to_string()),
                text: t,
                ..Default::default()
            };
            let (why, where_) = match lang {
                Lang::Ja => ("なぜ", "どこが"),
                Lang::En => ("Why", "Where"),
            };
            a.causes.push(lead(&vtx(&c["title"], lang), String::new()));
            a.causes.push(lead(why, vtx(&c["why"], lang)));
            a.causes.push(lead(where_, vtx(&c["where"], lang)));
            a.works.push(said(vtx(&c["what"], lang)));
        }

        // The solution: the phase's steps and fixes as they were done, in journal order.
        let cause_ids: Vec<&str> = sc
            .causes
            .iter()
            .filter(|c| c.phase == p)
            .map(|c| c.id.as_str())
            .collect();
        let fix_word = match lang {
            Lang::Ja => "修正",
            Lang::En => "Fix the cause",
        };
        let mut done_fix: Vec<String> = Vec::new();
        for e in entries {
            match &e.body {
                Body::Step(st) if st.phase == p && st.stage == "applied" => {
                    let host = st
                        .records
                        .first()
                        .and_then(|s| ev.get(s))
                        .map(|v| v.host.clone())
                        .unwrap_or_else(|| sc.hosts.hypervisor.clone());
                    let step = sc.steps.iter().find(|s| s.id == st.id);
                    let mut title = Some(
                        step.map(|s| tx(&s.title, lang))
                            .unwrap_or_else(|| st.id.clone()),
                    );
                    let mut reason = step.map(|s| tx(&s.reason, lang));
                    // How the step's host was reached, when that was recorded.
                    let mut login = st.records.iter().find_map(|s| {
                        let e = ev.get(s).filter(|e| e.step.as_deref() == Some("login"))?;
                        Some(typed_record(*s, e, Vec::new(), &at, sc, red))
                    });
                    let host = if login.is_some() {
                        st.records
                            .iter()
                            .filter_map(|s| ev.get(s))
                            .find(|e| e.step.as_deref() != Some("login"))
                            .map(|v| v.host.clone())
                            .unwrap_or(host)
                    } else {
                        host
                    };
                    let user = user_of(sc, &host);
                    for c in st.commands.iter().flat_map(|c| c.lines()) {
                        let c = c.trim();
                        if c.is_empty() {
                            continue;
                        }
                        a.changes.push(Change {
                            title: title.take(),
                            reason: reason.take(),
                            login: login.take(),
                            shown: typed(&user, &host, c),
                            ..Default::default()
                        });
                    }
                    // What the step waited for, as a person sees it (the servers ACTIVE).
                    if let Some((seq, e)) = st.records.iter().rev().find_map(|s| {
                        let e = ev
                            .get(s)
                            .filter(|e| e.step.as_deref() == Some("wait-active"))?;
                        Some((*s, e))
                    }) {
                        let lines = super::roles::lines_of(e, red);
                        a.changes.push(Change {
                            shown: typed_record(seq, e, lines, &at, sc, red),
                            ..Default::default()
                        });
                    }
                }
                Body::Fix(f)
                    if f.stage == "planned"
                        && cause_ids.contains(&f.cause.as_str())
                        && !done_fix.contains(&f.cause) =>
                {
                    // Every fix of this cause that was applied, planned in this round.
                    done_fix.push(f.cause.clone());
                    let cause = sc.causes.iter().find(|c| c.id == f.cause);
                    let applied = |target: &str| {
                        entries.iter().any(|x| matches!(&x.body, Body::Fix(g) if g.target == target && matches!(g.stage.as_str(), "verified" | "applied" | "already")))
                    };
                    let planned: Vec<&crate::journal::FixRecord> = entries
                        .iter()
                        .filter(|x| x.seq >= e.seq)
                        .filter_map(|x| match &x.body {
                            Body::Fix(g) if g.cause == f.cause && g.stage == "planned" => Some(g),
                            _ => None,
                        })
                        .fold(Vec::new(), |mut v: Vec<&crate::journal::FixRecord>, g| {
                            if !v.iter().any(|x| x.target == g.target) && applied(&g.target) {
                                v.push(g);
                            }
                            v
                        });
                    // The fix of the phase's one cause needs no name: the cause section has it.
                    let mut title = Some(if causes.len() > 1 {
                        format!(
                            "{fix_word}: {}",
                            cause.map(|c| tx(&c.title, lang)).unwrap_or_default()
                        )
                    } else {
                        fix_word.to_string()
                    });
                    for g in &planned {
                        // Where the fix ran (journals before it was recorded: the hypervisor).
                        let host = if g.host.is_empty() {
                            sc.hosts.hypervisor.clone()
                        } else {
                            g.host.clone()
                        };
                        let user = user_of(sc, &host);
                        for c in &g.commands {
                            a.changes.push(Change {
                                title: title.take(),
                                shown: typed(&user, &host, c),
                                ..Default::default()
                            });
                        }
                        let spec = cause.and_then(|c| c.fixes.iter().find(|s| s.fits(&g.target)));
                        // A created file is shown with cat, as judges expect: what the plan
                        // recorded, else (journals before it did) a sysctl's one line.
                        let file = g.file.clone().or_else(|| match spec {
                            Some(FixSpec::Sysctl {
                                key, value, file, ..
                            }) => Some(crate::journal::FileShown {
                                path: file.clone(),
                                content: format!("{key} = {value}\n"),
                            }),
                            _ => None,
                        });
                        if let (Some(f), Some(ch)) = (file, a.changes.last_mut()) {
                            let mut cat = typed(&user, &host, &format!("cat {}", f.path));
                            cat.lines = f.content.lines().map(String::from).collect();
                            ch.files.push((f.path, cat));
                        }
                        if let Some(t) = g.delta.get(lang.code()) {
                            a.deltas.push(t.clone());
                        }
                    }
                }
                _ => {}
            }
        }

        // How each host other than the hypervisor was reached: from the hypervisor over SSH, as
        // the task does, at the address its records name.
        let mut reached: Vec<String> = vec![sc.hosts.hypervisor.clone()];
        for c in a.changes.iter_mut() {
            let host = c.shown.host.clone();
            if reached.contains(&host) {
                continue;
            }
            reached.push(host.clone());
            if c.login.is_some() {
                continue;
            }
            let addr = ev
                .values()
                .filter(|e| e.host == host)
                .find_map(|e| e.address.as_deref())
                .map(|a| a.trim_end_matches(":22").to_string());
            let user = c.shown.user.clone().unwrap_or_else(|| "user".into());
            let hv = &sc.hosts.hypervisor;
            c.via = Some(match (lang, addr) {
                (Lang::Ja, Some(ad)) => format!(
                    "{host}({ad})には {hv} から {user} として SSH でログインし、次を実行しました。"
                ),
                (Lang::Ja, None) => format!(
                    "{host} には {hv} から {user} として SSH でログインし、次を実行しました。"
                ),
                (Lang::En, Some(ad)) => {
                    format!("On {host} ({ad}), logged in from {hv} over SSH as {user}:")
                }
                (Lang::En, None) => format!("On {host}, logged in from {hv} over SSH as {user}:"),
            });
        }

        // The end state, with the task's own checks.
        let states = |v: Option<&Value>| -> Vec<Value> {
            v.and_then(|d| d["end_states"].as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e["phase"].as_u64() == Some(p as u64))
                .collect()
        };
        let after = states(last);
        let claimed_here = entries.iter().find_map(|e| match &e.body {
            Body::Diagnosis(dg)
                if dg.result["causes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["phase"].as_u64() == Some(p as u64)) =>
            {
                Some(dg.result.clone())
            }
            _ => None,
        });
        let first = states(claimed_here.as_ref().or(Some(before)));
        let state = |v: &Value| State::of(v["state"].as_str().unwrap_or(""));
        let mut shown_before: Vec<u64> = Vec::new();
        let in_checks: Vec<u64> = a
            .checks
            .iter()
            .flat_map(|c| std::iter::once(&c.shown).chain(&c.also))
            .map(|x| x.seq)
            .collect();
        for es in &after {
            let recs = seqs(&es["records"]);
            let pid = sc
                .end_states
                .iter()
                .find(|x| Some(x.id.as_str()) == es["id"].as_str())
                .and_then(|x| x.when.first())
                .and_then(|c| c.probe.clone())
                .unwrap_or_default();
            // A probe whose steps are named for end states (the task's patterns, each its own
            // commands): each state shows the steps they share and its own, whole.
            let id = es["id"].as_str().unwrap_or("");
            let step_of = |s: &u64| ev.get(s).and_then(|e| e.step.as_deref());
            let others: Vec<&str> = sc
                .end_states
                .iter()
                .map(|x| x.id.as_str())
                .filter(|x| *x != id)
                .collect();
            let quote = probe(&pid)
                .and_then(|p| p.quote.as_deref())
                .and_then(|q| regex::Regex::new(q).ok());
            // A step's record as shown: the state's own step by the probe's quote, others whole.
            let whole = |s: &u64| {
                let q = quote.as_ref().filter(|_| step_of(s) == Some(id));
                whole_of(*s, &ev, q, &at, sc, red)
            };
            let own = recs.iter().any(|s| step_of(s) == Some(id));
            let mut before = Vec::new();
            let shown = if own {
                // The same step before the changes, when that collection ran it.
                // (Not again when the investigation shows it already.)
                if let Some(b) = first.iter().find(|x| x["id"] == es["id"]) {
                    before = seqs(&b["records"])
                        .iter()
                        .filter(|s| step_of(s) == Some(id) && !in_checks.contains(*s))
                        .filter_map(whole)
                        .collect();
                }
                // Steps shared with another state are shown once, under the first.
                let list: Vec<Shown> = recs
                    .iter()
                    .filter(|s| {
                        !step_of(s).is_some_and(|st| others.contains(&st) || st == "cleanup")
                            && !shown_before.contains(*s)
                    })
                    .filter_map(whole)
                    .collect();
                shown_before.extend(list.iter().map(|x| x.seq));
                list
            } else {
                let q = quote_records(
                    &recs,
                    &ev,
                    probe(&pid).and_then(|p| p.quote.as_deref()),
                    3,
                    red,
                );
                if q.is_empty() {
                    Vec::new()
                } else {
                    shown_of(&q, &recs, &ev, &at, sc, red)
                }
            };
            a.states.push(EndState {
                text: vtx(&es["text"], lang),
                state: state(es),
                refs: ids(&es["records"]),
                shown,
                before,
            });
        }
        // The ping patterns before and after.
        if after
            .iter()
            .any(|e| e["id"].as_str().is_some_and(|i| i.starts_with("pattern")))
        {
            for es in &after {
                let b = first.iter().find(|x| x["id"] == es["id"]);
                a.patterns.push(Pattern {
                    text: vtx(&es["text"], lang),
                    before: b.map(|v| (state(v), ids(&v["records"]))),
                    after: (state(es), ids(&es["records"])),
                });
            }
        }

        // The task's rules.
        let mut by_id: BTreeMap<String, Vec<(u64, &crate::journal::ConstraintRecord)>> =
            BTreeMap::new();
        for e in entries {
            if let Body::Constraint(c) = &e.body {
                by_id.entry(c.id.clone()).or_default().push((e.seq, c));
            }
        }
        for k in &sc.constraints {
            let recs = by_id.get(&k.id).cloned().unwrap_or_default();
            a.rules.push(Rule {
                text: tx(&k.text, lang),
                kept: !recs.is_empty() && recs.iter().all(|(_, c)| c.ok),
                refs: recs.iter().map(|(s, _)| s.to_string()).collect(),
                value: recs
                    .last()
                    .map(|(_, c)| red.redact(&c.value).0)
                    .unwrap_or_default(),
            });
        }

        // Replayed: a replay of exactly these commands held every end state.
        let hash = commands_hash(&a.commands());
        a.replayed = entries.iter().any(|e| {
            matches!(&e.body, Body::Replay(r) if r.phase == p && r.ok && r.commands_sha256 == hash)
        });
        out.push(a);
    }
    out
}

/// The answers of every phase the scenario knows, from the journal alone: the model filled by
/// `fill`, written by the one renderer every answer goes through.
#[allow(clippy::too_many_arguments)]
pub fn answers(
    entries: &[Entry],
    sc: &Scenario,
    before: &Value,
    last: Option<&Value>,
    lang: Lang,
    team: &str,
    evidence_file: &str,
    red: &Redactor,
) -> Vec<Answer> {
    fill(entries, sc, before, last, lang, team, evidence_file, red)
        .into_iter()
        .map(|mut m| {
            let (md, text) = written::answer(&mut m, lang);
            Answer {
                phase: m.phase.unwrap_or(0),
                md,
                text,
                commands: m.commands(),
                quotes: m.quotes(),
                shown: m.shown_records(),
            }
        })
        .collect()
}

/// The path the traffic takes, as lines of text, with the broken links marked (`uplink`: between
/// the hypervisor and the outside; `mesh`: between the nodes), each with what broke it.
fn topology_text(d: &Value, marks: &[(&str, String)], lang: Lang) -> Vec<String> {
    let hosts: Vec<&str> = d["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let hv = hosts.first().copied().unwrap_or("hypervisor");
    let nodes = &hosts[hosts.len().min(1)..];
    let at = |link: &'static str| {
        marks
            .iter()
            .filter(move |(l, _)| *l == link)
            .map(|(_, t)| t)
    };
    let outside = match lang {
        Lang::Ja => "インターネット / apt ミラー",
        Lang::En => "internet / apt mirror",
    };
    let mut out = vec![outside.to_string(), "  |".to_string()];
    for t in at("uplink") {
        out.push(format!("  ✕ {t}"));
    }
    if at("uplink").next().is_some() {
        out.push("  |".to_string());
    }
    out.push(hv.to_string());
    for (i, n) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        out.push(format!("  {}-- {n}", if last { "`" } else { "|" }));
    }
    if nodes.len() > 1 {
        for t in at("mesh") {
            out.push(format!(
                "      {} <-> {}: ✕ {t}",
                nodes[0],
                nodes[1..].join(", ")
            ));
        }
    }
    out
}

/// The SHA-256 of a solution's commands (what a replay record names).
pub fn commands_hash(commands: &[(String, String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (u, host, c) in commands {
        h.update(format!("{u}@{host}\0{c}\n").as_bytes());
    }
    crate::journal::hex(&h.finalize())
}

/// The solution's commands of an answer file: the prompt lines (`USER@HOST:~$ CMD`) of its
/// `shellsession` blocks under the solution's heading, in order.
pub fn solution_commands(md: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut in_solution = false;
    let mut fence: Option<(String, bool)> = None;
    let heads = written::solution_headings();
    for line in md.lines() {
        if let Some((f, shell)) = &fence {
            if line.trim_end() == f {
                fence = None;
            } else if *shell && in_solution {
                if let Some((who, cmd)) = line.split_once(":~$ ") {
                    if let Some((user, host)) = who.split_once('@') {
                        out.push((user.to_string(), host.to_string(), cmd.to_string()));
                    }
                }
            }
            continue;
        }
        if line.starts_with("```") {
            let ticks = line.chars().take_while(|&c| c == '`').count();
            let info = line[ticks..].trim();
            fence = Some(("`".repeat(ticks), info == "shellsession"));
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            in_solution = heads.contains(&h.trim());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::md::{code, esc};
    use super::*;

    #[test]
    fn escapes_only_what_the_renderer_would_change() {
        assert_eq!(esc("net.ipv4.ip_forward = 0"), "net.ipv4.ip_forward = 0");
        assert_eq!(esc("(#4): a/b"), "(#4): a/b");
        assert_eq!(esc("cost $5 and $HOME"), "cost \\$5 and \\$HOME");
        assert_eq!(esc("# not a heading"), "\\# not a heading");
        assert_eq!(esc("1. not a list"), "1\\. not a list");
        assert_eq!(esc("a *b* _c_"), "a \\*b\\* \\_c\\_");
        assert_eq!(esc("<b>x</b>"), "\\<b\\>x\\</b\\>");
        assert_eq!(
            esc("openstack server start [vm名] で"),
            "openstack server start [vm名] で"
        );
        assert_eq!(esc("a [b](c)"), "a [b\\](c)");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn the_solution_commands_are_read_back_from_the_answer() {
        let md = "# 調査の過程\n\n```shellsession\nuser@server01:~$ not this\n```\n\n# 解決方法\n\n```shellsession\nuser@server01:~$ sudo sysctl -w a=1\nuser@server01:~$ cat /x\na = 1\n```\n\n```\nnot@a:~$ prompt\n```\n\n# 解決する理由\n";
        assert_eq!(
            solution_commands(md),
            vec![
                (
                    "user".into(),
                    "server01".into(),
                    "sudo sysctl -w a=1".into()
                ),
                ("user".into(), "server01".into(), "cat /x".into()),
            ]
        );
    }
}
