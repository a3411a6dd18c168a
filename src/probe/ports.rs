//! The servers' Neutron ports as `openstack port show PORT -f json` prints them, each after a
//! `### SERVER` line (the `ports` probe lists every server's ports with `port list --server`):
//!
//! ```text
//! ### ictsc-master
//! { "allowed_address_pairs": [], "fixed_ips": [{"subnet_id": "…", "ip_address": "192.168.222.222"}],
//!   "id": "…", "port_security_enabled": true, … }
//! ```
//!
//! With port security on, Neutron drops what a port sends from any source but its fixed IPs and
//! its allowed address pairs (anti-spoofing). Pods whose own addresses cross the network (Calico
//! without encapsulation) need their pool in the pairs.
//!
//! What it cannot tell: whether the hypervisor enforces it (only the traffic shows that), or
//! whether a pair's MAC matches the one the VM sends from.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Port {
    pub server: String,
    pub id: String,
    pub fixed_ips: Vec<String>,
    /// The allowed address pairs' addresses (an address or a CIDR each).
    pub allowed: Vec<String>,
    pub port_security: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ports {
    pub ports: Vec<Port>,
    /// Ports with port security on and no allowed address pair: they pass their fixed IPs alone.
    pub without_pairs: Vec<String>,
}

pub fn ports(out: &str) -> Result<Ports, String> {
    let mut found = Vec::new();
    let mut rest = out;
    while let Some(at) = rest.find("### ") {
        let after = &rest[at + 4..];
        let (server, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body.find("\n### ").map(|i| i + 1).unwrap_or(body.len());
        let v: Value = serde_json::from_str(body[..end].trim()).map_err(|e| {
            format!("port of {server}: not the JSON of `openstack port show -f json`: {e}")
        })?;
        let id = v["id"]
            .as_str()
            .ok_or_else(|| format!("port of {server}: no id"))?
            .to_string();
        let list = |k: &str, inner: &str| -> Result<Vec<String>, String> {
            match &v[k] {
                Value::Array(a) => Ok(a
                    .iter()
                    .filter_map(|x| x[inner].as_str().map(String::from))
                    .collect()),
                Value::Null => Ok(vec![]),
                other => Err(format!("port {id}: {k} is not a list: {other}")),
            }
        };
        found.push(Port {
            server: server.trim().to_string(),
            fixed_ips: list("fixed_ips", "ip_address")?,
            allowed: list("allowed_address_pairs", "ip_address")?,
            // Neutron's default when the extension says nothing: on.
            port_security: v["port_security_enabled"].as_bool().unwrap_or(true),
            id,
        });
        rest = &body[end..];
    }
    if found.is_empty() {
        return Err("no port (no `### SERVER` section)".into());
    }
    let without_pairs = found
        .iter()
        .filter(|p| p.port_security && p.allowed.is_empty())
        .map(|p| p.id.clone())
        .collect();
    Ok(Ports {
        ports: found,
        without_pairs,
    })
}
