//! An in-memory account behind the same [`Account`] trait as the SDK adapter. It enforces
//! the AWS rules (docs/ARCHITECTURE.md, "AWS facts") that moto does not: one subnet per AZ, supported AZs, the
//! private-DNS conflict and prerequisites, client-token idempotency, and endpoints that stay
//! `pending` until released, security group rules that are refused when duplicated or
//! unknown, private hosted zones, the Organization, and IAM's managed-policy limits. Used by
//! handler tests, property tests and simulations at scale.

mod iam;
pub mod securityhub;

pub use iam::FakePolicy;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::account::{
    Account, DnsAttribute, EndpointChange, ManagedPolicy, NewEndpoint, NotebookSummary, ServiceOffer, VpcSelector,
};
use crate::error::{Error, ErrorClass, Result};
use crate::model::{
    AccountIdentity, Domain, DomainSummary, Endpoint, EndpointState, HostedZone, Notebook, RouteTable, S3Endpoint,
    S3View, SecurityGroup, Subnet, Tags, Vpc, VpcDns, MANAGED_GROUP_NAME,
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
    /// State of newly created endpoints (`Available`, or `Pending` to simulate AWS's delay).
    pub new_endpoint_state: Option<EndpointState>,
    /// As AWS does, a modify that adds subnets makes the endpoint `pending` again while the
    /// new network interfaces are created (until [`FakeAccount::settle`]).
    pub pending_after_modify: bool,
    /// Client token → (endpoint id, the request it created).
    pub tokens: HashMap<String, (String, NewEndpoint)>,
    /// Writes by operation name, to assert what was done.
    pub writes: Vec<String>,
    /// AWS's token bucket shared by `CreateVpcEndpoint`, `ModifyVpcEndpoint` and
    /// `DeleteVpcEndpoints` per account and region (EC2 API reference, "Request throttling":
    /// past it, `RequestLimitExceeded`). `None`: never throttled; `Some(n)`: n more of these calls
    /// go through, then each is refused until a test refills it (other writers spent the rest).
    pub endpoint_write_tokens: Option<u32>,
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

    /// Checks the subnets of an endpoint: in its VPC, one per AZ, AZs the service offers.
    fn check_subnets(&self, operation: &'static str, vpc_id: &str, service: &str, subnet_ids: &[String]) -> Result<()> {
        let mut seen_azs = BTreeSet::new();
        for id in subnet_ids {
            let subnet = self.subnets.get(id).filter(|s| s.vpc_id == vpc_id).ok_or_else(|| {
                rejected(
                    operation,
                    "InvalidSubnetID.NotFound",
                    format!("The subnet ID '{id}' does not exist in {vpc_id}"),
                )
            })?;
            if !self.service_azs.get(service).is_some_and(|azs| azs.contains(&subnet.az)) {
                return Err(rejected(
                    operation,
                    "InvalidParameter",
                    format!("The VPC endpoint service {service} does not support the availability zone of the subnet: {id}."),
                ));
            }
            if !seen_azs.insert(subnet.az.clone()) {
                return Err(rejected(
                    operation,
                    "DuplicateSubnetsInSameZone",
                    format!("Found another VPC endpoint subnet in the availability zone of {id}."),
                ));
            }
        }
        Ok(())
    }

    /// Private DNS needs both VPC attributes and a free DNS name.
    fn check_private_dns(
        &self,
        operation: &'static str,
        vpc_id: &str,
        service: &str,
        except: Option<&str>,
    ) -> Result<()> {
        let vpc = &self.vpcs[vpc_id];
        if vpc.dns != Some(VpcDns { support: true, hostnames: true }) {
            return Err(rejected(
                operation,
                "InvalidParameter",
                format!("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {vpc_id}"),
            ));
        }
        // A deleted endpoint stays `deleting` for a while and keeps its private DNS name until
        // it is gone (EC2 User Guide, "Delete an interface endpoint"; observed as the conflict
        // error until the state is `deleted`).
        let taken = self.endpoints.values().any(|e| {
            e.vpc_id == vpc_id
                && e.service == service
                && e.private_dns
                && (e.state.is_live() || e.state == EndpointState::Deleting)
                && Some(e.id.as_str()) != except
        });
        let zone =
            self.zones_of(vpc_id).into_iter().any(|z| self.service_dns.get(service).is_some_and(|n| z.serves(n)));
        let hidden = self.hidden_dns_holders.contains(&(vpc_id.to_string(), service.to_string()));
        if taken || zone || hidden {
            return Err(rejected(
                operation,
                "InvalidParameter",
                format!("private-dns-enabled cannot be set because there is already a conflicting DNS domain for {service} in the VPC {vpc_id}"),
            ));
        }
        Ok(())
    }

    /// The private hosted zones associated with `vpc_id`.
    fn zones_of(&self, vpc_id: &str) -> Vec<HostedZone> {
        self.hosted_zones
            .iter()
            .filter(|(vpc, _)| vpc == vpc_id)
            .filter_map(|(_, service)| self.service_dns.get(service))
            .map(|name| {
                let name = name.trim_start_matches("*.").to_string();
                HostedZone {
                    id: format!("Z{:012X}", name.len() * 7919 + name.bytes().map(usize::from).sum::<usize>()),
                    name,
                }
            })
            .collect()
    }
}

fn check_policy(operation: &'static str, policy: &Option<String>) -> Result<()> {
    match policy {
        Some(text) if text.chars().count() > crate::policy::MAX_POLICY_CHARS => {
            Err(rejected(operation, "InvalidParameter", "Policy document exceeds the 20480 character limit"))
        }
        Some(text) if serde_json::from_str::<serde_json::Value>(text).is_err() => {
            Err(rejected(operation, "MalformedPolicyDocument", "The policy document is not valid JSON"))
        }
        _ => Ok(()),
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

    async fn describe_vpcs(&self, selector: &VpcSelector) -> Result<Vec<Vpc>> {
        self.read();
        Ok(self.with_state(|s| {
            s.vpcs.values().filter(|v| selected(selector, &v.id)).map(|v| Vpc { dns: None, ..v.clone() }).collect()
        }))
    }

    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns> {
        self.read();
        self.read();
        self.with_state(|s| s.vpcs.get(vpc_id).and_then(|v| v.dns)).ok_or_else(|| {
            rejected("DescribeVpcAttribute", "InvalidVpcID.NotFound", format!("The vpc ID '{vpc_id}' does not exist"))
        })
    }

    async fn describe_subnets(&self, selector: &VpcSelector) -> Result<Vec<Subnet>> {
        self.read();
        Ok(self.with_state(|s| s.subnets.values().filter(|x| selected(selector, &x.vpc_id)).cloned().collect()))
    }

    async fn subnets_by_id(&self, subnet_ids: &[String]) -> Result<Vec<Subnet>> {
        self.read();
        Ok(self.with_state(|s| subnet_ids.iter().filter_map(|id| s.subnets.get(id).cloned()).collect()))
    }

    async fn describe_endpoints(&self, selector: &VpcSelector, services: &[String]) -> Result<Vec<Endpoint>> {
        self.read();
        Ok(self.with_state(|s| {
            s.endpoints
                .values()
                .filter(|e| selected(selector, &e.vpc_id) && services.contains(&e.service))
                .cloned()
                .collect()
        }))
    }

    async fn endpoints_by_id(&self, endpoint_ids: &[String]) -> Result<Vec<Endpoint>> {
        self.read();
        Ok(self.with_state(|s| endpoint_ids.iter().filter_map(|id| s.endpoints.get(id).cloned()).collect()))
    }

    async fn services(&self, services: &[String]) -> Result<BTreeMap<String, ServiceOffer>> {
        self.read();
        Ok(self.with_state(|s| {
            s.service_azs
                .iter()
                .filter(|(name, _)| services.contains(name))
                .map(|(name, azs)| {
                    (
                        name.clone(),
                        ServiceOffer { azs: azs.clone(), private_dns_name: s.service_dns.get(name).cloned() },
                    )
                })
                .collect()
        }))
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

    async fn hosted_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.read();
        Ok(self.with_state(|s| s.zones_of(vpc_id)))
    }

    async fn managed_groups(&self, selector: &VpcSelector) -> Result<Vec<SecurityGroup>> {
        self.read();
        Ok(self.with_state(|s| {
            s.groups
                .values()
                .filter(|g| g.name == MANAGED_GROUP_NAME && selected(selector, &g.group.vpc_id))
                .map(|g| g.group.clone())
                .collect()
        }))
    }

    async fn groups_by_id(&self, group_ids: &[String]) -> Result<Vec<SecurityGroup>> {
        self.read();
        Ok(self.with_state(|s| {
            s.groups
                .values()
                .filter(|g| g.name == MANAGED_GROUP_NAME && group_ids.contains(&g.group.id))
                .map(|g| g.group.clone())
                .collect()
        }))
    }

    async fn list_notebooks(&self) -> Result<Vec<NotebookSummary>> {
        self.read();
        Ok(self.with_state(|s| {
            s.notebooks
                .values()
                .map(|n| NotebookSummary {
                    name: n.name.clone(),
                    arn: n.arn.clone(),
                    status: n.status.clone(),
                    created: n.created,
                })
                .collect()
        }))
    }

    async fn describe_notebook(&self, name: &str) -> Result<Option<Notebook>> {
        self.read();
        Ok(self.with_state(|s| s.notebooks.get(name).cloned()))
    }

    async fn enable_vpc_dns(&self, vpc_id: &str, attribute: DnsAttribute) -> Result<()> {
        self.with_state(|s| {
            self.write(s, "ModifyVpcAttribute");
            let vpc = s.vpcs.get_mut(vpc_id).ok_or_else(|| {
                rejected("ModifyVpcAttribute", "InvalidVpcID.NotFound", format!("The vpc ID '{vpc_id}' does not exist"))
            })?;
            let dns = vpc.dns.get_or_insert(VpcDns { support: true, hostnames: false });
            match attribute {
                DnsAttribute::Support => dns.support = true,
                DnsAttribute::Hostnames => dns.hostnames = true,
            }
            Ok(())
        })
    }

    async fn create_group(&self, vpc_id: &str, name: &str, _description: &str, tags: &Tags) -> Result<String> {
        self.with_state(|s| {
            self.write(s, "CreateSecurityGroup");
            if s.groups.values().any(|g| g.group.vpc_id == vpc_id && g.name == name) {
                return Err(rejected(
                    "CreateSecurityGroup",
                    "InvalidGroup.Duplicate",
                    format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
                ));
            }
            let id = s.next("sg");
            let group = SecurityGroup {
                id: id.clone(),
                vpc_id: vpc_id.into(),
                https_sources: BTreeSet::new(),
                managed_sources: BTreeSet::new(),
            };
            s.groups.insert(id.clone(), FakeGroup { group, name: name.into(), tags: tags.clone() });
            Ok(id)
        })
    }

    async fn authorize_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        const OP: &str = "AuthorizeSecurityGroupIngress";
        self.with_state(|s| {
            self.write(s, OP);
            if let Some(unknown) = sources.iter().find(|p| p.starts_with("pl-") && !s.prefix_lists.contains(*p)) {
                return Err(rejected(OP, "InvalidPrefixListID.NotFound", format!("The prefix list ID '{unknown}' does not exist")));
            }
            let group = s.groups.get_mut(group_id).ok_or_else(|| {
                rejected(OP, "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            // A rule's identity is its protocol, ports and source; the description is not part
            // of it (EC2 API reference, AuthorizeSecurityGroupIngress).
            if let Some(duplicate) = sources.iter().find(|c| group.group.https_sources.contains(*c)) {
                return Err(rejected(
                    OP,
                    "InvalidPermission.Duplicate",
                    format!("the specified rule \"peer: {duplicate}, TCP, from port: 443, to port: 443, ALLOW\" already exists"),
                ));
            }
            group.group.https_sources.extend(sources.iter().cloned());
            group.group.managed_sources.extend(sources.iter().cloned());
            Ok(())
        })
    }

    async fn revoke_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        const OP: &str = "RevokeSecurityGroupIngress";
        self.with_state(|s| {
            self.write(s, OP);
            let group = s.groups.get_mut(group_id).ok_or_else(|| {
                rejected(OP, "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            // EC2 refuses the whole call when a rule to revoke does not exist in a VPC group.
            if let Some(missing) = sources.iter().find(|c| !group.group.https_sources.contains(*c)) {
                return Err(rejected(
                    OP,
                    "InvalidPermission.NotFound",
                    format!("The specified rule does not exist in this security group: peer {missing}, TCP 443"),
                ));
            }
            for source in sources {
                group.group.https_sources.remove(source);
                group.group.managed_sources.remove(source);
            }
            Ok(())
        })
    }

    async fn create_endpoint(&self, request: &NewEndpoint) -> Result<Endpoint> {
        const OP: &str = "CreateVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            if let Some((id, original)) = s.tokens.get(&request.client_token) {
                return match original == request {
                    true => Ok(s.endpoints[id].clone()),
                    false => Err(rejected(
                        OP,
                        "IdempotentParameterMismatch",
                        "The client token has already been used with different parameters.",
                    )),
                };
            }
            if request.client_token.len() > 64 || !request.client_token.is_ascii() {
                return Err(rejected(OP, "InvalidParameterValue", "ClientToken must be at most 64 ASCII characters."));
            }
            if !s.vpcs.contains_key(&request.vpc_id) {
                return Err(rejected(
                    OP,
                    "InvalidVpcId.NotFound",
                    format!("The vpc ID '{}' does not exist", request.vpc_id),
                ));
            }
            if !s.service_azs.contains_key(&request.service) {
                return Err(rejected(
                    OP,
                    "InvalidServiceName",
                    format!("The Vpc Endpoint Service '{}' does not exist", request.service),
                ));
            }
            if let Some(missing) = request.group_ids.iter().find(|g| !s.groups.contains_key(*g)) {
                return Err(rejected(
                    OP,
                    "InvalidGroup.NotFound",
                    format!("The security group '{missing}' does not exist"),
                ));
            }
            s.check_subnets(OP, &request.vpc_id, &request.service, &request.subnet_ids)?;
            check_policy(OP, &request.policy)?;
            if request.private_dns {
                s.check_private_dns(OP, &request.vpc_id, &request.service, None)?;
            }
            let id = s.next("vpce");
            let endpoint = Endpoint {
                id: id.clone(),
                vpc_id: request.vpc_id.clone(),
                service: request.service.clone(),
                endpoint_type: "Interface".into(),
                state: s.new_endpoint_state.clone().unwrap_or(EndpointState::Available),
                subnet_ids: request.subnet_ids.clone(),
                group_ids: request.group_ids.clone(),
                policy: Some(request.policy.clone().unwrap_or_else(|| crate::policy::full_access_policy().to_string())),
                private_dns: request.private_dns,
                tags: request.tags.clone(),
            };
            s.endpoints.insert(id.clone(), endpoint.clone());
            s.tokens.insert(request.client_token.clone(), (id, request.clone()));
            Ok(endpoint)
        })
    }

    async fn modify_endpoint(&self, change: &EndpointChange) -> Result<()> {
        const OP: &str = "ModifyVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            let endpoint = s.endpoints.get(&change.endpoint_id).cloned().ok_or_else(|| {
                rejected(
                    OP,
                    "InvalidVpcEndpointId.NotFound",
                    format!("The Vpc Endpoint Id '{}' does not exist", change.endpoint_id),
                )
            })?;
            if endpoint.state != EndpointState::Available {
                return Err(rejected(
                    OP,
                    "IncorrectState",
                    format!("VPC endpoint {} is in state '{}'", endpoint.id, endpoint.state.as_str()),
                ));
            }
            let mut subnets = endpoint.subnet_ids.clone();
            subnets.extend(change.add_subnet_ids.iter().cloned());
            s.check_subnets(OP, &endpoint.vpc_id, &endpoint.service, &subnets)?;
            check_policy(OP, &change.policy)?;
            if change.private_dns == Some(true) {
                s.check_private_dns(OP, &endpoint.vpc_id, &endpoint.service, Some(&endpoint.id))?;
            }
            let pending_after = s.pending_after_modify && !change.add_subnet_ids.is_empty();
            let stored = s.endpoints.get_mut(&change.endpoint_id).expect("checked above");
            stored.subnet_ids = subnets;
            if pending_after {
                stored.state = EndpointState::Pending;
            }
            for group in &change.add_group_ids {
                if !stored.group_ids.contains(group) {
                    stored.group_ids.push(group.clone());
                }
            }
            if let Some(policy) = &change.policy {
                stored.policy = Some(policy.clone());
            }
            if let Some(private_dns) = change.private_dns {
                stored.private_dns = private_dns;
            }
            Ok(())
        })
    }

    async fn s3_view(&self, vpc_id: &str, _service: &str) -> Result<S3View> {
        self.read();
        self.read();
        Ok(self.with_state(|s| S3View {
            route_tables: s.route_tables.values().filter(|(v, _)| v == vpc_id).map(|(_, t)| t.clone()).collect(),
            endpoints: s.s3_endpoints.values().filter(|(v, _)| v == vpc_id).map(|(_, e)| e.clone()).collect(),
        }))
    }

    async fn create_s3_gateway(
        &self,
        vpc_id: &str,
        _service: &str,
        route_table_ids: &[String],
        client_token: &str,
        _tags: &Tags,
    ) -> Result<String> {
        const OP: &str = "CreateVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            if let Some(bad) = route_table_ids.iter().find(|t| s.route_tables.get(*t).is_none_or(|(v, _)| v != vpc_id))
            {
                return Err(rejected(
                    OP,
                    "InvalidRouteTableId.NotFound",
                    format!("The routeTable ID '{bad}' does not exist"),
                ));
            }
            let id = format!("vpce-{:017x}", 0x5300_0000_u64 + s.s3_endpoints.len() as u64 + client_token.len() as u64);
            let endpoint = S3Endpoint {
                id: id.clone(),
                gateway: true,
                live: true,
                route_table_ids: route_table_ids.to_vec(),
                ignored: false,
            };
            s.s3_endpoints.insert(id.clone(), (vpc_id.into(), endpoint));
            Ok(id)
        })
    }

    async fn add_route_tables(&self, endpoint_id: &str, route_table_ids: &[String]) -> Result<()> {
        const OP: &str = "ModifyVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            let (_, endpoint) = s.s3_endpoints.get_mut(endpoint_id).ok_or_else(|| {
                rejected(
                    OP,
                    "InvalidVpcEndpointId.NotFound",
                    format!("The Vpc Endpoint Id '{endpoint_id}' does not exist"),
                )
            })?;
            for table in route_table_ids {
                if !endpoint.route_table_ids.contains(table) {
                    endpoint.route_table_ids.push(table.clone());
                }
            }
            Ok(())
        })
    }

    async fn list_domains(&self) -> Result<Vec<DomainSummary>> {
        self.read();
        Ok(self.with_state(|s| {
            s.domains
                .values()
                .map(|d| DomainSummary {
                    id: d.id.clone(),
                    arn: d.arn.clone(),
                    status: d.status.clone(),
                    modified: d.modified,
                })
                .collect()
        }))
    }

    async fn describe_domain(&self, domain_id: &str) -> Result<Option<Domain>> {
        self.read();
        Ok(self.with_state(|s| s.domains.get(domain_id).cloned()))
    }

    async fn findings(&self, filters: &serde_json::Value) -> Result<Vec<serde_json::Value>> {
        self.read();
        self.hub_findings(filters)
    }

    async fn import_findings(&self, findings: &[serde_json::Value]) -> Result<Vec<String>> {
        let mut refused = Vec::new();
        for chunk in findings.chunks(crate::findings::IMPORT_BATCH) {
            refused.extend(self.hub_import(chunk)?);
        }
        Ok(refused)
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.iam_managed_policy(arn)
    }

    async fn create_managed_policy(&self, path: &str, name: &str, _description: &str, document: &str) -> Result<()> {
        self.iam_create_policy(path, name, document)
    }

    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<()> {
        self.iam_create_version(arn, document)
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.iam_delete_version(arn, version_id)
    }

    fn api_calls(&self) -> ApiCalls {
        ApiCalls { read: self.reads.load(Ordering::Relaxed), write: self.write_calls.load(Ordering::Relaxed) }
    }
}
