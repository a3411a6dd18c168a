//! Scenario files: the built-in one loads; bad files get file:line:column errors with a hint.

mod common;
use common::*;
use std::fs;

#[test]
fn builtin_scenario_lists_shows_and_checks() {
    let d = tempdir();
    let o = pm(d.path(), &["scenario", "list"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("ictsc2021-cloud-native\t"),
        "{}",
        stdout(&o)
    );
    let o = pm(d.path(), &["scenario", "show", "ictsc2021-cloud-native"]);
    let text = stdout(&o);
    assert!(text.contains("id = \"ictsc2021-cloud-native\""));
    fs::write(d.path().join("s.toml"), &text).unwrap();
    let o = pm(d.path(), &["scenario", "check", "s.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let causes = text.matches("[[causes]]").count();
    assert!(causes >= 2, "the contest's two causes and their neighbours");
    assert!(
        stdout(&o).contains(&format!("{causes} causes")),
        "{}",
        stdout(&o)
    );
}

fn check(d: &std::path::Path, text: &str) -> String {
    fs::write(d.join("bad.toml"), text).unwrap();
    let o = pm(d, &["scenario", "check", "bad.toml"]);
    assert!(!o.status.success(), "a bad scenario was accepted");
    stderr(&o)
}

#[test]
fn bad_scenarios_name_file_line_column_and_hint() {
    let d = tempdir();
    let good = pm(d.path(), &["scenario", "show", "ictsc2021-cloud-native"]);
    let good = stdout(&good);

    // TOML syntax.
    let e = check(
        d.path(),
        &good.replacen("id = \"ictsc2021-cloud-native\"", "id = \"unterminated", 1),
    );
    assert!(e.contains("bad.toml:6:"), "{e}");
    assert!(e.contains("hint:"), "{e}");

    // An unknown parser, on the line that names it.
    let line = good
        .lines()
        .position(|l| l == "parser = \"sysctl\"")
        .unwrap()
        + 1;
    let e = check(
        d.path(),
        &good.replacen("parser = \"sysctl\"", "parser = \"sysctI\"", 1),
    );
    assert!(
        e.contains(&format!(
            "bad.toml:{line}:10: probe \"ip_forward\": unknown parser \"sysctI\""
        )),
        "{e}"
    );
    assert!(e.contains("hint: one of: sysctl,"), "{e}");

    // A cause that names a probe that does not exist.
    let e = check(
        d.path(),
        &good.replacen(
            "{ probe = \"ip_forward\", field = \"runtime\"",
            "{ probe = \"ip_forwarding\", field = \"runtime\"",
            1,
        ),
    );
    assert!(
        e.contains("cause \"ip-forward-disabled\": no probe \"ip_forwarding\""),
        "{e}"
    );
    assert!(e.contains("hint: probes: ip_forward, firewall,"), "{e}");

    // An unknown key is refused, not ignored.
    let e = check(
        d.path(),
        &good.replacen("[hosts]\n", "[hosts]\ncolour = \"blue\"\n", 1),
    );
    assert!(e.contains("unknown field `colour`"), "{e}");

    // An unknown op.
    let e = check(
        d.path(),
        &good.replacen(
            "op = \"eq\", value = 0 }",
            "op = \"equals\", value = 0 }",
            1,
        ),
    );
    assert!(
        e.contains("unknown op \"equals\"") && e.contains("hint: one of: eq, ne"),
        "{e}"
    );

    // A missing file.
    let o = pm(d.path(), &["scenario", "check", "nope.toml"]);
    assert!(
        stderr(&o).contains("no scenario \"nope.toml\""),
        "{}",
        stderr(&o)
    );
}
