//! Probes: typed observations parsed from the raw evidence of commands.
//!
//! What it cannot do: read a format it has no parser for. Output a parser cannot read is an
//! observation with the parser's reason, never a guess.

pub mod ippool;
pub mod nft;
pub mod osc_table;
pub mod parse;
pub mod pmtu;
pub mod ports;
pub mod subnets;
