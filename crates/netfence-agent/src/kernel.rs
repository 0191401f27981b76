//! Where the agent's transactions go: the node's nf_tables (through
//! [`Nft`]), or a stand-in in the event loop's unit tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use netfence_nft::Compiled;
use netfence_nft::apply::{self, Applied, ApplyError, Plan, Record, Target};
use netfence_nft::backend::Nft;

use crate::metrics::PolicyCounters;

/// What the kernel holds: the table (`None`: none) and its generation mark.
pub type KernelState = (Option<Applied>, Option<u32>);

pub trait Kernel {
    /// Reads the table as it is in the kernel.
    fn read(&mut self) -> Result<KernelState, ApplyError>;
    /// Sends, as one transaction, what turns `state` into `compiled`; returns
    /// the plan and when the kernel had committed it. `state` must be what the
    /// kernel holds: if it is not, the kernel refuses the transaction (nothing
    /// changes) and the caller reads the kernel and tries again.
    fn apply(
        &mut self,
        compiled: &Compiled,
        state: &KernelState,
    ) -> Result<(Plan, Instant), ApplyError>;
    /// Host routes through interfaces named `prefix*`: address → interface
    /// (what binds each local pod to its interface).
    fn host_routes(&mut self, prefix: &str) -> Result<HashMap<IpAddr, String>, ApplyError>;
    /// Accepts per rule and drops on record per policy, from the table's
    /// counters (as `netfence status` reads them).
    fn counters(&mut self) -> Result<PolicyCounters, String>;
}

/// A node's nf_tables. Each read and apply holds the table's lock (shared
/// with `netfence enforce`) and leaves the records `netfence status` reads.
pub struct NftKernel {
    nft: Nft,
    target: Target,
    record: PathBuf,
    audit: bool,
}

impl NftKernel {
    pub fn new(target: &Target, audit: bool) -> NftKernel {
        NftKernel {
            nft: Nft::open(target),
            target: target.clone(),
            record: netfence_nft::status::record_path(target),
            audit,
        }
    }

    /// Why the `nft` binary is used, when libnftables could not be loaded.
    pub fn fallback(&self) -> Option<&str> {
        self.nft.fallback()
    }

    fn lock(&self) -> Result<netfence_nft::status::TableLock, ApplyError> {
        netfence_nft::status::lock(&self.target).map_err(|source| ApplyError::Spawn {
            command: format!("locking {}", netfence_nft::status::STATE_DIR),
            source,
        })
    }
}

impl Kernel for NftKernel {
    fn counters(&mut self) -> Result<PolicyCounters, String> {
        let status = netfence_nft::status::status(&self.target)?;
        let mut out = PolicyCounters::default();
        for a in status.allowed {
            *out.accepted.entry(a.rule).or_default() += a.connections;
        }
        for d in status.dropped {
            let direction = d.direction.to_string();
            if d.isolated_by.is_empty() {
                *out.dropped
                    .entry((d.kind.into(), String::new(), direction.clone()))
                    .or_default() += 1;
            }
            for policy in d.isolated_by {
                *out.dropped
                    .entry((d.kind.into(), policy, direction.clone()))
                    .or_default() += 1;
            }
        }
        Ok(out)
    }

    fn host_routes(&mut self, prefix: &str) -> Result<HashMap<IpAddr, String>, ApplyError> {
        netfence_nft::discover::host_routes(&self.target, prefix)
    }

    fn read(&mut self) -> Result<KernelState, ApplyError> {
        let _lock = self.lock()?;
        apply::read_state_with(&mut self.nft)
    }

    fn apply(
        &mut self,
        compiled: &Compiled,
        state: &KernelState,
    ) -> Result<(Plan, Instant), ApplyError> {
        let _lock = self.lock()?;
        let plan = apply::apply_planned(
            &mut self.nft,
            &compiled.ruleset,
            state.0.as_ref(),
            state.1,
            false,
            None,
        )?;
        let committed = Instant::now();
        // The records after the kernel, still under the lock: `status` compares
        // them with the kernel.
        let record = Record {
            generation: apply::generation(&compiled.ruleset),
            applied: apply::applied_of(&compiled.ruleset),
        };
        let text = serde_json::to_string(&record).map_err(|e| ApplyError::Output {
            command: "recording the applied table".into(),
            detail: e.to_string(),
        })?;
        netfence_nft::status::write_private(&self.record, &text).map_err(|source| {
            ApplyError::Spawn {
                command: format!("writing {}", self.record.display()),
                source,
            }
        })?;
        netfence_nft::status::write_sidecar(&self.target, compiled, self.audit).map_err(
            |source| ApplyError::Spawn {
                command: "writing the provenance for `netfence status`".into(),
                source,
            },
        )?;
        Ok((plan, committed))
    }
}
