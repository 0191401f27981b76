//! The data plane: the engine's decisions as an nftables ruleset, applied to a
//! network namespace (or the host) as one atomic delta transaction.
//!
//! - [`compile`]: engine → [`Ruleset`] for the pods of one node, with provenance.
//! - [`ruleset`]: the structured ruleset; the only code that writes nft syntax.
//! - [`apply`]: reads what is applied, computes the delta, sends it in one
//!   transaction, never deleting the table.

pub mod addrmap;
pub mod apply;
pub mod backend;
pub mod compile;
pub mod discover;
pub mod revoke;
pub mod ruleset;
pub mod status;

pub use compile::{CompileOptions, Compiled, ElementOrigin, Interfaces, LocalPod, compile};
pub use ruleset::Ruleset;
