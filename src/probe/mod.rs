//! Probes: typed observations parsed from the raw evidence of commands.

pub mod ippool;
pub mod nft;
pub mod parse;
pub mod pmtu;
pub mod ports;
pub mod subnets;
