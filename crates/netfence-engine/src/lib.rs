//! The NetworkPolicy engine: the one place that decides whether a connection is
//! allowed. Every surface (CLI, lint, diff, the nftables compiler) asks it.
//!
//! How it stays fast: selectors are resolved once; endpoints that no subject
//! selector, peer selector, ipBlock or named port can tell apart share an
//! equivalence class ([`classes`]); decisions are computed per class pair over
//! interval sets of ports ([`portset`]). Pair-specific exceptions (a pod to itself,
//! a node to its own pods) are applied on top, per endpoint pair.
//!
//! How it stays right: `reference` is a naive pair-by-pair evaluator written
//! straight from the spec (feature `reference`, tests only), and property tests
//! compare the two.

pub mod addr;
pub mod admin_use;
pub mod classes;
pub mod delta;
pub mod eval;
pub mod explain;
pub mod matrix;
pub mod portset;
pub mod posture;
pub mod query;
#[cfg(feature = "reference")]
pub mod reference;
pub mod ties;
pub mod universe;
pub mod versions;

pub use admin_use::AdminRuleUse;
pub use delta::Delta;
pub use eval::{CachedDecisions, Contribution, Engine, Exception, SideOutcome, TierStep, Tiered};
pub use explain::{Explanation, PeerCheck, RuleCheck, SideExplanation};
pub use matrix::{MatrixEntry, MatrixFilter, MatrixJson};
pub use portset::{ConnSet, PortSet};
pub use posture::{AdminRulePosture, DnsProblem, DnsReach, NamespacePosture};
pub use query::EndpointQuery;
pub use ties::PriorityOverlap;
pub use universe::{EndpointKind, EngineEndpoint, EpId};
pub use versions::MayDiffer;
