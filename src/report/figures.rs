//! Pictures for the report, as SVG: the topology with the failing links marked, and the ping
//! matrix. Drawn from a diagnosis record alone; every name in them is evidence, so it is escaped.

use serde_json::Value;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

const STYLE: &str = "<style>text{font-family:'Noto Sans CJK JP',sans-serif;font-size:12px}\
.box{fill:#f6f8fa;stroke:#57606a}.ok{stroke:#1a7f37;stroke-width:2}.fail{stroke:#cf222e;stroke-width:3;stroke-dasharray:6 4}\
.pass{fill:#aceebb}.lost{fill:#ffcecb}.part{fill:#fff1c2}.note{fill:#cf222e;font-size:11px}</style>";

/// The hypervisor, the outside, the nodes and their pods; `marks` (from the claimed causes)
/// say which links are broken: `uplink` and `mesh`.
pub fn topology(d: &Value) -> String {
    // A host without a name (a step that has not run) is no box.
    let hosts: Vec<&str> = d["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let marks: Vec<&str> = d["marks"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // What is written at a broken link: the claimed causes' notes (journals before them: the
    // contest's two).
    let note = |link: &str, old: &str| -> String {
        let notes: Vec<&str> = d["mark_notes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["link"] == link)
            .filter_map(|n| n["text"]["en"].as_str())
            .collect();
        if notes.is_empty() && d.get("mark_notes").is_none() {
            old.to_string()
        } else {
            notes.join("; ")
        }
    };
    let pairs = d["ping_pairs"].as_array().cloned().unwrap_or_default();
    let hv = hosts.first().copied().unwrap_or("hypervisor");
    let nodes: Vec<&str> = hosts.iter().skip(1).copied().collect();
    // The incident's own pods only: the pods postmortem starts to probe (pm-probe-*) are not
    // part of it.
    let mut pods: Vec<(String, String)> = Vec::new();
    for p in &pairs {
        for (pod, node) in [("to", "to_node"), ("from", "from_node")] {
            let item = (
                p[pod].as_str().unwrap_or("").to_string(),
                p[node].as_str().unwrap_or("").to_string(),
            );
            if !item.0.is_empty() && !item.0.starts_with("pm-probe-") && !pods.contains(&item) {
                pods.push(item);
            }
        }
    }
    let n = nodes.len().max(1);
    let w = (n * 220).max(480);
    let node_x = |i: usize| 40 + i * (w - 80) / n + ((w - 80) / n).saturating_sub(160) / 2;
    let max_pods = nodes
        .iter()
        .map(|nd| pods.iter().filter(|(_, x)| x == nd).count())
        .max()
        .unwrap_or(0);
    let h = 240 + max_pods * 26;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">{STYLE}");
    let cls = |m: &str| if marks.contains(&m) { "fail" } else { "ok" };
    let hvx = w / 2 - 80;
    // outside world and the uplink
    let _ = write!(s, "<rect class=\"box\" x=\"{}\" y=\"10\" width=\"160\" height=\"34\" rx=\"6\"/><text x=\"{}\" y=\"32\" text-anchor=\"middle\">internet / apt mirror</text>", hvx, w / 2);
    let _ = write!(
        s,
        "<line class=\"{}\" x1=\"{}\" y1=\"44\" x2=\"{}\" y2=\"80\"/>",
        cls("uplink"),
        w / 2,
        w / 2
    );
    if marks.contains(&"uplink") {
        let _ = write!(
            s,
            "<text class=\"note\" x=\"{}\" y=\"66\">✕ {}</text>",
            w / 2 + 8,
            esc(&note("uplink", "not forwarded"))
        );
    }
    let _ = write!(s, "<rect class=\"box\" x=\"{hvx}\" y=\"80\" width=\"160\" height=\"34\" rx=\"6\"/><text x=\"{}\" y=\"102\" text-anchor=\"middle\">{}</text>", w / 2, esc(hv));
    for (i, nd) in nodes.iter().enumerate() {
        let x = node_x(i);
        let _ = write!(
            s,
            "<line class=\"ok\" x1=\"{}\" y1=\"114\" x2=\"{}\" y2=\"160\"/>",
            w / 2,
            x + 80
        );
        let _ = write!(s, "<rect class=\"box\" x=\"{x}\" y=\"160\" width=\"160\" height=\"34\" rx=\"6\"/><text x=\"{}\" y=\"182\" text-anchor=\"middle\">{}</text>", x + 80, esc(nd));
        for (j, (pod, _)) in pods.iter().filter(|(_, x)| x == nd).enumerate() {
            let y = 240 + j * 26;
            // A label no wider than its node's box (7 px a character at this font size).
            let pod = if pod.chars().count() > 22 {
                format!("{}…", pod.chars().take(21).collect::<String>())
            } else {
                pod.clone()
            };
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + 80,
                y,
                esc(&pod)
            );
        }
    }
    for i in 1..nodes.len() {
        let (a, b) = (node_x(i - 1) + 160, node_x(i));
        let _ = write!(
            s,
            "<line class=\"{}\" x1=\"{a}\" y1=\"177\" x2=\"{b}\" y2=\"177\"/>",
            cls("mesh")
        );
        if marks.contains(&"mesh") {
            let _ = write!(
                s,
                "<text class=\"note\" x=\"{}\" y=\"212\" text-anchor=\"middle\">✕ {}</text>",
                (a + b) / 2,
                esc(&note("mesh", "BGP (TCP/179)"))
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The ping matrix: a row per probe pod, a column per pod, green answered, red lost.
pub fn pings(d: &Value, title: &str) -> Option<String> {
    let pairs = d["ping_pairs"].as_array()?;
    if pairs.is_empty() {
        return None;
    }
    let mut rows: Vec<String> = Vec::new();
    let mut cols: Vec<(String, String)> = Vec::new();
    for p in pairs {
        let from = format!(
            "{} ({})",
            p["from"].as_str().unwrap_or(""),
            p["from_node"].as_str().unwrap_or("")
        );
        if !rows.contains(&from) {
            rows.push(from);
        }
        let to = (
            p["to"].as_str().unwrap_or("").to_string(),
            p["to_node"].as_str().unwrap_or("").to_string(),
        );
        if !cols.contains(&to) {
            cols.push(to);
        }
    }
    let longest = cols
        .iter()
        .map(|(p, n)| p.chars().count().max(n.chars().count()))
        .max()
        .unwrap_or(8);
    let left = 20 + 7 * rows.iter().map(|r| r.chars().count()).max().unwrap_or(20);
    let (top, cw, ch) = (70, (7 * longest + 16).max(70), 28);
    let w = left + cols.len() * cw + 20;
    let h = top + rows.len() * ch + 20;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">{STYLE}");
    let _ = write!(
        s,
        "<text x=\"10\" y=\"20\" style=\"font-size:14px\">{}</text>",
        esc(title)
    );
    for (j, (pod, node)) in cols.iter().enumerate() {
        let x = left + j * cw + cw / 2;
        let _ = write!(s, "<text x=\"{x}\" y=\"42\" text-anchor=\"middle\">{}</text><text x=\"{x}\" y=\"62\" text-anchor=\"middle\">{}</text>", esc(pod), esc(node));
    }
    for (i, row) in rows.iter().enumerate() {
        let y = top + i * ch;
        let _ = write!(s, "<text x=\"10\" y=\"{}\">{}</text>", y + 18, esc(row));
        for (j, (pod, node)) in cols.iter().enumerate() {
            let p = pairs.iter().find(|p| {
                format!(
                    "{} ({})",
                    p["from"].as_str().unwrap_or(""),
                    p["from_node"].as_str().unwrap_or("")
                ) == *row
                    && p["to"] == pod.as_str()
                    && p["to_node"] == node.as_str()
            });
            let x = left + j * cw;
            match p {
                Some(p) => {
                    let loss = p["loss_percent"].as_u64().unwrap_or(100);
                    let c = match loss {
                        0 => "pass",
                        100 => "lost",
                        _ => "part",
                    };
                    let _ = write!(s, "<rect class=\"{c}\" x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{loss}%</text>", cw - 2, ch - 2, x + cw / 2, y + 18);
                }
                None => {
                    let _ = write!(
                        s,
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">–</text>",
                        x + cw / 2,
                        y + 18
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_escaped_and_failing_links_marked() {
        let d = json!({"hosts": ["server01", "<n1>", "n2"], "marks": ["mesh"],
            "ping_pairs": [{"from": "p&1", "from_node": "<n1>", "to": "x", "to_node": "n2", "loss_percent": 100}]});
        let t = topology(&d);
        assert!(t.contains("&lt;n1&gt;") && !t.contains("<n1>"));
        assert!(t.contains("class=\"fail\"") && t.contains("BGP (TCP/179)"));
        assert!(!t.contains("not forwarded"));
        let p = pings(&d, "before").unwrap();
        assert!(p.contains("p&amp;1") && p.contains("class=\"lost\""));
    }

    #[test]
    fn a_host_without_a_name_is_no_box_and_notes_name_the_causes() {
        let d = json!({"hosts": ["server01", "", "node1", "node2"], "marks": ["mesh"],
            "mark_notes": [{"link": "mesh", "text": {"en": "no VXLAN (UDP/4789)", "ja": "x"}}]});
        let t = topology(&d);
        // Two nodes: two boxes under the hypervisor, one link between them.
        assert_eq!(t.matches("y=\"160\"").count(), 2, "{t}");
        assert_eq!(t.matches("no VXLAN (UDP/4789)").count(), 1, "{t}");
        assert!(!t.contains("BGP"), "the note is the cause's own: {t}");
    }
}
