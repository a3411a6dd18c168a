//! The report: built from the journal alone, rendered to Markdown (tera templates), then from
//! that Markdown to HTML (pulldown-cmark) and PDF (Typst).
//!
//! What it cannot show: anything the journal does not hold. It is as trustworthy as the
//! journal's chain, which is verified before anything is rendered.

pub mod answer;
pub mod check;
pub mod classify;
pub mod figures;
pub mod html;
pub mod md;
pub mod model;
pub mod roles;
pub mod team;
pub mod text;
pub mod typst;
pub mod written;

use crate::journal::redact::Redactor;
use crate::journal::{Body, Entry, Journal, Outcome, Stream};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// The report's shape: the contest answer (per phase, concise), or a team post-mortem after
/// the Google SRE template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Style {
    #[default]
    Answer,
    Postmortem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Pdf,
}

const TEMPLATE: &str = include_str!("../../templates/report.md.tera");
const POSTMORTEM: &str = include_str!("../../templates/postmortem.md.tera");
const APPENDIX: &str = include_str!("../../templates/appendix.md.tera");
const EVIDENCE: &str = include_str!("../../templates/evidence.md.tera");
const TEAM: &str = include_str!("../../templates/team.md.tera");
const TEXTS: &str = include_str!("../../templates/texts.toml");

type Texts = HashMap<String, String>;

fn texts(lang: Lang) -> Texts {
    let all: HashMap<String, Texts> = toml::from_str(TEXTS).expect("templates/texts.toml is valid");
    all.get(lang.code())
        .cloned()
        .expect("texts for every language")
}

#[derive(Serialize, Clone)]
struct Meta {
    tool: String,
    version: String,
    hostname: String,
    user: String,
    os: String,
    journal: String,
    records: usize,
    first: String,
    last: String,
    head: String,
    /// Who signed which head: "#N <fingerprint> <comment>", with a warning when it does not hold.
    signatures: Vec<String>,
}

#[derive(Serialize)]
struct StreamView {
    title: String,
    text: String,
    bytes: u64,
    omitted: u64,
    invalid_utf8: u64,
    redactions: u64,
}

#[derive(Serialize, Default)]
struct RecordView {
    seq: u64,
    /// How the report names it: its seq, or `member#seq` in a team's report.
    id: String,
    /// Who wrote it (user@host, journal), in a team's report.
    author: Option<String>,
    kind: &'static str,
    label: String,
    time: String,
    hash: String,
    host: Option<String>,
    /// The working directory of a recorded shell's command.
    cwd: Option<String>,
    address: Option<String>,
    host_key: Option<String>,
    summary: String,
    result: String,
    command: String,
    started: String,
    ended: String,
    duration: String,
    streams: Vec<StreamView>,
    text: String,
}

/// A journal time as the report shows it: local time of the place it was taken, with its offset.
pub fn show_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.format("%Y-%m-%d %H:%M:%S%.3f %:z").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

fn show_duration(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

fn outcome_text(o: &Outcome, t: &Texts) -> String {
    match o {
        Outcome::Exited { code } => format!("{} {code}", t["exit"]),
        Outcome::Signaled { signal, name } => format!("{} {name} ({signal})", t["signal"]),
        Outcome::Failed { message } => format!("{}: {message}", t["failed"]),
        Outcome::TimedOut { after_ms } => {
            format!("{} {}", t["timed_out"], show_duration(*after_ms))
        }
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max || s.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

/// The scenario of the journal's first collection, if it has one.
fn scenario_of(entries: &[Entry]) -> Option<crate::scenario::Scenario> {
    entries.iter().find_map(|e| match &e.body {
        Body::Scenario(s) => crate::scenario::parse(&s.source, "scenario").ok(),
        _ => None,
    })
}

/// The report's title: the journal's own, or the language's default.
fn title(entries: &[Entry], lang: Lang, red: &Redactor) -> String {
    entries
        .iter()
        .find_map(|e| match &e.body {
            Body::Run(m) => m.title.clone(),
            _ => None,
        })
        .map(|s| red.redact(&s).0)
        .unwrap_or_else(|| {
            // Without a title of its own, the incident's: the scenario's title.
            let scenario = scenario_of(entries);
            match scenario.and_then(|s| s.title.get(lang.code()).cloned()) {
                Some(t) => format!("{}: {t}", texts(lang)["title"]),
                None => texts(lang)["title"].clone(),
            }
        })
}

/// Build the template's context for one language. Texts pass through the redactor once more,
/// so secrets added to it after the evidence was collected stay out of the report too.
fn context(entries: &[Entry], journal: &Path, lang: Lang, red: &Redactor) -> Result<tera::Context> {
    let t = texts(lang);
    let title = title(entries, lang, red);
    let head = entries.last().map(|e| e.hash.clone()).unwrap_or_default();
    let meta = meta_of(entries, journal, red);
    let records = record_views(entries, &t, red);
    let mut ctx = tera::Context::new();
    let (before_owned, after) = before_and_after(entries);
    let before = before_owned.as_ref().map(|(s, d)| (*s, d));
    if let Some((seq, d)) = before {
        ctx.insert("findings", &findings(seq, d, lang, red));
        ctx.insert("figures", &figure_names(before, after));
    }
    if let (Some((bseq, b)), Some((aseq, a))) = (before, after) {
        ctx.insert("after", &before_after(bseq, b, aseq, a, lang, red));
    }
    let scenario = scenario_of(entries);
    if let Some(sc) = &scenario {
        let claimed: Vec<String> = before
            .and_then(|(_, d)| {
                d["causes"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|c| c["id"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        let actions: Vec<serde_json::Value> = sc
            .causes
            .iter()
            .filter(|c| claimed.contains(&c.id))
            .filter_map(|c| {
                c.action
                    .as_ref()
                    .map(|a| serde_json::json!({ "cause": c.id, "text": a.get(lang.code()) }))
            })
            .collect();
        ctx.insert("actions", &actions);
        if let Some(l) = sc.lessons.as_ref().and_then(|l| l.get(lang.code())) {
            ctx.insert("lessons", l);
        }
    } else {
        ctx.insert("actions", &Vec::<serde_json::Value>::new());
    }
    let fixes = fixes_view(entries, lang);
    if !fixes.is_empty() {
        ctx.insert("fixes", &fixes);
    }
    let rules = rules_view(entries, lang);
    if !rules.is_empty() {
        ctx.insert("rules", &rules);
    }
    ctx.insert("steps", &steps_view(entries, lang, red));
    ctx.insert("rounds", &rounds_view(entries, lang));
    ctx.insert("end_states", &end_states_view(entries, lang, red));
    ctx.insert(
        "integrity",
        &t["integrity_text"]
            .replace("{n}", &entries.len().to_string())
            .replace("{head}", &head),
    );
    ctx.insert("t", &t);
    ctx.insert("lang", lang.code());
    ctx.insert("title", &title);
    ctx.insert("meta", &meta);
    ctx.insert("records", &records);
    ctx.insert("team", &false);
    Ok(ctx)
}

/// Where a journal comes from and what it holds, for the report's header.
fn meta_of(entries: &[Entry], journal: &Path, red: &Redactor) -> Meta {
    let r = |s: &str| red.redact(s).0;
    let run = entries.iter().find_map(|e| match &e.body {
        Body::Run(m) => Some(m.clone()),
        _ => None,
    });
    let head = entries.last().map(|e| e.hash.clone()).unwrap_or_default();
    Meta {
        tool: run.as_ref().map(|m| m.tool.clone()).unwrap_or_default(),
        version: run.as_ref().map(|m| m.version.clone()).unwrap_or_default(),
        hostname: run.as_ref().map(|m| r(&m.hostname)).unwrap_or_default(),
        user: run.as_ref().map(|m| r(&m.user)).unwrap_or_default(),
        os: run.as_ref().map(|m| m.os.clone()).unwrap_or_default(),
        journal: journal
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        records: entries.len(),
        first: entries
            .first()
            .map(|e| show_time(&e.at))
            .unwrap_or_default(),
        last: entries.last().map(|e| show_time(&e.at)).unwrap_or_default(),
        head: head.clone(),
        signatures: entries
            .iter()
            .filter_map(|e| match &e.body {
                Body::Signature(sg) => Some(format!(
                    "#{} {} {} ({}){}",
                    sg.head_seq,
                    sg.fingerprint,
                    r(&sg.comment),
                    sg.how,
                    match crate::journal::sign::check(sg, entries) {
                        Ok(_) => String::new(),
                        Err(why) => format!(": DOES NOT HOLD: {why}"),
                    }
                )),
                _ => None,
            })
            .collect(),
    }
}

/// Every record as the report shows it, in journal order.
fn record_views(entries: &[Entry], t: &Texts, red: &Redactor) -> Vec<RecordView> {
    let r = |s: &str| red.redact(s).0;
    let stream = |title: &str, s: &Stream| StreamView {
        title: title.to_string(),
        text: r(&s.text),
        bytes: s.bytes,
        omitted: s.omitted,
        invalid_utf8: s.invalid_utf8,
        redactions: s.redactions,
    };
    let mut records = Vec::with_capacity(entries.len());
    for e in entries {
        let base = RecordView {
            seq: e.seq,
            id: e.seq.to_string(),
            time: show_time(&e.at),
            hash: e.hash.clone(),
            ..Default::default()
        };
        let v = match &e.body {
            Body::Run(m) => RecordView {
                kind: "run",
                label: t["run"].clone(),
                summary: format!("{} {}", m.tool, m.version),
                ..base
            },
            Body::Scenario(sc) => RecordView {
                kind: "scenario",
                label: t["scenario"].clone(),
                summary: format!("{} ({})", sc.id, sc.target),
                ..base
            },
            Body::Diagnosis(d) => RecordView {
                kind: "diagnosis",
                label: t["diagnosis"].clone(),
                summary: d.scenario.clone(),
                ..base
            },
            Body::Fix(f) => RecordView {
                kind: "fix",
                label: t["fix"].clone(),
                host: None,
                summary: join_nonempty(&format!("{} {}", f.stage, f.target), &f.summary),
                text: join_nonempty(&format!("{} {}", f.stage, f.target), &f.summary),
                ..base
            },
            Body::Constraint(c) => RecordView {
                kind: "constraint",
                label: t["constraint"].clone(),
                summary: format!(
                    "{} ({}): {}",
                    c.id,
                    c.when,
                    if c.ok { "ok" } else { "VIOLATED" }
                ),
                text: format!(
                    "{} ({}): {} {}",
                    c.id,
                    c.when,
                    if c.ok { "ok" } else { "VIOLATED" },
                    c.value
                ),
                ..base
            },
            Body::Step(st) => RecordView {
                kind: "step",
                label: t["step"].clone(),
                summary: format!(
                    "{} {}: {}",
                    st.stage,
                    st.id,
                    first_line(&r(&st.summary), 60)
                ),
                text: format!("{} {}: {}", st.stage, st.id, r(&st.summary)),
                ..base
            },
            Body::Round(rd) => RecordView {
                kind: "round",
                label: t["round"].clone(),
                summary: format!("{} {}: {}", t["round"], rd.round, rd.outcome),
                text: format!(
                    "{} {}: {}; causes [{}]; planned [{}]; end states [{}]",
                    t["round"],
                    rd.round,
                    rd.outcome,
                    rd.causes.join(", "),
                    rd.planned.join(", "),
                    rd.end_states
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ..base
            },
            Body::Repair(rp) => RecordView {
                kind: "repair",
                label: t["repair"].clone(),
                summary: format!("{} bytes cut ({})", rp.bytes, rp.side_file),
                text: format!(
                    "{} bytes of an interrupted write cut off, sha256 {}, kept in {}",
                    rp.bytes, rp.sha256, rp.side_file
                ),
                ..base
            },
            Body::Signature(sg) => RecordView {
                kind: "signature",
                label: t["signature"].clone(),
                summary: format!("#{} {} {}", sg.head_seq, sg.fingerprint, sg.comment),
                text: format!(
                    "head #{} {} signed by {} {} ({}){}",
                    sg.head_seq,
                    sg.head_hash,
                    sg.fingerprint,
                    sg.comment,
                    sg.how,
                    match crate::journal::sign::check(sg, entries) {
                        Ok(_) => String::new(),
                        Err(why) => format!("; DOES NOT HOLD: {why}"),
                    }
                ),
                ..base
            },
            Body::Session(ss) => RecordView {
                kind: "session",
                label: t["session"].clone(),
                host: Some(r(&ss.host)),
                summary: match ss.started {
                    None => format!("{} {} ({}x{})", ss.stage, ss.host, ss.cols, ss.rows),
                    Some(st) => format!(
                        "{} #{st}: {} commands, {} notes ({})",
                        ss.stage,
                        ss.commands,
                        ss.notes,
                        ss.outcome
                            .as_ref()
                            .map(|o| o.describe())
                            .unwrap_or_default()
                    ),
                },
                ..base
            },
            Body::Replay(rp) => RecordView {
                kind: "replay",
                label: t["replay"].clone(),
                summary: format!(
                    "{} ({}): {}",
                    rp.answer,
                    rp.commands,
                    if rp.ok { "ok" } else { "FAILED" }
                ),
                text: format!(
                    "{} replayed ({} commands, sha256 {}): {}; end states: {}",
                    rp.answer,
                    rp.commands,
                    rp.commands_sha256,
                    if rp.ok { "ok" } else { "FAILED" },
                    rp.end_states
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ..base
            },
            Body::Note(n) => RecordView {
                kind: "note",
                label: t["note"].clone(),
                summary: first_line(&r(&n.text), 60),
                text: r(&n.text),
                ..base
            },
            Body::Evidence(ev) => RecordView {
                kind: "evidence",
                label: t["evidence"].clone(),
                host: Some(r(&ev.host)),
                cwd: ev.cwd.as_deref().map(r),
                address: ev.address.clone(),
                host_key: ev.host_key.clone(),
                summary: first_line(&r(&ev.command), 60),
                result: outcome_text(&ev.outcome, t),
                command: r(&ev.command),
                started: show_time(&ev.started_at),
                ended: show_time(&ev.ended_at),
                duration: show_duration(ev.duration_ms),
                // A recorded shell's command wrote to a terminal: one stream, as it was shown.
                streams: if ev.session.is_some() {
                    vec![stream(&t["terminal"], &ev.stdout)]
                } else {
                    vec![
                        stream(&t["stdout"], &ev.stdout),
                        stream(&t["stderr"], &ev.stderr),
                    ]
                },
                ..base
            },
        };
        records.push(v);
    }
    records
}

type Diag<'a> = Option<(u64, &'a serde_json::Value)>;

/// The incident as found, and as it ended. As found: where `run` went in rounds, each phase as
/// the diagnosis that first claimed a cause of it saw it (a fault hidden by another shows only
/// in a later round), merged; otherwise the last diagnosis before the first change (or the last
/// one). As it ended: the last diagnosis, when a fix or a step was applied before it.
fn before_and_after(entries: &[Entry]) -> (Option<(u64, serde_json::Value)>, Diag<'_>) {
    use serde_json::Value;
    let first_change = entries
        .iter()
        .find(|e| match &e.body {
            Body::Fix(f) => f.stage != "planned",
            Body::Step(s) => s.stage != "planned",
            _ => false,
        })
        .map(|e| e.seq);
    let diagnoses: Vec<(u64, &Value)> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Diagnosis(d) => Some((e.seq, &d.result)),
            _ => None,
        })
        .collect();
    let mut firsts: std::collections::BTreeMap<u64, (u64, &Value)> = Default::default();
    for &(seq, d) in &diagnoses {
        for c in d["causes"].as_array().into_iter().flatten() {
            if let Some(p) = c["phase"].as_u64() {
                firsts.entry(p).or_insert((seq, d));
            }
        }
    }
    let before = if firsts.is_empty() {
        diagnoses
            .iter()
            .rev()
            .find(|(s, _)| first_change.is_none_or(|f| *s < f))
            .or(diagnoses.last())
            .map(|&(s, d)| (s, d.clone()))
    } else {
        let (seq, mut m) = merge_phases(&firsts);
        // What could not be observed yet when the incident was found: the first collection's.
        if let Some((_, first)) = diagnoses.first() {
            m["not_yet_observable"] = first["not_yet_observable"].clone();
        }
        Some((seq, m))
    };
    let after = match (first_change, diagnoses.last()) {
        (Some(f), Some(&(a, d))) if a > f && !firsts.values().any(|(s, _)| *s == a) => Some((a, d)),
        _ => None,
    };
    (before, after)
}

/// One diagnosis out of the per-phase ones: each phase's causes and alternatives from its own,
/// every observation from the first that saw it failing (or the first that saw it at all).
fn merge_phases(
    firsts: &std::collections::BTreeMap<u64, (u64, &serde_json::Value)>,
) -> (u64, serde_json::Value) {
    use serde_json::{json, Value};
    let (seq0, d0) = *firsts.values().next().expect("at least one phase");
    let mut m = d0.clone();
    let list = |d: &Value, k: &str| d[k].as_array().cloned().unwrap_or_default();
    let in_phase = |v: &Value, p: u64| v["phase"].as_u64() == Some(p);
    let mut causes = Vec::new();
    let (mut ruled_out, mut not_ruled_out) = (Vec::new(), Vec::new());
    for (&p, &(_, d)) in firsts {
        causes.extend(list(d, "causes").into_iter().filter(|c| in_phase(c, p)));
    }
    let phase_of_alt = |a: &Value| a["phase"].as_u64().unwrap_or(0);
    for a in list(d0, "ruled_out")
        .iter()
        .chain(list(d0, "not_ruled_out").iter())
    {
        let p = phase_of_alt(a);
        let d = firsts.get(&p).map(|(_, d)| *d).unwrap_or(d0);
        if list(d, "ruled_out").iter().any(|x| x["id"] == a["id"]) {
            ruled_out.extend(
                list(d, "ruled_out")
                    .into_iter()
                    .filter(|x| x["id"] == a["id"]),
            );
        } else {
            not_ruled_out.extend(
                list(d, "not_ruled_out")
                    .into_iter()
                    .filter(|x| x["id"] == a["id"]),
            );
        }
    }
    let mut examined: Vec<Value> = Vec::new();
    let (mut unexplained, mut missing, mut marks, mut notes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pairs = Value::Array(vec![]);
    for &(_, d) in firsts.values() {
        for e in list(d, "examined") {
            match examined
                .iter_mut()
                .find(|x| x["probe"] == e["probe"] && x["host"] == e["host"])
            {
                // A later phase's view replaces an earlier one unless only the earlier fails.
                Some(x) if x["failing"] != true => *x = e,
                Some(_) => {}
                None => examined.push(e),
            }
        }
        for (k, out) in [
            ("unexplained", &mut unexplained),
            ("missing", &mut missing),
            ("marks", &mut marks),
            ("mark_notes", &mut notes),
        ] {
            for u in list(d, k) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        if d["ping_pairs"].as_array().is_some_and(|a| !a.is_empty()) {
            pairs = d["ping_pairs"].clone();
        }
    }
    let seqs: Vec<String> = firsts.values().map(|(s, _)| s.to_string()).collect();
    m["causes"] = json!(causes);
    m["ruled_out"] = json!(ruled_out);
    m["not_ruled_out"] = json!(not_ruled_out);
    m["examined"] = json!(examined);
    m["unexplained"] = json!(unexplained);
    m["missing"] = json!(missing);
    m["marks"] = json!(marks);
    m["mark_notes"] = json!(notes);
    m["ping_pairs"] = pairs;
    m["seq_text"] = json!(seqs.join(", #"));
    (seq0, m)
}

const TOPOLOGY: &str = "report.topology.svg";
const PINGS_BEFORE: &str = "report.pings-before.svg";
const PINGS_AFTER: &str = "report.pings-after.svg";

fn figure_names(before: Diag<'_>, after: Diag<'_>) -> serde_json::Value {
    let has_pings = |d: Diag<'_>| {
        d.is_some_and(|(_, d)| d["ping_pairs"].as_array().is_some_and(|a| !a.is_empty()))
    };
    serde_json::json!({
        "topology": TOPOLOGY,
        "pings_before": has_pings(before).then_some(PINGS_BEFORE),
        "pings_after": has_pings(after).then_some(PINGS_AFTER),
    })
}

/// The pictures of a journal: (file name, SVG).
fn figures_of(entries: &[Entry]) -> Vec<(String, String)> {
    let (before, after) = before_and_after(entries);
    let mut out = Vec::new();
    if let Some((_, d)) = &before {
        out.push((TOPOLOGY.to_string(), figures::topology(d)));
        if let Some(p) = figures::pings(d, "ping: before") {
            out.push((PINGS_BEFORE.to_string(), p));
        }
    }
    if let Some((_, d)) = after {
        if let Some(p) = figures::pings(d, "ping: after") {
            out.push((PINGS_AFTER.to_string(), p));
        }
    }
    out
}

/// Each probe on each host, as the diagnosis before the fix and the one after it saw it.
fn before_after(
    bseq: u64,
    b: &serde_json::Value,
    aseq: u64,
    a: &serde_json::Value,
    lang: Lang,
    red: &Redactor,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let l = lang.code();
    let rows = |d: &Value| d["examined"].as_array().cloned().unwrap_or_default();
    let after = rows(a);
    let out: Vec<Value> = rows(b)
        .iter()
        .map(|e| {
            let twin = after.iter().find(|x| x["probe"] == e["probe"] && x["host"] == e["host"]);
            let strip = |s: &str| {
                let host = format!("{}: ", e["host"].as_str().unwrap_or(""));
                red.redact(s.strip_prefix(&host).unwrap_or(s)).0
            };
            json!({
                "probe": e["text"][l],
                "host": e["host"],
                "before": strip(e["summary"].as_str().unwrap_or("")),
                "before_failing": e["failing"],
                "after": twin.map(|t| strip(t["summary"].as_str().unwrap_or(""))).unwrap_or_default(),
                "after_failing": twin.map(|t| t["failing"].clone()).unwrap_or(Value::Null),
            })
        })
        .collect();
    let causes = |d: &Value| d["causes"].as_array().map(|a| a.len()).unwrap_or(0);
    let unexplained = |d: &Value| d["unexplained"].as_array().map(|a| a.len()).unwrap_or(0);
    json!({ "before_seq": bseq, "after_seq": aseq, "rows": out,
        "causes_after": causes(a), "unexplained_after": unexplained(a), "causes_before": causes(b) })
}

/// The fixes, one row per change: what was planned, what happened, its security delta.
/// The steps of the task that ran (applied or failed), in order, with the task's words.
fn steps_view(entries: &[Entry], lang: Lang, red: &Redactor) -> Vec<serde_json::Value> {
    let sc = scenario_of(entries);
    entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Step(st) if st.stage != "planned" => Some((e.seq, st)),
            _ => None,
        })
        .map(|(seq, st)| {
            let title = sc
                .as_ref()
                .and_then(|sc| sc.steps.iter().find(|t| t.id == st.id))
                .and_then(|t| t.title.get(lang.code()).cloned())
                .unwrap_or_else(|| st.id.clone());
            let mut recs = vec![format!("#{seq}")];
            recs.extend(st.records.iter().map(|r| format!("#{r}")));
            serde_json::json!({
                "id": st.id, "phase": st.phase, "title": title,
                "reason": st.reason.get(lang.code()).cloned().unwrap_or_default(),
                "commands": st.commands.iter().map(|c| red.redact(c).0).collect::<Vec<_>>(),
                "stage": st.stage, "summary": red.redact(&st.summary).0, "records": recs.join(", "),
            })
        })
        .collect()
}

/// The rounds of `run`, in order.
fn rounds_view(entries: &[Entry], lang: Lang) -> Vec<serde_json::Value> {
    let t = texts(lang);
    let state = |s: &str| {
        t.get(&format!("state_{s}"))
            .cloned()
            .unwrap_or_else(|| s.to_string())
    };
    entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Round(r) => Some((e.seq, r)),
            _ => None,
        })
        .map(|(seq, r)| {
            serde_json::json!({
                "round": r.round, "collection": format!("#{}", r.collection), "record": format!("#{seq}"),
                "causes": r.causes.join(", "), "planned": r.planned.join(", "), "outcome": r.outcome,
                "end_states": r.end_states.iter().map(|(k, v)| format!("{k}: {}", state(v))).collect::<Vec<_>>().join(", "),
            })
        })
        .collect()
}

/// The task's end states on the last diagnosis.
fn end_states_view(entries: &[Entry], lang: Lang, red: &Redactor) -> Vec<serde_json::Value> {
    let t = texts(lang);
    let Some(d) = entries.iter().rev().find_map(|e| match &e.body {
        Body::Diagnosis(d) => Some(&d.result),
        _ => None,
    }) else {
        return vec![];
    };
    d["end_states"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = e["state"].as_str().unwrap_or("");
            serde_json::json!({
                "phase": e["phase"], "text": e["text"][lang.code()],
                "state": t.get(&format!("state_{s}")).cloned().unwrap_or_else(|| s.to_string()),
                "held": s == "held",
                "observed": e["observed"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).map(|v| red.redact(v).0).collect::<Vec<_>>().join("; "),
                "records": e["records"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()).map(|r| format!("#{r}")).collect::<Vec<_>>().join(", "),
            })
        })
        .collect()
}

fn fixes_view(entries: &[Entry], lang: Lang) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for e in entries {
        let Body::Fix(f) = &e.body else { continue };
        let row = match rows
            .iter_mut()
            .find(|r| r["cause"] == f.cause.as_str() && r["target"] == f.target.as_str())
        {
            Some(r) => r,
            None => {
                rows.push(json!({ "cause": f.cause, "target": f.target, "commands": f.commands, "delta": f.delta.get(lang.code()),
                    "stage": "planned", "summary": "", "records": Vec::<String>::new() }));
                rows.last_mut().unwrap()
            }
        };
        if f.stage != "planned" {
            row["stage"] = json!(f.stage);
            if matches!(f.stage.as_str(), "applied" | "already" | "failed") {
                row["summary"] = json!(f.summary);
            }
        }
        let mut recs: Vec<String> = row["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        recs.push(format!("#{}", e.seq));
        recs.extend(f.records.iter().map(|r| format!("#{r}")));
        row["records"] = json!(recs);
    }
    for r in &mut rows {
        let recs: Vec<String> = r["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        r["records"] = json!(recs.join(", "));
    }
    rows
}

/// The task's rules: each one before and after.
fn rules_view(entries: &[Entry], lang: Lang) -> Vec<serde_json::Value> {
    use serde_json::json;
    let scenario = scenario_of(entries);
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for e in entries {
        let Body::Constraint(c) = &e.body else {
            continue;
        };
        let text = scenario
            .as_ref()
            .and_then(|s| s.constraints.iter().find(|k| k.id == c.id))
            .and_then(|k| k.text.get(lang.code()).cloned())
            .unwrap_or_else(|| c.id.clone());
        let row = match rows.iter_mut().find(|r| r["id"] == c.id.as_str()) {
            Some(r) => r,
            None => {
                rows.push(json!({ "id": c.id, "text": text }));
                rows.last_mut().unwrap()
            }
        };
        row[c.when.as_str()] = json!(format!(
            "{} ({}): {}",
            if c.ok { "ok" } else { "NG" },
            format!("#{}", e.seq),
            c.value
        ));
    }
    if rows
        .iter()
        .any(|r| r.get("before").is_some() && r.get("after").is_some())
    {
        for r in &mut rows {
            let same = r["before"]
                .as_str()
                .map(|b| b.split_once(": ").map(|x| x.1))
                == r["after"].as_str().map(|a| a.split_once(": ").map(|x| x.1));
            r["same"] = json!(same);
        }
    }
    rows
}

/// The findings of a diagnosis record, per phase, in one language. Observed text is evidence:
/// it passes the redactor and is escaped by the template.
fn findings(seq: u64, d: &serde_json::Value, lang: Lang, red: &Redactor) -> serde_json::Value {
    use serde_json::{json, Value};
    let l = lang.code();
    let list = |k: &str| {
        d.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let txt = |v: &Value| v.get(l).and_then(Value::as_str).unwrap_or("").to_string();
    let refs = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|r| format!("#{r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let observed = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| red.redact(s).0)
                    .collect()
            })
            .unwrap_or_default()
    };
    let alt = |a: &Value| json!({ "title": txt(&a["title"]), "observed": observed(&a["observed"]), "records": refs(&a["records"]) });
    let mut phases: Vec<u64> = list("causes")
        .iter()
        .chain(list("ruled_out").iter())
        .chain(list("not_ruled_out").iter())
        .filter_map(|c| c["phase"].as_u64())
        .collect();
    phases.sort_unstable();
    phases.dedup();
    let phases: Vec<Value> = phases
        .iter()
        .map(|&p| {
            let of = |k: &str| list(k).into_iter().filter(|c| c["phase"].as_u64() == Some(p)).collect::<Vec<_>>();
            json!({
                "n": p,
                "causes": of("causes").iter().map(|c| json!({
                    "id": c["id"],
                    "title": txt(&c["title"]),
                    "why": txt(&c["why"]), "where": txt(&c["where"]), "what": txt(&c["what"]), "how": txt(&c["how"]),
                    "chain": c["chain"].as_array().cloned().unwrap_or_default().iter().map(|k| json!({
                        "text": txt(&k["text"]), "records": refs(&k["records"]), "observed": observed(&k["observed"]),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "ruled_out": of("ruled_out").iter().map(alt).collect::<Vec<_>>(),
                "not_ruled_out": of("not_ruled_out").iter().map(alt).collect::<Vec<_>>(),
            })
        })
        .collect();
    let item = |u: &Value, k: &str| json!({ "probe": u["probe"], "host": u["host"], "text": red.redact(u[k].as_str().unwrap_or("")).0, "records": refs(&u["records"]) });
    json!({
        "seq": seq,
        "seq_text": d["seq_text"].as_str().map(String::from).unwrap_or_else(|| seq.to_string()),
        "phases": phases,
        "unexplained": list("unexplained").iter().map(|u| item(u, "summary")).collect::<Vec<_>>(),
        "missing": list("missing").iter().map(|u| item(u, "message")).collect::<Vec<_>>(),
        "not_yet": list("not_yet_observable").iter().map(|u| json!({
            "probe": u["probe"], "host": u["host"],
            "text": red.redact(u["text"][l].as_str().or(u["message"].as_str()).unwrap_or("")).0,
            "records": refs(&u["records"]),
        })).collect::<Vec<_>>(),
        "examined": list("examined").iter().map(|e| json!({
            "probe": txt(&e["text"]), "host": e["host"], "summary": red.redact(e["summary"].as_str().unwrap_or("")).0,
            "failing": e["failing"], "records": refs(&e["records"]),
        })).collect::<Vec<_>>(),
    })
}

fn string_filter(
    f: fn(&str) -> String,
) -> impl Fn(&tera::Value, &HashMap<String, tera::Value>) -> tera::Result<tera::Value> + Sync + Send
{
    move |v, _| match v {
        tera::Value::String(s) => Ok(tera::Value::String(f(s))),
        tera::Value::Null => Ok(tera::Value::String(String::new())),
        other => Ok(tera::Value::String(f(&other.to_string()))),
    }
}

fn engine() -> tera::Tera {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_filter("md_text", string_filter(text::md_text));
    tera.register_filter("md_line", string_filter(text::md_line));
    tera.register_filter("md_cell", string_filter(text::md_cell));
    tera.register_filter("md_fence", string_filter(text::md_fence));
    tera.add_raw_templates(vec![
        ("appendix.md", APPENDIX),
        ("evidence.md", EVIDENCE),
        ("report.md", TEMPLATE),
        ("postmortem.md", POSTMORTEM),
        ("team.md", TEAM),
    ])
    .expect("the templates are valid");
    tera
}

/// Render the Markdown report of a verified journal.
pub fn markdown(entries: &[Entry], journal: &Path, lang: Lang, red: &Redactor) -> Result<String> {
    markdown_styled(entries, journal, lang, Style::Answer, red)
}

/// Render the Markdown report in the given style.
pub fn markdown_styled(
    entries: &[Entry],
    journal: &Path,
    lang: Lang,
    style: Style,
    red: &Redactor,
) -> Result<String> {
    let ctx = context(entries, journal, lang, red)?;
    render_template(template_of(style), &ctx)
}

fn template_of(style: Style) -> &'static str {
    match style {
        Style::Answer => "report.md",
        Style::Postmortem => "postmortem.md",
    }
}

fn render_template(template: &str, ctx: &tera::Context) -> Result<String> {
    let md = engine()
        .render(template, ctx)
        .context("rendering the Markdown template")?;
    // Templates leave runs of blank lines where optional parts were skipped; one is enough.
    let mut out = String::with_capacity(md.len());
    let mut blank = 0;
    let mut in_fence: Option<String> = None;
    for line in md.lines() {
        if let Some(f) = &in_fence {
            if line == f {
                in_fence = None;
            }
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if line.starts_with("```") {
            in_fence = Some(line.to_string());
        }
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

pub struct Options {
    pub langs: Vec<Lang>,
    pub formats: Vec<Format>,
    pub out: PathBuf,
    pub style: Style,
    /// The team an answer's greeting names (default: the journal's title).
    pub team: Option<String>,
}

/// What `write` produced.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
    /// PDFs that could not be made because typst is not installed.
    pub pdf_skipped: bool,
    /// What a judge would miss in an answer written from the responder's roles (in English).
    pub warnings: Vec<String>,
}

/// The team an answer's greeting names: the one given, else the journal's title, else ◯◯.
fn team_of(entries: &[Entry], team: Option<&str>, red: &Redactor) -> String {
    team.map(str::to_string)
        .or_else(|| {
            entries.iter().find_map(|e| match &e.body {
                Body::Run(m) => m.title.clone(),
                _ => None,
            })
        })
        .map(|t| red.redact(&t).0)
        .unwrap_or_else(|| "◯◯".into())
}

/// The answer model of a journal the scenario does not know, filled from the responder's
/// commands and role notes.
pub fn responder_answer(
    entries: &[Entry],
    lang: Lang,
    team: Option<&str>,
    red: &Redactor,
) -> model::Answer {
    let title = title(entries, lang, red);
    roles::fill(
        &roles::recs(entries),
        &title,
        &team_of(entries, team, red),
        red,
    )
}

/// Write a file atomically: to a temporary name beside it, then rename.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Verify the journal, then write the report files and a copy of the journal into `opts.out`.
/// The last diagnosis of the journal: the end state as the run left it.
fn last_diagnosis(entries: &[Entry]) -> Option<serde_json::Value> {
    entries.iter().rev().find_map(|e| match &e.body {
        Body::Diagnosis(d) => Some(d.result.clone()),
        _ => None,
    })
}

/// Pictures for the HTML and PDF of an answer (the Markdown has none: the score server cannot
/// show local files): after the investigation's heading's section, before the cause.
fn with_pictures(md: &str, lang: Lang, figures: &[(String, String)]) -> String {
    let cause = format!("\n# {}\n", written::cause_heading(lang));
    let t = texts(lang);
    let mut pics = String::new();
    for (name, key) in [
        (TOPOLOGY, "topology"),
        (PINGS_BEFORE, "pings_before"),
        (PINGS_AFTER, "pings_after"),
    ] {
        if figures.iter().any(|(n, _)| n == name) {
            pics.push_str(&format!(
                "![{}]({name})\n\n",
                t.get(key).cloned().unwrap_or_default()
            ));
        }
    }
    match md.find(&cause) {
        Some(i) if !pics.is_empty() => format!("{}\n{pics}{}", &md[..i], &md[i..]),
        _ => md.to_string(),
    }
}

/// The answers of a journal, per phase, as `report --style answer` writes them (the team: the
/// given name, else the journal's title). Empty without a scenario or a diagnosis.
pub fn answers_of(
    entries: &[Entry],
    lang: Lang,
    team: Option<&str>,
    red: &Redactor,
) -> Vec<answer::Answer> {
    let Some(sc) = scenario_of(entries) else {
        return Vec::new();
    };
    let (before, _) = before_and_after(entries);
    let Some((_, before)) = before else {
        return Vec::new();
    };
    let last = last_diagnosis(entries);
    let team = team_of(entries, team, red);
    let ev_name = format!("evidence.{}.md", lang.code());
    answer::answers(
        entries,
        &sc,
        &before,
        last.as_ref(),
        lang,
        &team,
        &ev_name,
        red,
    )
}

/// The evidence with only the records an answer shows (its commands and quoted lines; `#N` refs
/// when it shows none): an answer's PDF appendix, a few pages instead of the whole journal.
fn cited_evidence(ctx: &tera::Context, a: &answer::Answer, lang: Lang) -> Result<String> {
    static REF: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = REF.get_or_init(|| regex::Regex::new(r"#(\d+)\b").unwrap());
    // The records whose commands or lines it shows: what a reader of the PDF checks a quote
    // against. (The records only named, `#N`, are in the evidence files.)
    let mut cited: std::collections::BTreeSet<u64> = a.shown.iter().copied().collect();
    cited.extend(a.quotes.iter().map(|(seq, _)| *seq));
    if cited.is_empty() {
        cited = re
            .captures_iter(&a.md)
            .filter_map(|c| c[1].parse().ok())
            .collect();
    }
    let mut only = ctx.clone();
    if let Some(serde_json::Value::Array(all)) = ctx.get("records") {
        let some: Vec<&serde_json::Value> = all
            .iter()
            .filter(|r| r["seq"].as_u64().is_some_and(|s| cited.contains(&s)))
            .collect();
        // Each output cut to its first lines and the lines the answer quotes (the whole
        // record is in the evidence files): pages, not a journal.
        let quoted: Vec<&str> = a.quotes.iter().map(|(_, l)| l.as_str()).collect();
        let some: Vec<serde_json::Value> = some
            .into_iter()
            .map(|r| {
                let mut r = r.clone();
                for s in r["streams"].as_array_mut().into_iter().flatten() {
                    let text = s["text"].as_str().unwrap_or("");
                    let n = text.lines().count();
                    if n <= APPENDIX_LINES {
                        continue;
                    }
                    s["text"] = serde_json::Value::String(appendix_cut(text, &quoted));
                    let t = s["title"].as_str().unwrap_or("").to_string();
                    let more = match lang {
                        Lang::Ja => format!("{t}、全 {n} 行のうち先頭と引用した行(全体は証跡ファイル)"),
                        Lang::En => format!("{t}, its first lines and the lines quoted, of {n} (the whole in the evidence file)"),
                    };
                    s["title"] = serde_json::Value::String(more);
                }
                r
            })
            .collect();
        only.insert("records", &some);
    }
    render_template("evidence.md", &only)
}

/// The most lines of a record's output an answer's PDF appendix shows, besides the lines quoted.
const APPENDIX_LINES: usize = 30;

/// `text`'s first `APPENDIX_LINES` lines and the lines in `quoted`, a `⋮` where lines are left out.
fn appendix_cut(text: &str, quoted: &[&str]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut skipped = false;
    for (i, l) in text.lines().enumerate() {
        if i < APPENDIX_LINES || quoted.contains(&l.trim_end()) {
            if skipped {
                kept.push("⋮");
                skipped = false;
            }
            kept.push(l);
        } else {
            skipped = true;
        }
    }
    if skipped {
        kept.push("⋮");
    }
    kept.join("\n")
}

/// Write one document as `BASE.md`, `.html` and `.pdf`, as the formats ask: `md` is the
/// Markdown file; `shown` (with pictures) is rendered to HTML; `pdf` (None: no PDF) to PDF.
#[allow(clippy::too_many_arguments)]
fn emit(
    base: &Path,
    md: &str,
    shown: &str,
    pdf: Option<&str>,
    lang: Lang,
    title: &str,
    opts: &Options,
    figures: &[(String, String)],
    timestamp: i64,
    written: &mut Written,
) -> Result<()> {
    let path = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
    if opts.formats.contains(&Format::Md) {
        write_atomic(&path("md"), md.as_bytes())?;
        written.files.push(path("md"));
    }
    if opts.formats.contains(&Format::Html) {
        let html = html::render(shown, title, lang.code(), figures);
        write_atomic(&path("html"), html.as_bytes())?;
        written.files.push(path("html"));
    }
    if let Some(src) = pdf.filter(|_| opts.formats.contains(&Format::Pdf) && !written.pdf_skipped) {
        let p = path("pdf");
        match typst::compile(
            &typst::document(src, lang.code(), title, figures),
            &p,
            timestamp,
            figures,
        ) {
            Ok(()) => written.files.push(p),
            Err(typst::PdfError::NoTypst) => written.pdf_skipped = true,
            Err(typst::PdfError::Other(e)) => {
                return Err(e.context(format!("writing {}", p.display())))
            }
        }
    }
    Ok(())
}

/// `head: tail`, or `head` alone when there is no tail (no line ends in an empty field).
fn join_nonempty(head: &str, tail: &str) -> String {
    if tail.trim().is_empty() {
        head.to_string()
    } else {
        format!("{head}: {tail}")
    }
}

pub fn write(journal: &Journal, opts: &Options, red: &Redactor) -> Result<Written> {
    let entries = journal.read_all()?;
    if entries.is_empty() {
        bail!(
            "journal {}: it holds no records, so there is nothing to report",
            journal.path().display()
        );
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create the output directory {}", opts.out.display()))?;
    let probe = opts.out.join(".postmortem-write-test");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "cannot write into the output directory {}",
            opts.out.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);

    let timestamp = chrono::DateTime::parse_from_rfc3339(&entries[0].at)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let mut written = Written::default();
    let figures = figures_of(&entries);
    for (name, svg) in &figures {
        let p = opts.out.join(name);
        write_atomic(&p, svg.as_bytes())?;
        written.files.push(p);
    }
    let scenario = scenario_of(&entries).is_some();
    let answers = opts.style == Style::Answer && scenario;
    for &lang in &opts.langs {
        let code = lang.code();
        // One context per language serves the report and the evidence of the answers.
        let ctx = context(&entries, journal.path(), lang, red)?;
        let title = title(&entries, lang, red);
        // A journal no scenario knows: its answer and post-mortem come from the responder's
        // commands and role notes.
        let mut own =
            (!scenario).then(|| responder_answer(&entries, lang, opts.team.as_deref(), red));
        let md = match (&own, opts.style) {
            (Some(a), Style::Postmortem) => written::postmortem(a, lang),
            _ => render_template(template_of(opts.style), &ctx)?,
        };
        let base = opts.out.join(format!("report.{code}"));
        emit(
            &base,
            &md,
            &md,
            Some(&md),
            lang,
            &title,
            opts,
            &figures,
            timestamp,
            &mut written,
        )?;
        if let (Some(a), Style::Answer) = (own.as_mut(), opts.style) {
            let (amd, _) = written::answer(a, lang);
            let shown = format!("{}\n{}", md::with_links(&amd), written::warnings(a, lang));
            let pdf = md::with_links(&amd);
            let amd = md::for_score_server(&amd);
            emit(
                &opts.out.join(format!("answer.{code}")),
                &amd,
                &shown,
                Some(&pdf),
                lang,
                &title,
                opts,
                &[],
                timestamp,
                &mut written,
            )?;
        }
        if let Some(a) = &own {
            for w in &a.warnings {
                let w = w.text(Lang::En);
                if !written.warnings.contains(&w) {
                    written.warnings.push(w);
                }
            }
        }
        if !answers {
            continue;
        }
        // One answer per phase (answer.phaseN.LANG: the PDF has as its appendix the records
        // the answer cites, the whole evidence stays in evidence.LANG), and the evidence itself
        // (evidence.LANG.md, .html).
        let evidence = render_template("evidence.md", &ctx)?;
        let base = opts.out.join(format!("evidence.{code}"));
        emit(
            &base,
            &evidence,
            &evidence,
            None,
            lang,
            &title,
            opts,
            &figures,
            timestamp,
            &mut written,
        )?;
        for a in answers_of(&entries, lang, opts.team.as_deref(), red) {
            let base = opts.out.join(format!("answer.phase{}.{code}", a.phase));
            let atitle = format!("{title} ({} {})", texts(lang)["phase"], a.phase);
            let shown = with_pictures(&md::with_links(&a.md), lang, &figures);
            let pdf = format!("{shown}\n\n{}", cited_evidence(&ctx, &a, lang)?);
            emit(
                &base,
                &md::for_score_server(&a.md),
                &shown,
                Some(&pdf),
                lang,
                &atitle,
                opts,
                &figures,
                timestamp,
                &mut written,
            )?;
        }
    }
    let copy = opts.out.join("journal.jsonl");
    let same = std::fs::canonicalize(&copy).ok() == std::fs::canonicalize(journal.path()).ok();
    if !same {
        let data = std::fs::read(journal.path())
            .with_context(|| format!("journal {}: cannot read", journal.path().display()))?;
        write_atomic(&copy, &data)?;
        written.files.push(copy);
    }
    Ok(written)
}
