//! Sets of ports and connection sets, as sorted disjoint inclusive intervals.

use std::fmt;

use netfence_model::Protocol;
use serde::{Serialize, Serializer};

/// Sorted, disjoint, non-adjacent inclusive ranges of `u16` ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn empty() -> Self {
        PortSet { ranges: Vec::new() }
    }

    pub fn full() -> Self {
        PortSet {
            ranges: vec![(0, u16::MAX)],
        }
    }

    pub fn range(lo: u16, hi: u16) -> Self {
        if lo > hi {
            return PortSet::empty();
        }
        PortSet {
            ranges: vec![(lo, hi)],
        }
    }

    pub fn single(p: u16) -> Self {
        PortSet::range(p, p)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ranges == [(0, u16::MAX)]
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// The union of many sets at once: sort every range, merge once (uniting
    /// them one by one is quadratic in the number of sets).
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a PortSet>) -> PortSet {
        let mut all: Vec<(u16, u16)> = sets
            .into_iter()
            .flat_map(|s| s.ranges.iter().copied())
            .collect();
        all.sort_unstable();
        let mut ranges: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match ranges.last_mut() {
                // Overlapping or adjacent: one range (PortSet keeps no two adjacent).
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => ranges.push((lo, hi)),
            }
        }
        PortSet { ranges }
    }

    /// The ports at least two of `sets` contain, in one sweep over their
    /// boundaries (a set is covered by the others exactly where it lies in
    /// this: near-linear where pairwise unions are quadratic).
    pub fn covered_twice<'a>(sets: impl IntoIterator<Item = &'a PortSet>) -> PortSet {
        let mut events: Vec<(u32, i32)> = Vec::new();
        for set in sets {
            for &(lo, hi) in &set.ranges {
                events.push((u32::from(lo), 1));
                events.push((u32::from(hi) + 1, -1));
            }
        }
        events.sort_unstable();
        let mut out = PortSet::empty();
        let (mut depth, mut start) = (0i32, None);
        let mut i = 0;
        while i < events.len() {
            let at = events[i].0;
            while i < events.len() && events[i].0 == at {
                depth += events[i].1;
                i += 1;
            }
            match (depth >= 2, start) {
                (true, None) => start = Some(at),
                (false, Some(lo)) => {
                    // Bounds come from u16 ports, so both fit; the ranges come
                    // out sorted with gaps between them, as a PortSet keeps them.
                    let hi = u16::try_from(at - 1).unwrap_or(u16::MAX);
                    out.ranges.push((u16::try_from(lo).unwrap_or(u16::MAX), hi));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    pub fn contains(&self, p: u16) -> bool {
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < p {
                    std::cmp::Ordering::Less
                } else if lo > p {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub fn len(&self) -> u32 {
        self.ranges
            .iter()
            .map(|&(lo, hi)| u32::from(hi) - u32::from(lo) + 1)
            .sum()
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        if other.ranges.is_empty() {
            return self.clone();
        }
        if self.ranges.is_empty() {
            return other.clone();
        }
        let mut all: Vec<(u16, u16)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match out.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        PortSet { ranges: out }
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_lo, a_hi) = self.ranges[i];
            let (b_lo, b_hi) = other.ranges[j];
            let lo = a_lo.max(b_lo);
            let hi = a_hi.min(b_hi);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet { ranges: out }
    }

    pub fn complement(&self) -> PortSet {
        let mut out = Vec::new();
        let mut next: u32 = 0;
        for &(lo, hi) in &self.ranges {
            if u32::from(lo) > next {
                out.push((next as u16, lo - 1));
            }
            next = u32::from(hi) + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next as u16, u16::MAX));
        }
        PortSet { ranges: out }
    }

    pub fn difference(&self, other: &PortSet) -> PortSet {
        self.intersect(&other.complement())
    }

    pub fn is_subset(&self, other: &PortSet) -> bool {
        self.difference(other).is_empty()
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            return f.write_str("all ports");
        }
        let parts: Vec<String> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for PortSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ranges
            .iter()
            .map(|&(lo, hi)| [lo, hi])
            .collect::<Vec<_>>()
            .serialize(s)
    }
}

/// What a pair of endpoints may open: ports per protocol, and whether protocols
/// other than TCP/UDP/SCTP (ICMP, ...) pass. NetworkPolicy only speaks of TCP, UDP
/// and SCTP; a rule without `ports` allows every protocol, one with ports only
/// those listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnSet {
    pub ports: [PortSet; 3],
    pub other: bool,
}

impl ConnSet {
    pub fn none() -> Self {
        ConnSet::default()
    }

    pub fn all() -> Self {
        ConnSet {
            ports: [PortSet::full(), PortSet::full(), PortSet::full()],
            other: true,
        }
    }

    pub fn of(protocol: Protocol, ports: PortSet) -> Self {
        let mut c = ConnSet::none();
        c.ports[protocol.index()] = ports;
        c
    }

    pub fn is_empty(&self) -> bool {
        !self.other && self.ports.iter().all(PortSet::is_empty)
    }

    pub fn is_all(&self) -> bool {
        self.other && self.ports.iter().all(PortSet::is_full)
    }

    pub fn get(&self, protocol: Protocol) -> &PortSet {
        &self.ports[protocol.index()]
    }

    pub fn allows(&self, protocol: Protocol, port: u16) -> bool {
        self.ports[protocol.index()].contains(port)
    }

    pub fn union(&self, o: &ConnSet) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].union(&o.ports[i])),
            other: self.other || o.other,
        }
    }

    pub fn union_with(&mut self, o: &ConnSet) {
        if o.is_empty() {
            return;
        }
        *self = self.union(o);
    }

    pub fn intersect(&self, o: &ConnSet) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].intersect(&o.ports[i])),
            other: self.other && o.other,
        }
    }

    pub fn complement(&self) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].complement()),
            other: !self.other,
        }
    }

    pub fn difference(&self, o: &ConnSet) -> ConnSet {
        self.intersect(&o.complement())
    }

    pub fn is_subset(&self, o: &ConnSet) -> bool {
        self.difference(o).is_empty()
    }

    /// The union of many connection sets at once (see [`PortSet::union_all`]).
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a ConnSet> + Clone) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2]
                .map(|i| PortSet::union_all(sets.clone().into_iter().map(|c| &c.ports[i]))),
            other: sets.into_iter().any(|c| c.other),
        }
    }

    /// The connections at least two of `sets` allow (see
    /// [`PortSet::covered_twice`]).
    pub fn covered_twice<'a>(sets: impl IntoIterator<Item = &'a ConnSet> + Clone) -> ConnSet {
        let other = sets.clone().into_iter().filter(|c| c.other).take(2).count() == 2;
        ConnSet {
            ports: [0, 1, 2]
                .map(|i| PortSet::covered_twice(sets.clone().into_iter().map(|c| &c.ports[i]))),
            other,
        }
    }

    /// The set as readable pieces: `["all"]`, `[]` for none, or one piece per
    /// protocol (`TCP 80,8080-8090`) and `other protocols`. Deltas prefix each
    /// piece with `+` or `-`.
    pub fn parts(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["all".into()];
        }
        let mut parts = Vec::new();
        for p in Protocol::ALL {
            let set = self.get(p);
            if !set.is_empty() {
                parts.push(format!("{p} {set}"));
            }
        }
        if self.other {
            parts.push("other protocols".into());
        }
        parts
    }
}

impl fmt::Display for ConnSet {
    /// `all`, `none`, or `TCP 80,8080-8090; UDP 53` (`+ other protocols` when
    /// ICMP and friends pass but not every port does).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.parts().join("; "))
    }
}

/// `{"TCP":[[80,80]],"UDP":[],"SCTP":[],"other":false}`, documented in docs/json.md.
impl Serialize for ConnSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(4))?;
        for p in Protocol::ALL {
            m.serialize_entry(p.as_str(), self.get(p))?;
        }
        m.serialize_entry("other", &self.other)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn union_all_equals_uniting_one_by_one() {
        let sets = [
            PortSet::range(10, 20),
            PortSet::range(21, 25),
            PortSet::range(5, 12).union(&PortSet::single(40)),
            PortSet::empty(),
            PortSet::range(60000, u16::MAX),
            PortSet::single(39),
        ];
        let one_by_one = sets.iter().fold(PortSet::empty(), |acc, s| acc.union(s));
        assert_eq!(PortSet::union_all(&sets), one_by_one);
        assert_eq!(
            PortSet::union_all(&sets).ranges(),
            &[(5, 25), (39, 40), (60000, u16::MAX)]
        );
        let conns = [
            ConnSet::of(Protocol::Tcp, PortSet::single(80)),
            ConnSet::of(Protocol::Udp, PortSet::single(53)),
            ConnSet {
                other: true,
                ..ConnSet::none()
            },
        ];
        let folded = conns.iter().fold(ConnSet::none(), |acc, c| acc.union(c));
        assert_eq!(ConnSet::union_all(&conns), folded);
    }

    #[test]
    fn covered_twice_is_where_two_sets_meet() {
        let a = PortSet::range(10, 20);
        let b = PortSet::range(15, 30);
        let c = PortSet::range(25, 40).union(&PortSet::single(5));
        let twice = PortSet::covered_twice([&a, &b, &c]);
        assert_eq!(twice.ranges(), &[(15, 20), (25, 30)]);
        // Adjacent but not overlapping: never twice.
        let d = PortSet::range(0, 9);
        assert!(PortSet::covered_twice([&a, &d]).is_empty());
        // The top port.
        let top = PortSet::range(65000, u16::MAX);
        assert_eq!(
            PortSet::covered_twice([&top, &PortSet::full()]).ranges(),
            &[(65000, u16::MAX)]
        );
        // Each set lies in the union of the others exactly where it lies in `twice`.
        let sets = [&a, &b, &c, &d];
        for (i, s) in sets.iter().enumerate() {
            let others = sets
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(PortSet::empty(), |acc, (_, o)| acc.union(o));
            let all = PortSet::covered_twice(sets);
            assert_eq!(s.is_subset(&others), s.is_subset(&all), "{i}");
        }
    }

    use super::*;
    use proptest::prelude::*;

    fn set_from(bits: &[bool]) -> PortSet {
        let mut s = PortSet::empty();
        for (i, &b) in bits.iter().enumerate() {
            if b {
                s = s.union(&PortSet::single(i as u16));
            }
        }
        s
    }

    proptest! {
        #[test]
        fn operations_match_bitsets(a in proptest::collection::vec(any::<bool>(), 12), b in proptest::collection::vec(any::<bool>(), 12)) {
            let (sa, sb) = (set_from(&a), set_from(&b));
            for p in 0..12u16 {
                let (x, y) = (a[p as usize], b[p as usize]);
                prop_assert_eq!(sa.union(&sb).contains(p), x || y);
                prop_assert_eq!(sa.intersect(&sb).contains(p), x && y);
                prop_assert_eq!(sa.difference(&sb).contains(p), x && !y);
                prop_assert_eq!(sa.complement().contains(p), !x);
            }
            prop_assert!(sa.complement().contains(u16::MAX));
            prop_assert_eq!(sa.complement().complement(), sa);
        }
    }

    fn conn_from(tcp: &[bool], udp: &[bool], other: bool) -> ConnSet {
        ConnSet {
            ports: [set_from(tcp), set_from(udp), PortSet::empty()],
            other,
        }
    }

    proptest! {
        #[test]
        fn conn_set_difference_is_exact(
            a in proptest::collection::vec(any::<bool>(), 8),
            b in proptest::collection::vec(any::<bool>(), 8),
            c in proptest::collection::vec(any::<bool>(), 8),
            d in proptest::collection::vec(any::<bool>(), 8),
            x in any::<bool>(),
            y in any::<bool>(),
        ) {
            let (left, right) = (conn_from(&a, &b, x), conn_from(&c, &d, y));
            let gone = left.difference(&right);
            for p in 0..8u16 {
                let i = p as usize;
                prop_assert_eq!(gone.allows(Protocol::Tcp, p), a[i] && !c[i]);
                prop_assert_eq!(gone.allows(Protocol::Udp, p), b[i] && !d[i]);
            }
            prop_assert_eq!(gone.other, x && !y);
            prop_assert!(gone.is_subset(&left));
            prop_assert!(gone.intersect(&right).is_empty());
            // What was removed plus what stayed is what there was.
            prop_assert_eq!(gone.union(&left.intersect(&right)), left);
        }
    }

    #[test]
    fn parts_name_each_protocol() {
        let c = ConnSet::of(Protocol::Udp, PortSet::single(53)).union(&ConnSet {
            other: true,
            ..ConnSet::none()
        });
        assert_eq!(c.parts(), ["UDP 53", "other protocols"]);
        assert_eq!(ConnSet::all().parts(), ["all"]);
        assert!(ConnSet::none().parts().is_empty());
        assert_eq!(
            ConnSet::of(Protocol::Tcp, PortSet::full()).parts(),
            ["TCP all ports"]
        );
    }

    #[test]
    fn display() {
        let c = ConnSet::of(
            Protocol::Tcp,
            PortSet::single(80).union(&PortSet::range(8080, 8090)),
        )
        .union(&ConnSet::of(Protocol::Udp, PortSet::single(53)));
        assert_eq!(c.to_string(), "TCP 80,8080-8090; UDP 53");
        assert_eq!(ConnSet::all().to_string(), "all");
        assert_eq!(ConnSet::none().to_string(), "none");
        assert_eq!(
            serde_json::to_string(&c).unwrap(), // ok: test
            r#"{"TCP":[[80,80],[8080,8090]],"UDP":[[53,53]],"SCTP":[],"other":false}"#
        );
    }
}
