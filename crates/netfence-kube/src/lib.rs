//! The Kubernetes API as a source of objects: Namespaces, Pods, Nodes,
//! NetworkPolicies and the admin policy kinds (AdminNetworkPolicy,
//! BaselineAdminNetworkPolicy, ClusterNetworkPolicy), each followed by a kube-runtime watcher (initial list,
//! watch, bookmarks, a new list after `410 Gone`, reconnection with backoff).
//!
//! The source keeps the objects as JSON texts named after their API path
//! (`cluster:/api/v1/namespaces/NS/pods/NAME`), so that the caller hands them
//! to the same loader as files: validation and located errors are those of a
//! file holding the object. It runs its own tokio runtime on its own thread;
//! the caller stays synchronous and is told "something changed" through a
//! callback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, TypeMeta};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Config};
use tracing::{debug, warn};

/// One kind the source follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// A custom resource that a cluster may not have installed: a 404 on its
    /// list means "none exist" (its watcher keeps trying, and a later list
    /// brings its objects) instead of holding everything back.
    pub optional: bool,
}

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The name an object gets in the loader's sources: `cluster:` and the
    /// object's API path.
    pub fn source_name(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!(
                "cluster:{}/namespaces/{ns}/{}/{name}",
                self.prefix(),
                self.plural
            ),
            None => format!("cluster:{}/{}/{name}", self.prefix(), self.plural),
        }
    }
}

/// How many kinds the source watches.
pub const N: usize = 7;

/// What the source watches (and so what a read-only ClusterRole for it must
/// allow: get, list and watch on exactly these).
pub const KINDS: [Kind; N] = [
    Kind {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        optional: false,
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        namespaced: true,
        optional: false,
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        namespaced: false,
        optional: false,
    },
    Kind {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        optional: false,
    },
    Kind {
        group: "policy.networking.k8s.io",
        version: "v1alpha1",
        kind: "AdminNetworkPolicy",
        plural: "adminnetworkpolicies",
        namespaced: false,
        optional: true,
    },
    Kind {
        group: "policy.networking.k8s.io",
        version: "v1alpha1",
        kind: "BaselineAdminNetworkPolicy",
        plural: "baselineadminnetworkpolicies",
        namespaced: false,
        optional: true,
    },
    Kind {
        group: "policy.networking.k8s.io",
        version: "v1alpha2",
        kind: "ClusterNetworkPolicy",
        plural: "clusternetworkpolicies",
        namespaced: false,
        optional: true,
    },
];

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("in-cluster configuration: {0}")]
    InCluster(#[from] kube::config::InClusterError),
    #[error("cannot build the API client: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot start the source's thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Where the API server is and how to talk to it.
#[derive(Debug, Clone)]
pub enum Connection {
    /// A kubeconfig file, and the context to use (its current one otherwise).
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token).
    InCluster,
}

/// Counters for logs, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Completed lists per kind (in [`KINDS`] order): 1 after the first; each
    /// more is a list again (after `410 Gone`).
    pub lists: [u64; N],
    /// Optional kinds the server does not have (404 on their list): taken as
    /// having no objects.
    pub absent: [bool; N],
    /// Watch events applied to the store (added, modified, deleted).
    pub events: u64,
    /// Errors of the watchers (each is retried with backoff).
    pub errors: u64,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Store {
    /// Per kind: source name → JSON text.
    objects: [BTreeMap<String, String>; N],
    /// Per kind: the objects of a list in progress.
    listing: [Option<BTreeMap<String, String>>; N],
    stats: Stats,
}

struct Shared {
    store: Mutex<Store>,
    notify: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // The store is plain data, consistent after every statement that
        // changes it: a panic elsewhere leaves it usable.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, k: usize, event: Result<Event<DynamicObject>, watcher::Error>) {
        let kind = KINDS[k];
        let changed = {
            let mut st = self.lock();
            match event {
                Ok(Event::Init) => {
                    st.listing[k] = Some(BTreeMap::new());
                    false
                }
                Ok(Event::InitApply(o)) => {
                    let (name, text) = entry(kind, o);
                    st.listing[k].get_or_insert_default().insert(name, text);
                    false
                }
                Ok(Event::InitDone) => {
                    // Objects not in the new list are gone: the list replaces
                    // the kind's objects as a whole.
                    st.objects[k] = st.listing[k].take().unwrap_or_default();
                    st.stats.lists[k] += 1;
                    st.stats.absent[k] = false;
                    debug!(kind = kind.kind, objects = st.objects[k].len(), "listed");
                    true
                }
                Ok(Event::Apply(o)) => {
                    let (name, text) = entry(kind, o);
                    st.stats.events += 1;
                    let old = st.objects[k].insert(name, text.clone());
                    old.as_deref() != Some(text.as_str())
                }
                Ok(Event::Delete(o)) => {
                    let (name, _) = entry(kind, o);
                    st.stats.events += 1;
                    st.objects[k].remove(&name).is_some()
                }
                Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                    if kind.optional && status.code == 404 =>
                {
                    // Not installed: no such objects exist. Said once, not at
                    // every retry.
                    let first = !st.stats.absent[k];
                    if first {
                        debug!(
                            kind = kind.kind,
                            "not served by the API server: taken as none"
                        );
                    }
                    st.stats.absent[k] = true;
                    let had = !st.objects[k].is_empty();
                    st.objects[k].clear();
                    first || had
                }
                Err(e) => {
                    warn!(kind = kind.kind, error = %e, "watching the API server; retrying with backoff");
                    st.stats.errors += 1;
                    st.stats.last_error = Some(format!("{}: {e}", kind.plural));
                    false
                }
            }
        };
        if changed {
            (self.notify)();
        }
    }
}

/// The object's source name and its text: the object as the API server sent
/// it, with `apiVersion` and `kind` (list items come without them) and
/// without `managedFields` (bookkeeping of who wrote which field, often larger
/// than the object).
fn entry(kind: Kind, mut o: DynamicObject) -> (String, String) {
    o.types = Some(TypeMeta {
        api_version: kind.api_version(),
        kind: kind.kind.to_string(),
    });
    o.metadata.managed_fields = None;
    let name = kind.source_name(
        o.metadata.namespace.as_deref(),
        o.metadata.name.as_deref().unwrap_or_default(),
    );
    // Serializing a value that came from JSON cannot fail; an empty text
    // would be refused by the loader and keep the last good version.
    let text = serde_json::to_string_pretty(&o).unwrap_or_default();
    (name, text)
}

/// The source: one watcher per kind on a thread of its own, stopped when
/// dropped.
pub struct KubeSource {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeSource {
    /// Connects and starts following the API server; `notify` is called from
    /// the source's thread after every change of the store (a first list
    /// completed, an object added, modified or deleted).
    pub fn start(
        connection: Connection,
        notify: impl Fn() + Send + Sync + 'static,
    ) -> Result<KubeSource, KubeError> {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            notify: Box::new(notify),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("netfence-kube".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(KubeError::Thread(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = match client(connection).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let watches = KINDS.iter().enumerate().map(|(k, kind)| {
                        let sh = sh.clone();
                        let client = client.clone();
                        async move {
                            let gvk = GroupVersionKind::gvk(kind.group, kind.version, kind.kind);
                            let ar = ApiResource::from_gvk_with_plural(&gvk, kind.plural);
                            let api: Api<DynamicObject> = Api::all_with(client, &ar);
                            let stream =
                                watcher::watcher(api, watcher::Config::default()).default_backoff();
                            futures::pin_mut!(stream);
                            while let Some(event) = stream.next().await {
                                sh.handle(k, event);
                            }
                        }
                    });
                    tokio::select! {
                        _ = futures::future::join_all(watches) => {}
                        _ = stop_rx => {}
                    }
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(KubeSource {
                shared,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(KubeError::Thread(std::io::Error::other(
                    "the source's thread ended before connecting",
                )))
            }
        }
    }

    /// Every object as a JSON text by source name, once every kind has
    /// completed its first list; before that, the kinds still being listed.
    pub fn texts(&self) -> Result<BTreeMap<String, String>, Vec<&'static str>> {
        let st = self.shared.lock();
        let waiting: Vec<&'static str> = KINDS
            .iter()
            .enumerate()
            .filter(|(i, _)| st.stats.lists[*i] == 0 && !st.stats.absent[*i])
            .map(|(_, k)| k.plural)
            .collect();
        if !waiting.is_empty() {
            return Err(waiting);
        }
        Ok(st
            .objects
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect())
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for KubeSource {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn client(connection: Connection) -> Result<Client, KubeError> {
    let config = match connection {
        Connection::Kubeconfig { path, context } => {
            let kubeconfig =
                Kubeconfig::read_from(&path).map_err(|source| KubeError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            let options = KubeConfigOptions {
                context,
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| KubeError::Kubeconfig { path, source })?
        }
        Connection::InCluster => Config::incluster()?,
    };
    Ok(Client::try_from(config)?)
}
