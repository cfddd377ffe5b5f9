//! Approval: write only what a person (or a saved plan) approved.
//!
//! A caller that showed a plan and got a "yes" (the CLI's `apply`), or that holds a saved plan
//! (`apply FILE`), passes an [`Approver`] in [`RunOptions::approve`](crate::RunOptions). The
//! reconcile loop asks it once per planning round of every VPC in scope, right before that
//! round's writes, with a [`Proposal`]: the actions the round would take and a
//! [`fingerprint`] of what the plan saw. A [`Verdict::Refused`] stops the VPC there: nothing
//! more is written to it, and its report is `non_compliant` with a [`NOT_APPROVED`] problem
//! that says why. In a dry run the approver is asked too (its verdict only marks the report),
//! which is how a caller records the fingerprints of a plan it saves.
//!
//! Writes are compared by what they do ([`Effect`]): the VPC, the kind of write, the
//! endpoint (an existing one by id, a new one by service), subnets and sources; never by ids
//! that only exist after the write (a new endpoint's or group's). [`Approval`] holds what was
//! approved and judges proposals: `at most` these writes (a plan shown on a terminal: fewer
//! is fine, something else did part of the work) or `exactly` these writes on exactly what
//! the plan saw (a saved plan).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::apply::planned_actions;
use crate::model::{
    AccountIdentity, Domain, Endpoint, HostedZone, Notebook, Observation, RouteTable, S3Endpoint, S3View,
    SecurityGroup, Subnet, Tags, Vpc, VpcDns,
};
use crate::plan::Plan;
use crate::report::{Action, Code, Outcome, Problem, Report, VpcReport};

/// Problem code of a VPC whose planned writes were not approved (nothing more was written to it).
pub const NOT_APPROVED: &str = Code::NotApproved.as_str();

/// What one planning round of one VPC is about to do.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    /// The VPC.
    pub vpc_id: &'a str,
    /// [`fingerprint`] of the observation the round planned from.
    pub fingerprint: &'a str,
    /// 1 for the first plan of the VPC; later rounds follow conflicts or concurrent changes,
    /// after this run's own writes (so their observation differs from the first).
    pub round: usize,
    /// Whether the run writes nothing anyway.
    pub dry_run: bool,
    /// The writes the round would make, in order (empty when the VPC is in line).
    pub actions: &'a [Action],
}

/// An approver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the writes.
    Approved,
    /// Write nothing more to this VPC; the reason goes into its report.
    Refused(String),
}

/// Judges each [`Proposal`] of a run; see [`Approval`] for the usual one.
pub type Approver = Arc<dyn Fn(&Proposal<'_>) -> Verdict + Send + Sync>;

/// The reconcile loop's hook: asks `approver` (if any) about the round planned from `obs`;
/// `Some(reason)` when it refuses.
pub(crate) fn review(
    approver: Option<&Approver>,
    obs: &Observation,
    plan: &Plan,
    round: usize,
    dry_run: bool,
) -> Option<String> {
    let approver = approver?;
    let actions = planned_actions(plan);
    let fingerprint = fingerprint(obs);
    let proposal = Proposal { vpc_id: &obs.vpc.id, fingerprint: &fingerprint, round, dry_run, actions: &actions };
    match approver(&proposal) {
        Verdict::Approved => None,
        Verdict::Refused(reason) => Some(reason),
    }
}

/// Marks a VPC's report as refused: `non_compliant`, with a [`NOT_APPROVED`] problem.
pub(crate) fn refused(mut report: VpcReport, reason: String) -> VpcReport {
    report.outcome = Outcome::NonCompliant;
    report.problems.push(Problem::error(Code::NotApproved, reason));
    report
}

/// One thing a write does, free of ids that only exist after it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// Turn on `enableDnsSupport`.
    EnableDnsSupport,
    /// Turn on `enableDnsHostnames`.
    EnableDnsHostnames,
    /// Create the managed security group.
    CreateSecurityGroup {
        /// Its name.
        name: String,
    },
    /// Allow TCP 443 from a source into the managed group.
    AllowHttps {
        /// CIDR block or prefix list id.
        source: String,
    },
    /// Revoke a TCP 443 rule vpce-guard added.
    RevokeHttps {
        /// CIDR block or prefix list id.
        source: String,
    },
    /// Create an endpoint for a service.
    CreateEndpoint {
        /// Service name.
        service: String,
        /// Whether private DNS is requested.
        private_dns: bool,
    },
    /// Give an endpoint (existing or new) a network interface in a subnet.
    AddSubnet {
        /// The endpoint.
        endpoint: EndpointRef,
        /// The subnet.
        subnet_id: String,
    },
    /// Add the managed group to an existing endpoint.
    AddSecurityGroup {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Replace an existing endpoint's policy.
    SetPolicy {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Turn private DNS on for an existing endpoint.
    EnablePrivateDns {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Delete an endpoint vpce-guard created (its VPC stayed idle).
    DeleteEndpoint {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Delete the managed security group.
    DeleteSecurityGroup {
        /// The group.
        group_id: String,
    },
    /// Mark an endpoint `vpce-guard:idle-since` (whatever the time: a plan approved a minute
    /// before marks at the time of the apply).
    MarkIdle {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Remove an endpoint's `vpce-guard:idle-since` mark.
    UnmarkIdle {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Give a route table a route to Amazon S3 (an S3 gateway endpoint, new or existing).
    S3Route {
        /// `rtb-…`.
        route_table_id: String,
    },
}

/// An endpoint a write touches: one that exists (its id), or the one a create makes (its service).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointRef {
    /// An endpoint that existed when the plan was made.
    Existing(String),
    /// The endpoint created for this service.
    New(String),
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::EnableDnsSupport => write!(f, "enable DNS support"),
            Effect::EnableDnsHostnames => write!(f, "enable DNS hostnames"),
            Effect::CreateSecurityGroup { name } => write!(f, "create security group {name}"),
            Effect::AllowHttps { source } => write!(f, "allow TCP 443 from {source}"),
            Effect::RevokeHttps { source } => write!(f, "revoke TCP 443 from {source}"),
            Effect::CreateEndpoint { service, private_dns } => {
                write!(f, "create an endpoint for {service} (private DNS {})", if *private_dns { "on" } else { "off" })
            }
            Effect::AddSubnet { endpoint: EndpointRef::Existing(id), subnet_id } => {
                write!(f, "add {subnet_id} to {id}")
            }
            Effect::AddSubnet { endpoint: EndpointRef::New(service), subnet_id } => {
                write!(f, "place the new {service} endpoint in {subnet_id}")
            }
            Effect::AddSecurityGroup { endpoint_id } => write!(f, "add the managed security group to {endpoint_id}"),
            Effect::SetPolicy { endpoint_id } => write!(f, "set the endpoint policy of {endpoint_id}"),
            Effect::EnablePrivateDns { endpoint_id } => write!(f, "enable private DNS on {endpoint_id}"),
            Effect::S3Route { route_table_id } => write!(f, "route {route_table_id} to Amazon S3 (gateway endpoint)"),
            Effect::DeleteEndpoint { endpoint_id } => write!(f, "delete endpoint {endpoint_id}"),
            Effect::DeleteSecurityGroup { group_id } => write!(f, "delete security group {group_id}"),
            Effect::MarkIdle { endpoint_id } => write!(f, "mark {endpoint_id} idle"),
            Effect::UnmarkIdle { endpoint_id } => write!(f, "unmark {endpoint_id}"),
        }
    }
}

/// What `actions` (of one VPC) do. A create counts as the creation plus one
/// [`Effect::AddSubnet`] per subnet, so that a create in fewer subnets is "fewer writes".
pub fn effects(actions: &[Action]) -> BTreeSet<Effect> {
    let mut effects = BTreeSet::new();
    for action in actions {
        match action {
            Action::EnableDnsSupport { .. } => {
                effects.insert(Effect::EnableDnsSupport);
            }
            Action::EnableDnsHostnames { .. } => {
                effects.insert(Effect::EnableDnsHostnames);
            }
            Action::CreateSecurityGroup { group_name, .. } => {
                effects.insert(Effect::CreateSecurityGroup { name: group_name.clone() });
            }
            Action::AuthorizeHttps { cidrs, .. } => {
                effects.extend(cidrs.iter().map(|source| Effect::AllowHttps { source: source.clone() }));
            }
            Action::RevokeHttps { cidrs, .. } => {
                effects.extend(cidrs.iter().map(|source| Effect::RevokeHttps { source: source.clone() }));
            }
            Action::CreateEndpoint { service, subnet_ids, private_dns, .. } => {
                effects.insert(Effect::CreateEndpoint { service: service.clone(), private_dns: *private_dns });
                effects.extend(subnet_ids.iter().map(|subnet| Effect::AddSubnet {
                    endpoint: EndpointRef::New(service.clone()),
                    subnet_id: subnet.clone(),
                }));
            }
            Action::AddSubnets { endpoint_id, subnet_ids } => {
                effects.extend(subnet_ids.iter().map(|subnet| Effect::AddSubnet {
                    endpoint: EndpointRef::Existing(endpoint_id.clone()),
                    subnet_id: subnet.clone(),
                }));
            }
            Action::AddSecurityGroup { endpoint_id, .. } => {
                effects.insert(Effect::AddSecurityGroup { endpoint_id: endpoint_id.clone() });
            }
            Action::SetPolicy { endpoint_id } => {
                effects.insert(Effect::SetPolicy { endpoint_id: endpoint_id.clone() });
            }
            Action::EnablePrivateDns { endpoint_id } => {
                effects.insert(Effect::EnablePrivateDns { endpoint_id: endpoint_id.clone() });
            }
            Action::S3Gateway { route_table_ids, .. } => {
                effects.extend(route_table_ids.iter().map(|t| Effect::S3Route { route_table_id: t.clone() }));
            }
            Action::DeleteEndpoint { endpoint_id, .. } => {
                effects.insert(Effect::DeleteEndpoint { endpoint_id: endpoint_id.clone() });
            }
            Action::DeleteSecurityGroup { group_id } => {
                effects.insert(Effect::DeleteSecurityGroup { group_id: group_id.clone() });
            }
            Action::MarkIdle { endpoint_ids, .. } => {
                effects.extend(endpoint_ids.iter().map(|id| Effect::MarkIdle { endpoint_id: id.clone() }));
            }
            Action::UnmarkIdle { endpoint_ids } => {
                effects.extend(endpoint_ids.iter().map(|id| Effect::UnmarkIdle { endpoint_id: id.clone() }));
            }
        }
    }
    effects
}

/// What was approved for one VPC: the writes of the plan shown or saved, and (for a saved
/// plan) the fingerprint of what that plan saw. One entry of a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedVpc {
    /// The VPC.
    pub vpc_id: String,
    /// [`fingerprint`] of the observation the plan was made from; `None` for a VPC the plan
    /// did not plan (out of scope, or failed).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The plan's actions for it.
    pub actions: Vec<Action>,
}

/// Where a new plan of one VPC departs from what was approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The VPC.
    pub vpc_id: String,
    /// Writes the new plan makes that were not approved.
    pub extra: Vec<Effect>,
    /// Approved writes the new plan no longer makes (only an exact approval minds them).
    pub missing: Vec<Effect>,
    /// The VPC looks different from what the saved plan saw (its fingerprint changed).
    pub changed: bool,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |effects: &[Effect]| effects.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        let mut parts = Vec::new();
        if !self.extra.is_empty() {
            parts.push(format!("writes not approved: {}", list(&self.extra)));
        }
        if !self.missing.is_empty() {
            parts.push(format!("approved writes no longer planned: {}", list(&self.missing)));
        }
        if self.changed {
            parts.push("the VPC changed since the plan was made".to_string());
        }
        write!(f, "{}: {}", self.vpc_id, parts.join("; "))
    }
}

/// What was approved, per VPC, and how strictly a new plan must match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    vpcs: BTreeMap<String, ApprovedVpc>,
    exact: bool,
}

impl Approval {
    /// A saved plan: exactly these writes, on exactly what the plan saw.
    pub fn exact(vpcs: impl IntoIterator<Item = ApprovedVpc>) -> Self {
        Self { vpcs: vpcs.into_iter().map(|v| (v.vpc_id.clone(), v)).collect(), exact: true }
    }

    /// A plan shown to a person (a dry run's report) who said yes: at most its writes.
    pub fn at_most(report: &Report) -> Self {
        let vpcs = report.vpcs.iter().map(|v| ApprovedVpc {
            vpc_id: v.vpc_id.clone(),
            fingerprint: None,
            actions: v.actions.clone(),
        });
        Self { vpcs: vpcs.map(|v| (v.vpc_id.clone(), v)).collect(), exact: false }
    }

    /// Judges one round about to write. Unapproved writes are refused; a saved plan's first
    /// round is refused too when the VPC no longer looks as the plan saw it. A round with
    /// nothing to write is always approved (nothing can go wrong).
    pub fn review(&self, proposal: &Proposal<'_>) -> Verdict {
        if proposal.actions.is_empty() {
            return Verdict::Approved;
        }
        let approved = self.vpcs.get(proposal.vpc_id);
        let mut difference = self.compare(proposal.vpc_id, approved, proposal.actions, None);
        difference.missing.clear();
        difference.changed = self.exact
            && proposal.round == 1
            && approved.and_then(|a| a.fingerprint.as_deref()) != Some(proposal.fingerprint);
        if difference.extra.is_empty() && !difference.changed {
            return Verdict::Approved;
        }
        Verdict::Refused(format!("{difference}; nothing more was written to it"))
    }

    /// The VPCs where a new dry run (its report, and the fingerprints its approver was shown)
    /// departs from the approval. At most: the VPCs with unapproved writes. Exactly: also
    /// those with fewer writes, and those with writes whose fingerprint changed.
    pub fn differences(&self, report: &Report, fingerprints: &BTreeMap<String, String>) -> Vec<Difference> {
        let mut vpc_ids: BTreeSet<&str> = self.vpcs.keys().map(String::as_str).collect();
        vpc_ids.extend(report.vpcs.iter().map(|v| v.vpc_id.as_str()));
        let none = Vec::new();
        vpc_ids
            .into_iter()
            .filter_map(|vpc_id| {
                let actions = report.vpcs.iter().find(|v| v.vpc_id == vpc_id).map_or(&none, |v| &v.actions);
                let difference =
                    self.compare(vpc_id, self.vpcs.get(vpc_id), actions, fingerprints.get(vpc_id).map(String::as_str));
                let differs = !difference.extra.is_empty() || !difference.missing.is_empty() || difference.changed;
                differs.then_some(difference)
            })
            .collect()
    }

    fn compare(
        &self,
        vpc_id: &str,
        approved: Option<&ApprovedVpc>,
        actions: &[Action],
        fingerprint: Option<&str>,
    ) -> Difference {
        let wanted = approved.map(|a| effects(&a.actions)).unwrap_or_default();
        let planned = effects(actions);
        let writes = !wanted.is_empty() || !planned.is_empty();
        Difference {
            vpc_id: vpc_id.to_string(),
            extra: planned.difference(&wanted).cloned().collect(),
            missing: if self.exact { wanted.difference(&planned).cloned().collect() } else { Vec::new() },
            changed: self.exact && writes && approved.and_then(|a| a.fingerprint.as_deref()) != fingerprint,
        }
    }

    /// This approval as the [`Approver`] of a run.
    pub fn into_approver(self) -> Approver {
        Arc::new(move |proposal| self.review(proposal))
    }
}

/// A digest (`sha256:…`) of what a plan of the VPC depends on: the account and region, the
/// VPC (CIDR blocks, DNS attributes, vpce-guard tags), its subnets (AZ, vpce-guard tags),
/// the configured services' endpoints in it (state, subnets, groups, policy, private DNS,
/// vpce-guard tags), the managed group's rules, its notebooks, the services' AZs and DNS names,
/// and its private hosted zones. Left out: free addresses (they move all the time; a change
/// that moves the plan's subnet choice shows in its actions) and what earlier rounds learnt.
pub fn fingerprint(obs: &Observation) -> String {
    // Destructured field by field: a field added to the model fails to compile here until
    // it is either hashed or left out on purpose.
    let Observation {
        identity,
        vpc,
        subnets,
        endpoints,
        group,
        notebooks,
        domains,
        s3,
        service_azs,
        service_dns,
        hosted_zones,
        route53_profiles_unread,
        hints: _,
    } = obs;
    let AccountIdentity { account_id, partition, region, org_id } = identity;
    let group = group.as_ref().map(|SecurityGroup { id, vpc_id, https_sources, managed_sources, managed }| {
        json!([id, vpc_id, https_sources, managed_sources, managed])
    });
    let zones = hosted_zones.as_ref().map(|zones| {
        sorted_by_id(zones.iter().map(|HostedZone { id, name, route53_profile }| json!([id, name, route53_profile])))
    });
    let canonical = json!({
        "identity": [account_id, partition, region, org_id],
        "vpc": vpc_value(vpc),
        "subnets": sorted_by_id(subnets.iter().map(subnet_value)),
        "endpoints": sorted_by_id(endpoints.iter().map(endpoint_value)),
        "group": group,
        "notebooks": notebooks.as_ref().map(|notebooks| sorted_by_id(notebooks.iter().map(notebook_value))),
        "domains": domains.as_ref().map(|domains| sorted_by_id(domains.iter().map(domain_value))),
        "s3": s3.as_ref().map(s3_value),
        "service_azs": service_azs,
        "service_dns": service_dns,
        "hosted_zones": zones,
        "route53_profiles_unread": route53_profiles_unread,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn s3_value(view: &S3View) -> serde_json::Value {
    let S3View { route_tables, endpoints } = view;
    let tables = sorted_by_id(
        route_tables.iter().map(|RouteTable { id, subnet_ids, main }| json!([id, sorted(subnet_ids), main])),
    );
    let endpoints = sorted_by_id(endpoints.iter().map(|endpoint| {
        let S3Endpoint { id, gateway, live, route_table_ids, ignored, managed, private_dns, private_dns_inbound_only } =
            endpoint;
        json!([id, gateway, live, sorted(route_table_ids), ignored, managed, private_dns, private_dns_inbound_only])
    }));
    json!([tables, endpoints])
}

fn domain_value(domain: &Domain) -> serde_json::Value {
    let Domain { id, arn, vpc_id, subnet_ids, vpc_only, status, modified: _ } = domain;
    json!([id, arn, vpc_id, sorted(subnet_ids), vpc_only, status])
}

fn vpc_value(vpc: &Vpc) -> serde_json::Value {
    let Vpc { id, owner_id, ipv4_cidrs, ipv6_cidrs, dns, tags } = vpc;
    let dns = dns.map(|VpcDns { support, hostnames }| [support, hostnames]);
    json!([id, owner_id, sorted(ipv4_cidrs), sorted(ipv6_cidrs), dns, ours(tags)])
}

fn subnet_value(subnet: &Subnet) -> serde_json::Value {
    let Subnet { id, vpc_id, az, free_ips: _, owner_id: _, ipv6_native: _, tags } = subnet;
    json!([id, vpc_id, az, ours(tags)])
}

fn endpoint_value(endpoint: &Endpoint) -> serde_json::Value {
    let Endpoint { id, vpc_id, service, endpoint_type, state, subnet_ids, group_ids, policy, private_dns, tags } =
        endpoint;
    json!([
        id,
        vpc_id,
        service,
        endpoint_type,
        state.as_str(),
        sorted(subnet_ids),
        sorted(group_ids),
        policy,
        private_dns,
        ours(tags)
    ])
}

fn notebook_value(notebook: &Notebook) -> serde_json::Value {
    // The status moves (Pending → InService) and no plan reads it.
    let Notebook { name, arn, subnet_id, status: _, direct_internet_access, created: _ } = notebook;
    json!([arn, name, subnet_id, direct_internet_access])
}

/// The vpce-guard tags (the only ones a plan reads).
fn ours(tags: &Tags) -> BTreeMap<&str, &str> {
    tags.iter().filter(|(k, _)| k.starts_with("vpce-guard:")).map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn sorted(values: &[String]) -> Vec<&str> {
    let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
    values.sort_unstable();
    values
}

/// Values whose first element is an id, in id order (EC2's order is not promised).
fn sorted_by_id(values: impl Iterator<Item = serde_json::Value>) -> Vec<serde_json::Value> {
    let mut values: Vec<serde_json::Value> = values.collect();
    values.sort_by(|a, b| a[0].to_string().cmp(&b[0].to_string()));
    values
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
