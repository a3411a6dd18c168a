//! A team's report: several members' journals (each verified on its own) merged into one
//! timeline, ordered by time, every record named by its member and its seq in that member's
//! journal, with its author (user@host and journal).
//!
//! What it cannot prove: that the members' clocks agreed. The order across journals is the
//! order of their timestamps (each with its UTC offset); within one journal it is the chain's.
//! A journal that does not verify is named in the report and left out whole, never in part.

use super::*;

#[derive(Serialize)]
struct MemberView {
    label: String,
    author: String,
    meta: Meta,
}

/// What `write` did: the files, and each journal left out with why.
pub struct TeamWritten {
    pub written: Written,
    pub left_out: Vec<String>,
}

/// Short, unique names for the members: their journals' file stems (made unique with -2, -3).
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let stem: String = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "journal".into())
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut label = stem.clone();
        let mut n = 2;
        while out.contains(&label) {
            label = format!("{stem}-{n}");
            n += 1;
        }
        out.push(label);
    }
    out
}

fn millis(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// Write `team.LANG.{md,html,pdf}` from `journals`, and copy each merged journal to
/// `journals/LABEL.jsonl` beside it.
pub fn write(journals: &[PathBuf], opts: &Options, red: &Redactor) -> Result<TeamWritten> {
    let labels = labels(journals);
    let mut members = Vec::new();
    let mut left_out = Vec::new();
    for (path, label) in journals.iter().zip(labels) {
        match Journal::new(path).read_all() {
            Ok(e) if e.is_empty() => {
                left_out.push(format!("{}: it holds no records", path.display()))
            }
            Ok(e) => members.push((label, path.clone(), e)),
            Err(e) => left_out.push(format!("{e:#}")),
        }
    }
    if members.is_empty() {
        bail!("no journal could be merged: {}", left_out.join("; "));
    }
    std::fs::create_dir_all(opts.out.join("journals"))
        .with_context(|| format!("cannot create the output directory {}", opts.out.display()))?;
    let mut written = Written::default();
    let timestamp = members
        .iter()
        .map(|(_, _, e)| millis(&e[0].at) / 1000)
        .min()
        .unwrap_or(0);
    for &lang in &opts.langs {
        let t = texts(lang);
        let mut views = Vec::new();
        let mut shown = Vec::new();
        for (i, (label, path, entries)) in members.iter().enumerate() {
            let meta = meta_of(entries, path, red);
            let author = format!("{}@{} ({label})", meta.user, meta.hostname);
            for (e, mut v) in entries.iter().zip(record_views(entries, &t, red)) {
                v.id = format!("{label}#{}", e.seq);
                v.author = Some(author.clone());
                views.push(((millis(&e.at), i, e.seq), v));
            }
            shown.push(MemberView {
                label: label.clone(),
                author,
                meta,
            });
        }
        views.sort_by_key(|(k, _)| *k);
        let records: Vec<RecordView> = views.into_iter().map(|(_, v)| v).collect();
        let title = title(&members[0].2, lang, red);
        let mut ctx = tera::Context::new();
        ctx.insert("t", &t);
        ctx.insert("lang", lang.code());
        ctx.insert("title", &title);
        ctx.insert("members", &shown);
        ctx.insert("left_out", &left_out);
        ctx.insert("records", &records);
        ctx.insert("team", &true);
        ctx.insert("integrity", &t["team_integrity_text"]);
        let md = render_template("team.md", &ctx)?;
        let full_title = format!("{}: {title}", t["team_title"]);
        emit(
            &opts.out.join(format!("team.{}", lang.code())),
            &md,
            &md,
            Some(&md),
            lang,
            &full_title,
            opts,
            &[],
            timestamp,
            &mut written,
        )?;
    }
    // One answer from the members' merged records, when no scenario wrote one: the problem
    // they worked on together.
    let scenario = members.iter().any(|(_, _, e)| scenario_of(e).is_some());
    if opts.style == Style::Answer && !scenario {
        let mut recs: Vec<((i64, usize, u64), roles::Rec)> = Vec::new();
        for (i, (label, _, entries)) in members.iter().enumerate() {
            for e in entries {
                recs.push((
                    (millis(&e.at), i, e.seq),
                    roles::Rec {
                        id: format!("{label}#{}", e.seq),
                        author: Some(label.clone()),
                        seq: e.seq,
                        at: e.at.clone(),
                        body: &e.body,
                    },
                ));
            }
        }
        recs.sort_by_key(|(k, _)| *k);
        let recs: Vec<roles::Rec> = recs.into_iter().map(|(_, r)| r).collect();
        for &lang in &opts.langs {
            let title = title(&members[0].2, lang, red);
            let team = team_of(&members[0].2, opts.team.as_deref(), red);
            let mut a = roles::fill(&recs, &title, &team, red);
            let (marked, _) = written::answer(&mut a, lang);
            let md = md::for_score_server(&marked);
            let shown = format!(
                "{}\n{}\n{}",
                md::with_links(&marked),
                written::sources(&a, lang),
                written::warnings(&a, lang)
            );
            let pdf = md::with_links(&marked);
            emit(
                &opts.out.join(format!("answer.{}", lang.code())),
                &md,
                &shown,
                Some(&pdf),
                lang,
                &title,
                opts,
                &[],
                timestamp,
                &mut written,
            )?;
            for w in &a.warnings {
                let w = w.text(Lang::En);
                if !written.warnings.contains(&w) {
                    written.warnings.push(w);
                }
            }
        }
    }
    for (label, path, _) in &members {
        let copy = opts.out.join("journals").join(format!("{label}.jsonl"));
        let data = std::fs::read(path)
            .with_context(|| format!("journal {}: cannot read", path.display()))?;
        write_atomic(&copy, &data)?;
        written.files.push(copy);
    }
    Ok(TeamWritten { written, left_out })
}
