"""Tests of bench/nca.py's normalisation and comparison, on tiny hand-made
outputs of both tools. Standard library only; run from the repository root:

    python3 -m unittest discover -s bench -p 'test_*.py'
"""

import importlib.util
import unittest
from pathlib import Path

# Loaded under another name: `nca` is NCA's own package.
_spec = importlib.util.spec_from_file_location("nca_bench", Path(__file__).with_name("nca.py"))
nb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb)

ALL_PORTS = ((1, 65535),)


def nf_conn(tcp=(), udp=(), sctp=(), other=False):
    return {"TCP": [list(r) for r in tcp], "UDP": [list(r) for r in udp], "SCTP": [list(r) for r in sctp],
            "other": other}


NF_ALL = nf_conn([(0, 65535)], [(0, 65535)], [(0, 65535)], True)

# A netfence matrix: two workloads (one with two pods on node n1), the synthetic DNS
# endpoint, one node and two external groups (the first nominally covers the
# node's address).
NETFENCE = {
    "endpoints": [
        {"id": "a/deployment/web", "kind": "workload", "namespace": "a", "ipKnown": False},
        {"id": "a/api-1", "kind": "pod", "namespace": "a", "workload": "a/deployment/api", "node": "n1",
         "ips": ["10.0.0.5"], "ipKnown": True},
        {"id": "a/api-2", "kind": "pod", "namespace": "a", "workload": "a/deployment/api", "node": "n1",
         "ips": ["10.0.0.6"], "ipKnown": True},
        {"id": "kube-system/synthetic/cluster-dns", "kind": "synthetic-dns", "namespace": "kube-system",
         "ipKnown": False, "synthetic": True},
        {"id": "node:n1", "kind": "node", "ips": ["192.168.0.1"], "ipKnown": True},
        {"id": "0.0.0.0/1,128.0.0.0/1", "kind": "external", "ipKnown": True, "cidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
        {"id": "::/0", "kind": "external", "ipKnown": True, "cidrs": ["::/0"]},
    ],
    "connections": [
        {"src": ["a/deployment/web"], "dst": ["a/api-1", "a/api-2"], "allowed": nf_conn([(8080, 8080), (9000, 9100)])},
        {"src": ["a/api-1"], "dst": ["a/api-2"], "allowed": nf_conn([(8080, 8080)])},
        {"src": ["a/deployment/web", "a/api-1"], "dst": ["kube-system/synthetic/cluster-dns"],
         "allowed": nf_conn([(53, 53)], [(53, 53)])},
        {"src": ["0.0.0.0/1,128.0.0.0/1", "::/0"], "dst": ["a/deployment/web"], "allowed": NF_ALL},
        {"src": ["0.0.0.0/1,128.0.0.0/1"], "dst": ["::/0"], "allowed": NF_ALL},
        {"src": ["node:n1"], "dst": ["a/deployment/web"], "allowed": NF_ALL},
    ],
}

# The same, plus the pod's own node reaching it (semantics.md §1.7).
NETFENCE_OWN_NODE = {**NETFENCE, "connections": NETFENCE["connections"]
                     + [{"src": ["node:n1"], "dst": ["a/api-1", "a/api-2"], "allowed": NF_ALL}]}

# NCA's answer for the same cluster: it has no nodes, so the node's address
# is inside its ranges, which it cuts differently.
NCA = """\
a/web[Deployment] => a/api[Deployment] : {protocols:TCP,dst_ports:8080,9000-9100}
0.0.0.0-127.255.255.255 => a/web[Deployment] : All connections
128.0.0.0-255.255.255.255 => a/web[Deployment] : All connections
::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff => a/web[Deployment] : All connections
"""


class ConnectionText(unittest.TestCase):
    def test_nca_forms(self):
        self.assertEqual(nb.conn_from_nca("All connections"), nb.ALL)
        self.assertEqual(nb.conn_from_nca("{protocols:TCP, UDP,dst_ports:53}"), nb.conn([(53, 53)], [(53, 53)]))
        self.assertEqual(nb.conn_from_nca("{protocols:TCP,dst_ports:80-90,443},{protocols:SCTP}"),
                         nb.conn([(80, 90), (443, 443)], (), ALL_PORTS))
        # The complement keeps every other protocol.
        self.assertEqual(nb.conn_from_nca("All but {protocols:TCP,dst_ports:1-79,81-65535}"),
                         nb.conn([(80, 80)], ALL_PORTS, ALL_PORTS, True))
        self.assertEqual(nb.conn_from_nca("{protocols:all but TCP}"), nb.conn((), ALL_PORTS, ALL_PORTS, True))

    def test_nca_forms_netfence_cannot_express_are_errors(self):
        for text in ("{protocols:ICMP}", "{protocols:TCP,src_ports:5}", "{protocols:TCP,dst_ports:80} junk"):
            with self.assertRaises(nb.ParseError, msg=text):
                nb.conn_from_nca(text)

    def test_netfence_all_ports_includes_port_0(self):
        self.assertEqual(nb.conn_from_netfence(NF_ALL), nb.ALL)
        self.assertEqual(nb.conn_str(nb.conn([(80, 80), (8080, 8090)], [(53, 53)])), "TCP 80,8080-8090; UDP 53")

    def test_nca_endpoint_names(self):
        self.assertEqual(nb.nca_workload("a/web[Deployment]"), "a/deployment/web")
        self.assertEqual(nb.nca_workload("x/db-0[StatefulSet]"), "x/statefulset/db-0")
        self.assertEqual(nb.nca_workload("x/a[Pod]"), "x/a")


class Normalise(unittest.TestCase):
    def test_netfence(self):
        ans = nb.normalise_netfence(NETFENCE)
        self.assertEqual(ans.workloads, {"a/deployment/web", "a/deployment/api"})
        self.assertEqual(ans.pairs, {("a/deployment/web", "a/deployment/api"):
                                     nb.conn([(8080, 8080), (9000, 9100)])})
        self.assertEqual(ans.filtered, {"synthetic-dns": 2, "no-pod-end": 1, "same-workload": 1})
        # The external group loses the node's address; the node brings it back.
        ingress = sorted(ans.external[("a/deployment/web", "ingress", 4)])
        self.assertEqual([(lo, hi) for lo, hi, _ in ingress],
                         [(0, 0x7FFFFFFF), (0x80000000, 0xC0A80000), (0xC0A80001, 0xC0A80001),
                          (0xC0A80002, 0xFFFFFFFF)])
        self.assertEqual(ans.workload_nodes["a/deployment/api"], {"node:n1"})

    def test_same_answers_compare_equal(self):
        cmp = nb.Comparison(nb.normalise_netfence(NETFENCE), nb.normalise_nca(NCA))
        self.assertEqual(cmp.differences, [])
        self.assertEqual((cmp.pairs_same, cmp.pairs_both_deny, cmp.external_same), (1, 1, 2))

    def test_a_port_difference_is_found(self):
        cmp = nb.Comparison(nb.normalise_netfence(NETFENCE),
                            nb.normalise_nca(NCA.replace("8080,9000-9100", "8080,9000-9099")))
        self.assertEqual([repr(d) for d in cmp.differences],
                         ["a/deployment/web -> a/deployment/api: netfence TCP 8080,9000-9100, NCA TCP 8080,9000-9099"])

    def test_an_address_difference_is_cut_to_the_range(self):
        nca = NCA.replace("128.0.0.0-255.255.255.255 => a/web[Deployment] : All connections",
                          "128.0.0.0-255.255.255.255 => a/web[Deployment] : {protocols:TCP}")
        (d,) = nb.Comparison(nb.normalise_netfence(NETFENCE), nb.normalise_nca(nca)).differences
        self.assertEqual(repr(d), "128.0.0.0/1 -> a/deployment/web: netfence all, NCA TCP all ports")


class Classify(unittest.TestCase):
    def differences(self, nca, doc=NETFENCE):
        netfence = nb.normalise_netfence(doc)
        return netfence, nb.Comparison(netfence, nb.normalise_nca(nca)).differences

    def test_own_node_to_pod(self):
        netfence, diffs = self.differences(NCA + "0.0.0.0-255.255.255.255 => a/api[Deployment] : {protocols:TCP}\n",
                                           NETFENCE_OWN_NODE)
        nb.classify(diffs, netfence, {})
        self.assertEqual([(repr(d), d.cls) for d in diffs], [
            ("0.0.0.0-192.168.0.0 -> a/deployment/api: netfence none, NCA TCP all ports", "unexplained"),
            ("192.168.0.1/32 -> a/deployment/api: netfence all, NCA TCP all ports", "own-node-ingress"),
            ("192.168.0.2-255.255.255.255 -> a/deployment/api: netfence none, NCA TCP all ports", "unexplained"),
        ])

    def test_terminal_pod_from_netfence_notes(self):
        netfence, diffs = self.differences(NCA + "a/old[Pod] => a/web[Deployment] : All connections\n")
        nb.classify(diffs, netfence, {}, notes="input.yaml:9:3: note: Pod a/old is Succeeded: it is not an endpoint")
        self.assertEqual([d.cls for d in diffs], ["terminal-pod"])

    def test_a_flag_that_removes_the_difference_explains_it(self):
        netfence, diffs = self.differences(NCA.replace("a/web[Deployment] => a/api[Deployment]", "x/y[Pod] => x/z[Pod]"))
        variant = nb.normalise_netfence({**NETFENCE, "connections": NETFENCE["connections"][1:]})
        nb.classify(diffs, netfence, {"ip-block-matches-pods": variant})
        self.assertEqual(sorted(d.cls for d in diffs), ["ip-block-matches-pods", "unexplained"])
        self.assertEqual(nb.class_info("host-network+egress-to-own-node")["title"],
                         "hostNetwork pods + pod to its own node")

    def test_fixture_checks_decide_and_extend_to_twins(self):
        netfence, diffs = self.differences(NCA.replace("9000-9100", "9000-9099")
                                           + "a/api[Deployment] => a/web[Deployment] : {protocols:TCP,dst_ports:1}\n")
        fixture = {"case": 19, "title": "endPort range", "checks": [
            {"src": "a/deployment/web", "dst": "a/deployment/api", "protocol": "TCP", "port": 9100, "allowed": True}]}
        extra = nb.classify(diffs, netfence, {}, fixture=fixture)
        self.assertEqual([(d.cls, d.netfence_right) for d in diffs], [("unexplained", None), ("case-19", True)])
        self.assertEqual(extra["case-19"]["section"], "§1.4")
        self.assertEqual(extra["case-19"]["right"], "netfence")


if __name__ == "__main__":
    unittest.main()
