//! A synthetic cluster generator: realistic, deterministic, any size.
//!
//! The shape is what platform teams run: namespaces of various sizes, each with a
//! default-deny and the guide's allow-dns; Deployments labelled `app`, `tier`,
//! `team` with named ports; a dependency graph between apps (web → api → db,
//! sometimes across namespaces), written as ingress at the callee *and* matching
//! egress at the caller, so the flows really open; some peers written with
//! matchExpressions; some port ranges (endPort); some egress to external CIDRs with
//! `except` (cloud metadata, the cluster range). The same seed gives the same files.

use std::fmt::Write as _;

/// Sizes named in BENCHMARKS.md.
pub const SIZES: &[(&str, usize, usize)] = &[
    ("S", 100, 20),
    ("M", 1_000, 200),
    ("L", 10_000, 2_000),
    ("XL", 50_000, 10_000),
];

#[derive(Clone, Debug)]
pub struct GenOptions {
    pub workloads: usize,
    pub policies: usize,
    pub seed: u64,
    /// Write this many Pod objects (with IPs) per workload instead of Deployments.
    pub pods_per_workload: Option<usize>,
    /// Spread pods over this many nodes (`spec.nodeName`), with Node objects.
    pub nodes: usize,
    /// ClusterNetworkPolicies (v1alpha2) to add, in `admin-policies.yaml`.
    pub admin_policies: usize,
}

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const TIERS: &[&str] = &["web", "api", "worker", "db", "cache"];
const TEAMS: &[&str] = &[
    "checkout", "search", "identity", "payments", "platform", "data",
];

struct App {
    ns: usize,
    name: String,
    tier: &'static str,
    team: &'static str,
    port: u16,
    port_name: &'static str,
    /// Apps this one calls.
    deps: Vec<usize>,
}

fn port_of(tier: &str) -> (u16, &'static str) {
    match tier {
        "web" => (8080, "http"),
        "api" => (9090, "grpc"),
        "worker" => (8081, "metrics"),
        "db" => (5432, "postgres"),
        _ => (6379, "redis"),
    }
}

/// The generated cluster as files: (file name, YAML text).
pub fn generate(opts: &GenOptions) -> Vec<(String, String)> {
    let mut rng = Rng(opts.seed ^ 0x6e65_7466_656e_6365);
    let workloads = opts.workloads.max(1);
    // Namespaces: about 15% of the policy budget goes to the per-namespace pair
    // (default-deny, allow-dns), the rest to per-app policies. Sizes are skewed.
    let ns_count = (opts.policies / 8)
        .max(workloads / 50)
        .clamp(3.min(workloads), workloads.max(1));
    // Apps that get a policy of their own, and call each other.
    let with_policy = opts.policies.saturating_sub(2 * ns_count).min(workloads);
    let namespaces: Vec<String> = (0..ns_count)
        .map(|i| format!("{}-{i}", TEAMS[i % TEAMS.len()]))
        .collect();
    let mut apps: Vec<App> = Vec::with_capacity(workloads);
    for i in 0..workloads {
        // Skew: low-numbered namespaces get more apps.
        let ns = rng.below(ns_count).min(rng.below(ns_count) + rng.below(3));
        let tier = TIERS[rng.below(TIERS.len())];
        let (port, port_name) = port_of(tier);
        apps.push(App {
            ns: ns.min(ns_count - 1),
            name: format!("{tier}-{i}"),
            tier,
            team: TEAMS[(ns + i) % TEAMS.len()],
            port,
            port_name,
            deps: Vec::new(),
        });
    }
    // Dependencies: mostly within the namespace, sometimes across.
    // Apps with policies call apps with policies (so both ends say yes);
    // the others call anything.
    let mut by_ns: Vec<Vec<usize>> = vec![Vec::new(); ns_count];
    for (i, a) in apps.iter().enumerate().take(with_policy) {
        by_ns[a.ns].push(i);
    }
    for i in 0..apps.len() {
        let n = 1 + rng.below(3);
        let pool = if i < with_policy {
            with_policy
        } else {
            apps.len()
        };
        for _ in 0..n {
            let local = &by_ns[apps[i].ns];
            let target = if rng.chance(80) && i < with_policy && !local.is_empty() {
                local[rng.below(local.len())]
            } else {
                rng.below(pool)
            };
            if target != i && !apps[i].deps.contains(&target) {
                apps[i].deps.push(target);
            }
        }
    }
    // Callers admitted at the callee: those that have a policy to open their side
    // (the others sit behind their namespace's default-deny).
    let mut callers: Vec<Vec<usize>> = vec![Vec::new(); apps.len()];
    for (i, a) in apps.iter().enumerate().take(with_policy) {
        for &d in &a.deps {
            callers[d].push(i);
        }
    }

    let mut ns_yaml = String::new();
    for (i, ns) in namespaces.iter().enumerate() {
        let _ = write!(
            ns_yaml,
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    kubernetes.io/metadata.name: {ns}\n    team: {}\n    env: {}\n",
            TEAMS[i % TEAMS.len()],
            if i % 5 == 0 { "staging" } else { "prod" }
        );
    }
    ns_yaml.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n  labels:\n    kubernetes.io/metadata.name: kube-system\n");
    // Where the scrapers live: apps nobody calls admit them.
    ns_yaml.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n  labels:\n    kubernetes.io/metadata.name: monitoring\n    team: platform\n");

    let workloads_yaml = match opts.pods_per_workload {
        None => deployments(&apps, &namespaces),
        Some(k) => pods(&apps, &namespaces, k.max(1), opts.nodes.max(1)),
    };

    // Policies: default-deny + allow-dns per namespace first (as far as the budget
    // goes), then one per app, busiest namespaces first.
    let mut policies = String::new();
    let mut budget = opts.policies;
    for ns in &namespaces {
        if budget < 2 {
            break;
        }
        budget -= 2;
        let _ = write!(
            policies,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny-all\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-dns\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - {{protocol: UDP, port: 53}}\n    - {{protocol: TCP, port: 53}}\n"
        );
    }
    for (i, app) in apps.iter().enumerate() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        policies.push_str(&app_policy(
            i,
            app,
            &apps,
            &callers[i],
            &namespaces,
            &mut rng,
        ));
    }
    let mut files = vec![
        ("namespaces.yaml".to_string(), ns_yaml),
        ("workloads.yaml".to_string(), workloads_yaml),
        ("policies.yaml".to_string(), policies),
    ];
    files.push(("kube-system.yaml".to_string(), kube_dns(opts)));
    if opts.admin_policies > 0 {
        files.push((
            "admin-policies.yaml".to_string(),
            admin_policies(opts.admin_policies, &namespaces),
        ));
    }
    files
}

/// What a platform team writes cluster-wide, cycling over teams and
/// namespaces: DNS allowed and cloud metadata denied for everyone (Admin), a
/// baseline that closes cross-namespace ingress, and per team: databases
/// closed to other teams (Deny), a team's own namespaces handed to their
/// NetworkPolicies (Pass), monitoring allowed in (Accept), SMTP out denied.
/// Priorities are distinct, so no two policies tie.
pub fn admin_policies(n: usize, namespaces: &[String]) -> String {
    let mut out = String::new();
    let head = |out: &mut String, name: &str, tier: &str, priority: usize| {
        let _ = write!(
            out,
            "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n  tier: {tier}\n  priority: {priority}\n"
        );
    };
    for i in 0..n {
        match i {
            0 => {
                head(&mut out, "allow-cluster-dns", "Admin", 0);
                out.push_str("  subject:\n    namespaces: {}\n  egress:\n  - name: dns\n    action: Accept\n    to:\n    - pods:\n        namespaceSelector:\n          matchLabels:\n            kubernetes.io/metadata.name: kube-system\n        podSelector:\n          matchLabels:\n            k8s-app: kube-dns\n    protocols:\n    - udp:\n        destinationPort:\n          number: 53\n    - tcp:\n        destinationPort:\n          number: 53\n");
            }
            1 => {
                head(&mut out, "deny-cloud-metadata", "Admin", 1);
                out.push_str("  subject:\n    namespaces: {}\n  egress:\n  - name: metadata\n    action: Deny\n    to:\n    - networks: [169.254.169.254/32]\n");
            }
            2 => {
                head(&mut out, "baseline-namespace-isolation", "Baseline", 1);
                out.push_str("  subject:\n    namespaces: {}\n  ingress:\n  - name: other-namespaces\n    action: Deny\n    from:\n    - namespaces:\n        matchExpressions:\n        - {key: team, operator: Exists}\n");
            }
            _ => {
                let k = i - 3;
                let team = TEAMS[k % TEAMS.len()];
                let ns = &namespaces[k % namespaces.len().max(1)];
                // 10..=1000, distinct while there are fewer than 991.
                let priority = 10 + k % 991;
                match k % 4 {
                    0 => {
                        head(
                            &mut out,
                            &format!("{team}-db-closed-{k}"),
                            "Admin",
                            priority,
                        );
                        let _ = write!(
                            out,
                            "  subject:\n    pods:\n      namespaceSelector:\n        matchLabels:\n          team: {team}\n      podSelector:\n        matchLabels:\n          tier: db\n  ingress:\n  - name: other-teams\n    action: Deny\n    from:\n    - namespaces:\n        matchExpressions:\n        - {{key: team, operator: NotIn, values: [{team}]}}\n"
                        );
                    }
                    1 => {
                        head(&mut out, &format!("{ns}-team-pass-{k}"), "Admin", priority);
                        let _ = write!(
                            out,
                            "  subject:\n    namespaces:\n      matchLabels:\n        kubernetes.io/metadata.name: {ns}\n  ingress:\n  - name: same-team\n    action: Pass\n    from:\n    - namespaces:\n        matchLabels:\n          team: {team}\n"
                        );
                    }
                    2 => {
                        head(&mut out, &format!("{ns}-monitoring-{k}"), "Admin", priority);
                        let _ = write!(
                            out,
                            "  subject:\n    namespaces:\n      matchLabels:\n        kubernetes.io/metadata.name: {ns}\n  ingress:\n  - name: scrape\n    action: Accept\n    from:\n    - namespaces:\n        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n    protocols:\n    - tcp:\n        destinationPort:\n          number: 9100\n"
                        );
                    }
                    _ => {
                        head(&mut out, &format!("{ns}-no-smtp-{k}"), "Admin", priority);
                        let _ = write!(
                            out,
                            "  subject:\n    pods:\n      namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {ns}\n      podSelector:\n        matchLabels:\n          tier: worker\n  egress:\n  - name: smtp\n    action: Deny\n    to:\n    - networks: [0.0.0.0/0]\n    protocols:\n    - tcp:\n        destinationPort:\n          number: 25\n"
                        );
                    }
                }
            }
        }
    }
    out
}

fn labels(app: &App) -> String {
    format!(
        "app: {}\n        tier: {}\n        team: {}",
        app.name, app.tier, app.team
    )
}

fn deployments(apps: &[App], namespaces: &[String]) -> String {
    let mut out = String::new();
    for app in apps {
        let _ = write!(
            out,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        {labels}\n    spec:\n      containers:\n      - name: main\n        image: registry.example/{tier}:1.0\n        ports:\n        - name: {pname}\n          containerPort: {port}\n",
            name = app.name,
            ns = namespaces[app.ns],
            labels = labels(app),
            tier = app.tier,
            pname = app.port_name,
            port = app.port,
        );
    }
    out
}

/// Pod IPs: 10.64.0.0/10, one per pod in order.
fn pod_ip(index: usize) -> String {
    let n = 0x0A40_0000u32 + 1 + index as u32;
    format!(
        "{}.{}.{}.{}",
        n >> 24,
        (n >> 16) & 255,
        (n >> 8) & 255,
        n & 255
    )
}

fn pods(apps: &[App], namespaces: &[String], per_workload: usize, nodes: usize) -> String {
    let mut out = String::new();
    for n in 0..nodes {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-{n}\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.{}.{}\n",
            n / 250,
            n % 250 + 1
        );
    }
    let mut index = 0;
    for app in apps {
        for r in 0..per_workload {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}-{r}\n  namespace: {ns}\n  labels:\n    {labels}\nspec:\n  nodeName: node-{node}\n  containers:\n  - name: main\n    image: registry.example/{tier}:1.0\n    ports:\n    - name: {pname}\n      containerPort: {port}\nstatus:\n  phase: Running\n  podIP: {ip}\n",
                name = app.name,
                ns = namespaces[app.ns],
                labels = labels(app).replace("\n        ", "\n    "),
                node = index % nodes,
                tier = app.tier,
                pname = app.port_name,
                port = app.port,
                ip = pod_ip(index),
            );
            index += 1;
        }
    }
    out
}

fn kube_dns(opts: &GenOptions) -> String {
    let common = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\nspec:\n  selector:\n    k8s-app: kube-dns\n  ports:\n  - {name: dns, port: 53, protocol: UDP}\n  - {name: dns-tcp, port: 53, protocol: TCP}\n";
    let workload = match opts.pods_per_workload {
        None => "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: coredns\n  namespace: kube-system\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      k8s-app: kube-dns\n  template:\n    metadata:\n      labels:\n        k8s-app: kube-dns\n    spec:\n      containers:\n      - name: coredns\n        image: registry.k8s.io/coredns/coredns:v1.11.3\n        ports:\n        - {name: dns, containerPort: 53, protocol: UDP}\n        - {name: dns-tcp, containerPort: 53, protocol: TCP}\n".to_string(),
        Some(_) => "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: coredns-0\n  namespace: kube-system\n  labels:\n    k8s-app: kube-dns\nspec:\n  nodeName: node-0\n  containers:\n  - name: coredns\n    image: registry.k8s.io/coredns/coredns:v1.11.3\n    ports:\n    - {name: dns, containerPort: 53, protocol: UDP}\n    - {name: dns-tcp, containerPort: 53, protocol: TCP}\nstatus:\n  phase: Running\n  podIP: 10.127.255.2\n".to_string(),
    };
    format!("---\n{common}{workload}")
}

/// One app's policy: ingress from its callers, egress to what it calls.
fn app_policy(
    i: usize,
    app: &App,
    apps: &[App],
    callers: &[usize],
    namespaces: &[String],
    rng: &mut Rng,
) -> String {
    let ns = &namespaces[app.ns];
    let peer = |other: &App, rng: &mut Rng| -> String {
        let pod = if rng.chance(15) {
            format!(
                "podSelector:\n        matchExpressions:\n        - {{key: app, operator: In, values: [{}]}}",
                other.name
            )
        } else {
            format!(
                "podSelector:\n        matchLabels:\n          app: {}",
                other.name
            )
        };
        if other.ns == app.ns {
            format!("    - {pod}\n")
        } else {
            format!(
                "    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {}\n      {pod}\n",
                namespaces[other.ns]
            )
        }
    };
    let mut out = format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  podSelector:\n    matchLabels:\n      app: {name}\n  policyTypes: [Ingress, Egress]\n",
        name = app.name
    );
    out.push_str("  ingress:\n");
    if callers.is_empty() {
        // Nobody calls it: monitoring may scrape it.
        let _ = write!(
            out,
            "  - from:\n    - namespaceSelector:\n        matchLabels:\n          team: platform\n    ports:\n    - {{port: {}}}\n",
            app.port_name
        );
    } else {
        out.push_str("  - from:\n");
        for &c in callers {
            out.push_str(&peer(&apps[c], rng));
        }
        if rng.chance(20) {
            let _ = write!(
                out,
                "    ports:\n    - {{protocol: TCP, port: {}, endPort: {}}}\n",
                app.port,
                app.port + 10
            );
        } else {
            let _ = write!(out, "    ports:\n    - {{port: {}}}\n", app.port_name);
        }
    }
    out.push_str("  egress:\n");
    for &d in &app.deps {
        let dep = &apps[d];
        out.push_str("  - to:\n");
        out.push_str(&peer(dep, rng));
        let _ = write!(
            out,
            "    ports:\n    - {{protocol: TCP, port: {}}}\n",
            dep.port
        );
    }
    if app.deps.is_empty() || rng.chance(10) || i.is_multiple_of(17) {
        out.push_str("  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, 169.254.169.254/32]\n    ports:\n    - {protocol: TCP, port: 443}\n");
    }
    out
}

/// The "one policy per port" habit: `policies` NetworkPolicies in one
/// namespace, each selecting the same pods (`app: api`) and admitting
/// `app: frontend` on a port of its own. Every policy isolates the same pods,
/// so whatever compares policies or rules with each other meets all of them at
/// once: the shape that makes a quadratic analysis show.
pub fn same_pods(policies: usize) -> Vec<(String, String)> {
    let mut text = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n");
    for app in ["api", "frontend"] {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {app}, namespace: app}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec: {{containers: [{{name: c, image: registry.example/{app}:1}}]}}\n"
        ));
    }
    for i in 0..policies {
        // Ports from 1024 up, wrapping inside the unprivileged range.
        let port = 1024 + i % 60000;
        text.push_str(&format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: api-port-{i}, namespace: app}}\nspec:\n  podSelector: {{matchLabels: {{app: api}}}}\n  policyTypes: [Ingress]\n  ingress:\n  - from: [{{podSelector: {{matchLabels: {{app: frontend}}}}}}]\n    ports: [{{protocol: TCP, port: {port}}}]\n"
        ));
    }
    vec![("same-pods.yaml".to_string(), text)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_files_and_budget_respected() {
        let opts = GenOptions {
            workloads: 100,
            policies: 20,
            seed: 7,
            pods_per_workload: None,
            nodes: 1,
            admin_policies: 0,
        };
        let a = generate(&opts);
        assert_eq!(a, generate(&opts));
        let policies = &a
            .iter()
            .find(|(n, _)| n == "policies.yaml")
            .map(|(_, t)| t.clone());
        let count = policies
            .as_deref()
            .unwrap_or("")
            .matches("kind: NetworkPolicy")
            .count();
        assert_eq!(count, 20);
        let other = generate(&GenOptions { seed: 8, ..opts });
        assert_ne!(a, other);
    }
}
