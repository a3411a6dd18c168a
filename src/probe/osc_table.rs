//! The tables python-openstackclient prints by default (cliff's table formatter): a `+---+`
//! rule, a header row, a rule, the rows, a rule. A value of several lines continues on the next
//! rows with the other cells empty. `show` and `create` print a two-column `Field | Value`
//! table.
//!
//! ```text
//! +-------------------+--------------------------------------+
//! | Field             | Value                                |
//! +-------------------+--------------------------------------+
//! | id                | b9561aa9-9f11-5c50-8bc8-5c9ea0908a12 |
//! +-------------------+--------------------------------------+
//! ```
//!
//! Our own parser, in a few lines: the columns are where the `+` of the rule line are, so a `|`
//! inside a value does not split it. What it cannot read: a table whose rule lines were cut or
//! wrapped by a narrow terminal (the client wraps only with `--max-width`).

use super::parse::Parsed;

/// The header and the rows of a cliff table (multi-line values joined with `\n`).
pub fn table(out: &str) -> Parsed<(Vec<String>, Vec<Vec<String>>)> {
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let rule = lines
        .iter()
        .find(|l| l.starts_with("+-") && l.ends_with('+'))
        .ok_or("no table (no +---+ line)")?;
    // The columns: between consecutive `+` of the rule, in characters.
    let plus: Vec<usize> = rule
        .chars()
        .enumerate()
        .filter(|(_, c)| *c == '+')
        .map(|(i, _)| i)
        .collect();
    let cells = |l: &str| -> Option<Vec<String>> {
        let chars: Vec<char> = l.chars().collect();
        if chars.first() != Some(&'|') || chars.len() != rule.chars().count() {
            return None;
        }
        Some(
            plus.windows(2)
                .map(|w| {
                    chars[w[0] + 1..w[1]]
                        .iter()
                        .collect::<String>()
                        .trim()
                        .to_string()
                })
                .collect(),
        )
    };
    let mut header: Option<Vec<String>> = None;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for l in &lines {
        if l.starts_with('+') {
            continue;
        }
        let Some(c) = cells(l) else {
            if l.starts_with('|') {
                return Err(format!("a table row that does not fit its columns: {l}"));
            }
            continue;
        };
        if header.is_none() {
            header = Some(c);
            continue;
        }
        match rows.last_mut() {
            // A continuation: the first cell empty, the rest adding lines to the row above.
            Some(last) if c[0].is_empty() => {
                for (cell, more) in last.iter_mut().zip(c) {
                    if !more.is_empty() {
                        if !cell.is_empty() {
                            cell.push('\n');
                        }
                        cell.push_str(&more);
                    }
                }
            }
            _ => rows.push(c),
        }
    }
    let header = header.ok_or("a table without a header row")?;
    Ok((header, rows))
}

/// One field of a `show` or `create`: its `Field | Value` table, or its `-f json` object.
pub fn show_field(out: &str, field: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(out.trim()) {
        return m.get(field).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    let (head, rows) = table(out).ok()?;
    if head.len() != 2 || head[0] != "Field" {
        return None;
    }
    rows.into_iter()
        .find(|r| r[0] == field)
        .map(|r| r[1].clone())
}

/// The rule a refused `security group rule create` names: python-openstackclient prints Neutron's
/// 409 as `Error while executing command: ConflictException: 409, Security group rule already
/// exists. Rule id is <id>.` on stderr (exit 1, nothing on stdout).
pub fn conflicting_rule(stderr: &str) -> Option<String> {
    const SAYS: &str = "Security group rule already exists. Rule id is ";
    let at = stderr.find(SAYS)?;
    let id: String = stderr[at + SAYS.len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    (id.len() >= 8).then_some(id)
}

/// `openstack server start` refused because the server runs already: python-openstackclient
/// prints Nova's 409 as `Cannot 'start' instance <id> while it is in vm_state active (HTTP 409)`.
pub fn start_refused_running(stderr: &str) -> bool {
    stderr.contains("Cannot 'start' instance ")
        && stderr.contains("while it is in vm_state active")
        && stderr.contains("(HTTP 409)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What python-openstackclient 5.2.0 printed for `security group rule create`.
    const CREATE: &str = "+-------------------+--------------------------------------+
| Field             | Value                                |
+-------------------+--------------------------------------+
| created_at        | 2026-12-02T01:25:28Z                 |
| description       |                                      |
| id                | b9561aa9-9f11-5c50-8bc8-5c9ea0908a12 |
| port_range_max    | 179                                  |
| tags              | []                                   |
+-------------------+--------------------------------------+
";

    #[test]
    fn a_field_of_a_show_table_or_its_json() {
        assert_eq!(
            show_field(CREATE, "id").as_deref(),
            Some("b9561aa9-9f11-5c50-8bc8-5c9ea0908a12")
        );
        assert_eq!(show_field(CREATE, "description").as_deref(), Some(""));
        assert_eq!(show_field(CREATE, "nope"), None);
        assert_eq!(
            show_field("{\"id\": \"x\", \"port_range_max\": 179}", "port_range_max").as_deref(),
            Some("179")
        );
        assert_eq!(show_field("ConflictException: 409", "id"), None);
        assert_eq!(show_field("", "id"), None);
    }

    #[test]
    fn multi_line_values_and_pipes_inside_values() {
        let t = "+----+-----------+
| ID | Name      |
+----+-----------+
| a  | x | y     |
|    | second    |
| b  | z         |
+----+-----------+";
        let (h, rows) = table(t).unwrap();
        assert_eq!(h, ["ID", "Name"]);
        assert_eq!(rows, [vec!["a", "x | y\nsecond"], vec!["b", "z"]]);
        // Cut mid-table: an error, never a guess.
        assert!(table("+----+----+\n| ID | Na").is_err());
    }
}
