//! `nft -j list ruleset` (nftables' JSON, schema 1): what a host's firewall does to one address
//! range (a cloud's external network) when it routes it, and whether it masquerades it.
//!
//! - The forward hook: every base chain on it whose policy is drop must accept the range's
//!   traffic out (a rule matching `ip saddr` within a prefix holding the range) and the replies
//!   back (`ct state established` or `ip daddr` likewise); one that does not blocks the range.
//! - The postrouting hook: a `masquerade` rule whose `ip saddr` holds the range (or that has no
//!   source match) masquerades it.
//!
//! The uplink (the device of the default route, when `ip -4 route show default` comes before the
//! JSON) is what "the outside" is: `oifname UPLINK` holds for the range's traffic out, `iifname
//! UPLINK` for the replies in.
//!
//! What it cannot tell: a rule is read only by its address matches, `ct state`, the uplink and
//! its verdict. Rules that also match other interfaces, ports, marks or sets by name, and jumps
//! to other chains, are not counted as accepting (they may accept less than the range): such a
//! chain is judged by what it surely does. Explicit `drop` rules are not read; the policy is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Firewall {
    /// The range judged, as the probe names it (`10.20.20.0/24`).
    pub range: String,
    /// Base chains on the forward hook with policy drop: `family table chain`.
    pub forward_drop_chains: Vec<String>,
    /// Of those, the ones that do not accept the range's traffic and its replies.
    pub forward_blocking: Vec<String>,
    pub forward_blocks_range: bool,
    /// Masquerade rules that cover the range: `family table chain #handle`.
    pub masquerade_rules: Vec<String>,
    pub masquerades_range: bool,
    /// Base chains on the postrouting hook of type nat: `family table chain`.
    pub nat_chains: Vec<String>,
    /// The default route's device, when the output had it.
    pub uplink: Option<String>,
}

/// An IPv4 prefix as (address, length).
type Prefix = (u32, u8);

fn parse_prefix(s: &str) -> Option<Prefix> {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    let a: std::net::Ipv4Addr = a.parse().ok()?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some((u32::from(a), l))
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// Does `outer` hold every address of `inner`?
fn holds(outer: Prefix, inner: Prefix) -> bool {
    outer.1 <= inner.1 && (outer.0 & mask(outer.1)) == (inner.0 & mask(outer.1))
}

/// The prefixes a match's right side names (an address, a prefix, or a set of them).
fn prefixes(v: &Value) -> Option<Vec<Prefix>> {
    match v {
        Value::String(s) => parse_prefix(s).map(|p| vec![p]),
        Value::Object(o) if o.contains_key("prefix") => {
            let p = &o["prefix"];
            let addr: std::net::Ipv4Addr = p["addr"].as_str()?.parse().ok()?;
            let len = u8::try_from(p["len"].as_u64()?).ok().filter(|l| *l <= 32)?;
            Some(vec![(u32::from(addr), len)])
        }
        Value::Object(o) if o.contains_key("set") => {
            let mut out = Vec::new();
            for e in o["set"].as_array()? {
                out.extend(prefixes(e)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// How one rule treats the range.
#[derive(Default)]
struct Reading {
    /// It matches packets from the range (all its matches hold for them), to the range, or
    /// replies (ct state established), as far as it can tell.
    from: bool,
    to: bool,
    verdict: Option<String>,
}

fn read_rule(expr: &[Value], range: Prefix, uplink: Option<&str>) -> Reading {
    // `from`: every packet the range sends out matches; `to`: every reply to it does.
    let mut from = true;
    let mut to = true;
    let mut verdict = None;
    for e in expr {
        let Some((kind, body)) = e.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "match" => {
                let op = body["op"].as_str().unwrap_or("");
                let left = &body["left"];
                let field = left["payload"]["field"].as_str();
                if left["payload"]["protocol"].as_str() == Some("ip")
                    && matches!(field, Some("saddr" | "daddr"))
                {
                    let covers = prefixes(&body["right"])
                        .is_some_and(|ps| ps.iter().any(|p| holds(*p, range)));
                    let on_range = matches!(op, "==" | "in") && covers;
                    // An exclusion on the other end (`ip daddr != RANGE` when masquerading)
                    // still holds for the range's traffic to the outside.
                    let other_end = op == "!=";
                    if field == Some("saddr") {
                        from &= on_range;
                        to &= other_end;
                    } else {
                        to &= on_range;
                        from &= other_end;
                    }
                } else if left["ct"]["key"].as_str() == Some("state") {
                    let states: Vec<&str> = match &body["right"] {
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        Value::String(s) => vec![s.as_str()],
                        _ => vec![],
                    };
                    from &= states.contains(&"new");
                    to &= states.contains(&"established");
                } else if let (Some(key @ ("oifname" | "iifname")), "==", Some(dev)) =
                    (left["meta"]["key"].as_str(), op, body["right"].as_str())
                {
                    // Out by the uplink: the range's traffic to the outside; in by it: replies.
                    let up = Some(dev) == uplink;
                    if key == "oifname" {
                        from &= up;
                        to = false;
                    } else {
                        to &= up;
                        from = false;
                    }
                } else {
                    // Other interfaces, ports, marks...: it may match less than the range.
                    from = false;
                    to = false;
                }
            }
            "accept" | "drop" | "reject" | "masquerade" | "snat" | "jump" | "goto" => {
                verdict = Some(kind.clone());
            }
            _ => {}
        }
    }
    Reading { from, to, verdict }
}

/// Judge `nft -j list ruleset` for `range` (an IPv4 prefix: `10.20.20.0/24`).
pub fn firewall(range: &str, out: &str) -> Result<Firewall, String> {
    let r = parse_prefix(range).ok_or_else(|| format!("not an IPv4 prefix: {range:?}"))?;
    let start = out
        .find('{')
        .ok_or("no JSON in the output (is it `nft -j list ruleset`?)")?;
    let uplink = out[..start]
        .lines()
        .find(|l| l.starts_with("default "))
        .and_then(|l| {
            let mut w = l.split_whitespace();
            w.find(|x| *x == "dev").and_then(|_| w.next())
        })
        .map(String::from);
    let v: Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<Value>()
        .next()
        .ok_or("no JSON in the output")?
        .map_err(|e| format!("not nftables JSON: {e}"))?;
    let items = v["nftables"]
        .as_array()
        .ok_or("no \"nftables\" array (is it `nft -j list ruleset`?)")?;
    let name = |o: &Value| {
        format!(
            "{} {} {}",
            o["family"].as_str().unwrap_or(""),
            o["table"].as_str().unwrap_or(""),
            o["name"].as_str().or(o["chain"].as_str()).unwrap_or("")
        )
    };
    let mut fw = Firewall {
        range: range.to_string(),
        forward_drop_chains: vec![],
        forward_blocking: vec![],
        forward_blocks_range: false,
        masquerade_rules: vec![],
        masquerades_range: false,
        nat_chains: vec![],
        uplink: uplink.clone(),
    };
    let ipv4 = |fam: &str| matches!(fam, "ip" | "inet");
    let chains: Vec<&Value> = items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| ipv4(c["family"].as_str().unwrap_or("")))
        .collect();
    let rules: Vec<&Value> = items.iter().filter_map(|i| i.get("rule")).collect();
    let rules_of = |c: &Value| {
        rules
            .iter()
            .filter(|r| {
                r["family"] == c["family"] && r["table"] == c["table"] && r["chain"] == c["name"]
            })
            .copied()
            .collect::<Vec<&Value>>()
    };
    for c in &chains {
        let hook = c["hook"].as_str();
        if hook == Some("forward") && c["policy"].as_str() == Some("drop") {
            fw.forward_drop_chains.push(name(c));
            let (mut out_ok, mut back_ok) = (false, false);
            for rule in rules_of(c) {
                let expr = rule["expr"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let rd = read_rule(expr, r, uplink.as_deref());
                if rd.verdict.as_deref() == Some("accept") {
                    out_ok |= rd.from;
                    back_ok |= rd.to;
                }
            }
            if !(out_ok && back_ok) {
                fw.forward_blocking.push(name(c));
            }
        }
        if hook == Some("postrouting") && c["type"].as_str() == Some("nat") {
            fw.nat_chains.push(name(c));
            for rule in rules_of(c) {
                let expr = rule["expr"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let rd = read_rule(expr, r, uplink.as_deref());
                if rd.verdict.as_deref() == Some("masquerade") && rd.from {
                    fw.masquerade_rules.push(format!(
                        "{} #{}",
                        name(c),
                        rule["handle"].as_u64().unwrap_or(0)
                    ));
                }
            }
        }
    }
    fw.forward_blocks_range = !fw.forward_blocking.is_empty();
    fw.masquerades_range = !fw.masquerade_rules.is_empty();
    Ok(fw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_hold() {
        let r = parse_prefix("10.20.20.0/24").unwrap();
        assert!(holds(parse_prefix("10.20.0.0/16").unwrap(), r));
        assert!(holds(r, r));
        assert!(!holds(parse_prefix("10.20.20.0/25").unwrap(), r));
        assert!(!holds(parse_prefix("10.20.21.0/24").unwrap(), r));
        assert!(holds(parse_prefix("0.0.0.0/0").unwrap(), r));
    }
}
