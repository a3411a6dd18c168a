//! Redaction measured on a public secret scanner's own test examples (gitleaks' true and false
//! positives, in `../shared/secrets-corpus/`, read from there and never copied into the project).
//! Prints recall on the true positives, the `plain` false-positive lines that were touched, the
//! same for the project's own classes (tests/secrets/*.tsv: command lines, named keys), and
//! the throughput of redaction next to a plain copy of the same text (the baseline). Exits
//! non-zero when recall falls below 99% or more than 2 plain lines are touched, and when the
//! corpus is absent (it says so).
//! Run: `cargo bench --bench redact_corpus` (`-- --misses` lists what got through).

use postmortem::journal::redact::Redactor;
use std::path::PathBuf;
use std::time::Instant;

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("POSTMORTEM_SECRETS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/secrets-corpus")
        });
    if !dir.join("gitleaks-tps.txt").exists() {
        eprintln!(
            "redact_corpus: the corpus is absent ({}); set POSTMORTEM_SECRETS_CORPUS to its directory",
            dir.display()
        );
        std::process::exit(2);
    }
    dir
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Redaction of `text` next to a plain copy of it (the baseline, measured in the same run).
fn throughput(what: &str, red: &Redactor, text: &str) {
    let t = Instant::now();
    let copy = text.to_string();
    let base = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (out, k) = red.redact(&copy);
    let took = t.elapsed().as_secs_f64();
    let mib = text.len() as f64 / 1048576.0;
    println!(
        "{what}: {mib:.1} MiB redacted in {took:.3} s ({:.1} MiB/s, {k} secrets); a plain copy {base:.4} s; ratio {:.0}",
        mib / took,
        took / base.max(1e-9)
    );
    std::hint::black_box(out);
}

fn main() {
    let show = std::env::args().any(|a| a == "--misses");
    let dir = corpus_dir();
    let red = Redactor::new();
    let mut ok = true;
    for set in ["gitleaks-tps", "gitleaks-gen-tps"] {
        let text = lines(&dir.join(format!("{set}.txt")));
        let secrets = lines(&dir.join(format!("{set}.secret.txt")));
        let meta = lines(&dir.join(format!("{set}.meta.tsv")));
        assert_eq!(text.len(), secrets.len(), "{set}: lines and secrets differ");
        let mut caught = 0;
        for (i, (line, secret)) in text.iter().zip(&secrets).enumerate() {
            let (out, _) = red.redact(line);
            if out.contains(secret.as_str()) {
                if show {
                    let rule = meta
                        .get(i + 1)
                        .and_then(|m| m.split('\t').nth(1))
                        .unwrap_or("");
                    println!("miss {set}:{} [{rule}] {line}", i + 1);
                }
            } else {
                caught += 1;
            }
        }
        let recall = caught as f64 / text.len() as f64;
        println!(
            "{set}: {caught} of {} secrets redacted (recall {:.1}%)",
            text.len(),
            recall * 100.0
        );
        ok &= recall >= 0.99;
    }
    let fps = lines(&dir.join("gitleaks-fps.txt"));
    let meta = lines(&dir.join("gitleaks-fps.meta.tsv"));
    let mut plain = 0;
    let mut touched = 0;
    let mut other = 0;
    for (i, line) in fps.iter().enumerate() {
        let class = meta
            .get(i + 1)
            .and_then(|m| m.split('\t').nth(3))
            .unwrap_or("");
        let changed = red.redact(line).0 != *line;
        if class == "plain" {
            plain += 1;
            if changed {
                touched += 1;
                if show {
                    println!("touched plain fps:{} {line}", i + 1);
                }
            }
        } else if changed {
            other += 1;
        }
    }
    println!(
        "gitleaks-fps: {touched} of {plain} plain lines touched; {other} of {} placeholder or key-shaped lines masked",
        fps.len() - plain
    );
    ok &= touched <= 2;

    // The project's own classes (tests/secrets/*.tsv, written from the programs' manuals and
    // the formats' definitions): recall and plain lines touched, per class.
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/secrets");
    let mut classes: Vec<String> = std::fs::read_dir(&own)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".tsv")
                .map(str::to_string)
        })
        .collect();
    classes.sort();
    for class in classes {
        let (mut n, mut caught, mut plain, mut touched) = (0, 0, 0, 0);
        for l in lines(&own.join(format!("{class}.tsv"))) {
            let Some((secret, line)) = l.split_once('\t').filter(|_| !l.starts_with('#')) else {
                continue;
            };
            let line = line.replace("\\n", "\n");
            let out = red.redact(&line).0;
            if secret == "-" {
                plain += 1;
                touched += (out != line) as usize;
                if show && out != line {
                    println!("touched plain {class}: {line} -> {out}");
                }
            } else {
                n += 1;
                caught += !out.contains(secret) as usize;
                if show && out.contains(secret) {
                    println!("miss {class}: {line} -> {out}");
                }
            }
        }
        println!("own {class}: {caught} of {n} secrets redacted; {touched} of {plain} plain lines touched");
        ok &= caught == n && touched == 0;
    }

    // Throughput: the true positives and the false positives as one text, 64 times over.
    let mut big = String::new();
    for f in [
        "gitleaks-tps.txt",
        "gitleaks-gen-tps.txt",
        "gitleaks-fps.txt",
    ] {
        big.push_str(&std::fs::read_to_string(dir.join(f)).unwrap());
    }
    throughput("corpus", &red, &big.repeat(64));

    // Ordinary evidence (the parser samples in tests/samples: openstack, birdc, calicoctl, apt,
    // ansible, kubectl output), 256 times over: the case that dominates a journal.
    let mut ev = String::new();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples");
    let mut names: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        if let Ok(t) = std::fs::read_to_string(&p) {
            ev.push_str(&t);
        }
    }
    throughput("evidence", &red, &ev.repeat(256));
    if !ok {
        eprintln!(
            "redact_corpus: below the bar (recall >= 99% on each set, <= 2 plain lines touched)"
        );
        std::process::exit(1);
    }
}
