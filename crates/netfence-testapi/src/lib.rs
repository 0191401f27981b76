//! Test support only: an HTTP/1.1 server on 127.0.0.1 that speaks the
//! Kubernetes API's list/watch protocol for the kinds netfence reads. It is not
//! a cluster: no admission, no defaulting, no authentication, no etcd; objects
//! are stored as given. What it does reproduce is what a list/watch client sees
//! on the wire:
//!
//! - typed lists (`kind: PodList`, items without `apiVersion`/`kind`,
//!   `metadata.resourceVersion` of the list);
//! - `?watch=true&resourceVersion=RV&allowWatchBookmarks=true`: a chunked
//!   stream of `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`
//!   lines, starting after RV;
//! - one global resourceVersion counter across kinds;
//! - a watch from a resourceVersion older than the kept history gets HTTP 200
//!   and one `ERROR` event whose object is a `Status` with code 410 and reason
//!   `Expired`, as the real server sends;
//! - connections dropped without a closing chunk, a server that answers 503
//!   for a while, a kind refused (403) or not installed (404).
//!
//! Tests change objects through [`TestApi`] (apply, delete, bookmark, expire,
//! drop watches) and read what clients asked through [`TestApi::requests`].

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a poisoned lock is a failed test

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One kind the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `/api/v1` or `/apis/GROUP/VERSION`.
    pub prefix: &'static str,
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

pub const NAMESPACES: Kind = Kind {
    prefix: "/api/v1",
    api_version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
};
pub const PODS: Kind = Kind {
    prefix: "/api/v1",
    api_version: "v1",
    kind: "Pod",
    plural: "pods",
    namespaced: true,
};
pub const NODES: Kind = Kind {
    prefix: "/api/v1",
    api_version: "v1",
    kind: "Node",
    plural: "nodes",
    namespaced: false,
};
pub const NETWORK_POLICIES: Kind = Kind {
    prefix: "/apis/networking.k8s.io/v1",
    api_version: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    namespaced: true,
};

pub const ADMIN_NETWORK_POLICIES: Kind = Kind {
    prefix: "/apis/policy.networking.k8s.io/v1alpha1",
    api_version: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    plural: "adminnetworkpolicies",
    namespaced: false,
};
pub const BASELINE_ADMIN_NETWORK_POLICIES: Kind = Kind {
    prefix: "/apis/policy.networking.k8s.io/v1alpha1",
    api_version: "policy.networking.k8s.io/v1alpha1",
    kind: "BaselineAdminNetworkPolicy",
    plural: "baselineadminnetworkpolicies",
    namespaced: false,
};
pub const CLUSTER_NETWORK_POLICIES: Kind = Kind {
    prefix: "/apis/policy.networking.k8s.io/v1alpha2",
    api_version: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    plural: "clusternetworkpolicies",
    namespaced: false,
};

/// Every kind served.
pub const KINDS: [Kind; 7] = [
    NAMESPACES,
    PODS,
    NODES,
    NETWORK_POLICIES,
    ADMIN_NETWORK_POLICIES,
    BASELINE_ADMIN_NETWORK_POLICIES,
    CLUSTER_NETWORK_POLICIES,
];

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    /// The path without the query.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The HTTP status answered.
    pub status: u16,
}

impl Request {
    pub fn is_watch(&self) -> bool {
        self.query.get("watch").map(String::as_str) == Some("true")
    }
}

type Key = (usize, String, String);

enum Message {
    Event(String),
    /// Close the connection without the closing chunk, as a broken
    /// connection or a restarting server does.
    Drop,
    /// Send this line, then end the stream cleanly.
    Last(String),
}

struct Watcher {
    kind: usize,
    bookmarks: bool,
    tx: Sender<Message>,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// (resourceVersion, kind, event line) after `compacted`.
    history: Vec<(u64, usize, String)>,
    /// Watches from a resourceVersion below this get 410.
    compacted: u64,
    watchers: Vec<Watcher>,
    requests: Vec<Request>,
    unavailable: bool,
    refused: Option<usize>,
    /// Kinds answered 404, as custom resources a cluster has not installed.
    missing: Vec<usize>,
}

/// The server; stops (and drops every connection) when dropped.
pub struct TestApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl TestApi {
    /// Starts on 127.0.0.1 on a free port.
    pub fn start() -> std::io::Result<TestApi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("testapi-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sp.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (st, sp) = (st.clone(), sp.clone());
                    let _ = std::thread::Builder::new()
                        .name("testapi-conn".into())
                        .spawn(move || serve(conn, &st, &sp));
                }
            })?;
        Ok(TestApi { addr, state, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server, without credentials.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testapi\n  cluster:\n    server: {}\ncontexts:\n- name: testapi\n  context:\n    cluster: testapi\n    user: testapi\nusers:\n- name: testapi\n  user: {{}}\ncurrent-context: testapi\n",
            self.url()
        )
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rv
    }

    /// Creates or replaces an object (by `apiVersion`+`kind`, namespace and
    /// name), stamping a new resourceVersion, and sends ADDED or MODIFIED to
    /// the watches of its kind. Returns the resourceVersion.
    pub fn apply(&self, mut object: Value) -> Result<u64, String> {
        let kind = kind_of(&object)?;
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or("the object has no metadata")?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .ok_or("the object has no metadata.name")?
            .to_string();
        let ns = if KINDS[kind].namespaced {
            meta.entry("namespace")
                .or_insert_with(|| json!("default"))
                .as_str()
                .ok_or("metadata.namespace is not a string")?
                .to_string()
        } else {
            String::new()
        };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.rv += 1;
        let rv = st.rv;
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.entry("uid")
            .or_insert_with(|| json!(format!("00000000-0000-0000-0000-{rv:012}")));
        let key = (kind, ns, name);
        let typ = if st.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        st.objects.insert(key, object.clone());
        st.publish(kind, rv, typ, &object);
        Ok(rv)
    }

    /// Deletes an object; sends DELETED (the last state, with the deletion's
    /// resourceVersion) to the watches of its kind. False when it did not exist.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        let Some(k) = KINDS.iter().position(|x| *x == kind) else {
            return false;
        };
        let ns = if kind.namespaced { namespace } else { "" };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut object) = st.objects.remove(&(k, ns.to_string(), name.to_string())) else {
            return false;
        };
        st.rv += 1;
        let rv = st.rv;
        if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        st.publish(k, rv, "DELETED", &object);
        true
    }

    /// Sends a BOOKMARK at the current resourceVersion to every watch that
    /// asked for bookmarks.
    pub fn bookmark(&self) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for w in &st.watchers {
            if w.bookmarks {
                let line = bookmark_line(KINDS[w.kind], st.rv);
                let _ = w.tx.send(Message::Event(line));
            }
        }
    }

    /// Forgets the event history (as etcd compaction does) and ends every open
    /// watch with an `ERROR` event carrying a 410 `Expired` Status: a client
    /// must list again.
    pub fn expire(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.compacted = st.rv + 1;
        st.history.clear();
        let line = expired_line(st.rv, st.compacted);
        for w in st.watchers.drain(..) {
            let _ = w.tx.send(Message::Last(line.clone()));
        }
    }

    /// Forgets the event history without telling open watches: the next watch
    /// from an older resourceVersion gets 410.
    pub fn compact(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.compacted = st.rv + 1;
        st.history.clear();
    }

    /// Breaks every open watch connection (no closing chunk).
    pub fn drop_watches(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for w in st.watchers.drain(..) {
            let _ = w.tx.send(Message::Drop);
        }
    }

    /// While true, every request is answered 503 (and open watches are
    /// broken when it is set).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unavailable = unavailable;
        if unavailable {
            self.drop_watches();
        }
    }

    /// While `Some`, requests for that kind are answered 403 Forbidden (the
    /// others are served), as when a ClusterRole misses the kind: its list
    /// cannot complete.
    pub fn refuse_kind(&self, kind: Option<Kind>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).refused =
            kind.and_then(|k| KINDS.iter().position(|x| *x == k));
    }

    /// Whether requests for `kind` are answered 404 (its custom resource
    /// definition not installed).
    pub fn set_missing(&self, kind: Kind, missing: bool) {
        let Some(k) = KINDS.iter().position(|x| *x == kind) else {
            return;
        };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.missing.retain(|m| *m != k);
        if missing {
            st.missing.push(k);
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }

    /// How many watches are open now.
    pub fn open_watches(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .watchers
            .len()
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.drop_watches();
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl State {
    fn publish(&mut self, kind: usize, rv: u64, typ: &str, object: &Value) {
        let line = json!({"type": typ, "object": object}).to_string();
        self.history.push((rv, kind, line.clone()));
        // A watch whose client went away is forgotten here.
        self.watchers
            .retain(|w| w.kind != kind || w.tx.send(Message::Event(line.clone())).is_ok());
    }
}

fn kind_of(object: &Value) -> Result<usize, String> {
    let av = object.get("apiVersion").and_then(Value::as_str);
    let k = object.get("kind").and_then(Value::as_str);
    KINDS
        .iter()
        .position(|x| Some(x.api_version) == av && Some(x.kind) == k)
        .ok_or_else(|| format!("not a kind the test API serves: {av:?} {k:?}"))
}

fn bookmark_line(kind: Kind, rv: u64) -> String {
    json!({
        "type": "BOOKMARK",
        "object": {
            "kind": kind.kind,
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": rv.to_string()}
        }
    })
    .to_string()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    })
}

fn expired_line(asked: u64, oldest: u64) -> String {
    json!({
        "type": "ERROR",
        "object": status(410, "Expired", &format!("too old resource version: {asked} ({oldest})"))
    })
    .to_string()
}

/// Which kind a path lists, and the namespace it is limited to.
fn route(path: &str) -> Option<(usize, Option<String>)> {
    for (i, k) in KINDS.iter().enumerate() {
        let Some(rest) = path.strip_prefix(k.prefix) else {
            continue;
        };
        if rest == format!("/{}", k.plural) {
            return Some((i, None));
        }
        if k.namespaced
            && let Some(ns) = rest
                .strip_prefix("/namespaces/")
                .and_then(|r| r.strip_suffix(&format!("/{}", k.plural)))
            && !ns.contains('/')
        {
            return Some((i, Some(ns.to_string())));
        }
    }
    None
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

fn serve(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    // Keep-alive: one request after another until the client closes or a
    // watch ends the connection.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) if h == "\r\n" || h == "\n" => break,
                Ok(_) => close |= h.to_ascii_lowercase().starts_with("connection: close"),
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = parse_query(query);
        let keep = if method != "GET" {
            respond(
                &mut conn,
                state,
                path,
                &query,
                405,
                &status(
                    405,
                    "MethodNotAllowed",
                    "the test API only lists and watches",
                ),
            )
        } else if route(path).is_some_and(|(k, _)| {
            state.lock().unwrap_or_else(|e| e.into_inner()).refused == Some(k)
        }) {
            respond(
                &mut conn,
                state,
                path,
                &query,
                403,
                &status(403, "Forbidden", "the test API refuses this kind"),
            )
        } else if state.lock().unwrap_or_else(|e| e.into_inner()).unavailable {
            respond(
                &mut conn,
                state,
                path,
                &query,
                503,
                &status(503, "ServiceUnavailable", "the test API is unavailable"),
            )
        } else {
            match route(path).filter(|(k, _)| {
                !state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .missing
                    .contains(k)
            }) {
                None => respond(
                    &mut conn,
                    state,
                    path,
                    &query,
                    404,
                    &status(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ),
                ),
                Some((kind, ns)) if query.get("watch").map(String::as_str) == Some("true") => {
                    watch(conn, state, path, &query, kind, ns);
                    return;
                }
                Some((kind, ns)) => list(&mut conn, state, path, &query, kind, ns.as_deref()),
            }
        };
        if !keep || close {
            return;
        }
    }
}

fn log(state: &Mutex<State>, path: &str, query: &BTreeMap<String, String>, status: u16) {
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(Request {
            at: Instant::now(),
            path: path.to_string(),
            query: query.clone(),
            status,
        });
}

fn respond(
    conn: &mut TcpStream,
    state: &Mutex<State>,
    path: &str,
    query: &BTreeMap<String, String>,
    code: u16,
    body: &Value,
) -> bool {
    log(state, path, query, code);
    let body = body.to_string();
    let reason = match code {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        _ => "Service Unavailable",
    };
    write!(
        conn,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .and_then(|()| conn.flush())
    .is_ok()
}

fn in_namespace(key: &Key, ns: Option<&str>) -> bool {
    ns.is_none_or(|ns| key.1 == ns)
}

fn list(
    conn: &mut TcpStream,
    state: &Mutex<State>,
    path: &str,
    query: &BTreeMap<String, String>,
    kind: usize,
    ns: Option<&str>,
) -> bool {
    let k = KINDS[kind];
    let (body, code) = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        let exact = query.get("resourceVersionMatch").map(String::as_str) == Some("Exact");
        let asked = query
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok());
        if let (true, Some(asked)) = (exact, asked)
            && asked != st.rv
        {
            // Only the current state is kept: an exact older one is gone.
            (
                status(
                    410,
                    "Expired",
                    &format!("too old resource version: {asked} ({})", st.rv),
                ),
                410,
            )
        } else {
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(key, _)| key.0 == kind && in_namespace(key, ns))
                .map(|(_, o)| {
                    let mut o = o.clone();
                    if let Some(m) = o.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    o
                })
                .collect();
            (
                json!({
                    "kind": format!("{}List", k.kind),
                    "apiVersion": k.api_version,
                    "metadata": {"resourceVersion": st.rv.to_string()},
                    "items": items
                }),
                200,
            )
        }
    };
    respond(conn, state, path, query, code, &body)
}

fn chunk(conn: &mut TcpStream, line: &str) -> std::io::Result<()> {
    let data = format!("{line}\n");
    write!(conn, "{:x}\r\n{data}\r\n", data.len())?;
    conn.flush()
}

fn watch(
    mut conn: TcpStream,
    state: &Mutex<State>,
    path: &str,
    query: &BTreeMap<String, String>,
    kind: usize,
    ns: Option<String>,
) {
    log(state, path, query, 200);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let from = query.get("resourceVersion").cloned().unwrap_or_default();
    if conn
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (tx, rx): (Sender<Message>, Receiver<Message>) = mpsc::channel();
    let backlog: Result<Vec<String>, String> = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let backlog = match from.parse::<u64>() {
            // "" and "0": the current objects as ADDED, then what follows.
            Err(_) | Ok(0) => Ok(st
                .objects
                .iter()
                .filter(|(key, _)| key.0 == kind)
                .map(|(_, o)| json!({"type": "ADDED", "object": o}).to_string())
                .collect()),
            Ok(rv) if rv + 1 < st.compacted => Err(expired_line(rv, st.compacted)),
            Ok(rv) => Ok(st
                .history
                .iter()
                .filter(|(at, k, _)| *at > rv && *k == kind)
                .map(|(_, _, l)| l.clone())
                .collect()),
        };
        if backlog.is_ok() {
            st.watchers.push(Watcher {
                kind,
                bookmarks,
                tx,
            });
        }
        backlog
    };
    let lines = match backlog {
        Ok(lines) => lines,
        Err(expired) => {
            let _ = chunk(&mut conn, &expired).and_then(|()| conn.write_all(b"0\r\n\r\n"));
            return;
        }
    };
    let wanted = |line: &str| {
        let Some(ns) = &ns else { return true };
        serde_json::from_str::<Value>(line).is_ok_and(|v| {
            v["type"] == "BOOKMARK" || v["object"]["metadata"]["namespace"].as_str() == Some(ns)
        })
    };
    for l in lines.iter().filter(|l| wanted(l)) {
        if chunk(&mut conn, l).is_err() {
            return;
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Message::Event(line)) => {
                if wanted(&line) && chunk(&mut conn, &line).is_err() {
                    return;
                }
            }
            Ok(Message::Last(line)) => {
                let _ = chunk(&mut conn, &line).and_then(|()| conn.write_all(b"0\r\n\r\n"));
                return;
            }
            Ok(Message::Drop) | Err(RecvTimeoutError::Disconnected) => {
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                // The server ends a watch at its timeout, cleanly.
                let _ = conn.write_all(b"0\r\n\r\n");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(api: &TestApi, target: &str) -> (String, String) {
        let mut c = TcpStream::connect(api.addr).unwrap();
        write!(
            c,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    fn pod(name: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "ns", "labels": {"app": app}},
               "spec": {"nodeName": "n1"}, "status": {"podIP": "10.0.0.1"}})
    }

    #[test]
    fn lists_are_typed_and_carry_the_global_resource_version() {
        let api = TestApi::start().unwrap();
        api.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}))
            .unwrap();
        assert_eq!(api.apply(pod("a", "x")).unwrap(), 2);
        let (head, body) = get(&api, "/api/v1/pods?limit=500");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["kind"], "PodList");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["metadata"]["resourceVersion"], "2");
        assert_eq!(v["items"].as_array().unwrap().len(), 1);
        assert!(v["items"][0].get("kind").is_none());
        assert!(v["items"][0].get("apiVersion").is_none());
        assert_eq!(v["items"][0]["metadata"]["resourceVersion"], "2");
        let (_, body) = get(&api, "/api/v1/namespaces/other/pods");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 0);
        let (head, _) = get(&api, "/api/v1/services");
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let (head, body) = get(
            &api,
            "/api/v1/pods?resourceVersion=1&resourceVersionMatch=Exact",
        );
        assert!(head.starts_with("HTTP/1.1 410"), "{head}");
        assert!(body.contains("\"Expired\""), "{body}");
    }

    /// Reads the chunked body until the connection ends; returns the lines.
    fn watch_lines(api: &TestApi, target: &str, during: impl FnOnce()) -> (Vec<Value>, bool) {
        let mut c = TcpStream::connect(api.addr).unwrap();
        write!(c, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(c);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        while line != "\r\n" {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        // Let the server register the watch before the test acts.
        let t = Instant::now();
        while api.open_watches() == 0 && t.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(5));
        }
        during();
        let mut out = Vec::new();
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                return (out, false);
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                return (out, true);
            }
            let mut data = vec![0; n + 2];
            r.read_exact(&mut data).unwrap();
            out.push(serde_json::from_slice(&data[..n]).unwrap());
        }
    }

    #[test]
    fn watch_streams_events_after_the_resource_version_then_bookmarks_and_expiry() {
        let api = TestApi::start().unwrap();
        api.apply(pod("a", "x")).unwrap(); // rv 1
        api.apply(pod("b", "x")).unwrap(); // rv 2
        let (events, clean) = watch_lines(
            &api,
            "/api/v1/pods?watch=true&resourceVersion=1&allowWatchBookmarks=true",
            || {
                api.apply(pod("a", "y")).unwrap(); // rv 3
                assert!(api.delete(PODS, "ns", "b")); // rv 4
                api.bookmark();
                api.expire();
            },
        );
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);
        assert_eq!(events[0]["object"]["metadata"]["name"], "b");
        assert_eq!(events[0]["object"]["kind"], "Pod");
        assert_eq!(events[1]["object"]["metadata"]["labels"]["app"], "y");
        assert_eq!(events[2]["object"]["metadata"]["resourceVersion"], "4");
        assert_eq!(events[3]["object"]["metadata"]["resourceVersion"], "4");
        assert_eq!(events[4]["object"]["kind"], "Status");
        assert_eq!(events[4]["object"]["code"], 410);
        assert_eq!(events[4]["object"]["reason"], "Expired");
        assert!(clean, "410 ends the stream with the closing chunk");
        // After expiry a watch from an old version is refused at once.
        let (events, _) = watch_lines(&api, "/api/v1/pods?watch=true&resourceVersion=2", || {});
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["object"]["code"], 410);
    }

    #[test]
    fn dropped_watches_end_without_the_closing_chunk() {
        let api = TestApi::start().unwrap();
        let (events, clean) =
            watch_lines(&api, "/api/v1/pods?watch=true&resourceVersion=0", || {
                api.drop_watches()
            });
        assert!(events.is_empty());
        assert!(!clean);
        api.set_unavailable(true);
        let (head, _) = get(&api, "/api/v1/pods");
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert_eq!(api.requests().last().unwrap().status, 503);
    }
}
