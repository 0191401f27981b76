//! The address space split into the disjoint pieces the input's ipBlocks can tell
//! apart. Every IP falls in exactly one *address group*; every ipBlock peer either
//! contains a whole group or none of it. Groups are the external endpoints.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

fn key(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

fn net_range(net: &IpNet) -> (Family, u128, u128) {
    let (fam, start) = key(net.network());
    let (_, end) = key(net.broadcast());
    (fam, start, end)
}

/// An ipBlock as the engine sees it: `cidr` minus `except`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

impl Block {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

/// One external endpoint: all addresses no ipBlock distinguishes, minus (at the
/// endpoint level) the IPs of known pods and nodes.
#[derive(Clone, Debug)]
pub struct AddressGroup {
    pub family: Family,
    /// Canonical, sorted, merged.
    pub cidrs: Vec<IpNet>,
    /// `0.0.0.0/5,8.0.0.0/7`: the comma-joined CIDR list, the endpoint's id.
    pub id: String,
}

#[derive(Debug)]
struct FamilySpace {
    /// Start of each atom, ascending, first is 0.
    starts: Vec<u128>,
    /// Address group of each atom.
    group: Vec<usize>,
}

impl FamilySpace {
    fn group_at(&self, k: u128) -> usize {
        let idx = self.starts.partition_point(|&s| s <= k).saturating_sub(1);
        self.group[idx]
    }
}

/// The addresses in group `left` of one address space and group `right` of
/// another (see [`AddressSpace::overlaps`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    pub left: usize,
    pub right: usize,
    pub family: Family,
    /// Canonical, sorted, merged.
    pub cidrs: Vec<IpNet>,
}

impl Overlap {
    /// The comma-joined CIDR list, as external endpoint ids are written.
    pub fn id(&self) -> String {
        cidr_list_id(&self.cidrs)
    }
}

#[derive(Debug)]
pub struct AddressSpace {
    v4: FamilySpace,
    v6: FamilySpace,
    pub groups: Vec<AddressGroup>,
    /// For each block (as passed to `new`), whether it contains each group.
    block_groups: Vec<Vec<bool>>,
    /// For each block, whether it is a whole address family (`/0`, no except):
    /// the only blocks certain to contain an address not known (a domain name's).
    whole_family: Vec<bool>,
}

impl AddressSpace {
    /// Splits both address families by every CIDR of `blocks`.
    pub fn new(blocks: &[Block]) -> AddressSpace {
        let mut groups = Vec::new();
        let mut block_groups = vec![Vec::new(); blocks.len()];
        let v4 = Self::split(Family::V4, blocks, &mut groups, &mut block_groups);
        let v6 = Self::split(Family::V6, blocks, &mut groups, &mut block_groups);
        AddressSpace {
            v4,
            v6,
            groups,
            block_groups,
            whole_family: blocks
                .iter()
                .map(|b| b.cidr.prefix_len() == 0 && b.except.is_empty())
                .collect(),
        }
    }

    fn split(
        fam: Family,
        blocks: &[Block],
        groups: &mut Vec<AddressGroup>,
        block_groups: &mut [Vec<bool>],
    ) -> FamilySpace {
        let mut bounds = vec![0u128];
        for b in blocks {
            for net in std::iter::once(&b.cidr).chain(&b.except) {
                let (f, start, end) = net_range(net);
                if f == fam {
                    bounds.push(start);
                    if end < fam.max() {
                        bounds.push(end + 1);
                    }
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        // Membership vector of each atom, then atoms grouped by vector.
        let mut by_vector: BTreeMap<Vec<bool>, usize> = BTreeMap::new();
        let mut atom_group = Vec::with_capacity(bounds.len());
        let mut group_ranges: Vec<Vec<(u128, u128)>> = Vec::new();
        let first_group = groups.len();
        for (i, &start) in bounds.iter().enumerate() {
            let end = bounds.get(i + 1).map_or(fam.max(), |n| n - 1);
            let ip = from_key(fam, start);
            let vector: Vec<bool> = blocks.iter().map(|b| b.contains(ip)).collect();
            let next = first_group + group_ranges.len();
            let g = *by_vector.entry(vector).or_insert(next);
            if g == next {
                group_ranges.push(Vec::new());
            }
            group_ranges[g - first_group].push((start, end));
            atom_group.push(g);
        }
        for (vector, &g) in &by_vector {
            for (bi, &inside) in vector.iter().enumerate() {
                let row = &mut block_groups[bi];
                if row.len() <= g {
                    row.resize(g + 1, false);
                }
                row[g] = inside;
            }
        }
        for ranges in group_ranges {
            let cidrs = ranges_to_cidrs(fam, ranges);
            groups.push(AddressGroup {
                family: fam,
                id: cidr_list_id(&cidrs),
                cidrs,
            });
        }
        FamilySpace {
            starts: bounds,
            group: atom_group,
        }
    }

    fn family(&self, fam: Family) -> &FamilySpace {
        match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// The address group an IP belongs to.
    pub fn group_of(&self, ip: IpAddr) -> usize {
        let (fam, k) = key(ip);
        self.family(fam).group_at(k)
    }

    /// The common refinement of two address spaces (of two versions of the input):
    /// every non-empty intersection of a group of `self` with a group of `other`.
    /// Each side treats all addresses of an overlap alike, so comparing the two
    /// sides once per overlap compares them at every address.
    pub fn overlaps(&self, other: &AddressSpace) -> Vec<Overlap> {
        let mut out = Vec::new();
        for fam in [Family::V4, Family::V6] {
            let (mine, theirs) = (self.family(fam), other.family(fam));
            let mut starts: Vec<u128> = mine.starts.iter().chain(&theirs.starts).copied().collect();
            starts.sort_unstable();
            starts.dedup();
            let mut pieces: BTreeMap<(usize, usize), Vec<(u128, u128)>> = BTreeMap::new();
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).map_or(fam.max(), |n| n - 1);
                pieces
                    .entry((mine.group_at(start), theirs.group_at(start)))
                    .or_default()
                    .push((start, end));
            }
            for ((left, right), ranges) in pieces {
                out.push(Overlap {
                    left,
                    right,
                    family: fam,
                    cidrs: ranges_to_cidrs(fam, ranges),
                });
            }
        }
        out
    }

    /// Whether block `block` is a whole address family (see `whole_family`).
    pub fn block_is_whole_family(&self, block: usize) -> bool {
        self.whole_family.get(block).copied().unwrap_or(false)
    }

    /// Whether block `block` (index into the slice given to `new`) contains group `g`.
    pub fn block_contains(&self, block: usize, g: usize) -> bool {
        self.block_groups
            .get(block)
            .and_then(|row| row.get(g))
            .copied()
            .unwrap_or(false)
    }
}

fn cidr_list_id(cidrs: &[IpNet]) -> String {
    cidrs
        .iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Ranges sorted by start, overlapping and adjacent ones merged, as the fewest
/// CIDRs.
fn ranges_to_cidrs(fam: Family, ranges: Vec<(u128, u128)>) -> Vec<IpNet> {
    let mut merged: Vec<(u128, u128)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut cidrs = Vec::new();
    for (s, e) in merged {
        range_to_cidrs(fam, s, e, &mut cidrs);
    }
    cidrs
}

/// The union of CIDRs as the fewest CIDRs, IPv4 first.
pub fn merge_cidrs(cidrs: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let mut ranges: Vec<(u128, u128)> = cidrs
            .iter()
            .map(net_range)
            .filter(|&(f, ..)| f == fam)
            .map(|(_, s, e)| (s, e))
            .collect();
        ranges.sort_unstable();
        out.extend(ranges_to_cidrs(fam, ranges));
    }
    out
}

/// A CIDR list as people read it best: per family as is, or as
/// `0.0.0.0/0 except A, B` when the addresses it leaves out take fewer CIDRs.
pub fn compact_text(cidrs: &[IpNet]) -> String {
    let mut parts = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let mine: Vec<&IpNet> = cidrs.iter().filter(|n| net_range(n).0 == fam).collect();
        if !mine.is_empty() {
            parts.push(compact_family(fam, &mine));
        }
    }
    parts.join(", ")
}

fn compact_family(fam: Family, cidrs: &[&IpNet]) -> String {
    let listed = || {
        cidrs
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut ranges: Vec<(u128, u128)> = cidrs
        .iter()
        .map(|n| {
            let (_, start, end) = net_range(n);
            (start, end)
        })
        .collect();
    ranges.sort_unstable();
    let mut outside = Vec::new();
    // The first address not covered yet; None once the family's end is covered.
    let mut next = Some(0u128);
    for (start, end) in ranges {
        let Some(n) = next else { break };
        if n < start {
            outside.push((n, start - 1));
        }
        if end >= n {
            next = end.checked_add(1).filter(|&e| e <= fam.max());
        }
    }
    if let Some(n) = next {
        outside.push((n, fam.max()));
    }
    let outside = ranges_to_cidrs(fam, outside);
    if outside.is_empty() || outside.len() >= cidrs.len() {
        return listed();
    }
    let all = match fam {
        Family::V4 => "0.0.0.0/0",
        Family::V6 => "::/0",
    };
    let except: Vec<String> = outside.iter().map(IpNet::to_string).collect();
    format!("{all} except {}", except.join(", "))
}

fn from_key(fam: Family, k: u128) -> IpAddr {
    match fam {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(k as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(k)),
    }
}

/// The minimal list of CIDRs covering `[start, end]`.
fn range_to_cidrs(fam: Family, mut start: u128, end: u128, out: &mut Vec<IpNet>) {
    let bits = fam.bits();
    loop {
        // Largest block aligned at `start` that does not pass `end`.
        let mut size_bits = if start == 0 {
            bits
        } else {
            start.trailing_zeros().min(bits)
        };
        while size_bits > 0 {
            let last = if size_bits >= 128 {
                u128::MAX
            } else {
                start + ((1u128 << size_bits) - 1)
            };
            if last <= end {
                break;
            }
            size_bits -= 1;
        }
        let prefix = (bits - size_bits) as u8;
        let net = match fam {
            Family::V4 => Ipv4Net::new(Ipv4Addr::from(start as u32), prefix).map(IpNet::V4),
            Family::V6 => Ipv6Net::new(Ipv6Addr::from(start), prefix).map(IpNet::V6),
        };
        if let Ok(net) = net {
            out.push(net);
        }
        let last = if size_bits >= 128 {
            u128::MAX
        } else {
            start + ((1u128 << size_bits) - 1)
        };
        if last >= end {
            break;
        }
        start = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap() // ok: test
    }

    #[test]
    fn no_blocks_gives_one_group_per_family() {
        let space = AddressSpace::new(&[]);
        assert_eq!(space.groups.len(), 2);
        assert_eq!(space.groups[0].id, "0.0.0.0/0");
        assert_eq!(space.groups[1].id, "::/0");
    }

    #[test]
    fn block_with_except_splits_three_ways() {
        let blocks = vec![Block {
            cidr: net("10.0.0.0/8"),
            except: vec![net("10.1.0.0/16")],
        }];
        let space = AddressSpace::new(&blocks);
        let inside = space.group_of("10.2.0.1".parse().unwrap()); // ok: test
        let except = space.group_of("10.1.2.3".parse().unwrap()); // ok: test
        let outside = space.group_of("8.8.8.8".parse().unwrap()); // ok: test
        assert!(space.block_contains(0, inside));
        assert!(!space.block_contains(0, except));
        assert!(!space.block_contains(0, outside));
        // The except range and the outside share a membership vector: one group.
        assert_eq!(except, outside);
        assert_eq!(
            space.groups[inside].id,
            "10.0.0.0/16,10.2.0.0/15,10.4.0.0/14,10.8.0.0/13,10.16.0.0/12,10.32.0.0/11,10.64.0.0/10,10.128.0.0/9"
        );
        assert!(
            space.groups[outside]
                .id
                .starts_with("0.0.0.0/5,8.0.0.0/7,10.1.0.0/16,11.0.0.0/8")
        );
    }

    #[test]
    fn overlaps_intersect_both_splits() {
        // One side splits at the /24, the other at the /25 inside it.
        let wide = AddressSpace::new(&[Block {
            cidr: net("203.0.113.0/24"),
            except: vec![],
        }]);
        let narrow = AddressSpace::new(&[Block {
            cidr: net("203.0.113.0/24"),
            except: vec![net("203.0.113.128/25")],
        }]);
        let overlaps = wide.overlaps(&narrow);
        let ids: Vec<(usize, usize, String)> =
            overlaps.iter().map(|o| (o.left, o.right, o.id())).collect();
        let w24 = wide.group_of("203.0.113.1".parse().unwrap()); // ok: test
        let w_out = wide.group_of("8.8.8.8".parse().unwrap()); // ok: test
        let n25 = narrow.group_of("203.0.113.1".parse().unwrap()); // ok: test
        let n_out = narrow.group_of("8.8.8.8".parse().unwrap()); // ok: test
        assert!(ids.contains(&(w24, n25, "203.0.113.0/25".into())));
        assert!(ids.contains(&(w24, n_out, "203.0.113.128/25".into())));
        assert!(ids.iter().any(|(l, r, id)| (*l, *r) == (w_out, n_out)
            && id.starts_with("0.0.0.0/1,128.0.0.0/2")
            && !id.contains("203.0.113")));
        // IPv6 is one group on both sides.
        assert!(ids.iter().any(|(_, _, id)| id == "::/0"));
        assert_eq!(overlaps.len(), 4);
        // Every address is in exactly one overlap.
        for ip in [
            "203.0.113.1",
            "203.0.113.200",
            "8.8.8.8",
            "255.255.255.255",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap(); // ok: test
            let holders = overlaps
                .iter()
                .filter(|o| o.cidrs.iter().any(|c| c.contains(&ip)))
                .count();
            assert_eq!(holders, 1, "{ip}");
        }
    }

    #[test]
    fn merge_cidrs_unites_per_family() {
        let merged = merge_cidrs(&[
            net("203.0.113.128/25"),
            net("::/1"),
            net("203.0.113.0/25"),
            net("203.0.113.64/26"),
            net("8000::/1"),
        ]);
        let s: Vec<String> = merged.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["203.0.113.0/24", "::/0"]);
        assert!(merge_cidrs(&[]).is_empty());
    }

    #[test]
    fn compact_text_prefers_the_shorter_form() {
        assert_eq!(compact_text(&[net("203.0.113.0/25")]), "203.0.113.0/25");
        let space = AddressSpace::new(&[Block {
            cidr: net("203.0.113.0/24"),
            except: vec![],
        }]);
        let rest = space.group_of("8.8.8.8".parse().unwrap()); // ok: test
        assert_eq!(
            compact_text(&space.groups[rest].cidrs),
            "0.0.0.0/0 except 203.0.113.0/24"
        );
        let both_ends = [net("0.0.0.0/1"), net("255.0.0.0/8")];
        assert_eq!(compact_text(&both_ends), "0.0.0.0/1, 255.0.0.0/8");
        assert_eq!(compact_text(&[net("::/0")]), "::/0");
        let mut both = space.groups[rest].cidrs.clone();
        both.push(net("::/0"));
        assert_eq!(compact_text(&both), "0.0.0.0/0 except 203.0.113.0/24, ::/0");
        assert_eq!(compact_text(&[]), "");
    }

    #[test]
    fn cidr_cover_is_exact() {
        let mut out = Vec::new();
        range_to_cidrs(Family::V4, 0, u128::from(u32::MAX), &mut out);
        assert_eq!(out, vec![net("0.0.0.0/0")]);
        out.clear();
        range_to_cidrs(Family::V4, 1, 6, &mut out);
        let s: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/31", "0.0.0.6/32"]);
        out.clear();
        range_to_cidrs(Family::V6, 0, u128::MAX, &mut out);
        assert_eq!(out, vec![net("::/0")]);
    }
}
