//! The AWS SDK adapter: [`SdkAccount`] implements [`Account`] with `aws-sdk-ec2`,
//! `aws-sdk-sagemaker` and `aws-sdk-sts` (here), and `aws-sdk-iam`, `aws-sdk-route53` and
//! `aws-sdk-organizations` (its `access` module), counting every call attempt with an interceptor.

mod access;
mod pacer;
mod signed;

pub use access::decode_document;
pub use pacer::WritePacer;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::create_vpc_endpoint::builders::CreateVpcEndpointFluentBuilder;
use aws_sdk_ec2::operation::create_vpc_endpoint::CreateVpcEndpointOutput;
use aws_sdk_ec2::operation::modify_vpc_endpoint::builders::ModifyVpcEndpointFluentBuilder;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    VpcEndpointType,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::account::{
    Account, DnsAttribute, EndpointChange, ManagedPolicy, NewEndpoint, NotebookSummary, ServiceOffer, VpcSelector,
};
use crate::error::{aws_error, Error, ErrorClass, Result};
use crate::model::{
    AccountIdentity, Domain, DomainSummary, Endpoint, EndpointState, HostedZone, Notebook, RouteTable, S3Endpoint,
    S3View, SecurityGroup, Subnet, Tags, Vpc, VpcDns, MANAGED_GROUP_NAME, RULE_DESCRIPTION,
};
use crate::report::ApiCalls;

/// EC2 accepts at most 200 values in one filter.
const FILTER_CHUNK: usize = 200;

/// Counts call attempts (retries included) as reads or writes by operation name.
#[derive(Debug, Default)]
struct CallCounter {
    read: AtomicU64,
    write: AtomicU64,
}

#[derive(Debug, Clone)]
struct CountCalls(Arc<CallCounter>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "vpce-guard-call-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let is_read = ["Describe", "List", "Get"].iter().any(|prefix| operation.starts_with(prefix));
        let counter = if is_read { &self.0.read } else { &self.0.write };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The account as the AWS SDK sees it. Build once per process; clients are reused. EC2 and
/// SageMaker, which every run calls, are built at once; the clients of calls only some runs or
/// settings make (STS once per process, Route 53 for private DNS, IAM for the guardrail,
/// Organizations for the `org` modes, Security Hub) on first use, so that a start pays for none
/// of them.
#[derive(Debug, Clone)]
pub struct SdkAccount {
    ec2: aws_sdk_ec2::Client,
    sagemaker: aws_sdk_sagemaker::Client,
    lazy: Arc<LazyClients>,
    region: String,
    counter: Arc<CallCounter>,
    pacer: Arc<WritePacer>,
}

/// The clients [`SdkAccount`] builds on first use, from the configuration it was given.
#[derive(Debug)]
struct LazyClients {
    config: SdkConfig,
    sts: OnceLock<aws_sdk_sts::Client>,
    iam: OnceLock<aws_sdk_iam::Client>,
    route53: OnceLock<aws_sdk_route53::Client>,
    organizations: OnceLock<aws_sdk_organizations::Client>,
    /// Security Hub's REST-JSON API, signed by hand ([`signed`]).
    security_hub: OnceLock<signed::JsonApi>,
}

impl SdkAccount {
    fn sts(&self) -> &aws_sdk_sts::Client {
        let build = || aws_sdk_sts::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.sts.get_or_init(|| aws_sdk_sts::Client::from_conf(build()))
    }

    pub(super) fn iam(&self) -> &aws_sdk_iam::Client {
        let build = || aws_sdk_iam::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.iam.get_or_init(|| aws_sdk_iam::Client::from_conf(build()))
    }

    pub(super) fn route53(&self) -> &aws_sdk_route53::Client {
        let build = || aws_sdk_route53::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.route53.get_or_init(|| aws_sdk_route53::Client::from_conf(build()))
    }

    pub(super) fn organizations(&self) -> &aws_sdk_organizations::Client {
        let config = &self.lazy.config;
        let build = || aws_sdk_organizations::config::Builder::from(config).interceptor(self.counting()).build();
        self.lazy.organizations.get_or_init(|| aws_sdk_organizations::Client::from_conf(build()))
    }

    fn security_hub(&self) -> &signed::JsonApi {
        let build = || signed::JsonApi::new(&self.lazy.config, "securityhub", &self.region, self.counter.clone());
        self.lazy.security_hub.get_or_init(build)
    }

    /// The interceptor that counts this account's calls.
    fn counting(&self) -> CountCalls {
        CountCalls(self.counter.clone())
    }
}

/// The SDK configuration loader vpce-guard uses: the standard chain (profiles, environment,
/// `AWS_ENDPOINT_URL`) with standard retries for throttling and transient faults, their waits
/// capped (2 s between attempts, 5 attempts) and each call bounded in time, so that a throttled
/// call cannot carry an invocation past its deadline margin. Endpoint writes are paced by
/// [`WritePacer`] before they reach AWS's throttle. Callers may adjust the loader (region,
/// profile, endpoint) before `load()`.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    let retries = RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(BehaviorVersion::latest()).retry_config(retries).timeout_config(timeouts)
}

/// Loads the SDK configuration with [`sdk_loader`].
pub async fn load_sdk_config() -> SdkConfig {
    sdk_loader().load().await
}

impl SdkAccount {
    /// Every security group the filters select, with its HTTPS sources.
    async fn security_groups(&self, filters: Vec<aws_sdk_ec2::types::Filter>) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        let mut pages = self.ec2.describe_security_groups().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeSecurityGroups", e))?;
            groups.extend(page.security_groups().iter().map(|g| {
                let (https_sources, managed_sources) = https_sources(g);
                SecurityGroup {
                    id: g.group_id().unwrap_or_default().to_string(),
                    vpc_id: g.vpc_id().unwrap_or_default().to_string(),
                    https_sources,
                    managed_sources,
                }
            }));
        }
        Ok(groups)
    }

    /// Clients for `config`; fails when no region is configured.
    pub fn new(config: &SdkConfig) -> Result<Self> {
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| Error::Config {
            variable: "AWS_REGION",
            value: String::new(),
            expected: "set AWS_REGION (or a profile's region) to the region vpce-guard should watch".into(),
        })?;
        let counter = Arc::new(CallCounter::default());
        let ec2 = aws_sdk_ec2::config::Builder::from(config).interceptor(CountCalls(counter.clone())).build();
        let sagemaker =
            aws_sdk_sagemaker::config::Builder::from(config).interceptor(CountCalls(counter.clone())).build();
        let lazy = LazyClients {
            config: config.clone(),
            sts: OnceLock::new(),
            iam: OnceLock::new(),
            route53: OnceLock::new(),
            organizations: OnceLock::new(),
            security_hub: OnceLock::new(),
        };
        Ok(Self {
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker),
            lazy: Arc::new(lazy),
            region,
            counter,
            pacer: Arc::new(WritePacer::default()),
        })
    }

    /// Replaces the endpoint-write pacing (e.g. for an emulator with a faster bucket).
    pub fn with_write_pacer(mut self, pacer: WritePacer) -> Self {
        self.pacer = Arc::new(pacer);
        self
    }

    /// Loads the configuration from the environment and builds the clients.
    pub async fn from_env() -> Result<Self> {
        Self::new(&load_sdk_config().await)
    }
}

/// Attempts of one endpoint write, each paced by the [`WritePacer`]: the SDK's own retries are
/// off for these operations so that every attempt, the retries included, waits for a token.
const WRITE_ATTEMPTS: u32 = 6;

/// The longest one endpoint write may take, waits for tokens included (the SDK's operation
/// timeout for every other call), so that a slowed pacer cannot carry a run past its deadline.
const WRITE_BUDGET: Duration = Duration::from_secs(25);

impl SdkAccount {
    /// Sends the endpoint write `operation` (`send` builds and sends one attempt) through the
    /// pacer, retrying transient failures up to [`WRITE_ATTEMPTS`] times within [`WRITE_BUDGET`];
    /// a throttled answer slows the pacer down, a call that goes through speeds it up again.
    async fn paced<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let give_up_at = std::time::Instant::now() + WRITE_BUDGET;
        let mut attempt = 1;
        loop {
            if !self.pacer.acquire_within(give_up_at.saturating_duration_since(std::time::Instant::now())).await {
                return Err(Error::Aws {
                    operation,
                    code: "RequestLimitExceeded".into(),
                    message: format!(
                        "AWS throttled this account's endpoint writes and the next paced attempt would pass the \
                         write's {} s budget",
                        WRITE_BUDGET.as_secs()
                    ),
                    class: ErrorClass::Transient,
                });
            }
            match send().await {
                Ok(value) => {
                    self.pacer.succeeded();
                    return Ok(value);
                }
                Err(error) => {
                    let throttled = error.is_throttled();
                    if throttled {
                        self.pacer.throttled();
                    }
                    if error.class() == ErrorClass::Permanent || attempt == WRITE_ATTEMPTS {
                        return Err(error);
                    }
                    tracing::debug!(error = %error, attempt, rate = self.pacer.rate(), "endpoint write retried");
                    if !throttled {
                        // A fault, not the rate: the pacer's wait is no backoff, so wait here.
                        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                    }
                    attempt += 1;
                }
            }
        }
    }
}

impl SdkAccount {
    /// `CreateVpcEndpoint`, paced ([`SdkAccount::paced`]).
    async fn paced_create(&self, request: CreateVpcEndpointFluentBuilder) -> Result<CreateVpcEndpointOutput> {
        let send = || {
            let attempt = request.clone().customize().config_override(no_sdk_retries());
            async move { attempt.send().await.map_err(|e| aws_error("CreateVpcEndpoint", e)) }
        };
        self.paced("CreateVpcEndpoint", send).await
    }

    /// `ModifyVpcEndpoint`, paced ([`SdkAccount::paced`]).
    async fn paced_modify(&self, request: ModifyVpcEndpointFluentBuilder) -> Result<()> {
        let send = || {
            let attempt = request.clone().customize().config_override(no_sdk_retries());
            async move { attempt.send().await.map(drop).map_err(|e| aws_error("ModifyVpcEndpoint", e)) }
        };
        self.paced("ModifyVpcEndpoint", send).await
    }
}

/// The per-operation override that turns the SDK's retries off ([`SdkAccount::paced`] retries).
fn no_sdk_retries() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled())
}

fn ec2_tags(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

fn tag_specification(resource: ResourceType, tags: &Tags) -> TagSpecification {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(resource).set_tags(Some(tags.collect())).build()
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

/// Splits a selector into filter chunks: `None` once for all VPCs.
fn vpc_chunks(selector: &VpcSelector) -> Vec<Option<Vec<String>>> {
    match selector {
        VpcSelector::All => vec![None],
        VpcSelector::Ids(ids) => ids.chunks(FILTER_CHUNK).map(|c| Some(c.to_vec())).collect(),
    }
}

fn is_associated(state: Option<&str>) -> bool {
    state.is_some_and(|s| s.eq_ignore_ascii_case("associated"))
}

fn to_vpc(vpc: &aws_sdk_ec2::types::Vpc) -> Vpc {
    let ipv4 = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| is_associated(a.cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str())))
        .filter_map(|a| a.cidr_block().map(str::to_string));
    let ipv6 = vpc
        .ipv6_cidr_block_association_set()
        .iter()
        .filter(|a| is_associated(a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str())))
        .filter_map(|a| a.ipv6_cidr_block().map(str::to_string));
    let mut ipv4_cidrs: Vec<String> = ipv4.collect();
    if ipv4_cidrs.is_empty() {
        ipv4_cidrs.extend(vpc.cidr_block().map(str::to_string));
    }
    Vpc {
        id: vpc.vpc_id().unwrap_or_default().to_string(),
        owner_id: vpc.owner_id().unwrap_or_default().to_string(),
        ipv4_cidrs,
        ipv6_cidrs: ipv6.collect(),
        dns: None,
        tags: ec2_tags(vpc.tags()),
    }
}

fn to_subnet(subnet: &aws_sdk_ec2::types::Subnet) -> Subnet {
    Subnet {
        id: subnet.subnet_id().unwrap_or_default().to_string(),
        vpc_id: subnet.vpc_id().unwrap_or_default().to_string(),
        az: subnet.availability_zone().unwrap_or_default().to_string(),
        free_ips: subnet.available_ip_address_count().unwrap_or(0).max(0) as u32,
        owner_id: subnet.owner_id().unwrap_or_default().to_string(),
        ipv6_native: subnet.ipv6_native().unwrap_or(false),
        tags: ec2_tags(subnet.tags()),
    }
}

fn to_endpoint(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> Endpoint {
    Endpoint {
        id: endpoint.vpc_endpoint_id().unwrap_or_default().to_string(),
        vpc_id: endpoint.vpc_id().unwrap_or_default().to_string(),
        service: endpoint.service_name().unwrap_or_default().to_string(),
        endpoint_type: endpoint.vpc_endpoint_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        // EC2 sends lowercase states the SDK enum cannot parse (aws-sdk-rust#619): use the string.
        state: EndpointState::parse(endpoint.state().map(|s| s.as_str()).unwrap_or_default()),
        subnet_ids: endpoint.subnet_ids().to_vec(),
        group_ids: endpoint.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
        policy: endpoint.policy_document().map(str::to_string),
        private_dns: endpoint.private_dns_enabled().unwrap_or(false),
        tags: ec2_tags(endpoint.tags()),
    }
}

/// The sources a security group allows on TCP 443 (CIDR blocks and prefix lists), and those
/// of them whose rule carries vpce-guard's description.
fn https_sources(group: &aws_sdk_ec2::types::SecurityGroup) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut sources = BTreeSet::new();
    let mut managed = BTreeSet::new();
    let mut add = |source: Option<&str>, description: Option<&str>| {
        if let Some(source) = source {
            sources.insert(source.to_string());
            if description == Some(RULE_DESCRIPTION) {
                managed.insert(source.to_string());
            }
        }
    };
    for permission in group.ip_permissions() {
        let protocol = permission.ip_protocol().unwrap_or_default();
        let all = protocol == "-1";
        let covers = all
            || (protocol.eq_ignore_ascii_case("tcp")
                && permission.from_port().unwrap_or(i32::MAX) <= 443
                && permission.to_port().unwrap_or(i32::MIN) >= 443);
        // Only vpce-guard's own rule (TCP 443 exactly) counts as managed.
        let exact = protocol.eq_ignore_ascii_case("tcp")
            && permission.from_port() == Some(443)
            && permission.to_port() == Some(443);
        if !covers {
            continue;
        }
        for range in permission.ip_ranges() {
            add(range.cidr_ip(), range.description().filter(|_| exact));
        }
        for range in permission.ipv6_ranges() {
            add(range.cidr_ipv6(), range.description().filter(|_| exact));
        }
        for list in permission.prefix_list_ids() {
            add(list.prefix_list_id(), list.description().filter(|_| exact));
        }
    }
    (sources, managed)
}

impl Account for SdkAccount {
    fn region(&self) -> &str {
        &self.region
    }

    async fn identity(&self) -> Result<AccountIdentity> {
        let out = self.sts().get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
        let arn = out.arn().unwrap_or_default();
        Ok(AccountIdentity {
            account_id: out.account().unwrap_or_default().to_string(),
            partition: arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string(),
            region: self.region.clone(),
            org_id: None,
        })
    }

    async fn describe_vpcs(&self, selector: &VpcSelector) -> Result<Vec<Vpc>> {
        let mut vpcs = Vec::new();
        // By a vpc-id filter, not VpcIds: with VpcIds one unknown id fails the whole call
        // (InvalidVpcID.NotFound), while a filter simply leaves unknown ids out.
        for chunk in vpc_chunks(selector) {
            let filters = chunk.map(|ids| vec![filter("vpc-id", &ids)]);
            let mut pages = self.ec2.describe_vpcs().set_filters(filters).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeVpcs", e))?;
                vpcs.extend(page.vpcs().iter().map(to_vpc));
            }
        }
        Ok(vpcs)
    }

    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns> {
        use aws_sdk_ec2::types::VpcAttributeName;
        let read =
            |attribute: VpcAttributeName| self.ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(attribute).send();
        let support =
            read(VpcAttributeName::EnableDnsSupport).await.map_err(|e| aws_error("DescribeVpcAttribute", e))?;
        let hostnames =
            read(VpcAttributeName::EnableDnsHostnames).await.map_err(|e| aws_error("DescribeVpcAttribute", e))?;
        Ok(VpcDns {
            support: support.enable_dns_support().and_then(|v| v.value()).unwrap_or(false),
            hostnames: hostnames.enable_dns_hostnames().and_then(|v| v.value()).unwrap_or(false),
        })
    }

    async fn describe_subnets(&self, selector: &VpcSelector) -> Result<Vec<Subnet>> {
        let mut subnets = Vec::new();
        for chunk in vpc_chunks(selector) {
            let filters = chunk.map(|ids| vec![filter("vpc-id", &ids)]);
            let mut pages = self.ec2.describe_subnets().set_filters(filters).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeSubnets", e))?;
                subnets.extend(page.subnets().iter().map(to_subnet));
            }
        }
        Ok(subnets)
    }

    async fn subnets_by_id(&self, subnet_ids: &[String]) -> Result<Vec<Subnet>> {
        let out = self.ec2.describe_subnets().filters(filter("subnet-id", subnet_ids)).send().await;
        let out = out.map_err(|e| aws_error("DescribeSubnets", e))?;
        Ok(out.subnets().iter().map(to_subnet).collect())
    }

    async fn describe_endpoints(&self, selector: &VpcSelector, services: &[String]) -> Result<Vec<Endpoint>> {
        let mut endpoints = Vec::new();
        for chunk in vpc_chunks(selector) {
            let mut filters = vec![filter("service-name", services)];
            filters.extend(chunk.map(|ids| filter("vpc-id", &ids)));
            let mut pages = self.ec2.describe_vpc_endpoints().set_filters(Some(filters)).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeVpcEndpoints", e))?;
                endpoints.extend(page.vpc_endpoints().iter().map(to_endpoint));
            }
        }
        Ok(endpoints)
    }

    async fn endpoints_by_id(&self, endpoint_ids: &[String]) -> Result<Vec<Endpoint>> {
        // All at once; when one id is unknown (it fails the whole call), one at a time.
        if let Ok(out) =
            self.ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(endpoint_ids.to_vec())).send().await
        {
            return Ok(out.vpc_endpoints().iter().map(to_endpoint).collect());
        }
        let mut endpoints = Vec::new();
        for id in endpoint_ids {
            match self.ec2.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
                Ok(out) => endpoints.extend(out.vpc_endpoints().iter().map(to_endpoint)),
                Err(e) if e.as_service_error().and_then(|s| s.code()).is_some_and(|c| c.ends_with(".NotFound")) => {}
                Err(e) => return Err(aws_error("DescribeVpcEndpoints", e)),
            }
        }
        Ok(endpoints)
    }

    async fn services(&self, services: &[String]) -> Result<BTreeMap<String, ServiceOffer>> {
        let mut offers = BTreeMap::new();
        // With ServiceNames (a service-name filter breaks moto); an unknown name fails the call,
        // so fall back to one call per service and leave unknown ones out.
        let all = self.ec2.describe_vpc_endpoint_services().set_service_names(Some(services.to_vec())).send().await;
        let outputs = match all {
            Ok(out) => vec![out],
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidServiceName") => {
                let mut outputs = Vec::new();
                for service in services {
                    match self.ec2.describe_vpc_endpoint_services().service_names(service).send().await {
                        Ok(out) => outputs.push(out),
                        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidServiceName") => {}
                        Err(e) => return Err(aws_error("DescribeVpcEndpointServices", e)),
                    }
                }
                outputs
            }
            Err(e) => return Err(aws_error("DescribeVpcEndpointServices", e)),
        };
        for detail in outputs.iter().flat_map(|o| o.service_details()) {
            let Some(name) = detail.service_name() else { continue };
            if services.iter().any(|s| s == name) {
                let offer = ServiceOffer {
                    azs: detail.availability_zones().iter().cloned().collect(),
                    private_dns_name: detail.private_dns_name().filter(|n| !n.is_empty()).map(str::to_string),
                };
                offers.insert(name.to_string(), offer);
            }
        }
        Ok(offers)
    }

    async fn organization_id(&self) -> Result<String> {
        self.describe_organization().await
    }

    async fn hosted_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.hosted_zones_of_vpc(vpc_id).await
    }

    async fn managed_groups(&self, selector: &VpcSelector) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        for chunk in vpc_chunks(selector) {
            let mut filters = vec![filter("group-name", &[MANAGED_GROUP_NAME.to_string()])];
            filters.extend(chunk.map(|ids| filter("vpc-id", &ids)));
            groups.extend(self.security_groups(filters).await?);
        }
        Ok(groups)
    }

    async fn groups_by_id(&self, group_ids: &[String]) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        // A group-id filter, not GroupIds: an unknown id fails a GroupIds call.
        for chunk in group_ids.chunks(FILTER_CHUNK) {
            let filters = vec![filter("group-name", &[MANAGED_GROUP_NAME.to_string()]), filter("group-id", chunk)];
            groups.extend(self.security_groups(filters).await?);
        }
        Ok(groups)
    }

    async fn findings(&self, filters: &serde_json::Value) -> Result<Vec<serde_json::Value>> {
        let mut findings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({"Filters": filters, "MaxResults": 100});
            if let Some(token) = &token {
                body["NextToken"] = token.clone().into();
            }
            let page = self.security_hub().post("GetFindings", "/findings", &body).await?;
            let Some(found) = page["Findings"].as_array() else {
                return Err(Error::Aws {
                    operation: "GetFindings",
                    code: "InvalidResponse".into(),
                    message: format!("the answer has no Findings list: {:.200}", page.to_string()),
                    class: ErrorClass::Transient,
                });
            };
            findings.extend(found.iter().cloned());
            token = page["NextToken"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                return Ok(findings);
            }
        }
    }

    async fn import_findings(&self, findings: &[serde_json::Value]) -> Result<Vec<String>> {
        let mut refused = Vec::new();
        for chunk in findings.chunks(crate::findings::IMPORT_BATCH) {
            let body = serde_json::json!({ "Findings": chunk });
            let out = self.security_hub().post("BatchImportFindings", "/findings/import", &body).await?;
            refused.extend(out["FailedFindings"].as_array().into_iter().flatten().map(|f| {
                let field = |name: &str| f[name].as_str().unwrap_or_default().to_string();
                format!("{}: {} {}", field("Id"), field("ErrorCode"), field("ErrorMessage"))
            }));
        }
        Ok(refused)
    }

    async fn list_notebooks(&self) -> Result<Vec<NotebookSummary>> {
        let mut notebooks = Vec::new();
        let mut pages = self.sagemaker.list_notebook_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListNotebookInstances", e))?;
            notebooks.extend(page.notebook_instances().iter().map(|n| NotebookSummary {
                name: n.notebook_instance_name().unwrap_or_default().to_string(),
                arn: n.notebook_instance_arn().unwrap_or_default().to_string(),
                status: n.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created: n.creation_time().map(|t| t.secs()),
            }));
        }
        Ok(notebooks)
    }

    async fn describe_notebook(&self, name: &str) -> Result<Option<Notebook>> {
        match self.sagemaker.describe_notebook_instance().notebook_instance_name(name).send().await {
            Ok(out) => Ok(Some(Notebook {
                name: out.notebook_instance_name().unwrap_or(name).to_string(),
                arn: out.notebook_instance_arn().unwrap_or_default().to_string(),
                subnet_id: out.subnet_id().map(str::to_string),
                status: out.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                direct_internet_access: out
                    .direct_internet_access()
                    .is_some_and(|access| access.as_str().eq_ignore_ascii_case("Enabled")),
                created: out.creation_time().map(|t| t.secs()),
            })),
            // SageMaker answers a missing notebook with ValidationException "RecordNotFound".
            Err(e) if is_record_not_found(&e) => Ok(None),
            Err(e) => Err(aws_error("DescribeNotebookInstance", e)),
        }
    }

    async fn s3_view(&self, vpc_id: &str, service: &str) -> Result<S3View> {
        let vpc = [vpc_id.to_string()];
        let mut view = S3View::default();
        let mut pages = self.ec2.describe_route_tables().filters(filter("vpc-id", &vpc)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeRouteTables", e))?;
            view.route_tables.extend(page.route_tables().iter().map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_string(),
                subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect(),
                main: t.associations().iter().any(|a| a.main() == Some(true)),
            }));
        }
        let filters = vec![filter("vpc-id", &vpc), filter("service-name", &[service.to_string()])];
        let mut pages = self.ec2.describe_vpc_endpoints().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeVpcEndpoints", e))?;
            view.endpoints.extend(page.vpc_endpoints().iter().map(|e| {
                let endpoint = to_endpoint(e);
                S3Endpoint {
                    ignored: crate::model::tag_is(&endpoint.tags, crate::model::TAG_IGNORE, "true"),
                    gateway: endpoint.endpoint_type.eq_ignore_ascii_case("gateway"),
                    live: endpoint.state.is_live(),
                    route_table_ids: e.route_table_ids().to_vec(),
                    id: endpoint.id,
                }
            }));
        }
        Ok(view)
    }

    async fn create_s3_gateway(
        &self,
        vpc_id: &str,
        service: &str,
        route_table_ids: &[String],
        client_token: &str,
        tags: &Tags,
    ) -> Result<String> {
        let request = self
            .ec2
            .create_vpc_endpoint()
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
            .vpc_id(vpc_id)
            .service_name(service)
            .set_route_table_ids(Some(route_table_ids.to_vec()))
            .client_token(client_token)
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, tags));
        let out = self.paced_create(request).await?;
        Ok(out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).unwrap_or_default().to_string())
    }

    async fn add_route_tables(&self, endpoint_id: &str, route_table_ids: &[String]) -> Result<()> {
        let request = self
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(endpoint_id)
            .set_add_route_table_ids(Some(route_table_ids.to_vec()));
        self.paced_modify(request).await
    }

    async fn list_domains(&self) -> Result<Vec<DomainSummary>> {
        let mut domains = Vec::new();
        let mut pages = self.sagemaker.list_domains().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListDomains", e))?;
            domains.extend(page.domains().iter().map(|d| DomainSummary {
                id: d.domain_id().unwrap_or_default().to_string(),
                arn: d.domain_arn().unwrap_or_default().to_string(),
                status: d.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                modified: d.last_modified_time().map(|t| t.secs()),
            }));
        }
        Ok(domains)
    }

    async fn describe_domain(&self, domain_id: &str) -> Result<Option<Domain>> {
        match self.sagemaker.describe_domain().domain_id(domain_id).send().await {
            Ok(out) => Ok(Some(Domain {
                id: out.domain_id().unwrap_or(domain_id).to_string(),
                arn: out.domain_arn().unwrap_or_default().to_string(),
                vpc_id: out.vpc_id().unwrap_or_default().to_string(),
                subnet_ids: out.subnet_ids().to_vec(),
                vpc_only: out.app_network_access_type().is_some_and(|t| t.as_str().eq_ignore_ascii_case("VpcOnly")),
                status: out.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                modified: out.last_modified_time().map(|t| t.secs()),
            })),
            // DescribeDomain answers an unknown id with ResourceNotFound (API reference, Errors).
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFound") => Ok(None),
            Err(e) => Err(aws_error("DescribeDomain", e)),
        }
    }

    async fn enable_vpc_dns(&self, vpc_id: &str, attribute: DnsAttribute) -> Result<()> {
        let on = AttributeBooleanValue::builder().value(true).build();
        let request = self.ec2.modify_vpc_attribute().vpc_id(vpc_id);
        let request = match attribute {
            DnsAttribute::Support => request.enable_dns_support(on),
            DnsAttribute::Hostnames => request.enable_dns_hostnames(on),
        };
        request.send().await.map_err(|e| aws_error("ModifyVpcAttribute", e))?;
        Ok(())
    }

    async fn create_group(&self, vpc_id: &str, name: &str, description: &str, tags: &Tags) -> Result<String> {
        let out = self
            .ec2
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| aws_error("CreateSecurityGroup", e))?;
        Ok(out.group_id().unwrap_or_default().to_string())
    }

    async fn authorize_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(sources))
            .send()
            .await
            .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn revoke_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        self.ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(sources))
            .send()
            .await
            .map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn create_endpoint(&self, request: &NewEndpoint) -> Result<Endpoint> {
        let create = self
            .ec2
            .create_vpc_endpoint()
            .vpc_id(&request.vpc_id)
            .service_name(&request.service)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .set_subnet_ids(Some(request.subnet_ids.clone()))
            .set_security_group_ids(Some(request.group_ids.clone()))
            .set_policy_document(request.policy.clone())
            .private_dns_enabled(request.private_dns)
            .client_token(&request.client_token)
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, &request.tags));
        let out = self.paced_create(create).await?;
        let endpoint = out.vpc_endpoint().ok_or_else(|| Error::Aws {
            operation: "CreateVpcEndpoint",
            code: "EmptyResponse".into(),
            message: "the response holds no endpoint".into(),
            class: ErrorClass::Transient,
        })?;
        Ok(to_endpoint(endpoint))
    }

    async fn modify_endpoint(&self, change: &EndpointChange) -> Result<()> {
        let non_empty = |ids: &Vec<String>| (!ids.is_empty()).then(|| ids.clone());
        let request = self
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&change.endpoint_id)
            .set_add_subnet_ids(non_empty(&change.add_subnet_ids))
            .set_add_security_group_ids(non_empty(&change.add_group_ids))
            .set_policy_document(change.policy.clone())
            .set_private_dns_enabled(change.private_dns);
        self.paced_modify(request).await?;
        Ok(())
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.read_managed_policy(arn).await
    }

    async fn create_managed_policy(&self, path: &str, name: &str, description: &str, document: &str) -> Result<()> {
        self.create_iam_policy(path, name, description, document).await
    }

    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<()> {
        self.create_iam_policy_version(arn, document).await
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.delete_iam_policy_version(arn, version_id).await
    }

    fn api_calls(&self) -> ApiCalls {
        ApiCalls { read: self.counter.read.load(Ordering::Relaxed), write: self.counter.write.load(Ordering::Relaxed) }
    }
}

/// The TCP 443 permission from `sources` (IPv4, IPv6 CIDR blocks and prefix list ids), each
/// described as vpce-guard's so that later runs know which rules they may revoke.
fn https_permission(sources: &[String]) -> IpPermission {
    let (lists, cidrs): (Vec<&String>, Vec<&String>) = sources.iter().partition(|s| s.starts_with("pl-"));
    let (v6, v4): (Vec<&String>, Vec<&String>) = cidrs.into_iter().partition(|c| c.contains(':'));
    fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
        (!items.is_empty()).then_some(items)
    }
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .set_ip_ranges(non_empty(
            v4.iter().map(|c| IpRange::builder().cidr_ip(*c).description(RULE_DESCRIPTION).build()).collect(),
        ))
        .set_ipv6_ranges(non_empty(
            v6.iter().map(|c| Ipv6Range::builder().cidr_ipv6(*c).description(RULE_DESCRIPTION).build()).collect(),
        ))
        .set_prefix_list_ids(non_empty(
            lists
                .iter()
                .map(|p| PrefixListId::builder().prefix_list_id(*p).description(RULE_DESCRIPTION).build())
                .collect(),
        ))
        .build()
}

fn is_record_not_found<E: ProvideErrorMetadata + Debug, R: Debug>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().is_some_and(|e| {
        e.code() == Some("ValidationException")
            && e.message().is_some_and(|m| m.contains("RecordNotFound") || m.contains("not found"))
    })
}
