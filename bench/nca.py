#!/usr/bin/env python3
"""netfence side by side with np-guard's Network Config Analyzer (NCA).

Run from the repository root:

    python3 bench/nca.py --netfence target/release/netfence

For each input (examples/shop, and the generated S and M clusters) it times
`nca --connectivity` and `netfence matrix -o json` in the same run. On those
inputs and on the semantics fixtures (fixtures/semantics, not timed) it
normalises both answers to one form,

    (source workload or address range,
     destination workload or address range) -> allowed connections,

compares them, classifies every difference, and writes bench/results/nca.md.
It exits 1 when a difference is unexplained or shows a netfence bug.

The normalisation and comparison use only the standard library, so they are
tested anywhere (bench/test_nca_normalise.py). Reading the fixtures' headers
uses PyYAML, which NCA brings. NCA itself is only run, never imported.
"""

import argparse
import ipaddress
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

# ---------------------------------------------------------------------------
# Connection sets
#
# A connection set is (tcp, udp, sctp, other): three tuples of inclusive,
# merged port ranges and a bool for every other IP protocol. NetworkPolicy can
# only allow all other protocols (a rule without ports) or none, so one bool is
# exact. Ports are clipped to 1..65535: netfence writes "all ports" as 0..65535,
# NCA as 1..65535, and port 0 is not a valid NetworkPolicy port (semantics.md
# §1.6), so it cannot tell the two apart.

PORT_MIN, PORT_MAX = 1, 65535
PROTOCOLS = ("TCP", "UDP", "SCTP")
NONE = ((), (), (), False)
ALL = (((PORT_MIN, PORT_MAX),),) * 3 + (True,)


def merge_ranges(ranges):
    """Sorted, merged, clipped tuple of inclusive (lo, hi) port ranges."""
    out = []
    for lo, hi in sorted((max(lo, PORT_MIN), min(hi, PORT_MAX)) for lo, hi in ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def conn(tcp=(), udp=(), sctp=(), other=False):
    return (merge_ranges(tcp), merge_ranges(udp), merge_ranges(sctp), bool(other))


def conn_union(a, b):
    return conn(a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] or b[3])


def complement_ranges(ranges):
    out, nxt = [], PORT_MIN
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= PORT_MAX:
        out.append((nxt, PORT_MAX))
    return tuple(out)


def conn_complement(c):
    return tuple(complement_ranges(r) for r in c[:3]) + (not c[3],)


def conn_str(c):
    if c == ALL:
        return "all"
    if c == NONE:
        return "none"
    parts = []
    for name, ranges in zip(PROTOCOLS, c[:3]):
        if ranges:
            if ranges == ((PORT_MIN, PORT_MAX),):
                parts.append(f"{name} all ports")
            else:
                parts.append(name + " " + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges))
    if c[3]:
        parts.append("other protocols")
    return "; ".join(parts)


def conn_from_netfence(allowed):
    """A connection set of netfence's JSON schema (docs/json.md)."""
    return conn(*(tuple(tuple(r) for r in allowed.get(p, [])) for p in PROTOCOLS), allowed.get("other", False))


class ParseError(ValueError):
    pass


def _nca_protocols(text):
    """NCA's protocol list ('TCP, UDP' or 'all but TCP') -> (set of TCP/UDP/SCTP, other: bool)."""
    text = text.strip()
    if text == "*":
        return set(PROTOCOLS), True
    negated = text.startswith("all but ")
    names = [n.strip() for n in (text[len("all but "):] if negated else text).split(",") if n.strip()]
    known = {n for n in names if n in PROTOCOLS}
    others = [n for n in names if n not in PROTOCOLS]
    if others and not negated:
        # A positive list naming other protocols is shorter than its complement
        # only when it holds a few of them: NetworkPolicy cannot express that.
        raise ParseError(f"protocol set {text!r} allows only some non-TCP/UDP/SCTP protocols")
    if negated:
        if others:
            raise ParseError(f"protocol set {text!r} excludes only some non-TCP/UDP/SCTP protocols")
        return set(PROTOCOLS) - known, True
    return known, False


def _nca_cube(text):
    """One '{protocols:TCP, UDP,dst_ports:53,80-90}' cube -> connection set."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ParseError(f"not a connection cube: {text!r}")
    # Keys are lower-case words followed by ':'; values hold ',' and ', '.
    fields = {}
    for item in re.split(r",(?=[a-z_]+:)", body[1:-1]):
        key, sep, value = item.partition(":")
        if not sep:
            raise ParseError(f"bad cube item {item!r} in {text!r}")
        fields[key.strip()] = value.strip()
    unknown = set(fields) - {"protocols", "dst_ports"}
    if unknown:
        # src_ports, ICMP types, HTTP methods...: NetworkPolicy has none of them.
        raise ParseError(f"cube dimension(s) {sorted(unknown)} not expressible in NetworkPolicy: {text!r}")
    protocols, other = _nca_protocols(fields.get("protocols", "*"))
    if "dst_ports" in fields:
        if other:
            raise ParseError(f"ports on non-port protocols: {text!r}")
        ports = []
        for part in fields["dst_ports"].split(","):
            lo, _, hi = part.strip().partition("-")
            ports.append((int(lo), int(hi or lo)))
    else:
        ports = [(PORT_MIN, PORT_MAX)]
    return conn(*(ports if p in protocols else () for p in PROTOCOLS), other)


def conn_from_nca(text):
    """NCA's connection text ('All connections', 'All but {...}', '{...},{...}') -> connection set."""
    text = text.strip()
    if text == "All connections":
        return ALL
    if text == "No connections":
        return NONE
    negated = text.startswith("All but ")
    if negated:
        text = text[len("All but "):]
    result = NONE
    for cube in re.findall(r"\{[^{}]*\}", text):
        result = conn_union(result, _nca_cube(cube))
    if re.sub(r"\{[^{}]*\}|,", "", text).strip():
        raise ParseError(f"unrecognised connection text {text!r}")
    return conn_complement(result) if negated else result


# ---------------------------------------------------------------------------
# Endpoints and the normalised answer
#
# Workloads are named as netfence names them (ns/kind/name, or ns/pod for a
# bare pod); addresses are (family, lo, hi) inclusive integer ranges.


def parse_ip_range(text):
    """'10.0.0.0-10.255.255.255', '172.20.0.10' or a CIDR -> (family, lo, hi)."""
    text = text.strip()
    if "/" in text:
        net = ipaddress.ip_network(text, strict=False)
        return net.version, int(net.network_address), int(net.broadcast_address)
    lo, _, hi = text.partition("-")
    lo, hi = ipaddress.ip_address(lo), ipaddress.ip_address(hi or lo)
    if lo.version != hi.version or int(lo) > int(hi):
        raise ParseError(f"bad address range {text!r}")
    return lo.version, int(lo), int(hi)


def subtract_ranges(ranges, holes):
    """Address ranges minus holes (both lists of (family, lo, hi))."""
    out = list(ranges)
    for hf, hlo, hhi in holes:
        nxt = []
        for f, lo, hi in out:
            if f != hf or hhi < lo or hi < hlo:
                nxt.append((f, lo, hi))
                continue
            if lo < hlo:
                nxt.append((f, lo, hlo - 1))
            if hhi < hi:
                nxt.append((f, hhi + 1, hi))
        out = nxt
    return out


def range_str(family, lo, hi):
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    nets = list(ipaddress.summarize_address_range(cls(lo), cls(hi)))
    return ",".join(map(str, nets)) if len(nets) <= 2 else f"{cls(lo)}-{cls(hi)}"


def nca_workload(name):
    """NCA's 'ns/name[Deployment]' (deployments output) -> netfence's 'ns/deployment/name'."""
    m = re.fullmatch(r"([^/\[\]]+)/([^/\[\]]+)\[([A-Za-z-]+)\]", name)
    if not m:
        raise ParseError(f"unrecognised NCA endpoint {name!r}")
    ns, wl, kind = m.groups()
    # A pod without an owner is its own workload; netfence names it ns/pod.
    return f"{ns}/{wl}" if kind == "Pod" else f"{ns}/{kind.lower()}/{wl}"


class Answer:
    """One tool's allowed connections in the common form.

    pairs: (src workload, dst workload) -> connection set (absent: none).
    external: (workload, 'egress'|'ingress', family) -> [(lo, hi, connection set)];
      egress is workload to addresses, ingress addresses to workload.
    workloads: every workload the tool has as an endpoint.
    filtered: reason (a FILTER_REASONS key) -> ordered pairs left out.
    workload_nodes, node_ranges: where netfence's pods run and the nodes'
      addresses, to recognise own-node traffic.
    """

    def __init__(self):
        self.pairs = {}
        self.external = defaultdict(list)
        self.workloads = set()
        self.filtered = defaultdict(int)
        self.workload_nodes = defaultdict(set)
        self.node_ranges = {}

    def add_pair(self, src, dst, c):
        if c != NONE:
            self.pairs[(src, dst)] = conn_union(self.pairs.get((src, dst), NONE), c)

    def add_external(self, wl, direction, rng, c):
        if c != NONE:
            family, lo, hi = rng
            self.external[(wl, direction, family)].append((lo, hi, c))


# Why pairs are left out of the comparison (keys of Answer.filtered).
FILTER_REASONS = {
    "synthetic-dns": "netfence adds a synthetic cluster-DNS endpoint when the input has no DNS pods "
    "(docs/semantics-choices.md); NCA knows only the input's objects",
    "no-pod-end": "neither end is a pod (addresses, nodes), so NetworkPolicy has no say (semantics.md §0: "
    "both checks pass); netfence lists such pairs as allowed, NCA only lists pairs with a pod end",
    "same-workload": "pods of one workload to each other: NCA's deployments view drops them (no self-loops), "
    "so they are not compared",
}


def filter_reason(key):
    return FILTER_REASONS.get(key, f"netfence endpoint kind {key!r} has no NCA counterpart")


def normalise_netfence(doc):
    """netfence matrix -o json (docs/json.md) -> Answer.

    Nodes are compared as their addresses: NCA has no node endpoints, but it
    answers for the node IPs as plain addresses. An external group's CIDRs
    cover node IPs nominally; those addresses are the node endpoints' (docs/json.md),
    so they are taken out of the group.
    """
    ans = Answer()
    names, ranges, skipped = {}, {}, {}
    endpoints = doc["endpoints"]
    for ep in endpoints:
        if ep["kind"] == "node":
            ranges[ep["id"]] = [parse_ip_range(ip) for ip in ep.get("ips", [])]
            ans.node_ranges[ep["id"]] = ranges[ep["id"]]
    node_addresses = [r for rs in ans.node_ranges.values() for r in rs]
    for ep in endpoints:
        kind = ep["kind"]
        if kind == "external":
            ranges[ep["id"]] = subtract_ranges([parse_ip_range(c) for c in ep["cidrs"]], node_addresses)
        elif kind in ("pod", "workload"):
            # NCA's deployments view groups pods by owner; do the same.
            names[ep["id"]] = ep.get("workload") or ep["id"]
            ans.workloads.add(names[ep["id"]])
            if ep.get("node"):
                ans.workload_nodes[names[ep["id"]]].add("node:" + ep["node"])
        elif kind != "node":
            skipped[ep["id"]] = kind
    for entry in doc["connections"]:
        c = conn_from_netfence(entry["allowed"])
        for s in entry["src"]:
            for d in entry["dst"]:
                if s in skipped or d in skipped:
                    ans.filtered[skipped.get(s) or skipped[d]] += 1
                elif s in ranges and d in ranges:
                    ans.filtered["no-pod-end"] += 1
                elif s in ranges:
                    for rng in ranges[s]:
                        ans.add_external(names[d], "ingress", rng, c)
                elif d in ranges:
                    for rng in ranges[d]:
                        ans.add_external(names[s], "egress", rng, c)
                elif names[s] == names[d]:
                    ans.filtered["same-workload"] += 1
                else:
                    ans.add_pair(names[s], names[d], c)
    return ans


def normalise_nca(text):
    """nca --connectivity -o txt_no_fw_rules --output_endpoints deployments -> Answer.

    Each line is 'SRC => DST : CONNECTIONS'; an endpoint is 'ns/name[Kind]' or
    one address range. A pair may have several lines (one per distinct set).
    """
    ans = Answer()
    for lineno, line in enumerate(text.splitlines(), 1):
        if " => " not in line:
            continue  # headers such as "TCP Connections:" and blank lines
        src, _, rest = line.partition(" => ")
        dst, sep, conns = rest.partition(" : ")
        if not sep:
            raise ParseError(f"NCA output line {lineno}: no ' : ' in {line!r}")
        try:
            c = conn_from_nca(conns)
            src_wl = nca_workload(src) if src.endswith("]") else None
            dst_wl = nca_workload(dst) if dst.endswith("]") else None
            ans.workloads.update(w for w in (src_wl, dst_wl) if w)
            if src_wl and dst_wl:
                ans.add_pair(src_wl, dst_wl, c)
            elif src_wl:
                ans.add_external(src_wl, "egress", parse_ip_range(dst), c)
            elif dst_wl:
                ans.add_external(dst_wl, "ingress", parse_ip_range(src), c)
            else:
                ans.filtered["no-pod-end"] += 1
        except ValueError as e:  # ParseError, and ipaddress's errors
            raise ParseError(f"NCA output line {lineno}: {e}") from None
    return ans


# ---------------------------------------------------------------------------
# Comparison


def _segments(entries_a, entries_b, lo=None, hi=None):
    """Elementary address ranges on which both entry lists are constant,
    each with the union connection set of either side: [(lo, hi, a, b)]."""
    ends = entries_a + entries_b
    cuts = {e[0] for e in ends} | {e[1] + 1 for e in ends}
    if lo is not None:
        cuts = {c for c in cuts if lo < c <= hi} | {lo, hi + 1}
    cuts = sorted(cuts)
    out = []
    for start, nxt in zip(cuts, cuts[1:]):
        end = nxt - 1
        sides = []
        for entries in (entries_a, entries_b):
            c = NONE
            for elo, ehi, ec in entries:
                if elo <= start and end <= ehi:
                    c = conn_union(c, ec)
            sides.append(c)
        out.append((start, end, sides[0], sides[1]))
    return out


def refine(entries_a, entries_b):
    """The coarsest ranges on which two lists of (lo, hi, conn) over one
    address family are both constant: [(lo, hi, conn_a, conn_b)], adjacent
    ranges with the same sides merged, ranges where neither side allows
    anything left out."""
    out = []
    for lo, hi, a, b in _segments(entries_a, entries_b):
        if a == NONE and b == NONE:
            continue
        if out and out[-1][1] + 1 == lo and out[-1][2:] == (a, b):
            out[-1] = (out[-1][0], hi, a, b)
        else:
            out.append((lo, hi, a, b))
    return out


def conn_on(entries, lo, hi):
    """The connection set the entries give every address of [lo, hi], or None
    when it is not the same for all of them."""
    values = {a for _, _, a, _ in _segments(entries, [], lo, hi)}
    return values.pop() if len(values) == 1 else None


class Difference:
    """One pair (or workload and address range) where the answers differ.

    src/dst are ('wl', workload) or ('ip', (family, lo, hi)).
    """

    def __init__(self, src, dst, netfence, nca):
        self.src, self.dst, self.netfence, self.nca = src, dst, netfence, nca
        self.cls = None  # a class key, set by classify()
        self.netfence_right = None  # True, False, or None (implementation-defined)

    @staticmethod
    def end_str(end):
        kind, value = end
        return value if kind == "wl" else range_str(*value)

    def pair_str(self):
        return f"{self.end_str(self.src)} -> {self.end_str(self.dst)}"

    def __repr__(self):
        return f"{self.pair_str()}: netfence {conn_str(self.netfence)}, NCA {conn_str(self.nca)}"


def netfence_conn_at(ans, src, dst):
    """What a netfence Answer allows between a Difference's ends, or None
    when it is not one set over the whole address range."""
    if src[0] == "wl" and dst[0] == "wl":
        return ans.pairs.get((src[1], dst[1]), NONE)
    wl, direction, (family, lo, hi) = (
        (src[1], "egress", dst[1]) if src[0] == "wl" else (dst[1], "ingress", src[1]))
    return conn_on(ans.external.get((wl, direction, family), []), lo, hi)


class Comparison:
    def __init__(self, netfence, nca):
        self.netfence = netfence
        self.workloads = sorted(netfence.workloads)
        self.pairs_same = 0  # allowed by at least one side, same set on both
        self.external_same = 0  # (workload, direction, range) segments alike
        self.differences = []
        keys = set(netfence.pairs) | set(nca.pairs)
        for key in sorted(keys):
            a, b = netfence.pairs.get(key, NONE), nca.pairs.get(key, NONE)
            if a == b:
                self.pairs_same += 1
            else:
                self.differences.append(Difference(("wl", key[0]), ("wl", key[1]), a, b))
        known = netfence.workloads
        self.pairs_both_deny = self.ordered_pairs - sum(1 for s, d in keys if s in known and d in known)
        for key in sorted(set(netfence.external) | set(nca.external)):
            wl, direction, family = key
            for lo, hi, a, b in refine(netfence.external.get(key, []), nca.external.get(key, [])):
                if a == b:
                    self.external_same += 1
                    continue
                rng = ("ip", (family, lo, hi))
                src, dst = (("wl", wl), rng) if direction == "egress" else (rng, ("wl", wl))
                self.differences.append(Difference(src, dst, a, b))

    @property
    def ordered_pairs(self):
        n = len(self.workloads)
        return n * (n - 1)


# ---------------------------------------------------------------------------
# Classification
#
# Every difference gets a class that explains it, tried in this order:
#  1. implementation-defined choices, confirmed by running netfence again with
#     NCA's reading of one or more of them: the difference must then disappear;
#  2. own-node traffic and terminal pods, recognised from netfence's endpoints
#     and notes;
#  3. in a semantics fixture, the fixture's checks (semantics.md §3 verdicts)
#     decide which side is right, for the pairs they name and, in the same
#     fixture, for the pairs with the same two answers;
#  4. otherwise it is unexplained, and the run fails.

# netfence flags that switch an implementation-defined choice to NCA's reading.
FLAG_VARIANTS = {
    "ip-block-matches-pods": ["--ip-block-matches-pods=false"],
    "host-network": ["--host-network", "pod"],
    "egress-to-own-node": ["--egress-to-own-node=false"],
}

IMPLEMENTATION_DEFINED = "neither: implementation-defined (§4 picks netfence's default)"

CLASSES = {
    "ip-block-matches-pods": {
        "title": "ipBlock peers and pod IPs",
        "section": "§1.3 (ipBlock), §4",
        "right": IMPLEMENTATION_DEFINED,
        "why": "netfence lets an ipBlock match pod IPs (most CNIs; the upstream e2e egress-CIDR tests "
        "rely on it), NCA never matches a pod with an ipBlock (Cilium's reading).",
    },
    "host-network": {
        "title": "hostNetwork pods",
        "section": "§1.7 (hostNetwork pods), §4",
        "right": IMPLEMENTATION_DEFINED,
        "why": "netfence takes option (b): a hostNetwork pod's traffic is node traffic, never a subject "
        "and never matched by pod or namespace selectors; NCA treats it as an ordinary pod, option (a).",
    },
    "egress-to-own-node": {
        "title": "pod to its own node",
        "section": "§1.7 (own node), §4",
        "right": IMPLEMENTATION_DEFINED,
        "why": "netfence lets a pod always reach its own node (the documentation's 'to and from the "
        "node'); NCA has no nodes and applies the pod's egress policy to the node's address.",
    },
    "own-node-ingress": {
        "title": "own node to pod",
        "section": "§1.7 (own node → pod: always allowed)",
        "right": "netfence",
        "why": "The API guarantees that a pod's own node (kubelet probes) can always reach it; NCA has "
        "no nodes and applies the pod's ingress policy to the node's address as to any other.",
    },
    "terminal-pod": {
        "title": "Succeeded/Failed pods",
        "section": "§1.7 (terminal phase)",
        "right": "netfence",
        "why": "netfence drops pods in a terminal phase (their IP may already belong to another pod); "
        "NCA keeps them as endpoints with their policies.",
    },
    "nca-rejects-valid": {
        "title": "NCA rejects input the API server accepts",
        "section": "§1.1, §1.6",
        "right": "netfence",
        "why": "NCA stops with a syntax error, so it analyses nothing. Its parser only accepts policyTypes "
        "[Ingress], [Egress] or [Ingress, Egress] in that order and rejects rules for a direction not in "
        "policyTypes; the API server accepts both (duplicates and any order pass validation, rules of an "
        "unlisted direction are inert).",
    },
    "nca-accepts-invalid": {
        "title": "NCA accepts input the API server rejects",
        "section": "§1.6",
        "right": "netfence",
        "why": "netfence rejects the input as the API server would; NCA analyses it.",
    },
    "netfence-rejects-valid": {
        "title": "netfence rejects valid input",
        "section": "§1.6",
        "right": "NCA (a netfence bug)",
        "why": "The fixture is valid, netfence stops with an error.",
    },
    "netfence-accepts-invalid": {
        "title": "netfence accepts invalid input",
        "section": "§1.6",
        "right": "NCA (a netfence bug)",
        "why": "The fixture is invalid, netfence analyses it.",
    },
    "unexplained": {
        "title": "unexplained",
        "section": "?",
        "right": "?",
        "why": "No class explains it: investigate (the run fails).",
    },
}

# Why NCA departs from a semantics.md §3 case, as observed (its output, and
# the warnings and errors it prints).
NCA_CASE_NOTES = {
    4: "NCA isolates egress whenever the key `egress` is present, even empty; the API server adds "
    "Egress to the defaulted policyTypes only when `egress` has rules.",
    27: "NCA keeps one number per port name and pod (it warns that the name is multiply defined), so "
    "only one container's port matches.",
}

# semantics.md section of each §3 case (1-41 are NetworkPolicy v1).
CASE_SECTIONS = [
    (1, 8, "§1.1"), (9, 12, "§1.3"), (13, 14, "§1.6"), (15, 18, "§1.3"), (19, 19, "§1.4"),
    (20, 22, "§1.6"), (23, 27, "§1.5"), (28, 29, "§0, §1.2"), (30, 33, "§1.7"), (34, 36, "§1.3"),
    (37, 37, "§1.4"), (38, 38, "§1.2"), (39, 40, "§1.6"), (41, 41, "§1.7"),
]


def case_section(case):
    return next((s for lo, hi, s in CASE_SECTIONS if lo <= case <= hi), "§3")


def flag_sets():
    """Every non-empty combination of FLAG_VARIANTS keys, smallest first."""
    keys = list(FLAG_VARIANTS)
    subsets = [tuple(k for i, k in enumerate(keys) if mask >> i & 1) for mask in range(1, 1 << len(keys))]
    return sorted(subsets, key=len)


def class_info(key, extra=None):
    """A class's description; a combination of flag classes is described by its parts."""
    if extra and key in extra:
        return extra[key]
    if key in CLASSES and key not in FLAG_VARIANTS:
        return CLASSES[key]
    keys = key.split("+")
    parts = [CLASSES[k] for k in keys]
    flags = " ".join(a for k in keys for a in FLAG_VARIANTS[k])
    return {
        "title": " + ".join(p["title"] for p in parts),
        "section": "; ".join(p["section"] for p in parts),
        "right": IMPLEMENTATION_DEFINED,
        "why": ("Both choices at once. " if len(parts) > 1 else "") + " ".join(p["why"] for p in parts)
        + f" Confirmed: the difference disappears with `netfence {flags}`.",
    }


def conn_has(c, protocol, port):
    return any(lo <= port <= hi for lo, hi in c[PROTOCOLS.index(protocol)])


def conn_subset(a, b):
    return conn_union(a, b) == b


def end_matches(end, text):
    """Does a Difference end cover a fixture check's 'ns/pod' or IP address?"""
    kind, value = end
    if kind == "wl":
        return value == text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    family, lo, hi = value
    return ip.version == family and lo <= int(ip) <= hi


def _range_end(d):
    """(workload, direction, (family, lo, hi)) of a workload-to-addresses Difference, else None."""
    if d.src[0] == "wl" and d.dst[0] == "ip":
        return d.src[1], "egress", d.dst[1]
    if d.src[0] == "ip" and d.dst[0] == "wl":
        return d.dst[1], "ingress", d.src[1]
    return None


def split_differences(differences, answers):
    """Cut address-range differences wherever one of the answers changes, so
    that each piece has one answer in every variant and one explanation."""
    out = []
    for d in differences:
        end = _range_end(d)
        if not end:
            out.append(d)
            continue
        wl, direction, (family, lo, hi) = end
        entries = [e for ans in answers for e in ans.external.get((wl, direction, family), [])]
        for plo, phi, _, _ in _segments(entries, [], lo, hi):
            rng = ("ip", (family, plo, phi))
            src, dst = (d.src, rng) if direction == "egress" else (rng, d.dst)
            out.append(Difference(src, dst, d.netfence, d.nca))
    return out


def merge_differences(differences):
    """Join adjacent address-range pieces with the same ends, answers and class."""
    out = []
    for d in differences:
        prev = out[-1] if out else None
        end, pend = _range_end(d), prev and _range_end(prev)
        if (end and pend and end[:2] == pend[:2] and end[2][0] == pend[2][0] and pend[2][2] + 1 == end[2][1]
                and (prev.netfence, prev.nca, prev.cls, prev.netfence_right) == (d.netfence, d.nca, d.cls,
                                                                                  d.netfence_right)):
            rng = ("ip", (end[2][0], pend[2][1], end[2][2]))
            prev.src, prev.dst = (prev.src, rng) if end[1] == "egress" else (rng, prev.dst)
        else:
            out.append(d)
    return out


TERMINAL_NOTE = re.compile(r"Pod (\S+) is (?:Succeeded|Failed)")


def classify(differences, netfence, variants, notes="", fixture=None):
    """Set cls and netfence_right on each Difference (variants: flag-set key ->
    netfence Answer). Returns the classes used that are not in CLASSES
    (semantics fixture cases)."""
    terminal = set(TERMINAL_NOTE.findall(notes))
    extra = {}
    for d in differences:
        d.cls, d.netfence_right = "unexplained", None
        flags = next((k for k, ans in variants.items() if netfence_conn_at(ans, d.src, d.dst) == d.nca), None)
        if flags:
            d.cls = flags
            continue
        ends = [e[1] for e in (d.src, d.dst) if e[0] == "wl"]
        if any(w not in netfence.workloads and w in terminal for w in ends):
            d.cls, d.netfence_right = "terminal-pod", True
            continue
        if d.src[0] == "ip" and d.dst[0] == "wl" and conn_subset(d.nca, d.netfence):
            node_ranges = [r for n in netfence.workload_nodes.get(d.dst[1], ()) for r in netfence.node_ranges.get(n, [])]
            if node_ranges and not subtract_ranges([d.src[1]], node_ranges):
                d.cls, d.netfence_right = "own-node-ingress", True
                continue
        if fixture:
            verdicts = [
                chk["allowed"] == conn_has(d.netfence, chk["protocol"], chk["port"])
                for chk in fixture["checks"]
                if end_matches(d.src, chk["src"]) and end_matches(d.dst, chk["dst"])
                and conn_has(d.netfence, chk["protocol"], chk["port"]) != conn_has(d.nca, chk["protocol"], chk["port"])
            ]
            if verdicts:
                case = fixture["case"]
                d.cls, d.netfence_right = f"case-{case}", all(verdicts)
                extra[d.cls] = {
                    "title": f"semantics.md §3 case {case}: {fixture['title']}",
                    "section": case_section(case),
                    "right": "netfence" if all(verdicts) else "NCA (a netfence bug)",
                    "why": NCA_CASE_NOTES.get(case, "") + " The fixture's checks give the spec's verdict for "
                    "the pairs they name; the fixture's other pairs with the same two answers share it.",
                }
    # The checks name a few pairs; the fixture's rule holds for all of them.
    decided = {(d.netfence, d.nca): d for d in differences if d.cls.startswith("case-")}
    for d in differences:
        twin = decided.get((d.netfence, d.nca))
        if d.cls == "unexplained" and twin:
            d.cls, d.netfence_right = twin.cls, twin.netfence_right
    return extra


# ---------------------------------------------------------------------------
# Running the tools

REPO = Path(__file__).resolve().parent.parent
# Issue 6's sizes S and M, with fixed seeds so every run compares the same clusters.
SIZES = [("S", 100, 20, 1), ("M", 1000, 200, 1)]
# NCA's two renderings of one computation: per pair (what is compared) and its
# grouped JSON (the counterpart of netfence's grouped JSON).
NCA_FORMATS = {"nca-pairs": "txt_no_fw_rules", "nca-json": "json"}


class ToolError(RuntimeError):
    pass


def netfence_matrix(netfence, directory, out, extra=(), verbose=False):
    """netfence matrix -o json; returns (seconds, exit code, stderr)."""
    cmd = [netfence, "matrix", str(directory), "-o", "json", *extra] + (["-v"] if verbose else [])
    with open(out, "w") as f:
        start = time.perf_counter()
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
        return time.perf_counter() - start, p.returncode, p.stderr


def nca_connectivity(nca, directory, fmt, out):
    """nca --connectivity; returns (seconds, error message or None, what NCA printed)."""
    out.unlink(missing_ok=True)  # --file_out appends to an existing file
    cmd = [nca, "--connectivity", str(directory), "--resource_list", str(directory), "--output_format", fmt,
           "--output_endpoints", "deployments", "--print_ipv6", "--file_out", str(out)]
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if p.returncode != 0 or not out.exists():
        errors = [ln for ln in p.stdout.splitlines() if ln.startswith("Error")] or p.stdout.splitlines()[-3:]
        return seconds, f"exit {p.returncode}: " + " / ".join(errors), p.stdout
    return seconds, None, p.stdout


def time_input(name, directory, args, work):
    """Five (--runs) interleaved runs of each command, so that both tools see
    the same machine state; returns ({command: [seconds]}, NCA's messages)."""
    samples, messages = defaultdict(list), {}
    for i in range(args.runs):
        seconds, code, err = netfence_matrix(args.netfence, directory, work / f"{name}.netfence.json")
        if code != 0:
            raise ToolError(f"netfence matrix failed on {directory} (exit {code}):\n{err}")
        samples["netfence"].append(seconds)
        for key, fmt in NCA_FORMATS.items():
            seconds, err, messages[key] = nca_connectivity(args.nca, directory, fmt, work / f"{name}.{key}.out")
            if err:
                raise ToolError(f"nca failed on {directory}: {err}")
            samples[key].append(seconds)
        print(f"  [{name}] run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in samples.items()),
              file=sys.stderr)
    return samples, messages["nca-pairs"]


def nca_warnings(messages):
    """NCA's distinct warnings, without their file:line:col, with counts."""
    counts = defaultdict(int)
    for line in messages.splitlines():
        if "Warning:" in line:
            counts[line[line.index("Warning:") + len("Warning:"):].strip()] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def differential(directory, nca_text, args, work, name, fixture=None):
    """Compare netfence's and NCA's answers on one input; returns the Comparison
    (differences classified) and the fixture classes used."""
    out = work / f"{name}.netfence-v.json"
    _, code, notes = netfence_matrix(args.netfence, directory, out, verbose=True)
    if code != 0:
        raise ToolError(f"netfence matrix failed on {directory} (exit {code}):\n{notes}")
    netfence = normalise_netfence(json.loads(out.read_text()))
    cmp = Comparison(netfence, normalise_nca(nca_text))
    variants = {}
    if cmp.differences:  # only then is it worth running netfence again
        for flags in flag_sets():
            key = "+".join(flags)
            vout = work / f"{name}.netfence-{key}.json"
            argv = [a for k in flags for a in FLAG_VARIANTS[k]]
            _, code, err = netfence_matrix(args.netfence, directory, vout, extra=argv)
            if code != 0:
                raise ToolError(f"netfence matrix {' '.join(argv)} failed on {directory}:\n{err}")
            variants[key] = normalise_netfence(json.loads(vout.read_text()))
        cmp.differences = split_differences(cmp.differences, list(variants.values()))
    extra = classify(cmp.differences, netfence, variants, notes, fixture)
    cmp.differences = merge_differences(cmp.differences)
    return cmp, extra


def load_fixture(path, work):
    """A semantics fixture (fixtures/README.md): its header, and its objects
    written alone to a directory both tools can read."""
    import yaml  # PyYAML is one of NCA's dependencies

    text = path.read_text()
    m = re.search(r"^---[ \t]*$", text, re.M)
    if not m:
        raise ToolError(f"{path}: no '---' after the netfenceTest header")
    header = (yaml.safe_load(text[:m.start()]) or {}).get("netfenceTest") or {}
    directory = work / "fixtures" / path.stem
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "input.yaml").write_text(text[m.end():])
    return {"name": path.stem, "case": header.get("case"), "title": header.get("title", ""),
            "checks": header.get("checks", []), "valid": "errors" not in header, "dir": directory}


class Result:
    """What one input gave: timings (timed inputs), the comparison, or an
    input-level finding (a fixture one tool rejects)."""

    def __init__(self, name, label):
        self.name, self.label = name, label
        self.samples = None
        self.nca_messages = ""
        self.cmp = None
        self.extra = {}
        self.finding = None  # (class, message) when the tools do not both answer
        self.both_reject = False


def run_fixture(path, args, work):
    fx = load_fixture(path, work)
    res = Result(fx["name"], f"semantics.md §3 case {fx['case']}: {fx['title']}")
    nf_out = work / f"fx-{fx['name']}.netfence.json"
    _, code, nf_err = netfence_matrix(args.netfence, fx["dir"], nf_out)
    nca_out = work / f"fx-{fx['name']}.nca-pairs.out"
    _, nca_err, _ = nca_connectivity(args.nca, fx["dir"], NCA_FORMATS["nca-pairs"], nca_out)
    nf_ok, nca_ok = code == 0, nca_err is None
    if not fx["valid"]:
        if nf_ok:
            res.finding = ("netfence-accepts-invalid", "netfence analysed it")
        elif nca_ok:
            res.finding = ("nca-accepts-invalid", "NCA analysed it")
        else:
            res.both_reject = True
    elif not nf_ok:
        res.finding = ("netfence-rejects-valid", nf_err.strip().splitlines()[-1] if nf_err.strip() else "")
    elif not nca_ok:
        res.finding = ("nca-rejects-valid", "NCA: " + nca_err)
    else:
        res.cmp, res.extra = differential(fx["dir"], nca_out.read_text(), args, work, f"fx-{fx['name']}", fx)
    return res


# ---------------------------------------------------------------------------
# The report


def git(*argv):
    return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True).stdout.strip()


def machine_facts(args):
    cpu = "unknown"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    nca_version = subprocess.run([args.nca, "--version"], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    # The results file is rewritten by this very run; it does not make the tree dirty.
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results"):
        commit += " (with uncommitted changes)"
    return [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", cpu),
        ("kernel (uname -r)", platform.release()),
        ("python", platform.python_version()),
        ("NCA", nca_version.replace("NCA version ", "") or "unknown"),
        ("netfence commit", commit),
        ("load average (1 min) before", f"{os.getloadavg()[0]:.2f}"),
    ]


def seconds_str(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def example(d):
    return f"`{d.pair_str()}`: netfence {conn_str(d.netfence)}; NCA {conn_str(d.nca)}"


def write_report(path, facts, timed, fixtures, startup, args):
    extra = {}
    for res in timed + fixtures:
        extra.update(res.extra)

    def info(key):
        return class_info(key, extra)

    per_class = defaultdict(list)  # class -> [(input name, text)]
    for res in timed + fixtures:
        if res.finding:
            per_class[res.finding[0]].append((res.name, res.finding[1]))
        for d in res.cmp.differences if res.cmp else []:
            per_class[d.cls].append((res.name, example(d)))
    L = []
    L.append("# netfence vs np-guard NCA: time and answers\n")
    L.append("Written by `bench/nca.py`; reproduce with\n")
    L.append("```sh\ncargo build --release\npython3 bench/nca.py --netfence target/release/netfence\n```\n")
    L.append("| machine | |\n|---|---|")
    L.extend(f"| {k} | {v} |" for k, v in facts)
    L.append("")
    L.append("## Time\n")
    L.append(f"Wall time of one process each, {args.runs} interleaved runs, min / median / max. netfence: "
             "`netfence matrix DIR -o json` (every ordered pair's connection set, grouped JSON). NCA: "
             "`nca --connectivity DIR --resource_list DIR --output_endpoints deployments --print_ipv6` with "
             "`-o txt_no_fw_rules` (one line per pair: the output compared below) and with `-o json` (its "
             "grouped rules, the counterpart of netfence's grouped JSON). The ratio is NCA's median over "
             "netfence's median; the target is netfence at least 100× faster at M.\n")
    L.append("| input | netfence | NCA per pair | NCA grouped JSON | ratio (per pair) | ratio (JSON) |")
    L.append("|---|---|---|---|---|---|")
    for res in timed:
        s = res.samples
        cells = [" / ".join(seconds_str(f(s[k])) for f in (min, statistics.median, max))
                 for k in ("netfence", "nca-pairs", "nca-json")]
        ratios = [statistics.median(s[k]) / statistics.median(s["netfence"]) for k in ("nca-pairs", "nca-json")]
        L.append(f"| {res.label} | " + " | ".join(cells) + " | " + " | ".join(f"{r:.0f}×" for r in ratios) + " |")
    L.append(f"\nNCA's start-up alone (`nca --version`: the interpreter importing NCA) takes "
             f"{' / '.join(seconds_str(f(startup)) for f in (min, statistics.median, max))}; it dominates the "
             "small inputs.\n")
    m = next((r for r in timed if r.name == "M"), None)
    if m:
        ratio = statistics.median(m.samples["nca-pairs"]) / statistics.median(m.samples["netfence"])
        verdict = "met" if ratio >= 100 else f"missed by {100 / ratio:.1f}×"
        L.append(f"At M netfence is {ratio:.0f}× faster than NCA's fastest output: target (≥ 100×) {verdict}.\n")
    L.append("## Answers\n")
    L.append("Both answers are normalised to (source workload or address range, destination workload or "
             "address range) → allowed connections (TCP/UDP/SCTP port ranges, other protocols). Workloads "
             "are compared by name (NCA's `ns/name[Deployment]` is netfence's `ns/deployment/name`); address "
             "ranges are cut where either side's answer changes; ports are compared on 1-65535. A pair "
             "neither side allows is a pair both deny.\n")
    L.append("| input | workloads | ordered pairs | allowed, same set | both deny | address ranges alike "
             "| differences |")
    L.append("|---|---|---|---|---|---|---|")
    for res in timed:
        c = res.cmp
        L.append(f"| {res.label} | {len(c.workloads)} | {c.ordered_pairs} | {c.pairs_same} | {c.pairs_both_deny} "
                 f"| {c.external_same} | {len(c.differences)} |")
    filtered = defaultdict(int)
    for res in timed + fixtures:
        for k, v in (res.cmp.netfence.filtered.items() if res.cmp else ()):
            filtered[k] += v
    warned = [(res, nca_warnings(res.nca_messages)) for res in timed]
    if any(w for _, w in warned):
        L.append("\nNCA's warnings (count × message, file positions dropped). A warning is not a difference: "
                 "'Missing named port ... Ignoring the pod' means the named port matches nothing on that pod, "
                 "which is what semantics.md §1.5 says, and the answers above agree.\n")
        for res, warnings in warned:
            for text, n in warnings:
                L.append(f"- {res.name}: {n} × {text}")
    if filtered:
        L.append("\nLeft out of the comparison (netfence's answer for them is not comparable with anything "
                 "NCA computes), ordered pairs over all inputs:\n")
        L.extend(f"- {k}: {v}. {filter_reason(k)}." for k, v in sorted(filtered.items()))
    if fixtures:
        agree = [r for r in fixtures if r.cmp and not r.cmp.differences]
        L.append(f"\n### Semantics fixtures\n\nThe {len(fixtures)} NetworkPolicy cases of semantics.md §3 in "
                 "`fixtures/semantics/` (small clusters with pods, IPs and nodes; each states the spec's verdict "
                 "for some connections), run through both tools. Same answers: "
                 f"{len(agree)}; both reject the input (invalid by §1.6): {sum(r.both_reject for r in fixtures)}; "
                 f"different: {len(fixtures) - len(agree) - sum(r.both_reject for r in fixtures)}.\n")
        L.append("| fixture | outcome |\n|---|---|")
        for r in fixtures:
            if r.both_reject:
                outcome = "both reject"
            elif r.finding:
                outcome = f"{info(r.finding[0])['title']} ({r.finding[1]})"
            elif not r.cmp.differences:
                outcome = "same answers"
            else:
                counts = defaultdict(int)
                for d in r.cmp.differences:
                    counts[d.cls] += 1
                outcome = "; ".join(f"{n} × {info(k)['title']}" for k, n in sorted(counts.items()))
            L.append(f"| `{r.name}` | {outcome.replace('|', '/')} |")
    L.append("\n## Differences, by class\n")
    if not per_class:
        L.append("None.\n")
    else:
        L.append("| class | count | right | semantics.md | example |\n|---|---|---|---|---|")
        for k, items in sorted(per_class.items(), key=lambda kv: (info(kv[0])["right"], kv[0])):
            c = info(k)
            L.append(f"| {c['title']} | {len(items)} | {c['right']} | {c['section']} | "
                     f"{items[0][0]}: {items[0][1].replace('|', '/')} |")
        L.append("")
        for k, items in sorted(per_class.items()):
            c = info(k)
            L.append(f"### {c['title']}\n\n{c['why'].strip()}\n\nRight: {c['right']}. semantics.md: {c['section']}.\n")
            shown = items[:args.examples]
            L.extend(f"- {name}: {text}" for name, text in shown)
            if len(items) > len(shown):
                L.append(f"- ... and {len(items) - len(shown)} more")
            L.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L).rstrip() + "\n")
    return per_class, info


# ---------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--netfence", default=str(REPO / "target/release/netfence"),
                    help="netfence binary (default: target/release/netfence)")
    ap.add_argument("--nca", default="nca", help="NCA command (default: nca)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool and input (default 5)")
    ap.add_argument("--out", default=str(REPO / "bench/results/nca.md"), help="report to write")
    ap.add_argument("--work", help="keep the generated inputs and both tools' outputs in this directory")
    ap.add_argument("--inputs", default="shop,S,M,fixtures",
                    help="comma-separated subset of shop,S,M,fixtures (default: all)")
    ap.add_argument("--examples", type=int, default=10, help="differences listed per class (default 10)")
    args = ap.parse_args(argv)

    if not shutil.which(args.nca):
        sys.exit(f"error: `{args.nca}` not found; install NCA with `pip install network-config-analyzer` "
                 "(this report used 2.1.0), or pass --nca PATH")
    args.netfence = str(Path(args.netfence).resolve())
    if not os.access(args.netfence, os.X_OK):
        sys.exit(f"error: no netfence binary at {args.netfence}; build it with `cargo build --release`")
    if args.runs < 1:
        sys.exit("error: --runs must be at least 1")
    selected = set(args.inputs.split(","))
    unknown = selected - {"shop", "S", "M", "fixtures"}
    if unknown:
        sys.exit(f"error: unknown --inputs {','.join(sorted(unknown))} (choose from shop,S,M,fixtures)")

    tmp = None
    if args.work:
        work = Path(args.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="netfence-nca-")
        work = Path(tmp.name)
    try:
        facts = machine_facts(args)
        inputs = [("shop", "examples/shop (hand-written)", REPO / "examples/shop")] if "shop" in selected else []
        for name, workloads, policies, seed in (s for s in SIZES if s[0] in selected):
            directory = work / name
            shutil.rmtree(directory, ignore_errors=True)
            p = subprocess.run([args.netfence, "gen", "--workloads", str(workloads), "--policies", str(policies),
                                "--seed", str(seed), "-o", str(directory)], capture_output=True, text=True)
            if p.returncode != 0:
                raise ToolError(f"netfence gen failed:\n{p.stderr}")
            inputs.append((name, f"{name}: {workloads} workloads, {policies} policies, seed {seed}", directory))
        # NCA's floor: a Python interpreter importing NCA, before any input is read.
        startup = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([args.nca, "--version"], capture_output=True)
            startup.append(time.perf_counter() - start)
        timed = []
        for name, label, directory in inputs:
            print(f"{label}: timing", file=sys.stderr)
            res = Result(name, label)
            res.samples, res.nca_messages = time_input(name, directory, args, work)
            res.cmp, res.extra = differential(directory, (work / f"{name}.nca-pairs.out").read_text(), args, work,
                                              name)
            timed.append(res)
        fixtures = []
        if "fixtures" in selected:
            paths = sorted((REPO / "fixtures/semantics").glob("*.yaml"))
            print(f"semantics fixtures: {len(paths)}", file=sys.stderr)
            fixtures = [run_fixture(p, args, work) for p in paths]
        # Another job on the machine shows here, not in the ratios alone.
        facts.append(("load average (1 min) after", f"{os.getloadavg()[0]:.2f}"))
        per_class, info = write_report(Path(args.out), facts, timed, fixtures, startup, args)
    except (ToolError, ParseError) as e:
        sys.exit(f"error: {e}")
    finally:
        if tmp:
            tmp.cleanup()

    print(f"wrote {args.out}", file=sys.stderr)
    for k, items in sorted(per_class.items()):
        print(f"  {len(items):5} × {info(k)['title']} (right: {info(k)['right']})", file=sys.stderr)
    bad = [k for k in per_class if k == "unexplained" or "netfence bug" in info(k)["right"]]
    if bad:
        print("FAILED: differences that are unexplained or netfence bugs: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
