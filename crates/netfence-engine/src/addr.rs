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

#[derive(Debug)]
pub struct AddressSpace {
    v4: FamilySpace,
    v6: FamilySpace,
    pub groups: Vec<AddressGroup>,
    /// For each block (as passed to `new`), whether it contains each group.
    block_groups: Vec<Vec<bool>>,
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
            let mut cidrs = Vec::new();
            let mut merged: Vec<(u128, u128)> = Vec::new();
            for (s, e) in ranges {
                match merged.last_mut() {
                    Some(last) if last.1.checked_add(1) == Some(s) => last.1 = e,
                    _ => merged.push((s, e)),
                }
            }
            for (s, e) in merged {
                range_to_cidrs(fam, s, e, &mut cidrs);
            }
            let id = cidrs
                .iter()
                .map(IpNet::to_string)
                .collect::<Vec<_>>()
                .join(",");
            groups.push(AddressGroup {
                family: fam,
                cidrs,
                id,
            });
        }
        FamilySpace {
            starts: bounds,
            group: atom_group,
        }
    }

    /// The address group an IP belongs to.
    pub fn group_of(&self, ip: IpAddr) -> usize {
        let (fam, k) = key(ip);
        let space = match fam {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        };
        let idx = space.starts.partition_point(|&s| s <= k).saturating_sub(1);
        space.group[idx]
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
