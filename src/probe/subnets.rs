//! The cloud's subnets and the hypervisor's own resolvers: the `subnets` probe prints
//!
//! ```text
//! ### resolv.conf
//! nameserver 10.20.20.1
//! ### subnet
//! { "cidr": "192.168.222.0/24", "dns_nameservers": ["10.20.20.1"], "enable_dhcp": true, … }
//! ```
//!
//! (the `nameserver` lines of the hypervisor's /etc/resolv.conf, then `openstack subnet show -f
//! json` of each subnet, one after another: the probe shows them all with one client, in its
//! interactive mode; a `### subnet` line before each reads too). A subnet with DHCP and no
//! dns_nameservers gives its VMs no resolver to ask.
//!
//! What it cannot tell: what the VMs' leases hold now (a lease renews only in time, or when
//! asked), or whether a named resolver answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub cidr: String,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subnets {
    /// The resolvers the hypervisor itself uses.
    pub hypervisor_nameservers: Vec<String>,
    pub subnets: Vec<Subnet>,
    /// The names of the subnets with DHCP and no DNS server.
    pub without_dns: Vec<String>,
}

pub fn subnets(out: &str) -> Result<Subnets, String> {
    let mut hypervisor_nameservers = Vec::new();
    let mut subnets = Vec::new();
    let mut seen_resolv = false;
    for part in out.split("### ").skip(1) {
        let (title, body) = part.split_once('\n').unwrap_or((part, ""));
        match title.trim() {
            "resolv.conf" => {
                seen_resolv = true;
                hypervisor_nameservers.extend(body.lines().filter_map(|l| {
                    let mut f = l.split_whitespace();
                    (f.next() == Some("nameserver")).then(|| f.next().map(String::from))?
                }));
            }
            // One subnet's JSON, or several one after another (one client's interactive mode).
            "subnet" => {
                for v in serde_json::Deserializer::from_str(body).into_iter::<Value>() {
                    subnets.push(subnet_of(&v.map_err(|e| {
                        format!("a subnet: not the JSON of `openstack subnet show -f json`: {e}")
                    })?)?);
                }
            }
            other => return Err(format!("an unknown section ### {other}")),
        }
    }
    // A cloud has at least one subnet: none listed is a client that failed (its stderr says
    // why), not a cloud whose subnets all give DNS.
    if subnets.is_empty() {
        return Err(if seen_resolv {
            "no ### subnet section (`openstack subnet list` listed none)".into()
        } else {
            "no ### resolv.conf or ### subnet section".into()
        });
    }
    let without_dns = subnets
        .iter()
        .filter(|s| s.enable_dhcp && s.dns_nameservers.is_empty())
        .map(|s| s.name.clone())
        .collect();
    Ok(Subnets {
        hypervisor_nameservers,
        subnets,
        without_dns,
    })
}

fn subnet_of(v: &Value) -> Result<Subnet, String> {
    let text = |k: &str| {
        v[k].as_str()
            .map(String::from)
            .ok_or_else(|| format!("a subnet without {k}: {v}"))
    };
    let dns = match &v["dns_nameservers"] {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Value::Null => vec![],
        // Table-formatted clients print a list as one string, a value per line.
        Value::String(s) => s
            .split([',', '\n', ' '])
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect(),
        other => return Err(format!("dns_nameservers is not a list: {other}")),
    };
    Ok(Subnet {
        id: text("id")?,
        name: text("name")?,
        cidr: text("cidr")?,
        enable_dhcp: v["enable_dhcp"].as_bool().unwrap_or(true),
        dns_nameservers: dns,
    })
}
