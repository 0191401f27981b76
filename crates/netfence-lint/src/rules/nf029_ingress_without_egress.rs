//! An ingress rule admits a flow that the source's egress denies.
//!
//! # Why it matters
//!
//! A connection between two isolated pods needs both ends: the client's egress
//! **and** the server's ingress. When a namespace has a default-deny egress, an
//! ingress rule admitting a client is not enough: the client cannot send. This is
//! the gap in the NetworkPolicy guide's example: `api-allow-frontend` admits
//! frontend, but `default-deny-all` also isolates frontend's egress and nothing
//! allows it to reach api. netfence reports ingress rules whose peer names pods
//! with a podSelector and whose every admitted connection the source's egress
//! denies.
//!
//! # Bad
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: default-deny-all, namespace: app}
//! spec:
//!   podSelector: {}
//!   policyTypes: [Ingress, Egress]
//! ---
//! kind: NetworkPolicy
//! metadata: {name: api-allow-frontend, namespace: app}
//! spec:
//!   podSelector: {matchLabels: {app: api}}
//!   policyTypes: [Ingress]
//!   ingress:
//!     - from:
//!         - podSelector: {matchLabels: {app: frontend}}
//!       ports:
//!         - port: 8080
//! ```
//!
//! # Good
//!
//! ```yaml
//! kind: NetworkPolicy
//! metadata: {name: frontend-to-api, namespace: app}
//! spec:
//!   podSelector: {matchLabels: {app: frontend}}
//!   policyTypes: [Egress]
//!   egress:
//!     - to:
//!         - podSelector: {matchLabels: {app: api}}
//!       ports:
//!         - port: 8080
//! ```
//!
//! # Fix
//!
//! Allow the flow in the source's egress too (the help shows the change netfence
//! verified), or delete the ingress rule if the flow is not wanted.

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;
use crate::rules::nf028_egress_without_ingress::report;

pub static RULE: Rule = Rule {
    id: "NF029",
    name: "ingress-without-egress",
    severity: Level::Warning,
    check,
    source: include_str!("nf029_ingress_without_egress.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    report(ctx, &RULE, Direction::Ingress, out);
}
