//! The answer a judge reads: one self-contained answer per phase, in the Markdown the ICTSC
//! score server renders (remark-gfm, remark-breaks, remark-math, no raw HTML). Sections are h1
//! headings (the judge's page builds its navigation from them): the trouble, the investigation
//! (each check with its command, the lines that mattered and the conclusion), the cause, the
//! solution (every command from the phase's initial state, as the operator types it, in
//! `shellsession` blocks whose prompts name user and host), why it works and its security delta,
//! the end state with the task's own checks, and the task's rules.
//!
//! Every quoted output line is a line of the journal's evidence, byte for byte (after
//! redaction), and names its record. Markdown is escaped only where the renderer would change the
//! text; each answer also carries the text a reader should see, which the tests compare with what
//! the renderer makes of it.
//!
//! What it cannot show: anything the journal does not hold. A phase whose cause was never
//! claimed, or whose fix was never applied, gets an answer that says so, not an invented one.

use super::md::{Doc, In};
use super::Lang;
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
}

/// The fixed words of an answer, per language.
struct Words {
    greeting: &'static str,
    intro: &'static str,
    trouble: &'static str,
    investigation: &'static str,
    investigation_intro: &'static str,
    concluded: &'static str,
    ruled_out: &'static str,
    same_as_above: &'static str,
    cause: &'static str,
    why: &'static str,
    where_: &'static str,
    solution: &'static str,
    solution_intro: &'static str,
    fix_of: &'static str,
    works: &'static str,
    end_state: &'static str,
    end_intro: &'static str,
    held: &'static str,
    failed: &'static str,
    not_observed: &'static str,
    pings: &'static str,
    before: &'static str,
    after: &'static str,
    rules: &'static str,
    kept: &'static str,
    broken: &'static str,
    replayed: &'static str,
    /// How it was replayed (the tool's command): in the HTML and the PDF only.
    replayed_by: &'static str,
    evidence: &'static str,
    no_cause: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::Ja => Words {
            greeting: "お世話になっております。チーム{team}です。",
            intro: "フェーズ {p} について、原因と解決方法を報告します。",
            trouble: "トラブルの内容",
            investigation: "調査の過程",
            investigation_intro: "症状から順にたどり、各段階で次を確認しました。",
            concluded: "わかったこと: ",
            ruled_out: "否定した可能性: ",
            same_as_above: "上と同じ証拠",
            cause: "原因",
            why: "なぜ",
            where_: "どこが",
            solution: "解決方法",
            solution_intro: "初期状態から、次のコマンドをこの順に実行しました(プロンプトは実行したユーザーとホスト)。",
            fix_of: "修正: ",
            works: "解決する理由とセキュリティへの影響",
            end_state: "終了状態の確認",
            end_intro: "問題文の終了状態を、問題文のコマンドで確認しました。",
            held: "成立",
            failed: "不成立",
            not_observed: "未確認",
            pings: "Pod 間の ping(問題文のパターン)",
            before: "修正前",
            after: "修正後",
            rules: "問題文の制約",
            kept: "守った",
            broken: "守れていない",
            replayed: "この回答の手順は、新しく作った初期状態の環境で書かれたとおりに実行し直し{by}、上の終了状態がすべて成立することを確認しました。初期状態から上記の手順だけで再現できます。",
            replayed_by: "(postmortem replay)",
            evidence: "引用した出力はすべて証跡ファイル {file} の記録(#番号)からそのまま引いています。証跡全体はジャーナル journal.jsonl(先頭ハッシュ {head})にあります。",
            no_cause: "このフェーズの原因は、記録された証跡からは特定できていません。",
        },
        Lang::En => Words {
            greeting: "Hello, this is team {team}.",
            intro: "This is our answer for phase {p}: its cause and how we solved it.",
            trouble: "The trouble",
            investigation: "How it was investigated",
            investigation_intro: "We followed the symptom back, checking at each step:",
            concluded: "Concluded: ",
            ruled_out: "Ruled out: ",
            same_as_above: "the same evidence as above",
            cause: "The cause",
            why: "Why",
            where_: "Where",
            solution: "The solution",
            solution_intro: "From the initial state we ran these commands, in this order (the prompt names the user and the host).",
            fix_of: "Fix: ",
            works: "Why it works, and what it changes in security",
            end_state: "The end state, checked",
            end_intro: "The task's end states, checked with the task's own commands.",
            held: "holds",
            failed: "does not hold",
            not_observed: "not observed",
            pings: "Pod-to-pod ping (the task's patterns)",
            before: "before",
            after: "after",
            rules: "The task's rules",
            kept: "kept",
            broken: "NOT kept",
            replayed: "These steps were run again exactly as written on a freshly built initial state{by}, and every end state above held: the steps above alone reproduce the fix from the initial state.",
            replayed_by: " (postmortem replay)",
            evidence: "Every quoted output line is taken verbatim from a record (#number) of the evidence file {file}; all the evidence is in the journal journal.jsonl (head hash {head}).",
            no_cause: "The evidence recorded does not establish this phase's cause.",
        },
    }
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

/// Marks what only the HTML and the PDF carry (record numbers, the journal's hash, the tool's
/// name): a judge reading the Markdown in the score server cannot open them. Private-use
/// characters, which no renderer shows and `for_score_server` takes out with what they enclose.
const ONLY_LINKED: (char, char) = ('\u{E000}', '\u{E001}');

fn linked_only(s: &str) -> String {
    format!("{}{s}{}", ONLY_LINKED.0, ONLY_LINKED.1)
}

fn refs(seqs: &[u64]) -> String {
    linked_only(
        &seqs
            .iter()
            .map(|s| format!("#{s}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The answer as the score server shows it: no record numbers, hash or tool name, and no
/// parentheses or paragraph left empty by their going.
pub fn for_score_server(md: &str) -> String {
    static RE: std::sync::OnceLock<[regex::Regex; 3]> = std::sync::OnceLock::new();
    let [wrapped, listed, bare] = RE.get_or_init(|| {
        [
            regex::Regex::new(" ?\\(\u{E000}[^\u{E001}]*\u{E001}\\)").unwrap(),
            regex::Regex::new(", \u{E000}[^\u{E001}]*\u{E001}").unwrap(),
            regex::Regex::new("\u{E000}[^\u{E001}]*\u{E001}").unwrap(),
        ]
    });
    let s = wrapped.replace_all(md, "");
    let s = listed.replace_all(&s, "");
    let s = bare.replace_all(&s, "");
    let mut out = String::with_capacity(s.len());
    for l in s.split_inclusive('\n') {
        // A paragraph that held only what went, and a line's trailing blank.
        if l.trim().is_empty() && out.ends_with("\n\n") {
            continue;
        }
        let t = l.trim_end_matches(['\n', ' ']);
        out.push_str(t);
        if l.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The answer as the HTML and the PDF show it: everything, the marks taken out.
pub fn with_links(md: &str) -> String {
    md.replace([ONLY_LINKED.0, ONLY_LINKED.1], "")
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

/// The command of a probe's evidence as a person would type it (no `sudo -n -- sh -c` wrapper;
/// `sudo sh -c '...'` when it is several commands, all of which ran as root).
fn readable(ev: &Evidence, red: &Redactor) -> String {
    let c = red.redact(&ev.command).0;
    match c.strip_prefix("sudo -n -- sh -c ") {
        Some(inner) if inner.contains([';', '&', '|', '\n']) => format!("sudo sh -c {inner}"),
        Some(inner) => {
            let unq = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .map(|s| s.replace("'\\''", "'"))
                .unwrap_or_else(|| inner.to_string());
            format!("sudo {unq}")
        }
        None => c,
    }
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

/// The answers of every phase the scenario knows, from the journal alone.
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
    let w = words(lang);
    let ev: BTreeMap<u64, &Evidence> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Evidence(v) => Some((e.seq, v)),
            _ => None,
        })
        .collect();
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
        let mut d = Doc::default();
        let mut quotes = Vec::new();
        let mut commands = Vec::new();
        d.para(&[In::T(&w.greeting.replace("{team}", team))]);
        d.para(&[In::T(&w.intro.replace("{p}", &p.to_string()))]);

        // The trouble.
        d.h1(w.trouble);
        if let Some(ph) = sc.phases.iter().find(|x| x.phase == p) {
            d.para(&[In::T(&tx(&ph.trouble, lang))]);
        }

        let causes = of_phase(before, "causes", p);

        // How it was investigated: the chain from the symptom back to the cause.
        d.h1(w.investigation);
        if causes.is_empty() {
            d.para(&[In::T(w.no_cause)]);
        } else {
            d.para(&[In::T(w.investigation_intro)]);
        }
        // The topology, as text (the picture is in the HTML and PDF): where this phase broke.
        if !causes.is_empty() {
            // The links this phase's claimed causes break, and what each says there.
            let marks: Vec<(&str, String)> = sc
                .causes
                .iter()
                .filter(|c| c.phase == p && causes.iter().any(|f| f["id"] == c.id.as_str()))
                .filter_map(|c| {
                    let text = c.mark_text.as_ref().unwrap_or(&c.title);
                    Some((c.marks.as_deref()?, text.get(lang.code()).cloned()?))
                })
                .collect();
            d.block("", &topology_text(before, &marks, lang));
        }
        let mut n = 0;
        for c in &causes {
            let chain: Vec<&Value> = c["chain"].as_array().into_iter().flatten().collect();
            for link in chain.iter().rev() {
                n += 1;
                let pid = link["probe"].as_str().unwrap_or("");
                let recs: Vec<u64> = link["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect();
                let title = probe(pid).map(|p| tx(&p.text, lang)).unwrap_or_default();
                d.para(&[In::B(&format!("{n}. {title}"))]);
                let q = quote_records(
                    &recs,
                    &ev,
                    probe(pid).and_then(|p| p.quote.as_deref()),
                    2,
                    red,
                );
                if let Some((&seq, e)) = q
                    .first()
                    .map(|(s, _)| *s)
                    .or(recs.first().copied())
                    .and_then(|s| ev.get_key_value(&s))
                {
                    let cmd = readable(e, red);
                    let mut from: Vec<u64> = q.iter().map(|(s, _)| *s).collect();
                    from.dedup();
                    if from.is_empty() {
                        from.push(seq);
                    }
                    let where_ = format!("({}, {})", e.host, refs(&from));
                    // A long probe script is left to its record; a short one is shown.
                    if cmd.chars().count() <= 140 && from.len() == 1 {
                        d.para(&[In::C(&cmd), In::T(" "), In::T(&where_)]);
                    } else {
                        d.para(&[In::T(&where_)]);
                    }
                    if !q.is_empty() {
                        d.block("", &q.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>());
                        quotes.extend(q);
                    }
                }
                let concl = format!("{}{}", w.concluded, vtx(&link["text"], lang));
                let r = format!(" ({})", refs(&recs));
                d.para(&[In::T(&concl), In::T(&r)]);
            }
        }
        let ruled = of_phase(before, "ruled_out", p);
        if !ruled.is_empty() {
            d.para(&[In::T(w.ruled_out)]);
            let mut shown: Vec<String> = Vec::new();
            for a in ruled {
                let recs: Vec<u64> = a["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect();
                let title = vtx(&a["title"], lang);
                let seen = a["observed"][0].as_str().unwrap_or("").to_string();
                let r = format!(" ({})", refs(&recs));
                let seen = red.redact(&seen).0;
                // One observation rules out several alternatives: quoted once.
                let evidence = if shown.contains(&seen) {
                    In::T(w.same_as_above)
                } else {
                    In::C(&seen)
                };
                d.item(&[In::T(&title), In::T(": "), evidence, In::T(&r)]);
                shown.push(seen.clone());
            }
            d.end_list();
        }

        // The cause.
        d.h1(w.cause);
        for c in &causes {
            d.para(&[In::B(&vtx(&c["title"], lang))]);
            d.para(&[In::B(w.why), In::T(": "), In::T(&vtx(&c["why"], lang))]);
            d.para(&[In::B(w.where_), In::T(": "), In::T(&vtx(&c["where"], lang))]);
        }
        if causes.is_empty() {
            d.para(&[In::T(w.no_cause)]);
        }

        // The solution: the phase's steps and fixes as they were done, in journal order.
        d.h1(w.solution);
        d.para(&[In::T(w.solution_intro)]);
        let cause_ids: Vec<&str> = sc
            .causes
            .iter()
            .filter(|c| c.phase == p)
            .map(|c| c.id.as_str())
            .collect();
        let mut k = 0;
        let mut done_fix: Vec<String> = Vec::new();
        let mut deltas: Vec<String> = Vec::new();
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
                    let user = user_of(sc, &host);
                    k += 1;
                    let title = step
                        .map(|s| tx(&s.title, lang))
                        .unwrap_or_else(|| st.id.clone());
                    d.para(&[In::B(&format!("{k}. {title}"))]);
                    if let Some(s) = step {
                        d.para(&[In::T(&tx(&s.reason, lang))]);
                    }
                    let mut lines = Vec::new();
                    for c in st.commands.iter().flat_map(|c| c.lines()) {
                        let c = c.trim();
                        if c.is_empty() {
                            continue;
                        }
                        commands.push((user.clone(), host.clone(), c.to_string()));
                        lines.push(format!("{user}@{host}:~$ {c}"));
                    }
                    d.block("shellsession", &lines);
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
                    if planned.is_empty() {
                        continue;
                    }
                    k += 1;
                    let title = format!(
                        "{k}. {}{}",
                        w.fix_of,
                        cause.map(|c| tx(&c.title, lang)).unwrap_or_default()
                    );
                    d.para(&[In::B(&title)]);
                    let mut lines = Vec::new();
                    for g in &planned {
                        // Where the fix ran (journals before it was recorded: the hypervisor).
                        let host = if g.host.is_empty() {
                            sc.hosts.hypervisor.clone()
                        } else {
                            g.host.clone()
                        };
                        let user = user_of(sc, &host);
                        for c in &g.commands {
                            commands.push((user.clone(), host.clone(), c.clone()));
                            lines.push(format!("{user}@{host}:~$ {c}"));
                        }
                        let spec = cause.and_then(|c| {
                            c.fixes.iter().find(|s| match s {
                                FixSpec::Sysctl { key, .. } => g.target.ends_with(key.as_str()),
                                FixSpec::Nft { chain, .. } => g.target.ends_with(chain.as_str()),
                                FixSpec::CalicoPatch { field, .. } => {
                                    g.target.ends_with(field.as_str())
                                }
                                FixSpec::SgRule { group, .. } => {
                                    g.target.ends_with(&format!(" {group}"))
                                }
                                FixSpec::PortAllowedAddress { .. } => {
                                    g.target.starts_with("ports ")
                                }
                                FixSpec::SubnetDns { .. } => g.target.starts_with("subnet "),
                                FixSpec::DhcpRenew { .. } => g.target.contains(" DHCP lease "),
                            })
                        });
                        // A created file is shown with cat, as judges expect: what the plan
                        // recorded, else (journals before it did) a sysctl's one line.
                        let shown = g.file.clone().or_else(|| match spec {
                            Some(FixSpec::Sysctl {
                                key, value, file, ..
                            }) => Some(crate::journal::FileShown {
                                path: file.clone(),
                                content: format!("{key} = {value}\n"),
                            }),
                            _ => None,
                        });
                        if let Some(f) = shown {
                            let cat = format!("cat {}", f.path);
                            commands.push((user.clone(), host.clone(), cat.clone()));
                            lines.push(format!("{user}@{host}:~$ {cat}"));
                            lines.extend(f.content.lines().map(String::from));
                        }
                        if let Some(t) = g.delta.get(lang.code()) {
                            deltas.push(t.clone());
                        }
                    }
                    d.block("shellsession", &lines);
                }
                _ => {}
            }
        }

        // Why it works, and the security delta.
        d.h1(w.works);
        for c in &causes {
            d.para(&[In::T(&vtx(&c["what"], lang))]);
        }
        for t in &deltas {
            d.item(&[In::T(t)]);
        }
        d.end_list();

        // The end state, with the task's own checks.
        d.h1(w.end_state);
        d.para(&[In::T(w.end_intro)]);
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
        let word = |s: &str| match s {
            "held" => w.held,
            "failed" => w.failed,
            _ => w.not_observed,
        };
        for es in &after {
            let recs: Vec<u64> = es["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            let state = word(es["state"].as_str().unwrap_or(""));
            let r = format!(" ({})", refs(&recs));
            d.item(&[
                In::T(&vtx(&es["text"], lang)),
                In::T(": "),
                In::B(state),
                In::T(&r),
            ]);
            let pid = sc
                .end_states
                .iter()
                .find(|x| Some(x.id.as_str()) == es["id"].as_str())
                .and_then(|x| x.when.first())
                .and_then(|c| c.probe.clone())
                .unwrap_or_default();
            let q = quote_records(
                &recs,
                &ev,
                probe(&pid).and_then(|p| p.quote.as_deref()),
                3,
                red,
            );
            if !q.is_empty() {
                d.end_list();
                d.block("", &q.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>());
                quotes.extend(q);
            }
        }
        d.end_list();
        // The ping patterns before and after, as a table.
        if after
            .iter()
            .any(|e| e["id"].as_str().is_some_and(|i| i.starts_with("pattern")))
        {
            d.para(&[In::B(w.pings)]);
            let mut rows = Vec::new();
            for es in &after {
                let id = es["id"].as_str().unwrap_or("");
                let b = first.iter().find(|x| x["id"] == id);
                let cell = |v: Option<&Value>| match v {
                    Some(v) => format!(
                        "{} ({})",
                        word(v["state"].as_str().unwrap_or("")),
                        refs(
                            &v["records"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_u64)
                                .collect::<Vec<_>>()
                        )
                    ),
                    None => w.not_observed.to_string(),
                };
                rows.push(vec![vtx(&es["text"], lang), cell(b), cell(Some(es))]);
            }
            d.table(&["", w.before, w.after], &rows);
        }

        // The task's rules.
        d.h1(w.rules);
        let mut by_id: BTreeMap<String, Vec<(u64, &crate::journal::ConstraintRecord)>> =
            BTreeMap::new();
        for e in entries {
            if let Body::Constraint(c) = &e.body {
                by_id.entry(c.id.clone()).or_default().push((e.seq, c));
            }
        }
        for k in &sc.constraints {
            let recs = by_id.get(&k.id).cloned().unwrap_or_default();
            let ok = !recs.is_empty() && recs.iter().all(|(_, c)| c.ok);
            let seqs: Vec<u64> = recs.iter().map(|(s, _)| *s).collect();
            let last_value = recs
                .last()
                .map(|(_, c)| red.redact(&c.value).0)
                .unwrap_or_default();
            let verdict = if ok { w.kept } else { w.broken };
            let r = format!(" ({}) ", refs(&seqs));
            d.item(&[
                In::T(&tx(&k.text, lang)),
                In::T(": "),
                In::B(verdict),
                In::T(&r),
                In::C(&last_value),
            ]);
        }
        d.end_list();

        // Replayed, and where the evidence is.
        let replayed = entries.iter().any(|e| {
            matches!(&e.body, Body::Replay(r) if r.phase == p && r.ok && r.commands_sha256 == commands_hash(&commands))
        });
        if replayed {
            let by = linked_only(w.replayed_by);
            d.para(&[In::T(&w.replayed.replace("{by}", &by))]);
        }
        let ev_line = w.evidence.replace("{file}", evidence_file);
        let (a, b) = ev_line.split_once("{head}").unwrap_or((&ev_line, ""));
        let (open, close) = (ONLY_LINKED.0.to_string(), ONLY_LINKED.1.to_string());
        d.para(&[
            In::T(&open),
            In::T(a),
            In::C(&head),
            In::T(b),
            In::T(&close),
        ]);

        out.push(Answer {
            phase: p,
            md: d.md,
            text: for_score_server(&d.text),
            commands,
            quotes,
        });
    }
    out
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

/// The heading of an answer's cause section (the HTML and PDF put the pictures before it).
pub fn cause_heading(lang: Lang) -> &'static str {
    words(lang).cause
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
    let heads = [words(Lang::Ja).solution, words(Lang::En).solution];
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
