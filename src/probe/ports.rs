//! The servers' Neutron ports as `openstack port show PORT -f json` prints them: after
//! `### server list` (the servers' IDs and names, `server list -f json -c ID -c Name`) and
//! `### port show`, one port after another, each named by its device_id (the `ports` probe shows
//! them all in one client, whose interactive mode reads one command per line):
//!
//! ```text
//! ### server list
//! [{"ID": "c836…", "Name": "ictsc-master"}]
//! ### port show
//! { "allowed_address_pairs": [], "device_id": "c836…",
//!   "fixed_ips": [{"subnet_id": "…", "ip_address": "192.168.222.222"}],
//!   "id": "…", "port_security_enabled": true, … }
//! ```
//!
//! The earlier form, `### SERVER` before each port's JSON, reads too.
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

const SERVER_LIST: &str = "### server list\n";
const PORT_SHOW: &str = "### port show\n";

pub fn ports(out: &str) -> Result<Ports, String> {
    let found = match out.find(PORT_SHOW) {
        Some(at) => batched(&out[..at], &out[at + PORT_SHOW.len()..])?,
        None => per_server(out)?,
    };
    if found.is_empty() {
        return Err("no port (no `### port show` or `### SERVER` section)".into());
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

/// `### server list` (`server list -f json -c ID -c Name`), then `### port show` and the ports'
/// JSON one after another (the client's interactive mode, one port show per line of its input):
/// each port's server is the one its device_id names.
fn batched(head: &str, shows: &str) -> Result<Vec<Port>, String> {
    let mut names = std::collections::HashMap::new();
    if let Some(at) = head.find(SERVER_LIST) {
        let list: Value =
            serde_json::from_str(head[at + SERVER_LIST.len()..].trim()).map_err(|e| {
                format!("server list: not the JSON of `openstack server list -f json`: {e}")
            })?;
        for s in list.as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (s["ID"].as_str(), s["Name"].as_str()) {
                names.insert(id.to_string(), name.to_string());
            }
        }
    }
    let mut found = Vec::new();
    for v in serde_json::Deserializer::from_str(shows).into_iter::<Value>() {
        let v = v.map_err(|e| {
            format!("port show: not the JSON of `openstack port show -f json`: {e}")
        })?;
        let device = v["device_id"].as_str().unwrap_or("");
        let server = names
            .get(device)
            .cloned()
            .unwrap_or_else(|| device.to_string());
        found.push(port_of(&v, server)?);
    }
    Ok(found)
}

/// `### SERVER` before each port's JSON (the probe's earlier form, one `port list --server`
/// per server): kept so that journals recorded with it read the same.
fn per_server(out: &str) -> Result<Vec<Port>, String> {
    let mut found = Vec::new();
    let mut rest = out;
    while let Some(at) = rest.find("### ") {
        let after = &rest[at + 4..];
        let (server, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body.find("\n### ").map(|i| i + 1).unwrap_or(body.len());
        let v: Value = serde_json::from_str(body[..end].trim()).map_err(|e| {
            format!("port of {server}: not the JSON of `openstack port show -f json`: {e}")
        })?;
        found.push(port_of(&v, server.trim().to_string())?);
        rest = &body[end..];
    }
    Ok(found)
}

fn port_of(v: &Value, server: String) -> Result<Port, String> {
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
    Ok(Port {
        fixed_ips: list("fixed_ips", "ip_address")?,
        allowed: list("allowed_address_pairs", "ip_address")?,
        // Neutron's default when the extension says nothing: on.
        port_security: v["port_security_enabled"].as_bool().unwrap_or(true),
        server,
        id,
    })
}
