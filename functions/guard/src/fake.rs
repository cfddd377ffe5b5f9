//! An in-memory account behind the same [`Account`] trait as the SDK adapter. It enforces
//! the AWS rules of DESIGN.md that moto does not: one subnet per AZ, supported AZs, the
//! private-DNS conflict and prerequisites, client-token idempotency, and endpoints that stay
//! `pending` until released. Used by handler tests, property tests and simulations at scale.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::account::{Account, DnsAttribute, EndpointChange, NewEndpoint, NotebookSummary, VpcSelector};
use crate::error::{Error, ErrorClass, Result};
use crate::model::{
    AccountIdentity, Endpoint, EndpointState, Notebook, SecurityGroup, Subnet, Tags, Vpc, VpcDns, MANAGED_GROUP_NAME,
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
    /// (VPC, service) pairs whose private DNS name a private hosted zone holds.
    pub hosted_zones: BTreeSet<(String, String)>,
    /// State of newly created endpoints (`Available`, or `Pending` to simulate AWS's delay).
    pub new_endpoint_state: Option<EndpointState>,
    /// Client token → (endpoint id, the request it created).
    pub tokens: HashMap<String, (String, NewEndpoint)>,
    /// Writes by operation name, to assert what was done.
    pub writes: Vec<String>,
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
    /// An empty account (123456789012, us-west-2) offering both SageMaker services in four AZs.
    pub fn new() -> Self {
        let state = FakeState {
            service_azs: testing::service_azs(&["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]),
            ..FakeState::default()
        };
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

    /// Adds a notebook instance in `subnet_id`.
    pub fn add_notebook(&self, name: &str, subnet_id: &str) {
        self.with_state(|s| s.notebooks.insert(name.into(), testing::notebook(name, subnet_id)));
    }

    /// Live endpoints of `vpc_id`.
    pub fn live_endpoints(&self, vpc_id: &str) -> Vec<Endpoint> {
        self.with_state(|s| s.endpoints.values().filter(|e| e.vpc_id == vpc_id && e.state.is_live()).cloned().collect())
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
        let taken = self.endpoints.values().any(|e| {
            e.vpc_id == vpc_id
                && e.service == service
                && e.private_dns
                && e.state.is_live()
                && Some(e.id.as_str()) != except
        });
        if taken || self.hosted_zones.contains(&(vpc_id.to_string(), service.to_string())) {
            return Err(rejected(
                operation,
                "InvalidParameter",
                format!("private-dns-enabled cannot be set because there is already a conflicting DNS domain for {service} in the VPC {vpc_id}"),
            ));
        }
        Ok(())
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

    async fn service_azs(&self, services: &[String]) -> Result<BTreeMap<String, BTreeSet<String>>> {
        self.read();
        Ok(self.with_state(|s| {
            s.service_azs
                .iter()
                .filter(|(name, _)| services.contains(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
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

    async fn list_notebooks(&self) -> Result<Vec<NotebookSummary>> {
        self.read();
        Ok(self.with_state(|s| {
            s.notebooks
                .values()
                .map(|n| NotebookSummary { name: n.name.clone(), arn: n.arn.clone(), status: n.status.clone() })
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
            let group = SecurityGroup { id: id.clone(), vpc_id: vpc_id.into(), https_sources: BTreeSet::new() };
            s.groups.insert(id.clone(), FakeGroup { group, name: name.into(), tags: tags.clone() });
            Ok(id)
        })
    }

    async fn authorize_https(&self, group_id: &str, cidrs: &[String]) -> Result<()> {
        self.with_state(|s| {
            self.write(s, "AuthorizeSecurityGroupIngress");
            let group = s.groups.get_mut(group_id).ok_or_else(|| {
                rejected("AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            if let Some(duplicate) = cidrs.iter().find(|c| group.group.https_sources.contains(*c)) {
                return Err(rejected(
                    "AuthorizeSecurityGroupIngress",
                    "InvalidPermission.Duplicate",
                    format!("the specified rule \"peer: {duplicate}, TCP, from port: 443, to port: 443, ALLOW\" already exists"),
                ));
            }
            group.group.https_sources.extend(cidrs.iter().cloned());
            Ok(())
        })
    }

    async fn create_endpoint(&self, request: &NewEndpoint) -> Result<Endpoint> {
        const OP: &str = "CreateVpcEndpoint";
        self.with_state(|s| {
            self.write(s, OP);
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
            self.write(s, OP);
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
            let stored = s.endpoints.get_mut(&change.endpoint_id).expect("checked above");
            stored.subnet_ids = subnets;
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

    fn api_calls(&self) -> ApiCalls {
        ApiCalls { read: self.reads.load(Ordering::Relaxed), write: self.write_calls.load(Ordering::Relaxed) }
    }
}
