//! One module per command: its arguments, and running it.

pub(crate) mod agent;
pub(crate) mod check;
pub(crate) mod compile;
pub(crate) mod describe;
pub(crate) mod diff;
pub(crate) mod enforce;
pub(crate) mod gen_cluster;
pub(crate) mod lab;
pub(crate) mod lint;
pub(crate) mod matrix;
pub(crate) mod report;
pub(crate) mod status;
