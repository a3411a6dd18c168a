//! A node's tunnel MTU against its underlay, and whether packets of the tunnel's full size cross
//! it: the `tunnel_mtu` probe's output, which is
//!
//! ```text
//! tunnel tunl0 1480
//! underlay ens3 1450
//! target 10.233.92.0
//! small 2 packets transmitted, 2 received, 0% packet loss, time 1001ms
//! full 2 packets transmitted, 0 received, 100% packet loss, time 1013ms
//! peers 31, sampled 3
//! ```
//!
//! (to the tunnel address of a sample of the other nodes, by the routes through the tunnel: a
//! small ping, then `ping -M do -s MTU-28 -q`, the tunnel's full size, not to be fragmented; the
//! last line says how many peers there were and how many were tried). Only large
//! packets lost while small ones pass is the MTU's symptom; both lost is another fault's. The encapsulation's overhead follows the device: IP-in-IP (`tunl0`) adds 20 bytes,
//! Calico's VXLAN (`vxlan.calico`) 50.
//!
//! What it cannot tell: which hop drops an oversized packet, or whether ICMP "fragmentation
//! needed" would have reached the sender; only that the full size does not arrive.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub addr: String,
    pub small_received: u32,
    pub sent: u32,
    pub received: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pmtu {
    pub tunnel: String,
    pub tunnel_mtu: u32,
    pub underlay: String,
    pub underlay_mtu: u32,
    pub overhead: u32,
    /// The tunnel's packets, encapsulated, fit the underlay.
    pub fits: bool,
    /// The largest tunnel MTU that fits.
    pub fitting_mtu: u32,
    pub targets: Vec<Target>,
    /// How many peers the node has, of which `targets` is the sample (absent in older output,
    /// which tried every peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<u32>,
    /// Every target answered a ping of the tunnel's full size (false when there is none).
    pub df_ok: bool,
    /// Every target answered a small ping.
    pub small_ok: bool,
    /// Small pings pass and full-size ones do not: the MTU's own symptom.
    pub only_large_lost: bool,
}

fn overhead(dev: &str) -> Option<u32> {
    match dev {
        "tunl0" => Some(20),
        "vxlan.calico" => Some(50),
        _ => None,
    }
}

pub fn pmtu(out: &str) -> Result<Pmtu, String> {
    let mut tunnel = None;
    let mut underlay = None;
    let mut targets: Vec<Target> = Vec::new();
    let mut peers = None;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["tunnel", dev, mtu] => {
                tunnel = Some((
                    dev.to_string(),
                    mtu.parse::<u32>()
                        .map_err(|e| format!("tunnel MTU {mtu:?}: {e}"))?,
                ))
            }
            ["underlay", dev, mtu] => {
                underlay = Some((
                    dev.to_string(),
                    mtu.parse::<u32>()
                        .map_err(|e| format!("underlay MTU {mtu:?}: {e}"))?,
                ))
            }
            ["target", addr] => targets.push(Target {
                addr: addr.to_string(),
                small_received: 0,
                sent: 0,
                received: 0,
            }),
            [size @ ("small" | "full"), sent, "packets", "transmitted,", received, ..] => {
                if let Some(t) = targets.last_mut() {
                    let received = received.parse().unwrap_or(0);
                    if *size == "small" {
                        t.small_received = received;
                    } else {
                        t.sent = sent.parse().unwrap_or(0);
                        t.received = received;
                    }
                }
            }
            ["peers", n, "sampled", _] => peers = n.trim_end_matches(',').parse().ok(),
            _ => {}
        }
    }
    let (tunnel, tunnel_mtu) = tunnel.ok_or("no `tunnel DEV MTU` line")?;
    let (underlay, underlay_mtu) = underlay.ok_or("no `underlay DEV MTU` line")?;
    let overhead = overhead(&tunnel).ok_or(format!("unknown tunnel device {tunnel:?}"))?;
    let df_ok = !targets.is_empty() && targets.iter().all(|t| t.received > 0);
    let small_ok = !targets.is_empty() && targets.iter().all(|t| t.small_received > 0);
    Ok(Pmtu {
        small_ok,
        only_large_lost: small_ok && !df_ok,
        fits: tunnel_mtu + overhead <= underlay_mtu,
        fitting_mtu: underlay_mtu.saturating_sub(overhead),
        tunnel,
        tunnel_mtu,
        underlay,
        underlay_mtu,
        overhead,
        targets,
        peers,
        df_ok,
    })
}
