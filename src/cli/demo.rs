//! `demo`: the main job end to end on the built-in lab.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Demo { out } => {
            crate::lab::preflight()?;
            let t0 = std::time::Instant::now();
            eprintln!("postmortem demo: building the lab with the contest's faults");
            crate::lab::up(&crate::lab::Options::new(
                crate::lab::parse_faults(crate::lab::DEFAULT_FAULTS)?,
                false,
            ))?;
            std::fs::create_dir_all(&out)?;
            let out = std::fs::canonicalize(&out)?;
            let journal = out.join("journal.jsonl");
            let _ = std::fs::remove_file(&journal);
            eprintln!("postmortem demo: run --apply from the operator host");
            let status = std::process::Command::new("ip")
                .args(["netns", "exec", "pm-operator"])
                .arg(std::env::current_exe()?)
                .args([
                    "run",
                    "--apply",
                    "--yes",
                    "--no-sign",
                    "--target",
                    "lab",
                    "--journal",
                ])
                .arg(&journal)
                .arg("--out")
                .arg(&out)
                .env("POSTMORTEM_IN_OPERATOR", "1")
                .status();
            let down = crate::lab::down();
            let status = status.context("cannot run ip netns exec")?;
            down?;
            let mut code = status.code().unwrap_or(1);
            // Each phase's answer, followed exactly on a fresh lab in the phase's initial state.
            if code == 0 {
                let (sc, _) = crate::scenario::load("ictsc2021-cloud-native")?;
                for ph in &sc.phases {
                    let answer = out.join(format!("answer.phase{}.ja.md", ph.phase));
                    eprintln!("postmortem demo: replay {}", answer.display());
                    let st = std::process::Command::new(std::env::current_exe()?)
                        .arg("replay")
                        .arg(&answer)
                        .args(["--target", "lab", "--record-in"])
                        .arg(&journal)
                        .status()
                        .context("cannot run postmortem replay")?;
                    if !st.success() {
                        code = st.code().unwrap_or(1);
                    }
                }
                // The answers again, now saying they were replayed; then the signature.
                let written = report::write(
                    &Journal::new(&journal),
                    &report::Options {
                        langs: vec![Lang::Ja, Lang::En],
                        formats: vec![Format::Md, Format::Html, Format::Pdf],
                        out: out.clone(),
                        style: report::Style::Answer,
                        team: None,
                    },
                    &Redactor::new(),
                )?;
                print_written(&written);
                runtime()?.block_on(sign_at_end(&Journal::new(&journal), None))?;
            }
            eprintln!(
                "postmortem demo: done in {:.0} s; the lab is down. The answers: {}/answer.phase1.ja.md and answer.phase2.ja.md (and .html, .pdf, en); the whole report: report.ja.md",
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(code)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
