//! Analyses over the engine's per-class-pair provenance that several rules
//! share: which rules are covered by others (redundancy) and which granted
//! flows the other end denies (one-sided flows).

use std::collections::{BTreeMap, BTreeSet};

use netfence_engine::classes::dir_index;
use netfence_engine::{ConnSet, EpId};
use netfence_model::Direction;

use crate::context::{LintContext, Side};

/// A rule: policy, direction, index in that direction's rules.
pub type RuleKey = (usize, Direction, usize);

#[derive(Debug, Default)]
pub struct Redundancy {
    /// Rules that grant something somewhere, each time also granted by other
    /// rules; with the rules that cover them.
    pub covered: BTreeMap<RuleKey, BTreeSet<RuleKey>>,
    /// Rules that grant something at least once.
    pub contributing: BTreeSet<RuleKey>,
}

/// The analyses over granted flows, computed in one pass over them (see
/// [`LintContext::for_each_flow`]) and shared by the rules that read them.
#[derive(Debug, Default)]
pub struct FlowAnalyses {
    pub redundancy: Redundancy,
    /// Per direction (ingress, egress): see [`one_sided`].
    one_sided: [Vec<OneSided>; 2],
}

/// Runs every flow analysis over the granted flows: each side is decided once
/// and dropped (holding every side of a large input took gigabytes).
pub fn analyse_flows(ctx: &LintContext) -> FlowAnalyses {
    let mut r = Redundancy::default();
    let mut needed: BTreeSet<RuleKey> = BTreeSet::new();
    let mut found: [BTreeMap<(usize, usize, usize), OneSided>; 2] = Default::default();
    ctx.for_each_flow(|side| {
        add_redundancy(side, &mut r, &mut needed);
        add_one_sided(ctx, side, &mut found[dir_index(side.dir)]);
    });
    r.covered.retain(|k, _| !needed.contains(k));
    FlowAnalyses {
        redundancy: r,
        one_sided: found.map(|f| {
            let mut out: Vec<OneSided> = f.into_values().collect();
            for o in &mut out {
                o.pairs.sort_unstable();
                o.pairs.dedup();
            }
            out
        }),
    }
}

/// For one side: whether each granting rule's connections are contained in the
/// union of the other rules' grants there.
fn add_redundancy(side: &Side, r: &mut Redundancy, needed: &mut BTreeSet<RuleKey>) {
    for (i, g) in side.grants.iter().enumerate() {
        let key = (g.policy, side.dir, g.rule);
        r.contributing.insert(key);
        let others = side
            .grants
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .fold(ConnSet::none(), |acc, (_, o)| acc.union(&o.conns));
        if g.conns.is_subset(&others) {
            let by = r.covered.entry(key).or_default();
            by.extend(
                side.grants
                    .iter()
                    .enumerate()
                    .filter(|&(j, o)| j != i && !o.conns.intersect(&g.conns).is_empty())
                    .map(|(_, o)| (o.policy, side.dir, o.rule)),
            );
        } else {
            needed.insert(key);
        }
    }
}

/// Policies whose removal changes no connection: every rule is covered by
/// other rules (or grants nothing), at least one rule grants something, and
/// every pod they isolate is isolated in that direction by another policy too.
/// Policies without rules are never reported: a default-deny's isolation is its
/// purpose even when other policies isolate the same pods.
pub fn redundant_policies(ctx: &LintContext, r: &Redundancy) -> BTreeMap<usize, BTreeSet<RuleKey>> {
    let engine = ctx.engine;
    let mut out = BTreeMap::new();
    for (p, policy) in ctx.cluster().policies.iter().enumerate() {
        let rules: Vec<RuleKey> = Direction::BOTH
            .into_iter()
            .flat_map(|d| (0..policy.effective_rules(d).len()).map(move |i| (p, d, i)))
            .collect();
        if rules.is_empty()
            || !rules.iter().any(|k| r.covered.contains_key(k))
            || !rules
                .iter()
                .all(|k| r.covered.contains_key(k) || !r.contributing.contains(k))
        {
            continue;
        }
        let isolation_kept = Direction::BOTH
            .into_iter()
            .filter(|&d| policy.isolates(d))
            .all(|d| {
                ctx.selected_pods(p)
                    .iter()
                    .all(|&e| engine.isolating(e, d).iter().any(|&q| q != p))
            });
        if !isolation_kept {
            continue;
        }
        let by: BTreeSet<RuleKey> = rules
            .iter()
            .filter_map(|k| r.covered.get(k))
            .flatten()
            .copied()
            .filter(|k| k.0 != p)
            .collect();
        out.insert(p, by);
    }
    out
}

/// A rule that names pods and grants them a flow that the other end denies.
#[derive(Debug)]
pub struct OneSided {
    pub policy: usize,
    pub dir: Direction,
    pub rule: usize,
    pub peer: usize,
    /// (source, destination) pairs, in endpoint order.
    pub pairs: Vec<(EpId, EpId)>,
    /// What the rule grants them.
    pub conns: ConnSet,
    /// The policies isolating the other end.
    pub blocked_by: BTreeSet<usize>,
}

/// Grants in direction `dir` (egress: the source's rule; ingress: the
/// destination's) that name their peer pods, whose connections the other end's
/// isolation denies entirely.
pub fn one_sided<'a>(ctx: &'a LintContext, dir: Direction) -> &'a [OneSided] {
    &ctx.flows().one_sided[dir_index(dir)]
}

fn add_one_sided(
    ctx: &LintContext,
    side: &Side,
    found: &mut BTreeMap<(usize, usize, usize), OneSided>,
) {
    let engine = ctx.engine;
    let dir = side.dir;
    let other_dir = match dir {
        Direction::Egress => Direction::Ingress,
        Direction::Ingress => Direction::Egress,
    };
    let (src, dst) = match dir {
        Direction::Egress => (side.subject, side.peer),
        Direction::Ingress => (side.peer, side.subject),
    };
    // The other end decides with its own policies (the peer class is the
    // subject there); asked only for grants that could be one-sided.
    let mut other_allowed: Option<Option<ConnSet>> = None;
    for g in &side.grants {
        let Some(peer) = g.peer else { continue };
        if !ctx.grant_names_pods(dir, g) {
            continue;
        }
        let other = other_allowed
            .get_or_insert_with(|| ctx.side_allowed(other_dir, side.peer, side.subject));
        let Some(other) = other else { return };
        if !g.conns.intersect(other).is_empty() {
            continue;
        }
        let pairs: Vec<(EpId, EpId)> = engine.classes[src]
            .members
            .iter()
            .flat_map(|&a| engine.classes[dst].members.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| a != b && ctx.is_real_pod(a) && ctx.is_real_pod(b))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let entry = found
            .entry((g.policy, g.rule, peer))
            .or_insert_with(|| OneSided {
                policy: g.policy,
                dir,
                rule: g.rule,
                peer,
                pairs: Vec::new(),
                conns: ConnSet::none(),
                blocked_by: BTreeSet::new(),
            });
        entry.pairs.extend(pairs);
        entry.conns.union_with(&g.conns);
        let blocked_subject = engine.classes[side.peer].rep;
        entry
            .blocked_by
            .extend(engine.isolating(blocked_subject, other_dir).iter().copied());
    }
}

/// The fix `netfence check` proposes (and verifies) for one connection of
/// `conns` from `src` to `dst`, as help text.
pub fn verified_fix(ctx: &LintContext, src: EpId, dst: EpId, conns: &ConnSet) -> Option<String> {
    let (protocol, port) = netfence_model::Protocol::ALL
        .into_iter()
        .find_map(|p| conns.get(p).ranges().first().map(|&(lo, _)| (p, lo)))?;
    let explanation = ctx.engine.explain(src, dst);
    if netfence_fix::covers(&explanation.allowed, Some(port), protocol) {
        return None;
    }
    let proposal = netfence_fix::propose(
        ctx.engine,
        ctx.sources,
        ctx.load_options,
        src,
        dst,
        Some(port),
        protocol,
        &explanation,
    )
    .filter(|p| p.verified)?;
    let mut text = format!(
        "for {} -> {} on {protocol} {port}, netfence proposes (verified: the engine then allows it):",
        ctx.engine.endpoint(src).id,
        ctx.engine.endpoint(dst).id
    );
    for c in &proposal.changes {
        text.push_str(&format!(
            "\n{} {}: {}\n---\n{}",
            c.action, c.policy, c.why, c.yaml
        ));
    }
    Some(text)
}
