//! The rules. Each lives in its own file whose `//!` comment is its documentation
//! (why it matters, a bad example, a good example, the fix); `netfence lint
//! --explain` and `docs/rules.md` are generated from those comments.
//!
//! To add a rule: copy a rule file of the same kind, give it the next free ID,
//! list it in [`RULES`], add `fixtures/lint/NFxxx/{bad,ok}.yaml`, and regenerate
//! `docs/rules.md` (`UPDATE_RULES_DOC=1 cargo test -p netfence-lint --test docs`).

use crate::context::LintContext;
use crate::finding::{Finding, Level};

pub mod nf001_and_or_peers;
pub mod nf002_peer_selects_nothing;
pub mod nf003_namespace_selector_matches_no_namespace;
pub mod nf004_pod_selector_probably_cross_namespace;
pub mod nf005_all_namespaces_selector;
pub mod nf006_unstable_label_selector;
pub mod nf007_policy_selects_no_pods;
pub mod nf008_missing_policy_types;
pub mod nf009_rules_outside_policy_types;
pub mod nf010_allow_all_rule;
pub mod nf011_allow_all_cancels_default_deny;
pub mod nf012_dns_blocked;
pub mod nf013_dns_udp_only;
pub mod nf014_dns_to_anywhere;
pub mod nf015_protocol_defaulted_tcp;
pub mod nf016_named_port_undefined;
pub mod nf017_named_port_with_ip_block;
pub mod nf018_service_port_not_target_port;
pub mod nf019_huge_port_range;
pub mod nf020_ip_block_covers_pods;
pub mod nf021_except_covers_cidr;
pub mod nf022_overlapping_excepts;
pub mod nf023_cloud_metadata_reachable;
pub mod nf024_ipv4_only_in_dual_stack;
pub mod nf025_redundant_rule;
pub mod nf026_redundant_policy;
pub mod nf027_vacuous_policy_set;
pub mod nf028_egress_without_ingress;
pub mod nf029_ingress_without_egress;
pub mod nf030_namespace_without_default_deny_ingress;
pub mod nf031_namespace_without_default_deny_egress;
pub mod nf032_pod_not_selected;
pub mod nf033_policy_in_empty_namespace;
pub mod nf034_admin_rule_shadowed;
pub mod nf035_admin_same_priority_overlap;
pub mod nf036_admin_pass_to_default;
pub mod nf037_admin_deny_networks_blocks_pods;
pub mod nf038_network_policy_reopens_admin_deny;
pub mod nf039_admin_api_generations_mixed;

/// A lint rule: a stable ID, a kebab-case name, a default severity, the check,
/// and its own source file (for the documentation).
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Level,
    pub check: fn(&LintContext, &mut Vec<Finding>),
    /// The rule's source file, `include_str!`-ed; its leading `//!` block is the
    /// documentation.
    pub source: &'static str,
}

impl Rule {
    /// The documentation: the leading `//!` lines without the comment marker.
    pub fn doc(&self) -> String {
        let mut out = String::new();
        for line in self.source.lines() {
            let Some(text) = line.strip_prefix("//!") else {
                break;
            };
            out.push_str(text.strip_prefix(' ').unwrap_or(text));
            out.push('\n');
        }
        out
    }

    /// The first line of the documentation.
    pub fn summary(&self) -> String {
        self.doc().lines().next().unwrap_or_default().to_string()
    }

    /// Whether `key` names this rule: its ID (any case) or its name.
    pub fn is(&self, key: &str) -> bool {
        self.id.eq_ignore_ascii_case(key) || self.name == key
    }
}

/// Every rule, in ID order.
pub static RULES: &[&Rule] = &[
    &nf001_and_or_peers::RULE,
    &nf002_peer_selects_nothing::RULE,
    &nf003_namespace_selector_matches_no_namespace::RULE,
    &nf004_pod_selector_probably_cross_namespace::RULE,
    &nf005_all_namespaces_selector::RULE,
    &nf006_unstable_label_selector::RULE,
    &nf007_policy_selects_no_pods::RULE,
    &nf008_missing_policy_types::RULE,
    &nf009_rules_outside_policy_types::RULE,
    &nf010_allow_all_rule::RULE,
    &nf011_allow_all_cancels_default_deny::RULE,
    &nf012_dns_blocked::RULE,
    &nf013_dns_udp_only::RULE,
    &nf014_dns_to_anywhere::RULE,
    &nf015_protocol_defaulted_tcp::RULE,
    &nf016_named_port_undefined::RULE,
    &nf017_named_port_with_ip_block::RULE,
    &nf018_service_port_not_target_port::RULE,
    &nf019_huge_port_range::RULE,
    &nf020_ip_block_covers_pods::RULE,
    &nf021_except_covers_cidr::RULE,
    &nf022_overlapping_excepts::RULE,
    &nf023_cloud_metadata_reachable::RULE,
    &nf024_ipv4_only_in_dual_stack::RULE,
    &nf025_redundant_rule::RULE,
    &nf026_redundant_policy::RULE,
    &nf027_vacuous_policy_set::RULE,
    &nf028_egress_without_ingress::RULE,
    &nf029_ingress_without_egress::RULE,
    &nf030_namespace_without_default_deny_ingress::RULE,
    &nf031_namespace_without_default_deny_egress::RULE,
    &nf032_pod_not_selected::RULE,
    &nf033_policy_in_empty_namespace::RULE,
    &nf034_admin_rule_shadowed::RULE,
    &nf035_admin_same_priority_overlap::RULE,
    &nf036_admin_pass_to_default::RULE,
    &nf037_admin_deny_networks_blocks_pods::RULE,
    &nf038_network_policy_reopens_admin_deny::RULE,
    &nf039_admin_api_generations_mixed::RULE,
];

/// The rule with this ID (any case) or name.
pub fn find(key: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.is(key))
}
