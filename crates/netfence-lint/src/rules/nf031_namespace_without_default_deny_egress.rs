//! A namespace with pods and no default-deny egress.
//!
//! # Why it matters
//!
//! Without a namespace-wide default-deny egress, a compromised pod can connect
//! anywhere: other namespaces, the cloud metadata endpoint, the internet.
//! Egress is the direction that limits what an intruder can do next.
//! Posture finding: reported as information.
//!
//! # Bad
//!
//! ```yaml
//! # namespace app: no policy isolates egress
//! ```
//!
//! # Good
//!
//! ```yaml
//! apiVersion: networking.k8s.io/v1
//! kind: NetworkPolicy
//! metadata:
//!   name: default-deny-egress
//!   namespace: app
//! spec:
//!   podSelector: {}
//!   policyTypes:
//!     - Egress
//! # plus allow-dns (NF012) in the same change
//! ```
//!
//! # Fix
//!
//! Add a default-deny egress together with an allow-dns policy, then allow each
//! destination explicitly.

use netfence_model::Direction;

use crate::context::LintContext;
use crate::finding::{Finding, Level};
use crate::rules::Rule;
use crate::rules::nf030_namespace_without_default_deny_ingress::report;

pub static RULE: Rule = Rule {
    id: "NF031",
    name: "namespace-without-default-deny-egress",
    severity: Level::Info,
    check,
    source: include_str!("nf031_namespace_without_default_deny_egress.rs"),
};

fn check(ctx: &LintContext, out: &mut Vec<Finding>) {
    report(ctx, &RULE, Direction::Egress, out);
}
