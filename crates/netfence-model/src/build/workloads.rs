//! Workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ReplicationController, Job, CronJob): their pods stand for them when present,
//! their template otherwise.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::fields::{check_labels, container_ports};
use super::{ClusterBuilder, root_loc};
use crate::decode::decode_strict;
use crate::diag::Diagnostic;
use crate::labels::{Labels, Selector};
use crate::model::*;
use crate::objects::RawObject;
use crate::sources::ObjectOrigin;

pub(super) struct Workload {
    kind: String,
    namespace: String,
    name: String,
    selector: Option<Selector>,
    template_labels: Labels,
    ports: Vec<ContainerPort>,
    host_network: bool,
    origin: ObjectOrigin,
    /// The controller that owns this workload (a Deployment's ReplicaSet, a
    /// CronJob's Job, as `kubectl get all` lists them): (kind, name).
    controller: Option<(String, String)>,
}

impl ClusterBuilder<'_> {
    pub(super) fn workload<T: serde::de::DeserializeOwned + k8s_openapi::Resource>(
        &mut self,
        obj: &RawObject,
        ns: &str,
        diags: &mut Vec<Diagnostic>,
        parts: impl FnOnce(T) -> Option<(Option<LabelSelector>, Option<core::PodTemplateSpec>)>,
    ) {
        let Some(decoded) = decode_strict::<T>(&obj.json, &obj.origin, diags) else {
            return;
        };
        let root = root_loc(&obj.origin);
        let template_path = if obj.kind == "CronJob" {
            root.key("spec")
                .key("jobTemplate")
                .key("spec")
                .key("template")
        } else {
            root.key("spec").key("template")
        };
        let Some((selector, template)) = parts(decoded) else {
            return;
        };
        let template = template.unwrap_or_default();
        let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
        check_labels(&labels, &template_path.key("metadata").key("labels"), diags);
        let selector = selector.and_then(|s| {
            crate::labels::convert_selector(&s, &template_path.key("selector"), diags)
        });
        let spec = template.spec.unwrap_or_default();
        let ports = container_ports(&spec, &template_path.key("spec"), diags);
        self.reference(ns, &obj.origin);
        self.workloads.push(Workload {
            kind: obj.kind.clone(),
            namespace: ns.to_string(),
            name: obj.name.clone(),
            selector,
            template_labels: labels,
            ports,
            host_network: spec.host_network.unwrap_or(false),
            origin: obj.origin.clone(),
            controller: controller_of(&obj.json),
        });
    }

    /// Pods of a workload present in the input stand for it; otherwise the
    /// workload's template becomes one endpoint.
    pub(super) fn attach_workloads(&mut self) {
        let workloads = std::mem::take(&mut self.workloads);
        let present: std::collections::BTreeSet<(&str, &str, &str)> = workloads
            .iter()
            .map(|w| (w.namespace.as_str(), w.kind.as_str(), w.name.as_str()))
            .collect();
        // A workload whose controller is in the input is part of it: its pods
        // stand for the controller, and its template is the controller's.
        let owned: Vec<bool> = workloads
            .iter()
            .map(|w| {
                w.controller.as_ref().is_some_and(|(kind, name)| {
                    present.contains(&(w.namespace.as_str(), kind.as_str(), name.as_str()))
                })
            })
            .collect();
        for (w, owned) in workloads.into_iter().zip(owned) {
            if owned {
                continue;
            }
            let mut has_pods = false;
            for (ep, owner) in self.cluster.endpoints.iter_mut().zip(&self.pod_owners) {
                if ep.namespace != w.namespace || ep.workload.is_some() {
                    continue;
                }
                let Some(owner) = owner else { continue };
                let owned = (owner.kind == w.kind && owner.name == w.name)
                    || (w.kind == "Deployment"
                        && owner.kind == "ReplicaSet"
                        && owner
                            .name
                            .strip_prefix(&w.name)
                            .is_some_and(|r| r.starts_with('-')))
                    || (w.kind == "CronJob"
                        && owner.kind == "Job"
                        && owner
                            .name
                            .strip_prefix(&w.name)
                            .is_some_and(|r| r.starts_with('-')));
                let selected = w.selector.as_ref().is_none_or(|s| s.matches(&ep.labels));
                if owned && selected {
                    ep.workload = Some(WorkloadRef {
                        kind: w.kind.clone(),
                        name: w.name.clone(),
                    });
                    has_pods = true;
                }
            }
            if !has_pods {
                self.cluster.endpoints.push(Endpoint {
                    id: format!("{}/{}/{}", w.namespace, w.kind.to_lowercase(), w.name),
                    namespace: w.namespace.clone(),
                    name: w.name.clone(),
                    source: EndpointSource::Workload {
                        workload_kind: w.kind.clone(),
                    },
                    labels: w.template_labels,
                    ips: Vec::new(),
                    node: None,
                    ports: w.ports,
                    host_network: w.host_network,
                    workload: Some(WorkloadRef {
                        kind: w.kind,
                        name: w.name,
                    }),
                    origin: Some(w.origin),
                });
            }
        }
        // Pods whose owner is not in the input still group by their owner.
        for (ep, owner) in self.cluster.endpoints.iter_mut().zip(&self.pod_owners) {
            if ep.workload.is_none()
                && let Some(o) = owner
            {
                ep.workload = Some(WorkloadRef {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                });
            }
        }
    }
}

/// The owner reference marked `controller: true`, as (kind, name).
fn controller_of(json: &serde_json::Value) -> Option<(String, String)> {
    json.get("metadata")?
        .get("ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o.get("controller").and_then(|c| c.as_bool()) == Some(true))
        .and_then(|o| {
            Some((
                o.get("kind")?.as_str()?.to_string(),
                o.get("name")?.as_str()?.to_string(),
            ))
        })
}
