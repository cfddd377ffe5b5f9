//! An in-memory account behind the same [`Account`] trait as the SDK adapter. It enforces
//! the AWS rules (docs/ARCHITECTURE.md, "AWS facts") that moto does not: one subnet per AZ, supported AZs, the
//! private-DNS conflict and prerequisites, client-token idempotency, and endpoints that stay
//! `pending` until released, deleted endpoints `deleting` until released (holding their name
//! and their security groups), security group rules that are refused when duplicated or
//! unknown, security groups that cannot be deleted while in use (`DependencyViolation`), private
//! hosted zones, the Organization, and IAM's managed-policy limits. Used by
//! handler tests, property tests and simulations at scale.

mod endpoints;
mod groups;
mod iam;
mod network;
mod sagemaker;
pub mod securityhub;
pub mod trails;

pub use iam::FakePolicy;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::account::{Account, NewEndpoint, VpcSelector};
use crate::error::{Error, ErrorClass, Result};
use crate::model::{
    AccountIdentity, Domain, Endpoint, EndpointState, HostedZone, Notebook, RouteTable, S3Endpoint, SecurityGroup,
    Subnet, Tags, Vpc, VpcDns,
};
use crate::report::ApiCalls;
use crate::testing;

/// A security group of the fake account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeGroup {
    /// Id, VPC and HTTPS sources.
    pub group: SecurityGroup,
    /// Group name (unique per VPC).
    pub name: String,
    /// Tags.
    pub tags: Tags,
}

/// A Route 53 Profile of the fake account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeRoute53Profile {
    /// VPCs associated with the Profile (a VPC has at most one Profile: Route 53 API
    /// reference, `AssociateProfile`).
    pub vpcs: BTreeSet<String>,
    /// Services whose private DNS domain names a private hosted zone of the Profile.
    pub zone_services: BTreeSet<String>,
}

/// Everything the fake account holds; public so tests can arrange and inspect it.
#[derive(Debug, Clone, Default)]
pub struct FakeState {
    /// VPCs by id (with DNS attributes set).
    pub vpcs: BTreeMap<String, Vpc>,
    /// Subnets by id.
    pub subnets: BTreeMap<String, Subnet>,
    /// Endpoints by id, in every state.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Security groups by id.
    pub groups: BTreeMap<String, FakeGroup>,
    /// Notebook instances by name.
    pub notebooks: BTreeMap<String, Notebook>,
    /// Services offered, with their AZs.
    pub service_azs: BTreeMap<String, BTreeSet<String>>,
    /// Private DNS name of each service that has one.
    pub service_dns: BTreeMap<String, String>,
    /// (VPC, service) pairs: a private hosted zone named after the service's private DNS
    /// domain is associated with the VPC (it is listed by `hosted_zones` and holds the name).
    pub hosted_zones: BTreeSet<(String, String)>,
    /// (VPC, service) pairs whose private DNS name something holds that `hosted_zones` does not
    /// list (a zone of another account's association, say): only AWS's refusal reveals it.
    pub hidden_dns_holders: BTreeSet<(String, String)>,
    /// Route 53 Profiles by id (`rp-…`), e.g. a hub's, shared with this account. A private
    /// hosted zone of a Profile serves the VPCs associated with the Profile, but
    /// `ListHostedZonesByVPC` does not list it ("does not reflect the hosted zone associations
    /// to VPCs via Route 53 Profiles": Route 53 API reference, `ListHostedZonesByVPC`); only
    /// the Profiles API does (`ListProfileAssociations`, `ListProfileResourceAssociations`).
    /// Its zones hold their names as a directly associated zone does (EC2 refuses private DNS).
    pub route53_profiles: BTreeMap<String, FakeRoute53Profile>,
    /// `Some(code)`: every Route 53 Profiles call is refused with this error code (e.g.
    /// `AccessDeniedException`: a role without the `route53profiles` permissions).
    pub route53_profiles_refusal: Option<String>,
    /// Managed prefix lists that exist (security group rules may reference only these).
    pub prefix_lists: BTreeSet<String>,
    /// The Organization the account is in (`None`: not in one).
    pub org_id: Option<String>,
    /// SageMaker Studio domains by id.
    pub domains: BTreeMap<String, Domain>,
    /// Route tables by id, with their VPC.
    pub route_tables: BTreeMap<String, (String, RouteTable)>,
    /// S3 endpoints by id, with their VPC.
    pub s3_endpoints: BTreeMap<String, (String, S3Endpoint)>,
    /// Security Hub's findings by id; `None`: Security Hub is not enabled in the account.
    pub security_hub: Option<BTreeMap<String, serde_json::Value>>,
    /// Customer managed IAM policies by ARN.
    pub policies: BTreeMap<String, FakePolicy>,
    /// The CloudTrail trails that apply to the Region (its own and multi-Region ones).
    pub trails: Vec<crate::account::TrailView>,
    /// Notebooks created while a run reads the account: (listings, notebook) appears in the
    /// account right before the `ListNotebookInstances` that follows `listings` more of them
    /// (0: the next one shows it).
    pub arriving_notebooks: Vec<(u32, Notebook)>,
    /// State of newly created endpoints (`Available`, or `Pending` to simulate AWS's delay).
    pub new_endpoint_state: Option<EndpointState>,
    /// As AWS does, a modify that adds subnets makes the endpoint `pending` again while the
    /// new network interfaces are created (until [`FakeAccount::settle`]).
    pub pending_after_modify: bool,
    /// Client token → (endpoint id, the request it created).
    pub tokens: HashMap<String, (String, NewEndpoint)>,
    /// Client tokens of S3 gateway endpoints → (VPC, route tables, the endpoint as created).
    /// `ClientToken` makes every `CreateVpcEndpoint` idempotent, gateways included: the same
    /// token with the same parameters answers the endpoint it made, even once that endpoint
    /// is deleted (EC2 API reference, `CreateVpcEndpoint`, `ClientToken`; "Ensuring
    /// idempotency in Amazon EC2 API requests").
    pub gateway_tokens: HashMap<String, (String, Vec<String>, S3Endpoint)>,
    /// Writes by operation name, to assert what was done.
    pub writes: Vec<String>,
    /// AWS's token bucket shared by `CreateVpcEndpoint`, `ModifyVpcEndpoint` and
    /// `DeleteVpcEndpoints` per account and region (EC2 API reference, "Request throttling":
    /// past it, `RequestLimitExceeded`). `None`: never throttled; `Some(n)`: n more of these calls
    /// go through, then each is refused until a test refills it (other writers spent the rest).
    pub endpoint_write_tokens: Option<u32>,
    /// The functions' IAM role as infra/template.yaml renders it (`None`: not modelled, every
    /// write is allowed). `Some(adopt_existing)`: the template's endpoint write policies with
    /// `AdoptExisting` so — `ModifyVpcEndpoint` only on endpoints tagged
    /// `vpce-guard:managed=true` (with `true`: on any not tagged `vpce-guard:ignore=true`),
    /// S3 gateways included; security groups (their rules, and as a group of an endpoint
    /// created or modified) only when tagged managed, whatever `AdoptExisting` says. Anything
    /// else is refused as EC2 refuses a call IAM denies, `UnauthorizedOperation`.
    pub role_adopts_existing: Option<bool>,
    /// With the role modelled (`role_adopts_existing` is `Some`): whether it holds the template's
    /// prune statements (`PruneIdleAfter` set, not a dry run): `DeleteVpcEndpoints` of endpoints
    /// tagged `vpce-guard:managed=true` and not `vpce-guard:ignore=true`, `DeleteSecurityGroup` of
    /// groups tagged managed, and `CreateTags` / `DeleteTags` of `vpce-guard:idle-since` alone on
    /// managed endpoints and groups. Without it every such call is `UnauthorizedOperation`.
    pub role_prunes: bool,
    next_id: u64,
}

/// The in-memory account.
#[derive(Debug)]
pub struct FakeAccount {
    identity: AccountIdentity,
    state: Mutex<FakeState>,
    reads: AtomicU64,
    write_calls: AtomicU64,
}

fn rejected(operation: &'static str, code: &str, message: impl Into<String>) -> Error {
    Error::Aws { operation, code: code.into(), message: message.into(), class: ErrorClass::Permanent }
}

/// EC2's answer to a call IAM denies (the encoded authorization message left out).
fn unauthorized(operation: &'static str, resource: &str) -> Error {
    rejected(
        operation,
        "UnauthorizedOperation",
        format!("You are not authorized to perform this operation. (ec2:{operation} on {resource})"),
    )
}

impl FakeState {
    /// Whether the modelled role may write endpoint `tags` (`ModifyVpcEndpoint`).
    fn may_modify_endpoint(&self, operation: &'static str, endpoint_id: &str, tags: &Tags) -> Result<()> {
        use crate::model::{tag_is, TAG_IGNORE, TAG_MANAGED};
        let Some(adopt) = self.role_adopts_existing else { return Ok(()) };
        let allowed = match adopt {
            true => !tag_is(tags, TAG_IGNORE, "true"),
            false => tag_is(tags, TAG_MANAGED, "true") && !tag_is(tags, TAG_IGNORE, "true"),
        };
        match allowed {
            true => Ok(()),
            false => Err(unauthorized(operation, &format!("vpc-endpoint/{endpoint_id}"))),
        }
    }

    /// Whether the modelled role may delete, or tag with `keys`, the resource `resource` (an
    /// ARN's tail) holding `tags`: only with the prune statements, only resources tagged
    /// managed and not ignored, and (tags) only `vpce-guard:idle-since`.
    fn may_prune(&self, operation: &'static str, resource: &str, tags: &Tags, keys: &[String]) -> Result<()> {
        use crate::model::{tag_is, TAG_IDLE_SINCE, TAG_IGNORE, TAG_MANAGED};
        if self.role_adopts_existing.is_none() {
            return Ok(());
        }
        let allowed = self.role_prunes
            && tag_is(tags, TAG_MANAGED, "true")
            && !tag_is(tags, TAG_IGNORE, "true")
            && keys.iter().all(|k| k == TAG_IDLE_SINCE);
        match allowed {
            true => Ok(()),
            false => Err(unauthorized(operation, resource)),
        }
    }

    /// Whether the modelled role may write security groups `group_ids` (their rules, or as
    /// the groups of an endpoint): tagged managed only.
    fn may_write_groups(&self, operation: &'static str, group_ids: &[String]) -> Result<()> {
        use crate::model::{tag_is, TAG_MANAGED};
        if self.role_adopts_existing.is_none() {
            return Ok(());
        }
        let denied =
            group_ids.iter().find(|g| self.groups.get(*g).is_some_and(|g| !tag_is(&g.tags, TAG_MANAGED, "true")));
        match denied {
            None => Ok(()),
            Some(id) => Err(unauthorized(operation, &format!("security-group/{id}"))),
        }
    }
}

fn selected(selector: &VpcSelector, vpc_id: &str) -> bool {
    match selector {
        VpcSelector::All => true,
        VpcSelector::Ids(ids) => ids.iter().any(|id| id == vpc_id),
    }
}

impl Default for FakeAccount {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeAccount {
    /// An empty account (123456789012, us-west-2) offering both SageMaker services and the studio
    /// profile's services in four AZs.
    pub fn new() -> Self {
        let azs = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];
        let mut state = FakeState {
            service_azs: testing::service_azs(&azs),
            service_dns: testing::service_dns(),
            org_id: Some(testing::ORG.into()),
            trails: vec![trails::default_trail("us-west-2")],
            ..FakeState::default()
        };
        for (service, dns) in testing::studio_services() {
            state.service_azs.insert(service.clone(), azs.iter().map(|az| az.to_string()).collect());
            state.service_dns.insert(service, dns);
        }
        Self {
            identity: testing::identity(),
            state: Mutex::new(state),
            reads: AtomicU64::new(0),
            write_calls: AtomicU64::new(0),
        }
    }

    /// An empty account in `region` (its partition's), offering the SageMaker and studio
    /// services in AZs `a` to `d` under the names EC2 gives them there
    /// ([`testing::offered_services`]): in China `cn.com.amazonaws.…` for most of them.
    pub fn in_region(region: &str) -> Self {
        let azs: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|z| format!("{region}{z}")).collect();
        let offered = testing::offered_services(region);
        let state = FakeState {
            service_azs: offered.iter().map(|(name, _)| (name.clone(), azs.clone())).collect(),
            service_dns: offered.into_iter().collect(),
            org_id: Some(testing::ORG.into()),
            trails: vec![trails::default_trail(region)],
            ..FakeState::default()
        };
        let identity = AccountIdentity {
            region: region.into(),
            partition: crate::config::partition_of(region).into(),
            ..testing::identity()
        };
        Self { identity, state: Mutex::new(state), reads: AtomicU64::new(0), write_calls: AtomicU64::new(0) }
    }

    /// Runs `change` on the state (arrange a scenario, or inspect it).
    pub fn with_state<T>(&self, change: impl FnOnce(&mut FakeState) -> T) -> T {
        change(&mut self.state.lock().expect("fake state"))
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> FakeState {
        self.with_state(|s| s.clone())
    }

    /// Adds a VPC with one IPv4 CIDR; DNS support on, DNS hostnames off (EC2's default).
    pub fn add_vpc(&self, vpc_id: &str, cidr: &str) {
        self.with_state(|s| {
            s.vpcs.insert(
                vpc_id.into(),
                Vpc {
                    id: vpc_id.into(),
                    owner_id: testing::ACCOUNT.into(),
                    ipv4_cidrs: vec![cidr.into()],
                    ipv6_cidrs: Vec::new(),
                    dns: Some(VpcDns { support: true, hostnames: false }),
                    tags: Tags::new(),
                },
            )
        });
    }

    /// Adds a subnet.
    pub fn add_subnet(&self, vpc_id: &str, subnet_id: &str, az: &str) {
        self.with_state(|s| s.subnets.insert(subnet_id.into(), testing::subnet(subnet_id, vpc_id, az)));
    }

    /// Adds a route table of `vpc_id` explicitly associated with `subnet_ids` (`main`: the
    /// VPC's main table).
    pub fn add_route_table(&self, vpc_id: &str, id: &str, subnet_ids: &[&str], main: bool) {
        let table = RouteTable { id: id.into(), subnet_ids: subnet_ids.iter().map(|s| s.to_string()).collect(), main };
        self.with_state(|s| s.route_tables.insert(id.into(), (vpc_id.into(), table)));
    }

    /// Adds (or updates) a Studio domain in `vpc_id` with `subnet_ids`; `vpc_only` for
    /// `AppNetworkAccessType=VpcOnly`. Each call moves its `LastModifiedTime` on.
    pub fn add_domain(&self, id: &str, vpc_id: &str, subnet_ids: &[&str], vpc_only: bool) {
        let arn = format!("arn:aws:sagemaker:{}:{}:domain/{id}", self.identity.region, self.identity.account_id);
        self.with_state(|s| {
            let modified = s.domains.get(id).and_then(|d| d.modified).unwrap_or(1_700_000_000) + 1;
            s.domains.insert(
                id.into(),
                Domain {
                    id: id.into(),
                    arn,
                    vpc_id: vpc_id.into(),
                    subnet_ids: subnet_ids.iter().map(|s| s.to_string()).collect(),
                    vpc_only,
                    status: "InService".into(),
                    modified: Some(modified),
                },
            )
        });
    }

    /// Adds (or re-creates) a notebook instance in `subnet_id`, created after every earlier one.
    pub fn add_notebook(&self, name: &str, subnet_id: &str) {
        self.with_state(|s| {
            let mut notebook = testing::notebook(name, subnet_id);
            s.next_id += 1;
            notebook.created = Some(1_700_000_000 + s.next_id as i64);
            s.notebooks.insert(name.into(), notebook)
        });
    }

    /// Adds a notebook instance in `subnet_id` with `DirectInternetAccess=Enabled`.
    pub fn add_internet_notebook(&self, name: &str, subnet_id: &str) {
        let mut notebook = testing::notebook(name, subnet_id);
        notebook.direct_internet_access = true;
        self.with_state(|s| s.notebooks.insert(name.into(), notebook));
    }

    /// Shares a private hosted zone named after `service`'s private DNS domain with `vpc_id`
    /// through the Route 53 Profile `profile_id` (created if need be), as a hub does.
    pub fn share_zone_through_profile(&self, profile_id: &str, vpc_id: &str, service: &str) {
        self.with_state(|s| {
            let profile = s.route53_profiles.entry(profile_id.into()).or_default();
            profile.vpcs.insert(vpc_id.into());
            profile.zone_services.insert(service.into());
        });
    }

    /// Live endpoints of `vpc_id`.
    pub fn live_endpoints(&self, vpc_id: &str) -> Vec<Endpoint> {
        self.with_state(|s| s.endpoints.values().filter(|e| e.vpc_id == vpc_id && e.state.is_live()).cloned().collect())
    }

    /// Deletes an endpoint out of band, as a person would: it is `deleting` (still holding
    /// its private DNS name) until [`FakeAccount::finish_deletions`].
    pub fn delete_endpoint(&self, endpoint_id: &str) {
        self.with_state(|s| {
            if let Some(endpoint) = s.endpoints.get_mut(endpoint_id) {
                endpoint.state = EndpointState::Deleting;
            }
        });
    }

    /// Deletes an S3 endpoint out of band, as a person would.
    pub fn delete_s3_endpoint(&self, endpoint_id: &str) {
        // Gone from `DescribeVpcEndpoints` (as a deleted endpoint is, after a short while), but
        // its client token still answers it, `deleted` ([`FakeState::gateway_tokens`]).
        self.with_state(|s| s.s3_endpoints.remove(endpoint_id));
    }

    /// Turns `deleting` endpoint `endpoint_id` `deleted`, freeing its name and its network
    /// interfaces (so its security groups).
    pub fn finish_deletion(&self, endpoint_id: &str) {
        self.with_state(|s| {
            if let Some(endpoint) = s.endpoints.get_mut(endpoint_id).filter(|e| e.state == EndpointState::Deleting) {
                endpoint.state = EndpointState::Deleted;
            }
        });
    }

    /// Turns every `deleting` endpoint `deleted`, freeing its name.
    pub fn finish_deletions(&self) {
        self.with_state(|s| {
            for endpoint in s.endpoints.values_mut().filter(|e| e.state == EndpointState::Deleting) {
                endpoint.state = EndpointState::Deleted;
            }
        });
    }

    /// Turns every pending endpoint `available`, as AWS does after a minute or two.
    pub fn settle(&self) {
        self.with_state(|s| {
            for endpoint in s.endpoints.values_mut() {
                if endpoint.state == EndpointState::Pending {
                    endpoint.state = EndpointState::Available;
                }
            }
        });
    }

    fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn write(&self, state: &mut FakeState, operation: &str) {
        self.write_calls.fetch_add(1, Ordering::Relaxed);
        state.writes.push(operation.to_string());
    }

    /// An endpoint write: counted, then spent from [`FakeState::endpoint_write_tokens`].
    fn endpoint_write(&self, state: &mut FakeState, operation: &'static str) -> Result<()> {
        self.write(state, operation);
        match state.endpoint_write_tokens.as_mut() {
            Some(0) => Err(Error::Aws {
                operation,
                code: "RequestLimitExceeded".into(),
                message: "Request limit exceeded.".into(),
                class: ErrorClass::Transient,
            }),
            Some(tokens) => {
                *tokens -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl FakeState {
    fn next(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:017x}", self.next_id)
    }

    /// The private hosted zones associated with `vpc_id` directly (what `ListHostedZonesByVPC`
    /// lists).
    fn zones_of(&self, vpc_id: &str) -> Vec<HostedZone> {
        let services = self.hosted_zones.iter().filter(|(vpc, _)| vpc == vpc_id).map(|(_, service)| service);
        services.filter_map(|service| self.zone_of(service, None)).collect()
    }

    /// The private hosted zones `vpc_id` gets through the Route 53 Profiles associated with it.
    fn profile_zones_of(&self, vpc_id: &str) -> Vec<HostedZone> {
        let profiles = self.route53_profiles.iter().filter(|(_, p)| p.vpcs.contains(vpc_id));
        profiles
            .flat_map(|(id, p)| p.zone_services.iter().filter_map(move |service| self.zone_of(service, Some(id))))
            .collect()
    }

    /// The private hosted zone named after `service`'s private DNS domain.
    fn zone_of(&self, service: &str, route53_profile: Option<&String>) -> Option<HostedZone> {
        let name = self.service_dns.get(service)?.trim_start_matches("*.").to_string();
        Some(HostedZone {
            id: format!("Z{:012X}", name.len() * 7919 + name.bytes().map(usize::from).sum::<usize>()),
            name,
            route53_profile: route53_profile.cloned(),
        })
    }
}

impl Account for FakeAccount {
    fn region(&self) -> &str {
        &self.identity.region
    }

    async fn identity(&self) -> Result<AccountIdentity> {
        self.read();
        Ok(self.identity.clone())
    }

    async fn organization_id(&self) -> Result<String> {
        self.read();
        self.with_state(|s| s.org_id.clone()).ok_or_else(|| {
            rejected(
                "DescribeOrganization",
                "AWSOrganizationsNotInUseException",
                "Your account is not a member of an organization.",
            )
        })
    }

    fn api_calls(&self) -> ApiCalls {
        ApiCalls { read: self.reads.load(Ordering::Relaxed), write: self.write_calls.load(Ordering::Relaxed) }
    }
}
