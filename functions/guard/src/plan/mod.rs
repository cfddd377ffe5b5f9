//! `plan`: a pure function from an [`Observation`] and the [`Config`] to the ordered writes
//! that bring one VPC into line. No I/O, no SDK types; the same input gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::config::{Config, Profile};
use crate::model::{tag_is, Endpoint, Observation, Subnet, TAG_ENDPOINT_SUBNET};
use crate::report::Problem;

/// The managed security group: one that exists, or the one the plan creates first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    /// An existing group id.
    Existing(String),
    /// The group created by this plan's `CreateGroup` write.
    Planned,
}

/// One write to AWS. A plan orders them: VPC DNS, security group, then endpoints in the
/// configured service order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Turn on `enableDnsSupport`.
    EnableDnsSupport,
    /// Turn on `enableDnsHostnames`.
    EnableDnsHostnames,
    /// Create the managed security group.
    CreateGroup,
    /// Allow TCP 443 from these sources into the managed group.
    AuthorizeHttps {
        /// The managed group.
        group: GroupRef,
        /// Missing sources: IPv4 and IPv6 CIDR blocks, prefix list ids.
        sources: Vec<String>,
    },
    /// Revoke TCP 443 rules vpce-guard added that are no longer wanted (a client source
    /// removed from the configuration, a CIDR block disassociated from the VPC).
    RevokeHttps {
        /// The managed group.
        group_id: String,
        /// Sources of rules vpce-guard added, no longer wanted.
        sources: Vec<String>,
    },
    /// Create an interface endpoint.
    CreateEndpoint {
        /// Service name.
        service: String,
        /// One subnet per AZ.
        subnet_ids: Vec<String>,
        /// The managed group.
        group: GroupRef,
        /// Endpoint policy, when the configuration manages it.
        policy: Option<String>,
        /// Whether to enable private DNS.
        private_dns: bool,
        /// Deterministic idempotency token (≤ 64 ASCII characters).
        client_token: String,
        /// Private DNS is withheld because something else holds the name: the endpoint is
        /// tagged so that later (cold) runs do not spend a write AWS would refuse.
        dns_conflict: bool,
    },
    /// All changes to one existing endpoint, coalesced into one `ModifyVpcEndpoint`.
    ModifyEndpoint {
        /// The endpoint.
        endpoint_id: String,
        /// Its service.
        service: String,
        /// Subnets to add, one per uncovered AZ.
        add_subnet_ids: Vec<String>,
        /// The managed group, when the endpoint lacks it.
        add_group: Option<GroupRef>,
        /// A new policy, when it differs semantically.
        policy: Option<String>,
        /// Turn private DNS on.
        enable_private_dns: bool,
    },
    /// Delete these endpoints (one `DeleteVpcEndpoints`): their VPC stayed idle past
    /// `VPCE_GUARD_PRUNE_IDLE_AFTER`.
    DeleteEndpoints {
        /// The endpoints, with what each costs.
        endpoints: Vec<Doomed>,
    },
    /// Delete the managed security group: no endpoint uses it any more. `DependencyViolation`
    /// (network interfaces still draining) is no failure: a later sweep deletes it.
    DeleteGroup {
        /// The group.
        group_id: String,
    },
    /// Tag these endpoints `vpce-guard:idle-since=<since>` (one `CreateTags`).
    MarkIdle {
        /// The endpoints.
        endpoint_ids: Vec<String>,
        /// When the VPC was first seen idle (RFC 3339).
        since: String,
    },
    /// Remove the `vpce-guard:idle-since` tag from these endpoints (one `DeleteTags`).
    UnmarkIdle {
        /// The endpoints.
        endpoint_ids: Vec<String>,
    },
    /// Give the route tables of VPC-only Studio domains' subnets a route to Amazon S3: create a
    /// gateway endpoint (`endpoint_id` `None`) or add them to the VPC's existing one.
    S3Gateway {
        /// The existing S3 gateway endpoint, if any.
        endpoint_id: Option<String>,
        /// `com.amazonaws.{region}.s3`.
        service: String,
        /// Route tables to add.
        route_table_ids: Vec<String>,
        /// `ClientToken` of a create.
        client_token: String,
    },
}

/// Where one configured service stands in the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// The endpoint vpce-guard manages or adopted for it, if any.
    pub endpoint: Option<Endpoint>,
}

/// The ordered writes for one VPC, with what cannot be fixed and what is still pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The VPC.
    pub vpc_id: String,
    /// Writes in execution order.
    pub writes: Vec<Write>,
    /// Problems found, errors and warnings.
    pub problems: Vec<Problem>,
    /// Endpoints waiting on AWS; they get no modify this round.
    pub pending: Vec<String>,
    /// Each configured service and its chosen endpoint.
    pub services: Vec<ServiceStatus>,
    /// The plan needs the VPC's notebooks, which were not read; observe them and plan again.
    pub needs_notebooks: bool,
    /// The plan needs the VPC's private hosted zones, which were not read; read them and
    /// plan again.
    pub needs_hosted_zones: bool,
    /// The profiles the VPC is enrolled for (whose services it gets).
    pub profiles: Vec<Profile>,
    /// The plan needs the VPC's route tables and S3 endpoints (a VPC-only Studio domain is in
    /// it), which were not read; read them and plan again.
    pub needs_s3: bool,
    /// The plan deletes the VPC's managed endpoints (it stayed idle past
    /// `VPCE_GUARD_PRUNE_IDLE_AFTER`): its only writes are the deletions, and the VPC leaves
    /// vpce-guard's scope.
    pub pruning: bool,
}

impl Plan {
    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// Plans the writes that bring the VPC of `obs` into line with `config`, on a run that does
/// not prune (an event's).
pub fn plan(obs: &Observation, config: &Config) -> Plan {
    plan_at(obs, config, None)
}

/// [`plan`] for a run that may prune idle VPCs (a scheduled sweep, the CLI) when `now` (seconds
/// since the epoch) is given: with `VPCE_GUARD_PRUNE_IDLE_AFTER` set, an idle VPC's endpoints
/// are marked, unmarked or deleted ([`prune`]).
pub fn plan_at(obs: &Observation, config: &Config, now: Option<i64>) -> Plan {
    let mut planner = Planner::new(obs, config);
    planner.now = now;
    planner.run();
    planner.plan
}

struct Planner<'a> {
    obs: &'a Observation,
    config: &'a Config,
    plan: Plan,
    group: Option<GroupRef>,
    /// Subnets by AZ, each list sorted by preference.
    azs: BTreeMap<&'a str, Vec<&'a Subnet>>,
    private_dns_possible: bool,
    /// Now, on a run that may prune.
    now: Option<i64>,
}

impl<'a> Planner<'a> {
    fn new(obs: &'a Observation, config: &'a Config) -> Self {
        let notebook_subnets: BTreeSet<&str> =
            obs.notebooks.iter().flatten().filter_map(|n| n.subnet_id.as_deref()).collect();
        let mut azs: BTreeMap<&str, Vec<&Subnet>> = BTreeMap::new();
        for subnet in obs.subnets.iter().filter(|s| s.vpc_id == obs.vpc.id) {
            azs.entry(subnet.az.as_str()).or_default().push(subnet);
        }
        for subnets in azs.values_mut() {
            subnets.sort_by_key(|s| {
                (
                    !tag_is(&s.tags, TAG_ENDPOINT_SUBNET, "true"),
                    !notebook_subnets.contains(s.id.as_str()),
                    std::cmp::Reverse(s.free_ips),
                    s.id.clone(),
                )
            });
        }
        Self {
            obs,
            config,
            plan: Plan { vpc_id: obs.vpc.id.clone(), ..Plan::default() },
            group: obs.group.as_ref().map(|g| GroupRef::Existing(g.id.clone())),
            azs,
            private_dns_possible: true,
            now: None,
        }
    }

    fn run(&mut self) {
        let vpc = &self.obs.vpc;
        if vpc.owner_id != self.obs.identity.account_id {
            self.plan.problems.push(Problem::shared_vpc(&vpc.id, &vpc.owner_id));
            return;
        }
        self.plan_vpc_dns();
        self.plan_group_rules();
        self.report_direct_internet_access();
        let region = self.obs.identity.region.clone();
        let profiles = profiles_of(self.obs, self.config);
        self.plan.profiles = profiles.iter().copied().collect();
        for service in self.config.services_for(&region, &self.obs.service_azs, &profiles) {
            self.plan_service(&service);
        }
        if profiles.contains(&Profile::Studio) {
            self.plan_s3();
        }
        self.plan_idle();
    }
}

/// A `ClientToken` for creating `service`'s endpoint (interface or S3 gateway) in `vpc_id`,
/// from the ids of the endpoints `seen` for it: the same for every invocation that sees the
/// same endpoints (so concurrent events create one endpoint), and different once an endpoint
/// was created, deleted or handed back stale (so a deleted endpoint is never returned again).
/// 43 ASCII characters.
pub fn client_token<'a>(
    vpc_id: &str,
    service: &str,
    seen: impl IntoIterator<Item = &'a str>,
    stale: &'a BTreeSet<String>,
) -> String {
    let mut ids: BTreeSet<&str> = seen.into_iter().collect();
    ids.extend(stale.iter().map(String::as_str));
    let mut hash = Sha256::new();
    hash.update(vpc_id.as_bytes());
    hash.update([0]);
    hash.update(service.as_bytes());
    for id in ids {
        hash.update([0]);
        hash.update(id.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("vg-{hex}")
}

pub mod cost;
mod dns;
mod endpoints;
mod group;
mod policies;
pub mod prune;
mod s3;
mod scope;

pub use prune::{idleness, orphan_group, Doomed, Idleness};
pub use scope::{enrolment, enrols, profiles_of, Enrolment};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod access_tests;

#[cfg(test)]
mod prune_tests;
