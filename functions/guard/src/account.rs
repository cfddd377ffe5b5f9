//! The one trait between the domain and AWS. Two implementations: [`crate::aws::SdkAccount`]
//! (the AWS SDK) and `fake::FakeAccount` (in memory, enforcing AWS's rules; built with the `testing` feature only).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::error::Result;
use crate::model::{
    AccountIdentity, Domain, DomainSummary, Endpoint, HostedZone, Notebook, S3Endpoint, S3View, SecurityGroup, Subnet,
    Tags, Vpc, VpcDns,
};
use crate::report::ApiCalls;

/// Which VPCs a batched read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcSelector {
    /// Every VPC of the region.
    All,
    /// Only these.
    Ids(Vec<String>),
}

/// One of the VPC attributes private DNS needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAttribute {
    /// `enableDnsSupport`.
    Support,
    /// `enableDnsHostnames`.
    Hostnames,
}

/// A notebook instance as `ListNotebookInstances` returns it (no subnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotebookSummary {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Status.
    pub status: String,
    /// `CreationTime` (seconds since the epoch).
    pub created: Option<i64>,
}

/// What `DescribeVpcEndpointServices` says of one service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceOffer {
    /// AZs the service is offered in.
    pub azs: BTreeSet<String>,
    /// Its private DNS name (e.g. `api.sagemaker.us-west-2.amazonaws.com`), if it has one.
    pub private_dns_name: Option<String>,
}

/// A customer managed IAM policy as vpce-guard reads it back (the guardrail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// Its ARN.
    pub arn: String,
    /// The default version's document (JSON, decoded from IAM's URL encoding).
    pub document: String,
    /// Version ids, oldest first, with whether each is the default.
    pub versions: Vec<(String, bool)>,
}

/// Arguments of `CreateVpcEndpoint` (always type `Interface`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// VPC.
    pub vpc_id: String,
    /// Service name.
    pub service: String,
    /// One subnet per AZ.
    pub subnet_ids: Vec<String>,
    /// Security groups.
    pub group_ids: Vec<String>,
    /// Endpoint policy; `None` keeps AWS's default (full access).
    pub policy: Option<String>,
    /// Private DNS.
    pub private_dns: bool,
    /// Idempotency token.
    pub client_token: String,
    /// Tags, including `vpce-guard:managed=true`.
    pub tags: Tags,
}

/// Arguments of one `ModifyVpcEndpoint` carrying every change to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointChange {
    /// The endpoint.
    pub endpoint_id: String,
    /// Subnets to add.
    pub add_subnet_ids: Vec<String>,
    /// Security groups to add.
    pub add_group_ids: Vec<String>,
    /// New policy.
    pub policy: Option<String>,
    /// New private DNS setting.
    pub private_dns: Option<bool>,
}

/// The VPCs, their subnets and DNS attributes (EC2), and the private hosted zones associated with them
/// (Route 53, directly or through Route 53 Profiles).
pub trait Network: Send + Sync {
    /// `DescribeVpcs`, every page; unknown ids are absent. DNS attributes are left `None`.
    fn describe_vpcs(&self, selector: &VpcSelector) -> impl Future<Output = Result<Vec<Vpc>>> + Send;
    /// Two `DescribeVpcAttribute` calls.
    fn vpc_dns(&self, vpc_id: &str) -> impl Future<Output = Result<VpcDns>> + Send;
    /// `DescribeSubnets` of the selected VPCs, every page.
    fn describe_subnets(&self, selector: &VpcSelector) -> impl Future<Output = Result<Vec<Subnet>>> + Send;
    /// `DescribeSubnets` of some subnets by id; unknown ids are absent from the answer.
    fn subnets_by_id(&self, subnet_ids: &[String]) -> impl Future<Output = Result<Vec<Subnet>>> + Send;
    /// `ModifyVpcAttribute` turning one DNS attribute on.
    fn enable_vpc_dns(&self, vpc_id: &str, attribute: DnsAttribute) -> impl Future<Output = Result<()>> + Send;
    /// `route53:ListHostedZonesByVPC`, every page: the private hosted zones associated with the
    /// VPC directly (not those it gets through a Route 53 Profile).
    fn hosted_zones(&self, vpc_id: &str) -> impl Future<Output = Result<Vec<HostedZone>>> + Send;
    /// `route53profiles:ListProfileAssociations` of the VPC, then
    /// `ListProfileResourceAssociations` of each Profile associated with it, every page: the
    /// private hosted zones the VPC gets through its Route 53 Profile.
    fn profile_zones(&self, vpc_id: &str) -> impl Future<Output = Result<Vec<HostedZone>>> + Send;
}

/// Interface endpoints and the services they connect to (EC2).
pub trait Endpoints: Send + Sync {
    /// `DescribeVpcEndpoints` of `services` in the selected VPCs, in every state.
    fn describe_endpoints(
        &self,
        selector: &VpcSelector,
        services: &[String],
    ) -> impl Future<Output = Result<Vec<Endpoint>>> + Send;
    /// `DescribeVpcEndpoints` of some endpoints by id, in every state; unknown ids are absent.
    fn endpoints_by_id(&self, endpoint_ids: &[String]) -> impl Future<Output = Result<Vec<Endpoint>>> + Send;
    /// `DescribeVpcEndpointServices` with a `service-name` filter of `queries` (names, or
    /// patterns with `*`), every page: each offered service's AZs and private DNS name.
    fn services(&self, queries: &[String]) -> impl Future<Output = Result<BTreeMap<String, ServiceOffer>>> + Send;
    /// `CreateVpcEndpoint`; returns the endpoint (which may be an existing one for a reused token).
    fn create_endpoint(&self, request: &NewEndpoint) -> impl Future<Output = Result<Endpoint>> + Send;
    /// `ModifyVpcEndpoint`.
    fn modify_endpoint(&self, change: &EndpointChange) -> impl Future<Output = Result<()>> + Send;
    /// `DeleteVpcEndpoints` of `endpoint_ids` (one call): each endpoint is `deleting`, still
    /// holding its private DNS name, until AWS has deleted its network interfaces. Returns the
    /// endpoints AWS did not delete (its `Unsuccessful` items), each as (id, `Code: message`).
    fn delete_endpoints(&self, endpoint_ids: &[String]) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    /// `CreateTags` of `tags` on the endpoints `endpoint_ids` (one call).
    fn tag_endpoints(&self, endpoint_ids: &[String], tags: &Tags) -> impl Future<Output = Result<()>> + Send;
    /// `DeleteTags` of the tag keys `keys` from the endpoints `endpoint_ids` (one call).
    fn untag_endpoints(&self, endpoint_ids: &[String], keys: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// The S3 gateway endpoint and route tables (EC2), for the studio profile.
pub trait Gateways: Send + Sync {
    /// `DescribeRouteTables` of the VPC and `DescribeVpcEndpoints` of its `service` (S3)
    /// endpoints, every page.
    fn s3_view(&self, vpc_id: &str, service: &str) -> impl Future<Output = Result<S3View>> + Send;
    /// `CreateVpcEndpoint` of type Gateway for `service` (S3) with `route_table_ids`, tagged;
    /// returns the endpoint, which for a reused token is the one that token made (maybe
    /// deleted since).
    fn create_s3_gateway(
        &self,
        vpc_id: &str,
        service: &str,
        route_table_ids: &[String],
        client_token: &str,
        tags: &Tags,
    ) -> impl Future<Output = Result<S3Endpoint>> + Send;
    /// `ModifyVpcEndpoint` `AddRouteTableIds` on a gateway endpoint.
    fn add_route_tables(
        &self,
        endpoint_id: &str,
        route_table_ids: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The managed security group and its HTTPS rules (EC2).
pub trait Groups: Send + Sync {
    /// `DescribeSecurityGroups` for the managed group of the selected VPCs.
    fn managed_groups(&self, selector: &VpcSelector) -> impl Future<Output = Result<Vec<SecurityGroup>>> + Send;
    /// The managed security groups among `group_ids` (unknown ids and other groups left out).
    fn groups_by_id(&self, group_ids: &[String]) -> impl Future<Output = Result<Vec<SecurityGroup>>> + Send;
    /// `CreateSecurityGroup` with tags; returns the group id.
    fn create_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> impl Future<Output = Result<String>> + Send;
    /// `AuthorizeSecurityGroupIngress` for TCP 443 from `sources` (IPv4 and IPv6 CIDR blocks,
    /// prefix list ids), each rule described with [`crate::model::RULE_DESCRIPTION`].
    fn authorize_https(&self, group_id: &str, sources: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// `RevokeSecurityGroupIngress` of the TCP 443 rules from `sources`.
    fn revoke_https(&self, group_id: &str, sources: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// `DeleteSecurityGroup`: refused with `DependencyViolation` while a network interface (an
    /// endpoint's, a `deleting` one's included) still uses the group.
    fn delete_group(&self, group_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Notebook instances and Studio domains (SageMaker): what enrols a VPC.
pub trait SageMaker: Send + Sync {
    /// `ListDomains`, every page.
    fn list_domains(&self) -> impl Future<Output = Result<Vec<DomainSummary>>> + Send;
    /// `DescribeDomain`; `None` when it does not exist.
    fn describe_domain(&self, domain_id: &str) -> impl Future<Output = Result<Option<Domain>>> + Send;
    /// `ListNotebookInstances`, every page.
    fn list_notebooks(&self) -> impl Future<Output = Result<Vec<NotebookSummary>>> + Send;
    /// `DescribeNotebookInstance`; `None` when it does not exist (yet).
    fn describe_notebook(&self, name: &str) -> impl Future<Output = Result<Option<Notebook>>> + Send;
}

/// The customer managed policy of the opt-in IAM guardrail (IAM).
pub trait Iam: Send + Sync {
    /// `iam:GetPolicy` + `GetPolicyVersion` + `ListPolicyVersions` of the customer managed
    /// policy `arn`; `None` when it does not exist.
    fn managed_policy(&self, arn: &str) -> impl Future<Output = Result<Option<ManagedPolicy>>> + Send;
    /// `iam:CreatePolicy` with `document` as version 1.
    fn create_managed_policy(
        &self,
        path: &str,
        name: &str,
        description: &str,
        document: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// `iam:CreatePolicyVersion` made the default.
    fn create_policy_version(&self, arn: &str, document: &str) -> impl Future<Output = Result<()>> + Send;
    /// `iam:DeletePolicyVersion`.
    fn delete_policy_version(&self, arn: &str, version_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Security Hub findings, for the opt-in findings export.
pub trait Findings: Send + Sync {
    /// Security Hub `GetFindings` with `filters`, every page: the findings as ASFF JSON.
    fn findings(&self, filters: &serde_json::Value) -> impl Future<Output = Result<Vec<serde_json::Value>>> + Send;
    /// Security Hub `BatchImportFindings` of `findings` (ASFF), at most 100 per call; returns
    /// the findings Security Hub refused, each as `id: reason`.
    fn import_findings(&self, findings: &[serde_json::Value]) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// One CloudTrail trail that applies to this Region: its own, a multi-Region trail of another
/// home Region (its shadow), or an organization trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailView {
    /// `TrailARN`.
    pub arn: String,
    /// `HomeRegion`: where its status and selectors are read.
    pub home_region: String,
    /// `IsOrganizationTrail`.
    pub organization: bool,
    /// `GetTrailStatus` `IsLogging`; `None` when this account may not read it (an
    /// organization trail seen from a member account).
    pub logging: Option<bool>,
    /// Whether `GetEventSelectors` shows management write events recorded; `None` as above.
    pub management_writes: Option<bool>,
}

/// The trails that deliver CloudTrail's events to EventBridge (CloudTrail).
pub trait Trails: Send + Sync {
    /// `cloudtrail:DescribeTrails` with shadow trails, then `GetTrailStatus` and
    /// `GetEventSelectors` of each trail in its home Region.
    fn trails(&self) -> impl Future<Output = Result<Vec<TrailView>>> + Send;
}

/// Reads and writes vpce-guard makes; nothing else touches AWS. Errors carry AWS's error
/// code (`Error::Aws`) so that `apply` can tell conflicts from failures. One capability trait
/// per concern, each implemented in its own file by [`crate::aws::SdkAccount`] and the fake
/// account; this trait adds who the account is and what it has called.
pub trait Account: Network + Endpoints + Gateways + Groups + SageMaker + Iam + Findings + Trails {
    /// The region this account object talks to.
    fn region(&self) -> &str;
    /// Our account id and partition (`sts:GetCallerIdentity`), and the region.
    fn identity(&self) -> impl Future<Output = Result<AccountIdentity>> + Send;
    /// `organizations:DescribeOrganization`: the id of the Organization this account is in.
    fn organization_id(&self) -> impl Future<Output = Result<String>> + Send;
    /// Calls made so far by this account object.
    fn api_calls(&self) -> ApiCalls;
}
