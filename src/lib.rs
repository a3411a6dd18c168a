//! postmortem: collect typed, timestamped evidence while fixing infrastructure, and turn it into
//! a report that can be proven.
//!
//! The pipeline (see DESIGN.md in the shared notes): evidence flows into the [`journal`] (hash
//! chained, redacted before writing); the [`report`] reads only the journal.

pub mod capture;
pub mod cli;
pub mod collect;
pub mod diagnose;
pub mod fix;
pub mod journal;
pub mod lab;
pub mod probe;
pub mod prompt;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shell;
pub mod step;
pub mod transport;
