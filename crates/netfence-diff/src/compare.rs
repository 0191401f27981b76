//! The comparison: endpoints matched across sides, decided once per pair of
//! joints (endpoints with the same class on both sides), then attributed to
//! workload pairs.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use netfence_engine::addr::{compact_text, merge_cidrs};
use netfence_engine::delta::{Decision, Group, Joints, Matched};
use netfence_engine::{ConnSet, Delta, Engine, EpId, PortSet, SideOutcome, TierStep};
use netfence_model::{AdminAction, Direction, Protocol};
use netfence_text::policy_location;

use crate::{
    Callout, Change, Diff, EndpointGroup, PodPairs, Posture, PostureChange, Reason, Side, Why,
    summarize,
};

/// Compares the reachability of two versions of the input.
pub fn diff(before: &Side, after: &Side) -> Diff {
    let delta = Delta::between(before.engine, after.engine);
    let (matched, joints) = (&delta.matched, &delta.joints);
    let changes = changes(before, after, &delta);
    let mut callouts = exposure_callouts(&changes);
    callouts.extend(crate::admin::admin_deny_callouts(&changes));
    callouts.extend(dns_callouts(before, after, matched, joints));
    let default_deny = posture_changes(before, after);
    callouts.extend(
        default_deny
            .iter()
            .filter(|p| p.change == Posture::Lost)
            .map(|p| Callout::DefaultDenyLost {
                namespace: p.namespace.clone(),
                direction: p.direction,
                policies: p.policies.clone(),
            }),
    );
    let mut d = Diff {
        before: before.label.clone(),
        after: after.label.clone(),
        summary: Default::default(),
        callouts,
        changes,
        appeared: only_in(after.engine, &matched.ids_after, &matched.ids_before),
        disappeared: only_in(before.engine, &matched.ids_before, &matched.ids_after),
        default_deny,
        admin_policies: crate::admin::admin_policy_changes(before, after),
    };
    d.summary = summarize(&d);
    d
}

/// Endpoints of `engine` (with ids `mine`) missing from `theirs`, by group.
fn only_in(
    engine: &Engine,
    mine: &HashMap<String, EpId>,
    theirs: &HashMap<String, EpId>,
) -> Vec<EndpointGroup> {
    let mut groups: BTreeMap<String, EndpointGroup> = BTreeMap::new();
    for (id, &ep) in mine {
        if theirs.contains_key(id) {
            continue;
        }
        let e = engine.endpoint(ep);
        let name = engine.group_of(ep);
        let entry = groups.entry(name.clone()).or_insert_with(|| EndpointGroup {
            group: name.clone(),
            kind: e.kind.clone(),
            endpoints: Vec::new(),
            namespace: e.namespace.clone(),
        });
        if *id != name {
            entry.endpoints.push(id.clone());
        }
    }
    let mut out: Vec<EndpointGroup> = groups.into_values().collect();
    for g in &mut out {
        g.endpoints.sort();
    }
    out
}

fn changes(before: &Side, after: &Side, delta: &Delta) -> Vec<Change> {
    let (matched, joints) = (&delta.matched, &delta.joints);
    let differing = &delta.decisions;
    let pieces: Vec<(usize, usize, usize)> = delta
        .pieces
        .iter()
        .map(|p| (p.decision, p.src, p.dst))
        .collect();
    // Block pairs per output group pair, then per distinct (before, after).
    type Variants<'a> = BTreeMap<(&'a ConnSet, &'a ConnSet), Vec<(usize, usize, usize)>>;
    let mut by_groups: BTreeMap<(usize, usize), Variants> = BTreeMap::new();
    for &(ci, a, b) in &pieces {
        if joints.pair_count(a, b) == 0 {
            continue;
        }
        let change = &differing[ci];
        by_groups
            .entry((joints.blocks[a].group, joints.blocks[b].group))
            .or_default()
            .entry((&change.before, &change.after))
            .or_default()
            .push((ci, a, b));
    }
    let mut why_cache: HashMap<usize, Why> = HashMap::new();
    let mut raw = Vec::new();
    for ((gs, gd), variants) in by_groups {
        let (src_group, dst_group) = (&matched.groups[gs], &matched.groups[gd]);
        let total = if gs == gd {
            src_group.members * (src_group.members - 1)
        } else {
            src_group.members * dst_group.members
        };
        for ((b, a), pieces) in variants {
            let covered: usize = pieces
                .iter()
                .map(|&(_, x, y)| joints.pair_count(x, y))
                .sum();
            // Several variants each cover part of the pairs, so only one can be whole.
            let only = if covered == total {
                Vec::new()
            } else {
                pod_pairs(matched, joints, &pieces)
            };
            let mut why = Why::default();
            for &(ci, ..) in &pieces {
                let w = why_cache
                    .entry(ci)
                    .or_insert_with(|| why_of(before, after, matched, &differing[ci]));
                merge(&mut why.before, &w.before);
                merge(&mut why.after, &w.after);
            }
            raw.push(RawChange {
                src: vec![gs],
                dst: vec![gd],
                before: b.clone(),
                after: a.clone(),
                only,
                why,
            });
        }
    }
    let raw = merge_external(raw, &matched.groups, |c| &mut c.src, |c| &c.dst);
    let raw = merge_external(raw, &matched.groups, |c| &mut c.dst, |c| &c.src);
    let mut out: Vec<Change> = raw
        .into_iter()
        .map(|c| {
            let src = Shown::of(&matched.groups, &c.src);
            let dst = Shown::of(&matched.groups, &c.dst);
            Change {
                added: c.after.difference(&c.before),
                removed: c.before.difference(&c.after),
                before: c.before,
                after: c.after,
                only: c.only,
                why: c.why,
                src: src.name,
                dst: dst.name,
                src_label: src.label,
                dst_label: dst.label,
                src_external: src.external,
                src_namespace: src.namespace,
                dst_namespace: dst.namespace,
            }
        })
        .collect();
    // By namespace, sources from outside the namespaces (external ranges) last.
    out.sort_by(|x, y| {
        let key = |c: &Change| {
            (
                c.section().is_none(),
                c.section().map(str::to_string),
                c.src_external,
            )
        };
        key(x)
            .cmp(&key(y))
            .then_with(|| (&x.src, &x.dst).cmp(&(&y.src, &y.dst)))
    });
    out
}

/// A change between groups; one end may be several external groups that
/// changed alike.
struct RawChange {
    src: Vec<usize>,
    dst: Vec<usize>,
    before: ConnSet,
    after: ConnSet,
    only: Vec<PodPairs>,
    why: Why,
}

/// Merges changes whose `end` is external and otherwise identical (other end,
/// sets and reasons): a range split only by the other side's ipBlocks, or IPv4
/// and IPv6, reads as one line.
fn merge_external(
    changes: Vec<RawChange>,
    groups: &[Group],
    end: fn(&mut RawChange) -> &mut Vec<usize>,
    other: fn(&RawChange) -> &Vec<usize>,
) -> Vec<RawChange> {
    let mut out: Vec<RawChange> = Vec::new();
    let mut buckets: HashMap<(Vec<usize>, ConnSet, ConnSet), Vec<usize>> = HashMap::new();
    for mut c in changes {
        let external = end(&mut c).iter().all(|&g| groups[g].external);
        if !external || !c.only.is_empty() {
            out.push(c);
            continue;
        }
        let bucket = buckets
            .entry((other(&c).clone(), c.before.clone(), c.after.clone()))
            .or_default();
        match bucket.iter().find(|&&i| out[i].why == c.why) {
            Some(&i) => {
                let more = std::mem::take(end(&mut c));
                end(&mut out[i]).extend(more);
            }
            None => {
                bucket.push(out.len());
                out.push(c);
            }
        }
    }
    out
}

/// How one end of a change is shown: a group, or the union of external groups.
struct Shown {
    name: String,
    label: String,
    namespace: Option<String>,
    external: bool,
}

impl Shown {
    fn of(groups: &[Group], members: &[usize]) -> Shown {
        if let [g] = members {
            let g = &groups[*g];
            return Shown {
                name: g.name.clone(),
                label: g.label.clone(),
                namespace: g.namespace.clone(),
                external: g.external,
            };
        }
        let cidrs: Vec<IpNet> = members
            .iter()
            .flat_map(|&g| groups[g].cidrs.iter().copied())
            .collect();
        let merged = merge_cidrs(&cidrs);
        Shown {
            name: merged
                .iter()
                .map(IpNet::to_string)
                .collect::<Vec<_>>()
                .join(","),
            label: compact_text(&merged),
            namespace: None,
            external: true,
        }
    }
}

fn pod_pairs(
    matched: &Matched,
    joints: &Joints,
    pieces: &[(usize, usize, usize)],
) -> Vec<PodPairs> {
    let ids = |cell: usize| -> Vec<String> {
        let mut v: Vec<String> = joints.blocks[cell]
            .members
            .iter()
            .map(|&i| matched.shared[i].id.clone())
            .collect();
        v.sort();
        v
    };
    let mut by_src: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for &(_, a, b) in pieces {
        by_src.entry(ids(a)).or_default().extend(ids(b));
    }
    by_src
        .into_iter()
        .map(|(src, mut dst)| {
            dst.sort();
            dst.dedup();
            PodPairs { src, dst }
        })
        .collect()
}

fn merge(into: &mut Vec<Reason>, from: &[Reason]) {
    for r in from {
        if !into.contains(r) {
            into.push(r.clone());
        }
    }
}

/// Why a joint pair changed: added connections were denied before and are
/// allowed after; removed ones the reverse.
fn why_of(before: &Side, after: &Side, matched: &Matched, change: &Decision) -> Why {
    let (s, d) = (&matched.shared[change.src], &matched.shared[change.dst]);
    let added = change.after.difference(&change.before);
    let removed = change.before.difference(&change.after);
    let mut why = Why::default();
    reasons(before, s.before, d.before, &added, false, &mut why.before);
    reasons(before, s.before, d.before, &removed, true, &mut why.before);
    reasons(after, s.after, d.after, &added, true, &mut why.after);
    reasons(after, s.after, d.after, &removed, false, &mut why.after);
    why
}

/// On one side, for `conns` between `src` and `dst`: what allows them
/// (`allowed`), or what isolates the direction that denies them.
fn reasons(
    side: &Side,
    src: EpId,
    dst: EpId,
    conns: &ConnSet,
    allowed: bool,
    out: &mut Vec<Reason>,
) {
    if conns.is_empty() {
        return;
    }
    let engine = side.engine;
    let (egress_exception, ingress_exception) = engine.exceptions(src, dst);
    for (direction, subject, peer, exception) in [
        (Direction::Egress, src, dst, egress_exception),
        (Direction::Ingress, dst, src, ingress_exception),
    ] {
        let (sc, pc) = (engine.class_of[subject], engine.class_of[peer]);
        // Where admin policies judge the subject, the tiers say which part
        // each decided; the NetworkPolicy tier is asked only about the rest.
        let mut np_conns = conns.clone();
        let mut found: Vec<Reason> = Vec::new();
        if exception.is_none() && !engine.classes[sc].admin_subject_of.is_empty() {
            let tiers = engine.tiers(direction, sc, pc, false);
            for step in &tiers.steps {
                let decides = match step.action {
                    AdminAction::Accept => allowed,
                    AdminAction::Deny => !allowed,
                    AdminAction::Pass => false,
                };
                if decides && !step.conns.intersect(conns).is_empty() {
                    found.push(admin_reason(side, direction, step));
                }
            }
            np_conns = conns.intersect(&tiers.to_network_policy);
        }
        let mut grants = Vec::new();
        let outcome = engine.side_classes(direction, sc, pc, |c| grants.push(c));
        let np_found: Vec<Reason> = match (allowed, exception, outcome) {
            _ if np_conns.is_empty() => Vec::new(),
            (true, Some(exception), _) => vec![Reason::Exception {
                direction,
                exception,
            }],
            (true, None, SideOutcome::NotIsolated) => vec![Reason::NotIsolated { direction }],
            (true, None, SideOutcome::Isolated(_)) => grants
                .iter()
                .filter(|g| !g.conns.intersect(&np_conns).is_empty())
                .map(|g| {
                    let rule = format!("spec.{}[{}]", direction.as_str(), g.rule);
                    Reason::Allows {
                        policy: engine.cluster.policies[g.policy].id(),
                        direction,
                        location: policy_location(side.sources, engine.cluster, g.policy, &rule),
                        rule,
                    }
                })
                .collect(),
            (false, None, SideOutcome::Isolated(open)) if !np_conns.is_subset(&open) => engine
                .isolating(subject, direction)
                .iter()
                .map(|&p| Reason::Isolates {
                    policy: engine.cluster.policies[p].id(),
                    direction,
                    location: policy_location(side.sources, engine.cluster, p, "spec.podSelector"),
                })
                .collect(),
            _ => Vec::new(),
        };
        found.extend(np_found);
        merge(out, &found);
    }
}

/// An admin or baseline rule that decided part of a change.
fn admin_reason(side: &Side, direction: Direction, step: &TierStep) -> Reason {
    let cluster = side.engine.cluster;
    let policy = &cluster.admin_policies[step.policy];
    let rule = format!("spec.{}[{}]", direction.as_str(), step.rule);
    Reason::Admin {
        policy: policy.id(),
        tier: step.tier,
        priority: policy.priority,
        direction,
        location: netfence_text::admin_policy_location(side.sources, cluster, step.policy, &rule),
        rule,
        action: step.action.spelled(policy.api).to_string(),
    }
}

/// Newly exposed to external ranges, newly reachable from other namespaces: both
/// are about the destination's ingress, read off the changes: connections from
/// there added where the destination's ingress refused them before. (A source
/// newly allowed to leave towards a destination that already accepted it, such
/// as allow-dns towards cluster DNS, exposes nothing new.)
fn exposure_callouts(changes: &[Change]) -> Vec<Callout> {
    #[derive(Default)]
    struct Exposure {
        from: Vec<String>,
        added: ConnSet,
        namespace: Option<String>,
    }
    let mut external: BTreeMap<&str, Exposure> = BTreeMap::new();
    let mut cross: BTreeMap<&str, Exposure> = BTreeMap::new();
    let ingress_opened = |c: &&Change| {
        c.why.before.iter().any(|r| {
            matches!(
                r,
                Reason::Isolates {
                    direction: Direction::Ingress,
                    ..
                }
            )
        })
    };
    for c in changes.iter().filter(ingress_opened) {
        let target = if c.src_external {
            Some(&mut external)
        } else if c.src_namespace.is_some()
            && c.dst_namespace.is_some()
            && c.src_namespace != c.dst_namespace
        {
            Some(&mut cross)
        } else {
            None
        };
        if let Some(map) = target {
            let e = map.entry(c.dst.as_str()).or_default();
            e.from.push(c.src_label.clone());
            e.added.union_with(&c.added);
            e.namespace = c.dst_namespace.clone();
        }
    }
    let finish = |mut e: Exposure| {
        e.from.sort();
        e.from.dedup();
        e
    };
    let mut out: Vec<Callout> = external
        .into_iter()
        .map(|(dst, e)| {
            let e = finish(e);
            Callout::ExternalExposure {
                destination: dst.to_string(),
                from: e.from,
                added: e.added,
                namespace: e.namespace,
            }
        })
        .collect();
    out.extend(cross.into_iter().map(|(dst, e)| {
        let e = finish(e);
        Callout::CrossNamespace {
            destination: dst.to_string(),
            from: e.from,
            added: e.added,
            namespace: e.namespace,
        }
    }));
    out
}

/// Pods that reached cluster DNS on 53 (per protocol) before and do not after.
fn dns_callouts(before: &Side, after: &Side, matched: &Matched, joints: &Joints) -> Vec<Callout> {
    let (eb, ea) = (before.engine, after.engine);
    let (dns_b, dns_a) = (eb.cluster_dns_endpoints(), ea.cluster_dns_endpoints());
    let is_dns = |i: usize| {
        let s = &matched.shared[i];
        eb.is_cluster_dns(s.before) || ea.is_cluster_dns(s.after)
    };
    struct Lost {
        pods: Vec<String>,
        isolated_by: Vec<String>,
    }
    let mut lost_by_group: BTreeMap<usize, BTreeMap<ConnSet, Lost>> = BTreeMap::new();
    // Towards DNS pods that act as nodes (hostNetwork), a pod's node matters.
    let dns_node_like = dns_b.iter().any(|&d| eb.endpoint(d).acts_as_node.is_some())
        || dns_a.iter().any(|&d| ea.endpoint(d).acts_as_node.is_some());
    for (joint, cells) in joints.cells_of.iter().enumerate() {
        let blocks: Vec<usize> = if dns_node_like && !joints.node_like[joint] {
            cells
                .iter()
                .flat_map(|&c| joints.node_blocks_of[c].iter().copied())
                .collect()
        } else {
            cells.clone()
        };
        for block in blocks {
            let b = &joints.blocks[block];
            // DNS pods reach themselves; the other members answer alike.
            let pods: Vec<usize> = b.members.iter().copied().filter(|&i| !is_dns(i)).collect();
            let Some(&rep) = pods.first() else { continue };
            let s = &matched.shared[rep];
            if !matched.groups[s.group].pod_like {
                continue;
            }
            let (was, now) = (
                eb.dns_reach(s.before, &dns_b),
                ea.dns_reach(s.after, &dns_a),
            );
            let mut lost = ConnSet::none();
            if was.udp && !now.udp {
                lost.union_with(&ConnSet::of(Protocol::Udp, PortSet::single(53)));
            }
            if was.tcp && !now.tcp {
                lost.union_with(&ConnSet::of(Protocol::Tcp, PortSet::single(53)));
            }
            if lost.is_empty() {
                continue;
            }
            let entry = lost_by_group
                .entry(b.group)
                .or_default()
                .entry(lost)
                .or_insert_with(|| Lost {
                    pods: Vec::new(),
                    isolated_by: ea
                        .isolating(s.after, Direction::Egress)
                        .iter()
                        .map(|&p| ea.cluster.policies[p].id())
                        .collect(),
                });
            entry
                .pods
                .extend(pods.iter().map(|&i| matched.shared[i].id.clone()));
        }
    }
    let mut out = Vec::new();
    for (g, by_lost) in lost_by_group {
        let group = &matched.groups[g];
        for (lost, mut l) in by_lost {
            l.pods.sort();
            let whole = l.pods.len() == group.members;
            out.push(Callout::DnsBroken {
                pod: group.name.clone(),
                lost,
                isolated_by: l.isolated_by,
                only: if whole { Vec::new() } else { l.pods },
                namespace: group.namespace.clone(),
            });
        }
    }
    out
}

/// Namespaces (on both sides) whose default-deny appeared or disappeared.
fn posture_changes(before: &Side, after: &Side) -> Vec<PostureChange> {
    let (cb, ca) = (before.engine.cluster, after.engine.cluster);
    let (deny_b, deny_a) = (
        cb.default_deny_by_namespace(),
        ca.default_deny_by_namespace(),
    );
    let policies = |map: &std::collections::HashMap<&str, [Vec<usize>; 2]>, ns: &str, d: usize| {
        map.get(ns).map(|x| x[d].clone()).unwrap_or_default()
    };
    let mut out = Vec::new();
    for ns in &cb.namespaces {
        if ca.namespace(&ns.name).is_none() {
            continue;
        }
        for (d, direction) in Direction::BOTH.into_iter().enumerate() {
            let was = policies(&deny_b, &ns.name, d);
            let now = policies(&deny_a, &ns.name, d);
            let (change, cluster, policies) = match (was.is_empty(), now.is_empty()) {
                (false, true) => (Posture::Lost, cb, was),
                (true, false) => (Posture::Gained, ca, now),
                _ => continue,
            };
            out.push(PostureChange {
                namespace: ns.name.clone(),
                direction,
                change,
                policies: policies.iter().map(|&p| cluster.policies[p].id()).collect(),
            });
        }
    }
    out
}
