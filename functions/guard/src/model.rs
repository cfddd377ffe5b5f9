//! Domain types: what vpce-guard observes of an account, free of SDK types so that `plan`
//! stays pure and the fake account can build them directly.

use std::collections::{BTreeMap, BTreeSet};

/// Resource tags as key → value.
pub type Tags = BTreeMap<String, String>;

/// Tag on resources vpce-guard creates.
pub const TAG_MANAGED: &str = "vpce-guard:managed";
/// Tag on a VPC: `true` enrols it, `false` always opts it out.
pub const TAG_ENFORCE: &str = "vpce-guard:enforce";
/// Tag on a subnet: `true` makes it the preferred endpoint subnet of its AZ.
pub const TAG_ENDPOINT_SUBNET: &str = "vpce-guard:endpoint-subnet";
/// Tag on an endpoint: `true` makes vpce-guard leave it alone.
pub const TAG_IGNORE: &str = "vpce-guard:ignore";
/// Tag vpce-guard puts on an endpoint it had to create without private DNS because something
/// else held the name (`conflict`). Each run re-checks it: when nothing visible holds the name
/// any more (no deleting endpoint, no hosted zone), private DNS is turned on again.
pub const TAG_PRIVATE_DNS: &str = "vpce-guard:private-dns";
/// Tag on a VPC: the profiles it is enrolled for (comma list: `notebook-instances`, `studio`),
/// whatever it holds.
pub const TAG_PROFILES: &str = "vpce-guard:profiles";
/// Tag vpce-guard puts on the endpoints (and the managed group) of an idle VPC with
/// `VPCE_GUARD_PRUNE_IDLE_AFTER` set: when it first saw the VPC idle (RFC 3339). The endpoints are
/// deleted once that time plus the setting's duration has passed; the tag is removed when the
/// VPC is enrolled again.
pub const TAG_IDLE_SINCE: &str = "vpce-guard:idle-since";
/// Name of the security group vpce-guard manages in each VPC.
pub const MANAGED_GROUP_NAME: &str = "vpce-guard-endpoints";

/// True when `tags[key]` is `value`, ignoring ASCII case of the value.
pub fn tag_is(tags: &Tags, key: &str, value: &str) -> bool {
    tags.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// Who we are: needed for policies (account id, partition) and to spot shared VPCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIdentity {
    /// 12-digit account id.
    pub account_id: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The region vpce-guard runs in.
    pub region: String,
    /// The AWS Organization's id (`o-…`), read only when a policy mode needs it.
    pub org_id: Option<String>,
}

/// A VPC's two DNS attributes; private DNS needs both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcDns {
    /// `enableDnsSupport`.
    pub support: bool,
    /// `enableDnsHostnames`.
    pub hostnames: bool,
}

/// A VPC as far as vpce-guard cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// The owning account; differs from ours for VPCs shared through RAM.
    pub owner_id: String,
    /// Associated IPv4 CIDR blocks.
    pub ipv4_cidrs: Vec<String>,
    /// Associated IPv6 CIDR blocks.
    pub ipv6_cidrs: Vec<String>,
    /// DNS attributes; `None` until read (they cost two calls, made only for enrolled VPCs).
    pub dns: Option<VpcDns>,
    /// Tags on the VPC.
    pub tags: Tags,
}

/// A subnet of a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Availability Zone name, e.g. `us-west-2a`.
    pub az: String,
    /// Free IPv4 addresses; an endpoint needs at least one.
    pub free_ips: u32,
    /// The owning account; differs from ours for subnets shared with us through RAM.
    pub owner_id: String,
    /// IPv6-only (`Ipv6Native`): it has no IPv4 addresses at all.
    pub ipv6_native: bool,
    /// Tags on the subnet.
    pub tags: Tags,
}

/// The lifecycle state of a VPC endpoint, parsed from EC2's lowercase strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndpointState {
    /// Waiting for the service owner's acceptance.
    PendingAcceptance,
    /// Being created or modified.
    Pending,
    /// Ready; the only state in which it may be modified.
    Available,
    /// Some subnets failed.
    Partial,
    /// Being deleted.
    Deleting,
    /// Deleted (still visible for a while).
    Deleted,
    /// Rejected by the service owner.
    Rejected,
    /// Creation failed.
    Failed,
    /// Acceptance expired.
    Expired,
    /// A state this version does not know.
    Other(String),
}

impl EndpointState {
    /// Parses EC2's state string case-insensitively (the SDK enum cannot: aws-sdk-rust#619).
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "pendingacceptance" => Self::PendingAcceptance,
            "pending" => Self::Pending,
            "available" => Self::Available,
            "partial" => Self::Partial,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => Self::Other(text.to_string()),
        }
    }

    /// EC2's spelling of the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::PendingAcceptance => "pendingAcceptance",
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Partial => "partial",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Other(text) => text,
        }
    }

    /// The endpoint exists and serves (or will): it can be adopted.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::PendingAcceptance | Self::Pending | Self::Available | Self::Partial)
    }

    /// The endpoint is broken and needs a human.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed | Self::Rejected)
    }
}

/// A VPC endpoint of one of the configured services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `vpce-…`.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Service name, e.g. `com.amazonaws.us-west-2.sagemaker.api`.
    pub service: String,
    /// `Interface`, `Gateway`, … as EC2 spells it.
    pub endpoint_type: String,
    /// Lifecycle state.
    pub state: EndpointState,
    /// Subnets it has a network interface in (at most one per AZ).
    pub subnet_ids: Vec<String>,
    /// Security groups on its network interfaces.
    pub group_ids: Vec<String>,
    /// Endpoint policy document as returned by EC2.
    pub policy: Option<String>,
    /// Whether private DNS is enabled.
    pub private_dns: bool,
    /// Tags on the endpoint.
    pub tags: Tags,
}

impl Endpoint {
    /// True for interface endpoints (the only kind vpce-guard manages or adopts).
    pub fn is_interface(&self) -> bool {
        self.endpoint_type.eq_ignore_ascii_case("interface")
    }
}

/// The security group vpce-guard manages in a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Sources allowed to reach TCP 443 by any rule: CIDR blocks (IPv4 and IPv6) and managed
    /// prefix list ids (`pl-…`).
    pub https_sources: BTreeSet<String>,
    /// Those of `https_sources` whose rule vpce-guard added (its description marks them):
    /// the only rules it ever revokes.
    pub managed_sources: BTreeSet<String>,
    /// Tagged `vpce-guard:managed=true` (vpce-guard created it). A group of the managed name
    /// without the tag is someone else's: vpce-guard writes neither its rules nor endpoints
    /// that would use it (the roles may write managed groups only).
    pub managed: bool,
}

/// Description that marks the security group rules vpce-guard adds (and so may revoke).
pub const RULE_DESCRIPTION: &str = "HTTPS to SageMaker endpoints (vpce-guard)";

/// A notebook instance, as far as the endpoint policy and subnet choice need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notebook {
    /// Notebook instance name.
    pub name: String,
    /// Its ARN, as SageMaker returns it.
    pub arn: String,
    /// The subnet it was created in; `None` when it has no VPC configuration.
    pub subnet_id: Option<String>,
    /// `Pending`, `InService`, `Deleting`, …
    pub status: String,
    /// `DirectInternetAccess=Enabled`: the notebook reaches the internet around the VPC.
    pub direct_internet_access: bool,
    /// `CreationTime` (seconds since the epoch): tells a notebook from one deleted and
    /// re-created with the same name (and ARN).
    pub created: Option<i64>,
}

/// A SageMaker Studio domain, as far as its VPC's endpoints need it (`DescribeDomain` is the
/// authority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// `d-…`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The VPC its apps run in.
    pub vpc_id: String,
    /// Its subnets.
    pub subnet_ids: Vec<String>,
    /// `AppNetworkAccessType=VpcOnly`: the apps have no internet path; every AWS service they
    /// call needs an endpoint in the VPC.
    pub vpc_only: bool,
    /// `InService`, `Pending`, `Updating`, `Deleting`, …
    pub status: String,
    /// `LastModifiedTime` (seconds since the epoch): a warm process describes a domain again
    /// only when it changed.
    pub modified: Option<i64>,
}

/// A route table of a VPC, as far as S3 gateway endpoints need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    /// `rtb-…`.
    pub id: String,
    /// Subnets explicitly associated with it.
    pub subnet_ids: Vec<String>,
    /// The VPC's main route table (serves every subnet without an explicit association).
    pub main: bool,
}

/// An Amazon S3 endpoint of a VPC (`com.amazonaws.{region}.s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Endpoint {
    /// `vpce-…`.
    pub id: String,
    /// A gateway endpoint (route tables), not an interface one.
    pub gateway: bool,
    /// Not being deleted, deleted, failed or rejected.
    pub live: bool,
    /// Route tables of a gateway endpoint.
    pub route_table_ids: Vec<String>,
    /// Tagged `vpce-guard:ignore=true`: its routes count, but vpce-guard never modifies it.
    pub ignored: bool,
    /// Tagged `vpce-guard:managed=true` (vpce-guard created it): the only S3 gateway endpoint
    /// it extends unless `VPCE_GUARD_ADOPT_EXISTING=true`.
    pub managed: bool,
    /// Private DNS is on (an interface endpoint): S3's regional names resolve to it.
    pub private_dns: bool,
    /// Its private DNS answers only queries that come through an inbound Resolver endpoint
    /// (`DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint`): inside the VPC, S3's names
    /// resolve to the gateway endpoint instead.
    pub private_dns_inbound_only: bool,
}

impl S3Endpoint {
    /// An S3 interface endpoint that the VPC's clients actually reach S3 through. Without
    /// private DNS, clients would have to use its endpoint-specific names; with private DNS
    /// limited to inbound Resolver endpoints, traffic from inside the VPC goes to the gateway
    /// endpoint (EC2 API reference, `DnsOptions`, `PrivateDnsOnlyForInboundResolverEndpoint`;
    /// Amazon S3 User Guide, "AWS PrivateLink for Amazon S3", private DNS). So only a live
    /// interface endpoint with private DNS for the whole VPC is a route.
    pub fn routes_the_vpc(&self) -> bool {
        self.live && !self.gateway && self.private_dns && !self.private_dns_inbound_only
    }
}

/// What S3 reachability needs of a VPC: its route tables and S3 endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3View {
    /// The VPC's route tables.
    pub route_tables: Vec<RouteTable>,
    /// The VPC's S3 endpoints.
    pub endpoints: Vec<S3Endpoint>,
}

/// A domain as `ListDomains` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSummary {
    /// `d-…`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Status.
    pub status: String,
    /// `LastModifiedTime`.
    pub modified: Option<i64>,
}

/// A Route 53 private hosted zone associated with a VPC, directly or through a Route 53
/// Profile associated with the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedZone {
    /// Zone id.
    pub id: String,
    /// Its domain name, without the trailing dot.
    pub name: String,
    /// The Route 53 Profile (`rp-…`) that associates it with the VPC; `None` for a zone
    /// associated directly (`ListHostedZonesByVPC`).
    pub route53_profile: Option<String>,
}

impl HostedZone {
    /// True when this zone answers for `dns_name` (`*.` ignored): the name is the zone's
    /// domain or below it.
    pub fn serves(&self, dns_name: &str) -> bool {
        let name = dns_name.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase();
        let zone = self.name.trim_end_matches('.').to_ascii_lowercase();
        !zone.is_empty() && (name == zone || name.ends_with(&format!(".{zone}")))
    }
}

/// Facts learned from AWS's answers to writes, carried into the next planning round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Services whose private DNS name is held by something else (e.g. a private hosted zone).
    pub dns_conflicts: BTreeSet<String>,
    /// Endpoint ids a client token handed back although they are gone, and client tokens EC2
    /// refused as a mismatch: they salt new tokens.
    pub stale_endpoint_ids: BTreeSet<String>,
}

/// Everything `plan` needs to know about one VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Our account and region.
    pub identity: AccountIdentity,
    /// The VPC.
    pub vpc: Vpc,
    /// Its subnets.
    pub subnets: Vec<Subnet>,
    /// Endpoints of the configured services in this VPC, in every state.
    pub endpoints: Vec<Endpoint>,
    /// The managed security group, if it exists.
    pub group: Option<SecurityGroup>,
    /// Notebook instances in this VPC's subnets; `None` when not read (subnet events).
    pub notebooks: Option<Vec<Notebook>>,
    /// Studio domains in this VPC; `None` when not read (subnet events, or the studio profile
    /// is off).
    pub domains: Option<Vec<Domain>>,
    /// Route tables and S3 endpoints; `None` until read (only a VPC with a VPC-only Studio
    /// domain needs them).
    pub s3: Option<S3View>,
    /// Supported AZs of each configured service offered in this region.
    pub service_azs: BTreeMap<String, BTreeSet<String>>,
    /// Private DNS name of each configured service that has one (`*.notebook.…` included).
    pub service_dns: BTreeMap<String, String>,
    /// Private hosted zones associated with the VPC, directly or through its Route 53 Profile;
    /// `None` until read (only a plan that would create an endpoint or turn private DNS on
    /// needs them).
    pub hosted_zones: Option<Vec<HostedZone>>,
    /// Why the zones of the VPC's Route 53 Profile could not be read with `hosted_zones` (the
    /// API refused or is not offered in the region): `hosted_zones` then holds only the zones
    /// associated directly, and the plan warns.
    pub route53_profiles_unread: Option<String>,
    /// What earlier rounds learned from AWS.
    pub hints: Hints,
}
