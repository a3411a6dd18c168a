//! The answer model written as the Markdown a judge reads (the score server's remark), and as a
//! post-mortem after the Google SRE template. HTML and PDF are made from this Markdown (`html`,
//! `typst`); the warnings go to the writer (stderr, and the HTML's last section), never to the
//! Markdown a judge reads.
//!
//! What it cannot prove: that the answer is short enough for every reader; it keeps an answer
//! within `limit` characters by leaving out the checks that showed nothing, and says how many.

use super::md::{Doc, In};
use super::model::*;
use super::Lang;

struct Words {
    greeting: &'static str,
    intro: &'static str,
    trouble: &'static str,
    investigation: &'static str,
    investigation_intro: &'static str,
    found: &'static str,
    status: &'static str,
    cause: &'static str,
    solution: &'static str,
    solution_intro: &'static str,
    not_shown: &'static str,
    works: &'static str,
    end_state: &'static str,
    end_intro: &'static str,
    before: &'static str,
    after: &'static str,
    before_at: &'static str,
    left_out: &'static str,
    warnings: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::Ja => Words {
            greeting: "お世話になっております。チーム{team}です。",
            intro: "「{title}」について、原因と解決方法を報告します。",
            trouble: "トラブルの内容",
            investigation: "調査の過程",
            investigation_intro: "次の順に確認しました。",
            found: "わかったこと: ",
            status: "終了ステータス: ",
            cause: "原因",
            solution: "解決方法",
            solution_intro: "初期状態から、次のコマンドをこの順に実行しました(プロンプトは実行したユーザーとホスト)。",
            not_shown: "書き込んだファイルの内容は示していません: ",
            works: "解決する理由",
            end_state: "終了状態の確認",
            end_intro: "調査と同じ確認を、変更の後にもう一度実行しました。",
            before: "変更前",
            after: "変更後",
            before_at: "(変更前は調査の過程の {n}.)",
            left_out: "何も示さなかった確認 {n} 件は省きました。",
            warnings: "回答に足りないもの(この節は Markdown の回答には入りません)",
        },
        Lang::En => Words {
            greeting: "Hello, this is team {team}.",
            intro: "This is our answer to \"{title}\": its cause and how we solved it.",
            trouble: "The trouble",
            investigation: "How it was investigated",
            investigation_intro: "We checked, in this order:",
            found: "Found: ",
            status: "Exit status: ",
            cause: "The cause",
            solution: "The solution",
            solution_intro: "From the initial state we ran these commands, in this order (the prompt names the user and the host).",
            not_shown: "Files written whose content is not shown: ",
            works: "Why it works",
            end_state: "The end state, checked",
            end_intro: "The investigation's checks, run again after the changes.",
            before: "before",
            after: "after",
            before_at: " (before: step {n}. of the investigation)",
            left_out: "{n} checks that showed nothing are left out.",
            warnings: "What the answer lacks (this section is not in the Markdown answer)",
        },
    }
}

/// The headings of an answer's solution, in both languages (for reading an answer back).
pub fn solution_headings() -> [&'static str; 2] {
    [words(Lang::Ja).solution, words(Lang::En).solution]
}

fn session(d: &mut Doc, items: &[&Shown]) {
    let mut lines = Vec::new();
    for s in items {
        lines.push(format!("{}{}", s.prompt(), s.command));
        lines.extend(s.lines.iter().cloned());
    }
    d.block("shellsession", &lines);
}

fn notes(d: &mut Doc, said: &[Said]) {
    for s in said {
        d.para(&[In::T(&s.text)]);
    }
}

/// The answer in Markdown, and the text a reader should see.
fn render(a: &Answer, lang: Lang) -> Doc {
    let w = words(lang);
    let mut d = Doc::default();
    d.para(&[In::T(&w.greeting.replace("{team}", &a.team))]);
    d.para(&[In::T(&w.intro.replace("{title}", &a.title))]);
    if !a.trouble.is_empty() {
        d.h1(w.trouble);
        notes(&mut d, &a.trouble);
    }
    if !a.checks.is_empty() {
        d.h1(w.investigation);
        d.para(&[In::T(w.investigation_intro)]);
        for (i, c) in a.checks.iter().enumerate() {
            let n = format!("{}.", i + 1);
            d.para(&[In::B(&n)]);
            session(&mut d, &[&c.shown]);
            if let Some(s) = &c.shown.status {
                d.para(&[In::T(w.status), In::C(s)]);
            }
            for f in &c.findings {
                d.para(&[In::T(w.found), In::T(&f.text)]);
            }
        }
        if a.left_out > 0 {
            d.para(&[In::T(&w.left_out.replace("{n}", &a.left_out.to_string()))]);
        }
    }
    if !a.causes.is_empty() {
        d.h1(w.cause);
        notes(&mut d, &a.causes);
    }
    if !a.changes.is_empty() {
        d.h1(w.solution);
        d.para(&[In::T(w.solution_intro)]);
        let mut items: Vec<&Shown> = Vec::new();
        for c in &a.changes {
            items.push(&c.shown);
            for (_, cat) in &c.files {
                if !items
                    .iter()
                    .any(|s| s.seq == cat.seq && s.author == cat.author)
                {
                    items.push(cat);
                }
            }
        }
        session(&mut d, &items);
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
        .chain(a.works.iter().cloned())
        .collect();
    if !fix_notes.is_empty() {
        d.h1(w.works);
        notes(&mut d, &fix_notes);
    }
    if !a.verifications.is_empty() || !a.verified.is_empty() {
        d.h1(w.end_state);
        if !a.verifications.is_empty() {
            d.para(&[In::T(w.end_intro)]);
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
                    session(&mut d, &[&v.before]);
                    d.para(&[In::B(w.after)]);
                }
            }
            session(&mut d, &[&v.after]);
        }
        notes(&mut d, &a.verified);
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
pub fn answer(a: &mut Answer, lang: Lang) -> (String, String) {
    let max = limit(lang);
    super::roles::shorten(a, |a| render(a, lang).md.chars().count() <= max);
    let d = render(a, lang);
    (d.md, d.text)
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
        session(&mut d, &items);
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
