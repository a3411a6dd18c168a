//! Calico's IP pools as `calicoctl get ippool -o wide` prints them:
//!
//! ```text
//! NAME           CIDR             NAT    IPIPMODE   VXLANMODE   DISABLED   SELECTOR
//! default-pool   10.233.64.0/18   true   Always     Never       false      all()
//! ```
//!
//! (3.18 and later add DISABLEBGPEXPORT before SELECTOR; columns are found by their header, so
//! both read the same). A pool's NAT column is its natOutgoing: whether what its pods send to a
//! destination outside every pool is masqueraded to the node's address.
//!
//! What it cannot tell: whether Felix has applied the datastore's settings on each node (only
//! the traffic shows that), or which pool a given pod's address came from beyond its CIDR.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub name: String,
    pub cidr: String,
    pub nat_outgoing: bool,
    pub ipip_mode: String,
    pub vxlan_mode: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pools {
    pub pools: Vec<Pool>,
    /// Every enabled pool masquerades what leaves the pools (false when there is none).
    pub nat_outgoing_all: bool,
    /// The enabled pools that do not.
    pub without_nat: Vec<String>,
}

pub fn ippools(out: &str) -> Result<Pools, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("no output from calicoctl get ippool")?
        .split_whitespace()
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            format!(
                "no column {name} (not the output of `calicoctl get ippool -o wide`): {header:?}"
            )
        })
    };
    let (name, cidr, nat, ipip, vxlan, disabled) = (
        col("NAME")?,
        col("CIDR")?,
        col("NAT")?,
        col("IPIPMODE")?,
        col("VXLANMODE")?,
        col("DISABLED")?,
    );
    let flag = |v: &str, line: &str| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("not true or false: {v:?} in {line:?}")),
    };
    let mut pools = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let get = |i: usize| {
            f.get(i)
                .copied()
                .ok_or_else(|| format!("a short row: {line:?}"))
        };
        pools.push(Pool {
            name: get(name)?.to_string(),
            cidr: get(cidr)?.to_string(),
            nat_outgoing: flag(get(nat)?, line)?,
            ipip_mode: get(ipip)?.to_string(),
            vxlan_mode: get(vxlan)?.to_string(),
            disabled: flag(get(disabled)?, line)?,
        });
    }
    let enabled: Vec<&Pool> = pools.iter().filter(|p| !p.disabled).collect();
    let without_nat: Vec<String> = enabled
        .iter()
        .filter(|p| !p.nat_outgoing)
        .map(|p| p.name.clone())
        .collect();
    Ok(Pools {
        nat_outgoing_all: !enabled.is_empty() && without_nat.is_empty(),
        without_nat,
        pools,
    })
}
