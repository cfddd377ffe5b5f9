//! `plan`: a pure function from an [`Observation`] and the [`Config`] to the ordered writes
//! that bring one VPC into line. No I/O, no SDK types; the same input gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::config::{
    is_api_service, is_notebook_service, s3_service, ApiPolicy, Config, NotebookPolicy, Profile, PublicDomains, Scope,
};
use crate::model::{
    tag_is, Domain, Endpoint, EndpointState, Observation, Subnet, TAG_ENDPOINT_SUBNET, TAG_ENFORCE, TAG_IGNORE,
    TAG_MANAGED, TAG_PROFILES,
};
use crate::policy;
use crate::report::{Code, Problem};

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

/// Is the VPC in scope, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// In scope, with the reason.
    Enrolled(&'static str),
    /// Out of scope, with the reason.
    Skipped(String),
    /// Cannot tell without reading the account's notebooks.
    NeedsNotebooks,
}

/// Decides whether a VPC is in scope (README.md, "Configuration" and "Tags").
pub fn enrolment(obs: &Observation, config: &Config) -> Enrolment {
    let tags = &obs.vpc.tags;
    if tag_is(tags, TAG_ENFORCE, "false") {
        return Enrolment::Skipped(format!("the VPC is tagged {TAG_ENFORCE}=false"));
    }
    if config.scope == Scope::All {
        return Enrolment::Enrolled("scope is all");
    }
    if tag_is(tags, TAG_ENFORCE, "true") {
        return Enrolment::Enrolled("tagged vpce-guard:enforce=true");
    }
    if obs.endpoints.iter().any(|e| e.state.is_live() && tag_is(&e.tags, TAG_MANAGED, "true")) {
        return Enrolment::Enrolled("holds an endpoint managed by vpce-guard");
    }
    if config.studio() && obs.domains.iter().flatten().any(|d| enrols(d, config)) {
        return Enrolment::Enrolled("holds a VPC-only Studio domain");
    }
    let studio_unread = config.studio() && obs.domains.is_none();
    match &obs.notebooks {
        Some(notebooks) if !notebooks.is_empty() => Enrolment::Enrolled("holds a notebook instance"),
        None => Enrolment::NeedsNotebooks,
        Some(_) if studio_unread => Enrolment::NeedsNotebooks,
        Some(_) => Enrolment::Skipped(match config.studio() {
            true => "not enrolled: no notebook instance, no VPC-only Studio domain, no managed endpoint and no vpce-guard:enforce=true tag".into(),
            false => "not enrolled: no notebook instance, no managed endpoint and no vpce-guard:enforce=true tag".into(),
        }),
    }
}

/// Whether a Studio domain enrols its VPC for the studio profile: VPC-only mode (or public
/// domains enforced too), and not being deleted.
pub fn enrols(domain: &Domain, config: &Config) -> bool {
    (domain.vpc_only || config.studio_public_domains == PublicDomains::Enforce)
        && !domain.status.to_ascii_lowercase().starts_with("delet")
}

/// The profiles an enrolled VPC is enrolled for: those its `vpce-guard:profiles` tag names;
/// else those it holds something for (a notebook instance or a managed notebook endpoint:
/// notebook instances; a VPC-only domain or a managed endpoint of a studio-only service:
/// studio); else (enrolled by tag, scope or a managed API endpoint alone) every configured
/// profile. Only configured profiles count.
pub fn profiles_of(obs: &Observation, config: &Config) -> BTreeSet<Profile> {
    let configured = &config.profiles;
    if let Some(tagged) = obs.vpc.tags.get(TAG_PROFILES) {
        let named: BTreeSet<Profile> =
            tagged.split(',').filter_map(Profile::parse).filter(|p| configured.contains(p)).collect();
        if !named.is_empty() {
            return named;
        }
    }
    let mut found = BTreeSet::new();
    let managed = obs.endpoints.iter().filter(|e| e.state.is_live() && tag_is(&e.tags, TAG_MANAGED, "true"));
    let studio_only = config.services_for(&obs.identity.region, &[Profile::Studio].into_iter().collect());
    for endpoint in managed {
        if is_notebook_service(&endpoint.service) {
            found.insert(Profile::NotebookInstances);
        } else if !is_api_service(&endpoint.service) && studio_only.contains(&endpoint.service) {
            found.insert(Profile::Studio);
        }
    }
    if obs.notebooks.iter().flatten().next().is_some() {
        found.insert(Profile::NotebookInstances);
    }
    if obs.domains.iter().flatten().any(|d| enrols(d, config)) {
        found.insert(Profile::Studio);
    }
    found.retain(|p| configured.contains(p));
    if found.is_empty() {
        configured.clone()
    } else {
        found
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Plan {
    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// Plans the writes that bring the VPC of `obs` into line with `config`.
pub fn plan(obs: &Observation, config: &Config) -> Plan {
    let mut planner = Planner::new(obs, config);
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
            plan: Plan {
                vpc_id: obs.vpc.id.clone(),
                writes: Vec::new(),
                problems: Vec::new(),
                pending: Vec::new(),
                services: Vec::new(),
                needs_notebooks: false,
                needs_hosted_zones: false,
                profiles: Vec::new(),
                needs_s3: false,
            },
            group: obs.group.as_ref().map(|g| GroupRef::Existing(g.id.clone())),
            azs,
            private_dns_possible: true,
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
        for service in self.config.services_for(&region, &profiles) {
            self.plan_service(&service);
        }
        if profiles.contains(&Profile::Studio) {
            self.plan_s3();
        }
    }

    /// VPC-only Studio domains reach Amazon S3 only through an S3 endpoint: the route tables
    /// of their subnets (an explicit association, else the main table) need an S3 gateway
    /// endpoint, unless the VPC has an S3 interface endpoint. Created or extended with
    /// `VPCE_GUARD_S3_GATEWAY=true`, else reported. A route table is never removed.
    fn plan_s3(&mut self) {
        let vpc_id = self.obs.vpc.id.as_str();
        let domains: Vec<&Domain> =
            self.obs.domains.iter().flatten().filter(|d| d.vpc_only && d.vpc_id == vpc_id).collect();
        if domains.is_empty() {
            return;
        }
        let Some(s3) = &self.obs.s3 else {
            self.plan.needs_s3 = true;
            return;
        };
        if s3.endpoints.iter().any(|e| e.live && !e.gateway) {
            return;
        }
        let main = s3.route_tables.iter().find(|t| t.main).map(|t| t.id.clone());
        let table_of = |subnet: &String| {
            s3.route_tables.iter().find(|t| t.subnet_ids.contains(subnet)).map(|t| t.id.clone()).or(main.clone())
        };
        let needed: BTreeSet<String> = domains.iter().flat_map(|d| &d.subnet_ids).filter_map(table_of).collect();
        // An endpoint tagged vpce-guard:ignore keeps its routes but is never modified: the
        // missing tables then get a gateway endpoint of their own.
        let gateway = s3.endpoints.iter().find(|e| e.live && e.gateway && !e.ignored);
        let covered: BTreeSet<&String> =
            s3.endpoints.iter().filter(|e| e.live && e.gateway).flat_map(|e| &e.route_table_ids).collect();
        let missing: Vec<String> = needed.into_iter().filter(|t| !covered.contains(t)).collect();
        if missing.is_empty() {
            return;
        }
        let service = s3_service(&self.obs.identity.region);
        if self.config.s3_gateway {
            let seed = format!("{vpc_id}|{service}|{}", missing.join(","));
            let digest = Sha256::digest(seed.as_bytes());
            let client_token: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            self.plan.writes.push(Write::S3Gateway {
                endpoint_id: gateway.map(|e| e.id.clone()),
                service,
                route_table_ids: missing,
                client_token: format!("vpce-guard-s3-{client_token}"),
            });
        } else {
            let ids: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
            self.plan.problems.push(Problem::error(
                Code::S3Unreachable,
                format!(
                    "Studio domain(s) {} run VPC-only in VPC {vpc_id}, but route table(s) {} of their subnets have no {service} gateway endpoint (and the VPC has no S3 interface endpoint): their apps cannot reach Amazon S3; add the gateway endpoint to them, or set VPCE_GUARD_S3_GATEWAY=true",
                    ids.join(", "),
                    missing.join(", ")
                ),
            ));
        }
    }

    fn plan_vpc_dns(&mut self) {
        let Some(dns) = self.obs.vpc.dns else { return };
        if dns.support && dns.hostnames {
            return;
        }
        if self.config.fix_vpc_dns {
            if !dns.support {
                self.plan.writes.push(Write::EnableDnsSupport);
            }
            if !dns.hostnames {
                self.plan.writes.push(Write::EnableDnsHostnames);
            }
        } else {
            self.private_dns_possible = false;
            self.plan.problems.push(Problem::error(
                Code::VpcDnsOff,
                format!(
                    "VPC {} has enableDnsSupport={} and enableDnsHostnames={}; private DNS needs both: set VPCE_GUARD_FIX_VPC_DNS=true or turn them on",
                    self.obs.vpc.id, dns.support, dns.hostnames
                ),
            ));
        }
    }

    /// Keeps an existing managed group's rules current: the VPC's CIDR blocks and the
    /// configured client sources are allowed; rules vpce-guard added for anything else are
    /// revoked; rules added by anyone else are left alone.
    fn plan_group_rules(&mut self) {
        let Some(group) = &self.obs.group else { return };
        let wanted = self.wanted_sources();
        let missing: Vec<String> = wanted.difference(&group.https_sources).cloned().collect();
        let unwanted: Vec<String> = group.managed_sources.difference(&wanted).cloned().collect();
        if !missing.is_empty() {
            self.plan
                .writes
                .push(Write::AuthorizeHttps { group: GroupRef::Existing(group.id.clone()), sources: missing });
        }
        if !unwanted.is_empty() {
            self.plan.writes.push(Write::RevokeHttps { group_id: group.id.clone(), sources: unwanted });
        }
    }

    /// Every source the managed group must allow on 443.
    fn wanted_sources(&self) -> BTreeSet<String> {
        let vpc = &self.obs.vpc;
        vpc.ipv4_cidrs.iter().chain(&vpc.ipv6_cidrs).chain(self.config.client_sources()).cloned().collect()
    }

    /// The managed group, creating it (once) when no group exists yet.
    fn group(&mut self) -> GroupRef {
        if let Some(group) = &self.group {
            return group.clone();
        }
        self.plan.writes.push(Write::CreateGroup);
        let sources: Vec<String> = self.wanted_sources().into_iter().collect();
        if !sources.is_empty() {
            self.plan.writes.push(Write::AuthorizeHttps { group: GroupRef::Planned, sources });
        }
        self.group = Some(GroupRef::Planned);
        GroupRef::Planned
    }

    fn plan_service(&mut self, service: &str) {
        let obs = self.obs;
        let mut status = ServiceStatus { service: service.to_string(), endpoint: None };
        let Some(supported) = obs.service_azs.get(service) else {
            self.plan.problems.push(Problem::error(
                Code::ServiceUnavailable,
                format!(
                    "endpoint service {service} is not offered in {}; check VPCE_GUARD_SERVICES",
                    obs.identity.region
                ),
            ));
            self.plan.services.push(status);
            return;
        };
        let ours: Vec<&Endpoint> = obs
            .endpoints
            .iter()
            .filter(|e| e.service == service && e.vpc_id == obs.vpc.id && e.is_interface())
            .collect();
        if let Some(ignored) = ours.iter().find(|e| e.state.is_live() && tag_is(&e.tags, TAG_IGNORE, "true")) {
            status.endpoint = Some((*ignored).clone());
            self.plan.services.push(status);
            return;
        }
        let adopted = ours
            .iter()
            .filter(|e| e.state.is_live())
            .min_by_key(|e| (!e.private_dns, !tag_is(&e.tags, TAG_MANAGED, "true"), e.id.clone()))
            .copied();
        let Some(dns) = self.private_dns_for(service, adopted) else {
            self.plan.services.push(status);
            return;
        };
        let subnets = self.subnets_to_add(service, supported, adopted);
        let wanted_policy = self.wanted_policy(service);
        let (private_dns, conflict) = (dns.enable, dns.conflict);
        match adopted {
            None => self.plan_create(service, &ours, subnets, wanted_policy, private_dns, conflict),
            Some(endpoint) if matches!(endpoint.state, EndpointState::Partial | EndpointState::PendingAcceptance) => {
                self.plan.problems.push(Problem::error(
                    Code::EndpointStuck,
                    format!(
                        "endpoint {} for {service} is {}, which AWS does not resolve by itself; check it in the VPC console (or delete it so vpce-guard creates a new one)",
                        endpoint.id,
                        endpoint.state.as_str()
                    ),
                ));
                status.endpoint = Some(endpoint.clone());
            }
            Some(endpoint) if endpoint.state != EndpointState::Available => {
                self.plan.pending.push(endpoint.id.clone());
                status.endpoint = Some(endpoint.clone());
            }
            Some(endpoint) => {
                status.endpoint = Some(endpoint.clone());
                self.plan_modify(endpoint, subnets, wanted_policy, private_dns);
            }
        }
        self.plan.services.push(status);
    }

    fn plan_create(
        &mut self,
        service: &str,
        ours: &[&Endpoint],
        subnet_ids: Vec<String>,
        policy: Option<Option<String>>,
        private_dns: bool,
        dns_conflict: bool,
    ) {
        if let Some(broken) = ours.iter().find(|e| e.state.is_failed()) {
            self.plan.problems.push(Problem::error(
                Code::EndpointFailed,
                format!(
                    "endpoint {} for {service} is {}; delete it so that vpce-guard can create a working one",
                    broken.id,
                    broken.state.as_str()
                ),
            ));
            return;
        }
        if subnet_ids.is_empty() {
            self.plan.problems.push(Problem::error(
                Code::NoUsableSubnet,
                format!("VPC {} has no subnet where an endpoint for {service} can be placed", self.obs.vpc.id),
            ));
            return;
        }
        let Some(policy) = policy else {
            self.plan.needs_notebooks = true;
            return;
        };
        let group = self.group();
        let client_token = client_token(&self.obs.vpc.id, service, ours, &self.obs.hints.stale_endpoint_ids);
        self.plan.writes.push(Write::CreateEndpoint {
            service: service.to_string(),
            subnet_ids,
            group,
            policy,
            private_dns,
            client_token,
            dns_conflict,
        });
    }

    fn plan_modify(
        &mut self,
        endpoint: &Endpoint,
        add_subnet_ids: Vec<String>,
        wanted_policy: Option<Option<String>>,
        private_dns: bool,
    ) {
        let group_ids: BTreeSet<&str> = endpoint.group_ids.iter().map(String::as_str).collect();
        let has_group = match &self.group {
            Some(GroupRef::Existing(id)) => group_ids.contains(id.as_str()),
            _ => false,
        };
        let policy = match wanted_policy {
            Some(Some(text)) => {
                let wanted: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                (!policy::same_policy(endpoint.policy.as_deref(), &wanted)).then_some(text)
            }
            _ => None,
        };
        let enable_private_dns = private_dns && !endpoint.private_dns;
        if add_subnet_ids.is_empty() && has_group && policy.is_none() && !enable_private_dns {
            return;
        }
        let add_group = (!has_group).then(|| self.group());
        self.plan.writes.push(Write::ModifyEndpoint {
            endpoint_id: endpoint.id.clone(),
            service: endpoint.service.clone(),
            add_subnet_ids,
            add_group,
            policy,
            enable_private_dns,
        });
    }

    /// One subnet for every AZ that has subnets, the service supports, and the endpoint
    /// (if any) does not cover yet. Reports unsupported AZs and full AZs.
    fn subnets_to_add(
        &mut self,
        service: &str,
        supported: &BTreeSet<String>,
        endpoint: Option<&Endpoint>,
    ) -> Vec<String> {
        let covered: BTreeSet<&str> = endpoint
            .map(|e| self.obs.subnets.iter().filter(|s| e.subnet_ids.contains(&s.id)).map(|s| s.az.as_str()).collect())
            .unwrap_or_default();
        let mut chosen = Vec::new();
        for (az, subnets) in &self.azs {
            if covered.contains(az) {
                continue;
            }
            if !supported.contains(*az) {
                self.plan.problems.push(Problem::warning(
                    Code::ServiceNotInAz,
                    format!("{service} is not offered in {az}; subnets there reach the endpoint through other AZs"),
                ));
                continue;
            }
            // vpce-guard's endpoints are IPv4 (EC2's default IpAddressType): an IPv6-only
            // subnet (0 free IPv4 addresses by nature) is no candidate, and no error either.
            let dual: Vec<&&Subnet> = subnets.iter().filter(|s| !s.ipv6_native).collect();
            if dual.is_empty() {
                self.plan.problems.push(Problem::warning(
                    Code::Ipv6OnlyAz,
                    format!(
                        "every subnet of {az} in VPC {} is IPv6-only, which an IPv4 endpoint cannot use; clients there reach the endpoint through other AZs",
                        self.obs.vpc.id
                    ),
                ));
                continue;
            }
            match dual.iter().find(|s| s.free_ips > 0) {
                Some(subnet) => chosen.push(subnet.id.clone()),
                None => self.plan.problems.push(Problem::error(
                    Code::NoFreeIp,
                    format!(
                        "every subnet of {az} in VPC {} is out of free IP addresses; free one up or add a subnet",
                        self.obs.vpc.id
                    ),
                )),
            }
        }
        chosen
    }

    /// `None`: needs notebooks not yet read. `Some(None)`: policy not managed. `Some(Some(text))`.
    fn wanted_policy(&mut self, service: &str) -> Option<Option<String>> {
        let identity = &self.obs.identity;
        if is_api_service(service) {
            return Some(match self.config.api_policy {
                ApiPolicy::Account => Some(policy::account_api_policy(identity).to_string()),
                ApiPolicy::Org => self.org_id().map(|org| policy::org_api_policy(org).to_string()),
                ApiPolicy::None => None,
            });
        }
        if !is_notebook_service(service) {
            return Some(None);
        }
        match self.config.notebook_policy {
            NotebookPolicy::None => Some(None),
            NotebookPolicy::AccountNotebooks => Some(Some(policy::account_notebooks_policy(identity).to_string())),
            NotebookPolicy::OrgNotebooks => {
                Some(self.org_id().map(|org| policy::org_notebooks_policy(identity, org).to_string()))
            }
            NotebookPolicy::VpcNotebooks => {
                let notebooks = self.obs.notebooks.as_ref()?;
                let (document, fallback) = policy::vpc_notebooks_policy(notebooks, identity);
                match fallback {
                    Some(policy::VpcPolicyFallback::TooLong) => self.plan.problems.push(Problem::warning(
                        Code::PolicyFallback,
                        format!(
                            "the ARNs of {} notebooks exceed the {}-character endpoint policy limit; the policy allows every notebook of the account instead",
                            notebooks.len(),
                            policy::MAX_POLICY_CHARS
                        ),
                    )),
                    Some(policy::VpcPolicyFallback::NoNotebook) => self.plan.problems.push(Problem::warning(
                        Code::NoNotebookInVpc,
                        format!(
                            "VPC {} holds no notebook instance (a client VPC?); its notebook endpoint allows every notebook of this account instead of none, so that its browsers are not locked out",
                            self.obs.vpc.id
                        ),
                    )),
                    None => {}
                }
                Some(Some(document.to_string()))
            }
        }
    }

    /// The Organization's id for the `org*` policies; its absence (the process could not read
    /// it) is reported, and the policy is then left as it is.
    fn org_id(&mut self) -> Option<&'a str> {
        let org = self.obs.identity.org_id.as_deref();
        if org.is_none() {
            self.plan.problems.push(Problem::error(
                Code::OrganizationUnknown,
                "the policy mode needs this account's AWS Organization id, which could not be read; check organizations:DescribeOrganization",
            ));
        }
        org
    }

    /// Notebooks of the VPC that reach the internet around it (`DirectInternetAccess=Enabled`):
    /// the endpoints do not cover them.
    fn report_direct_internet_access(&mut self) {
        let Some(notebooks) = &self.obs.notebooks else { return };
        let mut names: Vec<&str> =
            notebooks.iter().filter(|n| n.direct_internet_access).map(|n| n.name.as_str()).collect();
        if names.is_empty() {
            return;
        }
        names.sort_unstable();
        self.plan.problems.push(Problem::warning(
            Code::DirectInternetAccess,
            format!(
                "notebook instance(s) {} in VPC {} have DirectInternetAccess=Enabled and reach the internet around the VPC's endpoints; re-create them with DirectInternetAccess=Disabled (it cannot be changed in place)",
                names.join(", "),
                self.obs.vpc.id
            ),
        ));
    }
}

/// A `ClientToken` for creating `service`'s endpoint in `vpc_id`: the same for every
/// invocation that sees the same endpoints (so concurrent events create one endpoint), and
/// different once an endpoint was created, deleted or handed back stale (so a deleted
/// endpoint is never returned again). 43 ASCII characters.
pub fn client_token(vpc_id: &str, service: &str, seen: &[&Endpoint], stale: &BTreeSet<String>) -> String {
    let mut ids: BTreeSet<&str> = seen.iter().map(|e| e.id.as_str()).collect();
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

#[path = "plan_dns.rs"]
mod dns;

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plan_access_tests.rs"]
mod access_tests;
