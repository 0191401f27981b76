//! The Kubernetes API as the agent's [`Input`]: the objects of a
//! [`KubeSource`], each a text named after its API path
//! (`cluster:/api/v1/namespaces/NS/pods/NAME`), read by the same loader as
//! files. An object that does not load keeps its last good version in force,
//! exactly as a file does (see [`crate::snapshot`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Instant;

pub use netfence_kube::{Connection, KubeError, KubeSource, Stats};

use crate::Event;
use crate::snapshot::{Input, Read};

/// The API source, shared with whoever wants its counters.
pub struct KubeInput(pub Arc<KubeSource>);

impl KubeInput {
    /// Connects and starts the watchers; every change of the store is sent to
    /// the event loop as [`Event::Changed`] (coalesced there like file events).
    pub fn start(connection: Connection, events: Sender<Event>) -> Result<KubeInput, KubeError> {
        let source = KubeSource::start(connection, move || {
            let _ = events.send(Event::Changed(Instant::now()));
        })?;
        Ok(KubeInput(Arc::new(source)))
    }
}

impl Input for KubeInput {
    fn read(&mut self) -> Read {
        match self.0.texts() {
            Ok(texts) => Read::Texts {
                texts,
                unreadable: BTreeMap::new(),
            },
            Err(waiting) => Read::Waiting(format!(
                "waiting for the first list of {} from the API server",
                waiting.join(", ")
            )),
        }
    }
}
