//! The answer model, whoever filled it, written as the Markdown a judge reads (the score
//! server's remark), and as a post-mortem after the Google SRE template. HTML and PDF are made from this Markdown (`html`,
//! `typst`); the warnings go to the writer (stderr, and the HTML's last section), never to the
//! Markdown a judge reads.
//!
//! What it cannot prove: that the answer is short enough for every reader; it keeps an answer
//! within `limit` characters by leaving out the checks that showed nothing, and says how many.

use super::md::{self, Doc, In};
use super::model::*;
use super::Lang;

struct Words {
    greeting: &'static str,
    intro: &'static str,
    intro_phase: &'static str,
    trouble: &'static str,
    investigation: &'static str,
    investigation_intro: &'static str,
    chain_intro: &'static str,
    found: &'static str,
    output_on: &'static str,
    status: &'static str,
    ruled_out: &'static str,
    ruled_out_lead: &'static str,
    same_as_above: &'static str,
    cause: &'static str,
    no_cause: &'static str,
    solution: &'static str,
    solution_intro: &'static str,
    not_shown: &'static str,
    works: &'static str,
    works_security: &'static str,
    end_state: &'static str,
    end_intro: &'static str,
    end_intro_task: &'static str,
    before: &'static str,
    after: &'static str,
    before_at: &'static str,
    output_at: &'static str,
    held: &'static str,
    failed: &'static str,
    not_observed: &'static str,
    patterns: &'static str,
    rules: &'static str,
    kept: &'static str,
    broken: &'static str,
    replayed: &'static str,
    replayed_by: &'static str,
    evidence: &'static str,
    left_out: &'static str,
    warnings: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::Ja => Words {
            greeting: "お世話になっております。チーム{team}です。",
            intro: "「{title}」について、原因と解決方法を報告します。",
            intro_phase: "フェーズ {p} の原因と解決方法を報告します。",
            trouble: "トラブルの内容",
            investigation: "調査の過程",
            investigation_intro: "次の順に確認しました。",
            chain_intro: "症状から順にたどって確認しました。",
            found: "わかったこと: ",
            output_on: "{host} での出力:",
            status: "終了ステータス: ",
            ruled_out: "否定した可能性: ",
            ruled_out_lead: "他の原因は次の結果から否定しました。",
            same_as_above: "上と同じ証拠",
            cause: "原因",
            no_cause: "このフェーズの原因は、記録された証跡からは特定できていません。",
            solution: "解決方法",
            solution_intro: "初期状態から次の順に実行しました。",
            not_shown: "書き込んだファイルの内容は示していません: ",
            works: "解決する理由",
            works_security: "解決する理由とセキュリティへの影響",
            end_state: "終了状態の確認",
            end_intro: "調査と同じ確認を、変更の後にもう一度実行しました。",
            end_intro_task: "問題文のコマンドで確認しました。",
            before: "変更前",
            after: "変更後",
            before_at: "(変更前は調査の過程の {n}.)",
            output_at: "(手順 {n} の出力)",
            held: "成立",
            failed: "不成立",
            not_observed: "未確認",
            patterns: "Pod 間の ping(問題文のパターン)",
            rules: "問題文の制約",
            kept: "守った",
            broken: "守れていない",
            replayed: "新しい環境で実行し直し{by}、初期状態から上記の手順だけで再現できることを確認しました。",
            replayed_by: "(postmortem replay)",
            evidence: "引用した出力はすべて証跡ファイル {file} の記録(#番号)からそのまま引いています。証跡全体はジャーナル journal.jsonl(先頭ハッシュ {head})にあります。",
            left_out: "何も示さなかった確認 {n} 件は省きました。",
            warnings: "回答に足りないもの(この節は Markdown の回答には入りません)",
        },
        Lang::En => Words {
            greeting: "Hello, this is team {team}.",
            intro: "This is our answer to \"{title}\": its cause and how we solved it.",
            intro_phase: "This is our answer for phase {p}: its cause and how we solved it.",
            trouble: "The trouble",
            investigation: "How it was investigated",
            investigation_intro: "We checked, in this order:",
            chain_intro: "We followed the symptom back:",
            found: "Found: ",
            output_on: "Output on {host}:",
            status: "Exit status: ",
            ruled_out: "Ruled out: ",
            ruled_out_lead: "Other causes were ruled out: ",
            same_as_above: "the same evidence as above",
            cause: "The cause",
            no_cause: "The evidence recorded does not establish this phase's cause.",
            solution: "The solution",
            solution_intro: "From the initial state, in this order:",
            not_shown: "Files written whose content is not shown: ",
            works: "Why it works",
            works_security: "Why it works, and what it changes in security",
            end_state: "The end state, checked",
            end_intro: "The investigation's checks, run again after the changes.",
            end_intro_task: "Checked with the task's own commands.",
            before: "before",
            after: "after",
            before_at: " (before: step {n}. of the investigation)",
            output_at: " (the output of step {n} of the solution)",
            held: "holds",
            failed: "does not hold",
            not_observed: "not observed",
            patterns: "Pod-to-pod ping (the task's patterns)",
            rules: "The task's rules",
            kept: "kept",
            broken: "NOT kept",
            replayed: "Run again as written on a fresh initial state{by}: the steps above alone reproduce the fix.",
            replayed_by: " (postmortem replay)",
            evidence: "Every quoted output line is taken verbatim from a record (#number) of the evidence file {file}; all the evidence is in the journal journal.jsonl (head hash {head}).",
            left_out: "{n} checks that showed nothing are left out.",
            warnings: "What the answer lacks (this section is not in the Markdown answer)",
        },
    }
}

/// The headings of an answer's solution, in both languages (for reading an answer back).
pub fn solution_headings() -> [&'static str; 2] {
    [words(Lang::Ja).solution, words(Lang::En).solution]
}

/// The heading of an answer's cause section (the HTML and PDF put the pictures before it).
pub fn cause_heading(lang: Lang) -> &'static str {
    words(lang).cause
}

/// The longest command line shown after a probe's prompt; a longer (or multi-line) probe
/// script is left to its record, and only its host and lines are shown.
const PROBE_COMMAND_MAX: usize = 160;

/// Commands and their output as a person saw them: one `shellsession` block, each command after
/// its prompt. A probe whose script is long is shown as its output on its host, in a plain block.
fn session(d: &mut Doc, items: &[&Shown], w: &Words) {
    // The block being built: a session, or a probe's output on a host (whose next probe on the
    // same host adds to it).
    let mut lines = Vec::new();
    let mut output_on: Option<&str> = None;
    let flush = |d: &mut Doc, lines: &mut Vec<String>, on: Option<&str>| {
        if let Some(host) = on {
            d.para(&[In::T(&w.output_on.replace("{host}", host))]);
            d.block("", lines);
        } else if !lines.is_empty() {
            d.block("shellsession", lines);
        }
        lines.clear();
    };
    for s in items {
        let hidden =
            s.probe && (s.command.contains('\n') || s.command.chars().count() > PROBE_COMMAND_MAX);
        let on = hidden.then_some(s.host.as_str());
        if on != output_on || (on.is_none() && output_on.is_some()) {
            flush(d, &mut lines, output_on);
            output_on = on;
        }
        if !hidden {
            lines.push(format!("{}{}", s.prompt(), s.command));
        }
        lines.extend(s.lines.iter().cloned());
    }
    flush(d, &mut lines, output_on);
}

fn notes(d: &mut Doc, said: &[Said]) {
    for s in said {
        match &s.lead {
            Some(l) if s.text.is_empty() => d.para(&[In::B(l)]),
            Some(l) => d.para(&[In::B(l), In::T(": "), In::T(&s.text)]),
            None => d.para(&[In::T(&s.text)]),
        };
    }
}

/// ` (#1, #2)` for the HTML and the PDF; nothing in the score server's Markdown.
fn refs(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", md::refs_of(ids))
    }
}

/// The end state whose one record is this command of the solution, run where and as it shows.
fn output_of<'a>(a: &'a Answer, c: &Shown) -> Option<&'a EndState> {
    a.states.iter().find(|st| {
        st.shown.len() == 1
            && st.before.is_empty()
            && st.shown[0].host == c.host
            && st.shown[0].command == c.command
            && !st.shown[0].lines.is_empty()
    })
}

/// The answer in Markdown (marked: `md::for_score_server` for the `.md` file, `md::with_links`
/// for the HTML and PDF), and the text a reader should see.
fn render(a: &Answer, lang: Lang) -> Doc {
    let w = words(lang);
    let mut d = Doc::default();
    d.para(&[In::T(&w.greeting.replace("{team}", &a.team))]);
    match a.phase {
        Some(p) => d.para(&[In::T(&w.intro_phase.replace("{p}", &p.to_string()))]),
        None => d.para(&[In::T(&w.intro.replace("{title}", &a.title))]),
    };
    if !a.trouble.is_empty() {
        d.h1(w.trouble);
        notes(&mut d, &a.trouble);
    }
    let phase_without_cause = a.phase.is_some() && a.causes.is_empty();
    if !a.checks.is_empty() || phase_without_cause {
        d.h1(w.investigation);
        if phase_without_cause {
            d.para(&[In::T(w.no_cause)]);
        } else if a.phase.is_some() {
            d.para(&[In::T(&md::linked_only(w.chain_intro))]);
        } else {
            d.para(&[In::T(w.investigation_intro)]);
        }
        // The topology as text: the HTML and PDF draw it; the answer box has no room for it.
        if !a.context.is_empty() {
            d.para(&[In::T(&md::ONLY_LINKED.0.to_string())]);
            d.block("", &a.context);
            d.para(&[In::T(&md::ONLY_LINKED.1.to_string())]);
        }
        for (i, c) in a.checks.iter().enumerate() {
            let n = match &c.title {
                Some(t) => format!("{}. {t}", i + 1),
                None => format!("{}.", i + 1),
            };
            d.para(&[In::B(&n)]);
            session(&mut d, &c.items(), &w);
            if let Some(s) = &c.shown.status {
                d.para(&[In::T(w.status), In::C(s)]);
            }
            for (k, f) in c.findings.iter().enumerate() {
                let r = if k + 1 == c.findings.len() {
                    refs(&c.refs)
                } else {
                    String::new()
                };
                // A scenario's answer is short: its conclusions only arrowed.
                let found = if a.phase.is_some() { "→ " } else { w.found };
                d.para(&[In::T(found), In::T(&f.text), In::T(&r)]);
            }
        }
        if a.left_out > 0 {
            d.para(&[In::T(&w.left_out.replace("{n}", &a.left_out.to_string()))]);
        }
        if !a.ruled_out.is_empty() && a.ruled_out.iter().all(|r| r.because.is_some()) {
            // Sentences, one paragraph: what each observation showed, with its command.
            let mut parts = vec![In::T(w.ruled_out_lead)];
            let bodies: Vec<(String, String, Option<&str>, String)> = a
                .ruled_out
                .iter()
                .map(|r| {
                    let b = r.because.as_deref().unwrap_or("");
                    let stop = ['。', '.'].into_iter().find(|c| b.ends_with(*c));
                    let body = stop.map_or(b, |c| b.trim_end_matches(c)).to_string();
                    let end = stop.map(String::from).unwrap_or_default();
                    (body, end, r.command.as_deref(), refs(&r.refs))
                })
                .collect();
            let in_checks: Vec<&str> = a
                .checks
                .iter()
                .flat_map(|c| std::iter::once(&c.shown).chain(&c.also))
                .map(|s| s.command.as_str())
                .collect();
            for (k, (body, end, cmd, rf)) in bodies.iter().enumerate() {
                let cmd = cmd.filter(|c| !in_checks.contains(c));
                if k > 0 && lang == Lang::En {
                    parts.push(In::T(" "));
                }
                parts.push(In::T(body));
                if let Some(c) = cmd {
                    parts.push(In::T(if end == "。" { "(" } else { " (" }));
                    parts.push(In::C(c));
                    parts.push(In::T(")"));
                }
                parts.push(In::T(end));
                parts.push(In::T(rf));
            }
            d.para(&parts);
        } else if !a.ruled_out.is_empty() {
            d.para(&[In::T(w.ruled_out)]);
            let mut shown: Vec<&str> = Vec::new();
            for r in &a.ruled_out {
                let rf = refs(&r.refs);
                // One observation rules out several alternatives: quoted once.
                let evidence = if shown.contains(&r.observed.as_str()) {
                    In::T(w.same_as_above)
                } else {
                    In::C(&r.observed)
                };
                d.item(&[In::T(&r.title), In::T(": "), evidence, In::T(&rf)]);
                shown.push(&r.observed);
            }
            d.end_list();
        }
    }
    if !a.causes.is_empty() || phase_without_cause {
        d.h1(w.cause);
        notes(&mut d, &a.causes);
        if phase_without_cause {
            d.para(&[In::T(w.no_cause)]);
        }
    }
    if !a.changes.is_empty() {
        d.h1(w.solution);
        d.para(&[In::T(w.solution_intro)]);
        let steps = a.steps();
        let numbered = steps.iter().any(|(c, _)| c.title.is_some());
        for (k, (first, items)) in steps.iter().enumerate() {
            if numbered {
                let t = first.title.as_deref().unwrap_or("");
                d.para(&[In::B(&format!("{}. {t}", k + 1))]);
            }
            // Why a step is done (the task's instruction): the HTML and PDF say it; its title
            // is enough in the answer box.
            if let Some(r) = &first.reason {
                d.para(&[In::T(&md::linked_only(r))]);
            }
            let step_of = |c: &&Change| items.iter().any(|s| std::ptr::eq(*s, &c.shown));
            for v in a
                .changes
                .iter()
                .filter(step_of)
                .filter_map(|c| c.via.as_deref())
            {
                d.para(&[In::T(v)]);
            }
            // An end state shown by a command of the solution (the deployment's RECAP): its
            // lines under that command, and the end state points here.
            let with_out: Vec<Shown> = items
                .iter()
                .map(|s| match output_of(a, s) {
                    Some(st) if s.lines.is_empty() => Shown {
                        lines: st.shown[0].lines.clone(),
                        seq: st.shown[0].seq,
                        ..(*s).clone()
                    },
                    _ => (*s).clone(),
                })
                .collect();
            session(&mut d, &with_out.iter().collect::<Vec<_>>(), &w);
        }
        let unshown: Vec<&str> = a
            .changes
            .iter()
            .flat_map(|c| c.unshown.iter().map(String::as_str))
            .collect();
        if !unshown.is_empty() {
            d.para(&[In::T(w.not_shown), In::C(&unshown.join(", "))]);
        }
    }
    let fix_notes: Vec<Said> = a
        .changes
        .iter()
        .flat_map(|c| c.notes.iter().cloned())
        // A change's security delta says what it set: the plain "what" only without one.
        .chain(a.works.iter().filter(|_| a.deltas.is_empty()).cloned())
        .collect();
    if !fix_notes.is_empty() || !a.deltas.is_empty() {
        d.h1(if a.deltas.is_empty() {
            w.works
        } else {
            w.works_security
        });
        notes(&mut d, &fix_notes);
        for t in &a.deltas {
            d.item(&[In::T(t)]);
        }
        d.end_list();
    }
    let word = |s: State| match s {
        State::Held => w.held,
        State::Failed => w.failed,
        State::NotObserved => w.not_observed,
    };
    if !a.verifications.is_empty() || !a.verified.is_empty() || !a.states.is_empty() {
        d.h1(w.end_state);
        if !a.states.is_empty() {
            d.para(&[In::T(&md::linked_only(w.end_intro_task))]);
        } else if !a.verifications.is_empty() {
            d.para(&[In::T(w.end_intro)]);
        }
        let steps = a.steps();
        for s in &a.states {
            let r = refs(&s.refs);
            let at = steps.iter().position(|(_, items)| {
                items
                    .iter()
                    .any(|c| output_of(a, c).is_some_and(|x| std::ptr::eq(x, s)))
            });
            if let (Some(k), true) = (at, s.before.is_empty()) {
                let o = w.output_at.replace("{n}", &(k + 1).to_string());
                d.item(&[
                    In::T(&s.text),
                    In::T(": "),
                    In::B(word(s.state)),
                    In::T(&o),
                    In::T(&r),
                ]);
                continue;
            }
            d.item(&[In::T(&s.text), In::T(": "), In::B(word(s.state)), In::T(&r)]);
            if !s.before.is_empty() {
                d.end_list();
                d.para(&[In::B(w.before)]);
                session(&mut d, &s.before.iter().collect::<Vec<_>>(), &w);
                d.para(&[In::B(w.after)]);
            }
            if !s.shown.is_empty() {
                d.end_list();
                session(&mut d, &s.shown.iter().collect::<Vec<_>>(), &w);
            }
        }
        d.end_list();
        // The patterns' table, unless each state already shows its before and after.
        // (The investigation's checks may show the befores: then the states' after suffice.)
        let cited: Vec<&String> = a.checks.iter().flat_map(|c| &c.refs).collect();
        let before_shown = a.patterns.iter().all(|p| {
            p.before
                .as_ref()
                .is_some_and(|(_, ids)| !ids.is_empty() && ids.iter().all(|i| cited.contains(&i)))
        });
        if !a.patterns.is_empty() && !before_shown && a.states.iter().all(|s| s.before.is_empty()) {
            d.para(&[In::B(w.patterns)]);
            let cell = |v: &Option<(State, Vec<String>)>| match v {
                Some((s, ids)) => format!("{}{}", word(*s), refs(ids)),
                None => w.not_observed.to_string(),
            };
            let rows: Vec<Vec<String>> = a
                .patterns
                .iter()
                .map(|p| {
                    vec![
                        p.text.clone(),
                        cell(&p.before),
                        cell(&Some(p.after.clone())),
                    ]
                })
                .collect();
            d.table(&["", w.before, w.after], &rows);
        }
        for v in &a.verifications {
            // The before is shown in the investigation already: named, not repeated.
            match a
                .checks
                .iter()
                .position(|c| c.shown.seq == v.before.seq && c.shown.author == v.before.author)
            {
                Some(i) => {
                    d.para(&[
                        In::B(w.after),
                        In::T(&w.before_at.replace("{n}", &(i + 1).to_string())),
                    ]);
                }
                None => {
                    d.para(&[In::B(w.before)]);
                    session(&mut d, &[&v.before], &w);
                    d.para(&[In::B(w.after)]);
                }
            }
            session(&mut d, &[&v.after], &w);
        }
        notes(&mut d, &a.verified);
    }
    if !a.rules.is_empty() {
        // The value that shows a rule kept (a digest, a placement) is for the HTML and PDF.
        let only = (md::ONLY_LINKED.0.to_string(), md::ONLY_LINKED.1.to_string());
        d.h1(w.rules);
        for k in &a.rules {
            let r = format!("{} ", refs(&k.refs));
            d.item(&[
                In::T(&k.text),
                In::T(": "),
                In::B(if k.kept { w.kept } else { w.broken }),
                In::T(&r),
                In::T(&only.0),
                In::C(&k.value),
                In::T(&only.1),
            ]);
        }
        d.end_list();
    }
    if a.replayed {
        let by = md::linked_only(w.replayed_by);
        d.para(&[In::T(&w.replayed.replace("{by}", &by))]);
    }
    if let Some((file, head)) = &a.evidence {
        let line = w.evidence.replace("{file}", file);
        let (x, y) = line.split_once("{head}").unwrap_or((&line, ""));
        let (open, close) = (md::ONLY_LINKED.0.to_string(), md::ONLY_LINKED.1.to_string());
        d.para(&[In::T(&open), In::T(x), In::C(head), In::T(y), In::T(&close)]);
    }
    d
}

/// The most characters an answer's Markdown should have, per language.
pub fn limit(lang: Lang) -> usize {
    match lang {
        Lang::Ja => 3000,
        Lang::En => 4000,
    }
}

/// The answer's Markdown and the text a reader should see, within `limit(lang)` characters
/// where leaving out the checks that showed nothing can make it so.
/// The Markdown is marked (`md::for_score_server` makes the `.md` file, `md::with_links` the
/// HTML and PDF); the length counted is the score server's, and so is the text.
pub fn answer(a: &mut Answer, lang: Lang) -> (String, String) {
    let max = limit(lang);
    super::roles::shorten(a, |a| {
        md::for_score_server(&render(a, lang).md).chars().count() <= max
    });
    let d = render(a, lang);
    (d.md, md::for_score_server(&d.text))
}

/// Which record each command shown comes from, and who recorded it (for the HTML of a team's
/// answer: the Markdown a judge reads names no record).
pub fn sources(a: &Answer, lang: Lang) -> String {
    let mut shown: Vec<&Shown> = Vec::new();
    for c in &a.checks {
        shown.push(&c.shown);
    }
    for c in &a.changes {
        shown.push(&c.shown);
        shown.extend(c.files.iter().map(|(_, s)| s));
    }
    for v in &a.verifications {
        shown.push(&v.after);
    }
    let mut d = Doc::default();
    d.h1(match lang {
        Lang::Ja => "引用した記録",
        Lang::En => "The records quoted",
    });
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.author.clone().unwrap_or_default(),
                format!("{}{}", s.prompt(), s.command),
            ]
        })
        .collect();
    let head: [&str; 3] = match lang {
        Lang::Ja => ["記録", "記録者", "コマンド"],
        Lang::En => ["Record", "By", "Command"],
    };
    d.table(&head, &rows);
    d.md
}

/// The warnings as a Markdown section (for the HTML and the PDF only).
pub fn warnings(a: &Answer, lang: Lang) -> String {
    if a.warnings.is_empty() {
        return String::new();
    }
    let mut d = Doc::default();
    d.h1(words(lang).warnings);
    for w in &a.warnings {
        d.item(&[In::T(&w.text(lang))]);
    }
    d.end_list();
    d.md
}

struct PmWords {
    title: &'static str,
    summary: &'static str,
    impact: &'static str,
    root: &'static str,
    trigger: &'static str,
    resolution: &'static str,
    detection: &'static str,
    actions: &'static str,
    lessons: &'static str,
    timeline: &'static str,
    empty: &'static str,
    no_change: &'static str,
    action: &'static str,
    time: &'static str,
    host: &'static str,
    what: &'static str,
    first_seen: &'static str,
}

fn pm_words(lang: Lang) -> PmWords {
    match lang {
        Lang::Ja => PmWords {
            title: "ポストモーテム",
            summary: "概要",
            impact: "影響",
            root: "根本原因",
            trigger: "きっかけ",
            resolution: "解決",
            detection: "検知",
            actions: "対応項目",
            lessons: "教訓",
            timeline: "タイムライン",
            empty: "記録がありません。次のメモで埋まります: ",
            no_change: "変更は記録されていません。",
            action: "対応",
            time: "時刻",
            host: "ホスト",
            what: "内容",
            first_seen: "最初に失敗した確認: ",
        },
        Lang::En => PmWords {
            title: "Post-mortem",
            summary: "Summary",
            impact: "Impact",
            root: "Root causes",
            trigger: "Trigger",
            resolution: "Resolution",
            detection: "Detection",
            actions: "Action items",
            lessons: "Lessons learned",
            timeline: "Timeline",
            empty: "Nothing recorded. This note would fill it: ",
            no_change: "No change was recorded.",
            action: "Action",
            time: "Time",
            host: "Host",
            what: "What",
            first_seen: "The first check that failed: ",
        },
    }
}

/// The first sentence of a note (up to 。 or ". ").
fn first_sentence(s: &str) -> String {
    let s = s.lines().next().unwrap_or("").trim();
    if let Some(i) = s.find('。') {
        return s[..i + '。'.len_utf8()].to_string();
    }
    if let Some(i) = s.find(". ") {
        return s[..=i].to_string();
    }
    s.to_string()
}

fn part(d: &mut Doc, said: &[Said], role: &str, empty: &str) {
    if said.is_empty() {
        d.para(&[
            In::T(empty),
            In::C(&format!("postmortem note --as {role} \"...\"")),
        ]);
    } else {
        for s in said {
            d.item(&[In::T(&s.text)]);
        }
        d.end_list();
    }
}

/// The post-mortem after the Google SRE template, every part filled from the roles or naming
/// the note that would fill it.
pub fn postmortem(a: &Answer, lang: Lang) -> String {
    let w = pm_words(lang);
    let mut d = Doc::default();
    d.h1(&format!("{}: {}", a.title, w.title));

    d.h2(w.summary);
    let mut sentences: Vec<String> = Vec::new();
    for part in [&a.trouble, &a.causes] {
        if let Some(s) = part.first() {
            sentences.push(first_sentence(&s.text));
        }
    }
    let fix = a
        .changes
        .iter()
        .flat_map(|c| c.notes.first())
        .chain(a.works.first())
        .next();
    if let Some(s) = fix {
        sentences.push(first_sentence(&s.text));
    }
    if sentences.is_empty() {
        part(&mut d, &[], "trouble", w.empty);
    } else {
        // Japanese sentences run together; after one that ends in ASCII, a space.
        let mut joined = String::new();
        for s in &sentences {
            if joined.chars().last().is_some_and(|c| c.is_ascii()) {
                joined.push(' ');
            }
            joined.push_str(s);
        }
        d.para(&[In::T(&joined)]);
    }

    d.h2(w.impact);
    part(&mut d, &a.impact, "impact", w.empty);
    d.h2(w.root);
    part(&mut d, &a.causes, "cause", w.empty);

    d.h2(w.trigger);
    match (
        a.trouble.first(),
        a.checks.iter().find(|c| c.shown.status.is_some()),
    ) {
        (Some(t), _) => {
            d.para(&[
                In::T(&format!("{}: ", super::show_time(&t.at))),
                In::T(&t.text),
            ]);
        }
        (None, Some(c)) => {
            d.para(&[
                In::T(w.first_seen),
                In::C(&c.shown.command),
                In::T(&format!(
                    " ({}, {})",
                    c.shown.host,
                    super::show_time(&c.shown.at)
                )),
            ]);
        }
        (None, None) => part(&mut d, &[], "trouble", w.empty),
    }

    d.h2(w.resolution);
    if a.changes.is_empty() {
        d.para(&[In::T(w.no_change)]);
    } else {
        let items: Vec<&Shown> = a.changes.iter().map(|c| &c.shown).collect();
        session(&mut d, &items, &words(lang));
        let why: Vec<Said> = a
            .changes
            .iter()
            .flat_map(|c| c.notes.iter().cloned())
            .chain(a.works.iter().cloned())
            .collect();
        for s in &why {
            d.para(&[In::T(&s.text)]);
        }
    }

    d.h2(w.detection);
    part(&mut d, &a.detection, "detection", w.empty);

    d.h2(w.actions);
    if a.actions.is_empty() {
        part(&mut d, &[], "action", w.empty);
    } else {
        let rows: Vec<Vec<String>> = a
            .actions
            .iter()
            .enumerate()
            .map(|(i, s)| vec![(i + 1).to_string(), s.text.replace('\n', " ")])
            .collect();
        d.table(&["#", w.action], &rows);
    }

    d.h2(w.lessons);
    part(&mut d, &a.lessons, "lesson", w.empty);

    d.h2(w.timeline);
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let said_rows = [
        ("trouble", &a.trouble),
        ("cause", &a.causes),
        ("fix", &a.works),
        ("verify", &a.verified),
        ("impact", &a.impact),
        ("detection", &a.detection),
        ("note", &a.notes),
    ];
    for (role, list) in said_rows {
        for s in list.iter() {
            rows.push((
                s.at.clone(),
                vec![String::new(), format!("{role}: {}", s.text)],
            ));
        }
    }
    for c in &a.checks {
        for f in &c.findings {
            rows.push((
                f.at.clone(),
                vec![String::new(), format!("finding: {}", f.text)],
            ));
        }
        if c.telling {
            let end = c
                .shown
                .status
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            rows.push((
                c.shown.at.clone(),
                vec![c.shown.host.clone(), format!("$ {}{end}", c.shown.command)],
            ));
        }
    }
    for c in &a.changes {
        rows.push((
            c.shown.at.clone(),
            vec![c.shown.host.clone(), format!("$ {}", c.shown.command)],
        ));
        for s in &c.notes {
            rows.push((
                s.at.clone(),
                vec![String::new(), format!("fix: {}", s.text)],
            ));
        }
    }
    for v in &a.verifications {
        rows.push((
            v.after.at.clone(),
            vec![v.after.host.clone(), format!("$ {}", v.after.command)],
        ));
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(at, mut r)| {
            r.insert(0, super::show_time(&at));
            r.iter_mut().for_each(|c| *c = c.replace('\n', " "));
            r
        })
        .collect();
    d.table(&[w.time, w.host, w.what], &rows);
    d.md
}

/// The text the answer's Markdown holds, for the tests that compare it with remark's.
pub fn answer_text(a: &Answer, lang: Lang) -> String {
    render(a, lang).text
}
