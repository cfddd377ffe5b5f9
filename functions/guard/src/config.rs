//! Configuration from the environment (the same names as the template's parameters),
//! validated once at start-up with errors that name the variable and the accepted values.

use crate::error::{Error, Result};

/// Default `VPCE_GUARD_SERVICES`: the two services of the SageMaker guide, API first.
pub const DEFAULT_SERVICES: &str = "com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";

/// Which VPCs vpce-guard looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// VPCs that hold a notebook, a managed endpoint, or tag `vpce-guard:enforce=true`.
    Enrolled,
    /// Every VPC not opted out with `vpce-guard:enforce=false`.
    All,
}

/// Policy for the notebook endpoint (`aws.sagemaker.{region}.notebook`). Never a deny-all:
/// which notebooks a client may open does not follow from where a notebook's interface lives
/// (client VPCs hold none; participants of RAM-shared subnets run their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotebookPolicy {
    /// Presigned URLs for any notebook of this account and region, none of another account.
    AccountNotebooks,
    /// Presigned URLs for notebooks of any account of this AWS Organization.
    OrgNotebooks,
    /// The strict opt-in: only the notebooks in this VPC (the account policy, with a warning,
    /// for a VPC that holds none).
    VpcNotebooks,
    /// Leave the endpoint policy alone.
    None,
}

/// Policy for the API endpoint (`com.amazonaws.{region}.sagemaker.api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiPolicy {
    /// Allow principals of this account only.
    Account,
    /// Allow principals of this AWS Organization.
    Org,
    /// Leave the endpoint policy alone.
    None,
}

/// What to do for a service whose private DNS name a private hosted zone associated with the
/// VPC already serves (centralised endpoints in a hub VPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDnsConflict {
    /// Report the VPC as served centrally and create nothing for that service.
    Report,
    /// Create a local endpoint anyway, without private DNS.
    Create,
}

/// What a VPC gets endpoints for (`VPCE_GUARD_PROFILES`). Each enrolled VPC gets the union of
/// the services of its profiles, the SageMaker API first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// Notebook instances: the SageMaker API and the notebook service (the guide's pair).
    NotebookInstances,
    /// SageMaker Studio domains in VPC-only mode: the API, the runtime, the Studio UI, STS and
    /// CloudWatch Logs (and Service Catalog with `VPCE_GUARD_STUDIO_PROJECTS=true`).
    Studio,
}

impl Profile {
    /// The name used in configuration, tags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::NotebookInstances => "notebook-instances",
            Profile::Studio => "studio",
        }
    }

    /// Parses one profile name.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "notebook-instances" => Some(Profile::NotebookInstances),
            "studio" => Some(Profile::Studio),
            _ => None,
        }
    }
}

/// What a Studio domain in `PublicInternetOnly` mode means for its VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicDomains {
    /// Report the domain and leave its VPC alone (its apps reach AWS over the internet).
    Report,
    /// Enrol its VPC for the studio profile like a VPC-only domain's.
    Enforce,
}

/// Service templates of the studio profile, after the API, in creation order. The Studio UI
/// service keeps the `aws.sagemaker.` prefix, like the notebook service.
pub const STUDIO_SERVICES: [&str; 4] = [
    "com.amazonaws.{region}.sagemaker.runtime",
    "aws.sagemaker.{region}.studio",
    "com.amazonaws.{region}.sts",
    "com.amazonaws.{region}.logs",
];
/// The studio profile's extra service for SageMaker Projects.
pub const SERVICE_CATALOG: &str = "com.amazonaws.{region}.servicecatalog";

/// The validated configuration every entry point shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Service name templates in creation order, with a `{region}` placeholder.
    pub services: Vec<String>,
    /// Which VPCs are in scope.
    pub scope: Scope,
    /// Notebook endpoint policy mode.
    pub notebook_policy: NotebookPolicy,
    /// API endpoint policy mode.
    pub api_policy: ApiPolicy,
    /// Extra sources (IPv4/IPv6 CIDR blocks) allowed to reach the endpoints on 443: the
    /// corporate network over VPN, Direct Connect or a transit gateway.
    pub client_cidrs: Vec<String>,
    /// Managed prefix lists (`pl-…`) allowed to reach the endpoints on 443.
    pub client_prefix_lists: Vec<String>,
    /// Name of the IAM guardrail policy to keep in sync (`None`: off).
    pub iam_guardrail: Option<String>,
    /// What a private hosted zone serving a service's name means.
    pub on_dns_conflict: OnDnsConflict,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Turn on the VPC DNS attributes private DNS needs.
    pub fix_vpc_dns: bool,
    /// Keep one AWS Security Hub finding per non-compliant VPC ([`crate::findings`]).
    pub security_hub: bool,
    /// The profiles vpce-guard serves (`VPCE_GUARD_PROFILES`).
    pub profiles: std::collections::BTreeSet<Profile>,
    /// Whether `VPCE_GUARD_SERVICES` was set: then its list is every enrolled VPC's, whatever
    /// its profiles.
    pub services_overridden: bool,
    /// The studio profile includes Service Catalog (SageMaker Projects).
    pub studio_projects: bool,
    /// What a `PublicInternetOnly` Studio domain means for its VPC.
    pub studio_public_domains: PublicDomains,
    /// Create or extend an S3 gateway endpoint to the route tables of VPC-only domains'
    /// subnets that lack one (else report them).
    pub s3_gateway: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            services: split_services(DEFAULT_SERVICES),
            scope: Scope::Enrolled,
            notebook_policy: NotebookPolicy::AccountNotebooks,
            api_policy: ApiPolicy::Account,
            client_cidrs: Vec::new(),
            client_prefix_lists: Vec::new(),
            iam_guardrail: None,
            on_dns_conflict: OnDnsConflict::Report,
            dry_run: false,
            fix_vpc_dns: true,
            security_hub: false,
            profiles: [Profile::NotebookInstances].into_iter().collect(),
            services_overridden: false,
            studio_projects: false,
            studio_public_domains: PublicDomains::Report,
            s3_gateway: false,
        }
    }
}

fn split_services(text: &str) -> Vec<String> {
    text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl Config {
    /// Reads and validates the `VPCE_GUARD_*` variables of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads and validates configuration through `lookup` (a variable name → its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let defaults = Config::default();
        let read = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Ok(Self {
            services: match read("VPCE_GUARD_SERVICES") {
                Some(text) => parse_services(&text)?,
                None => defaults.services,
            },
            scope: match read("VPCE_GUARD_SCOPE") {
                Some(text) => parse_scope(&text)?,
                None => defaults.scope,
            },
            notebook_policy: match read("VPCE_GUARD_NOTEBOOK_POLICY") {
                Some(text) => parse_notebook_policy(&text)?,
                None => defaults.notebook_policy,
            },
            api_policy: match read("VPCE_GUARD_API_POLICY") {
                Some(text) => parse_api_policy(&text)?,
                None => defaults.api_policy,
            },
            client_cidrs: match read("VPCE_GUARD_CLIENT_CIDRS") {
                Some(text) => parse_client_cidrs(&text)?,
                None => defaults.client_cidrs,
            },
            client_prefix_lists: match read("VPCE_GUARD_CLIENT_PREFIX_LISTS") {
                Some(text) => parse_prefix_lists(&text)?,
                None => defaults.client_prefix_lists,
            },
            iam_guardrail: match read("VPCE_GUARD_IAM_GUARDRAIL") {
                Some(text) => Some(parse_guardrail_name(&text)?),
                None => defaults.iam_guardrail,
            },
            on_dns_conflict: match read("VPCE_GUARD_ON_DNS_CONFLICT") {
                Some(text) => parse_on_dns_conflict(&text)?,
                None => defaults.on_dns_conflict,
            },
            dry_run: match read("VPCE_GUARD_DRY_RUN") {
                Some(text) => parse_bool("VPCE_GUARD_DRY_RUN", &text)?,
                None => defaults.dry_run,
            },
            fix_vpc_dns: match read("VPCE_GUARD_FIX_VPC_DNS") {
                Some(text) => parse_bool("VPCE_GUARD_FIX_VPC_DNS", &text)?,
                None => defaults.fix_vpc_dns,
            },
            security_hub: match read("VPCE_GUARD_SECURITY_HUB") {
                Some(text) => parse_bool("VPCE_GUARD_SECURITY_HUB", &text)?,
                None => defaults.security_hub,
            },
            profiles: match read("VPCE_GUARD_PROFILES") {
                Some(text) => parse_profiles(&text)?,
                None => defaults.profiles,
            },
            services_overridden: read("VPCE_GUARD_SERVICES").is_some(),
            studio_projects: match read("VPCE_GUARD_STUDIO_PROJECTS") {
                Some(text) => parse_bool("VPCE_GUARD_STUDIO_PROJECTS", &text)?,
                None => defaults.studio_projects,
            },
            studio_public_domains: match read("VPCE_GUARD_STUDIO_PUBLIC_DOMAINS") {
                Some(text) => parse_public_domains(&text)?,
                None => defaults.studio_public_domains,
            },
            s3_gateway: match read("VPCE_GUARD_S3_GATEWAY") {
                Some(text) => parse_bool("VPCE_GUARD_S3_GATEWAY", &text)?,
                None => defaults.s3_gateway,
            },
        })
    }

    /// The variable whose value needs the AWS Organization's id, if any (`org-notebooks`, `org`).
    pub fn org_variable(&self) -> Option<&'static str> {
        if self.notebook_policy == NotebookPolicy::OrgNotebooks {
            Some("VPCE_GUARD_NOTEBOOK_POLICY")
        } else if self.api_policy == ApiPolicy::Org {
            Some("VPCE_GUARD_API_POLICY")
        } else {
            None
        }
    }

    /// The sources the managed security group allows on 443 besides the VPC's CIDR blocks.
    pub fn client_sources(&self) -> impl Iterator<Item = &String> {
        self.client_cidrs.iter().chain(&self.client_prefix_lists)
    }

    /// Every service name vpce-guard may manage in `region` (the union of the configured
    /// profiles, or `VPCE_GUARD_SERVICES`), in creation order: what it reads.
    pub fn service_names(&self, region: &str) -> Vec<String> {
        self.services_for(region, &self.profiles)
    }

    /// The service names a VPC enrolled for `profiles` gets in `region`, in creation order: the
    /// SageMaker API first, then each profile's services. `VPCE_GUARD_SERVICES`, when set, is
    /// every VPC's list. The API's template follows the region's partition
    /// (`cn.com.amazonaws.` in China).
    pub fn services_for(&self, region: &str, profiles: &std::collections::BTreeSet<Profile>) -> Vec<String> {
        const API_TEMPLATE: &str = "com.amazonaws.{region}.sagemaker.api";
        let name = |template: &str| match template {
            API_TEMPLATE => api_service(region),
            _ => template.replace("{region}", region),
        };
        if self.services_overridden {
            return self.services.iter().map(|t| name(t)).collect();
        }
        let mut templates: Vec<&str> = vec![API_TEMPLATE];
        for profile in profiles {
            match profile {
                Profile::NotebookInstances => templates.push("aws.sagemaker.{region}.notebook"),
                Profile::Studio => {
                    templates.extend(STUDIO_SERVICES);
                    if self.studio_projects {
                        templates.push(SERVICE_CATALOG);
                    }
                }
            }
        }
        let mut names: Vec<String> = Vec::new();
        for template in templates {
            let service = name(template);
            if !names.contains(&service) {
                names.push(service);
            }
        }
        names
    }
}

/// Amazon S3's endpoint service in `region` (gateway or interface).
pub fn s3_service(region: &str) -> String {
    format!("com.amazonaws.{region}.s3")
}

/// The partition of `region`, as the SDKs derive it from the region's name.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 5] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}

/// The SageMaker API service name in `region`: `cn.com.amazonaws.{region}.sagemaker.api` in
/// `aws-cn` (a describe-vpc-endpoint-services dump of cn-north-1, linked from aws-cdk
/// PR #16139), `com.amazonaws.{region}.sagemaker.api` elsewhere (GovCloud unconfirmed).
pub fn api_service(region: &str) -> String {
    match partition_of(region) {
        "aws-cn" => format!("cn.com.amazonaws.{region}.sagemaker.api"),
        _ => format!("com.amazonaws.{region}.sagemaker.api"),
    }
}

/// The SageMaker notebook service name in `region` (note the `aws.sagemaker` prefix, the same
/// in `aws-cn`).
pub fn notebook_service(region: &str) -> String {
    format!("aws.sagemaker.{region}.notebook")
}

/// True for the SageMaker API service of any region and partition (recognised by suffix).
pub fn is_api_service(name: &str) -> bool {
    name.ends_with(".sagemaker.api")
}

/// True for the SageMaker notebook service of any region and partition.
pub fn is_notebook_service(name: &str) -> bool {
    name.starts_with("aws.sagemaker.") && name.ends_with(".notebook")
}

fn invalid(variable: &'static str, value: &str, expected: impl Into<String>) -> Error {
    Error::Config { variable, value: value.to_string(), expected: expected.into() }
}

/// Parses `VPCE_GUARD_SERVICES`: a comma list of service names, `{region}` allowed.
pub fn parse_services(text: &str) -> Result<Vec<String>> {
    const EXPECTED: &str = "expected a comma-separated list of endpoint service names such as \
        com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";
    let services = split_services(text);
    if services.is_empty() {
        return Err(invalid("VPCE_GUARD_SERVICES", text, EXPECTED));
    }
    for (index, service) in services.iter().enumerate() {
        let well_formed = service.split('.').count() >= 3
            && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.{}".contains(c))
            && service.replace("{region}", "").chars().all(|c| c != '{' && c != '}');
        if !well_formed {
            return Err(invalid("VPCE_GUARD_SERVICES", text, format!("{service:?} is not a service name; {EXPECTED}")));
        }
        if services[..index].contains(service) {
            return Err(invalid("VPCE_GUARD_SERVICES", text, format!("{service:?} is listed twice")));
        }
    }
    Ok(services)
}

/// Parses `VPCE_GUARD_PROFILES`: a comma list of `notebook-instances`, `studio`.
pub fn parse_profiles(text: &str) -> Result<std::collections::BTreeSet<Profile>> {
    const EXPECTED: &str = "expected a comma-separated list of: notebook-instances, studio";
    let mut profiles = std::collections::BTreeSet::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        profiles.insert(Profile::parse(item).ok_or_else(|| invalid("VPCE_GUARD_PROFILES", item, EXPECTED))?);
    }
    if profiles.is_empty() {
        return Err(invalid("VPCE_GUARD_PROFILES", text, EXPECTED));
    }
    Ok(profiles)
}

/// Parses `VPCE_GUARD_STUDIO_PUBLIC_DOMAINS`.
pub fn parse_public_domains(text: &str) -> Result<PublicDomains> {
    match text.to_ascii_lowercase().as_str() {
        "report" => Ok(PublicDomains::Report),
        "enforce" => Ok(PublicDomains::Enforce),
        _ => Err(invalid("VPCE_GUARD_STUDIO_PUBLIC_DOMAINS", text, "expected one of: report, enforce")),
    }
}

/// Parses `VPCE_GUARD_SCOPE`.
pub fn parse_scope(text: &str) -> Result<Scope> {
    match text.to_ascii_lowercase().as_str() {
        "enrolled" => Ok(Scope::Enrolled),
        "all" => Ok(Scope::All),
        _ => Err(invalid("VPCE_GUARD_SCOPE", text, "expected one of: enrolled, all")),
    }
}

/// Parses `VPCE_GUARD_NOTEBOOK_POLICY`.
pub fn parse_notebook_policy(text: &str) -> Result<NotebookPolicy> {
    match text.to_ascii_lowercase().as_str() {
        "account-notebooks" => Ok(NotebookPolicy::AccountNotebooks),
        "org-notebooks" => Ok(NotebookPolicy::OrgNotebooks),
        "vpc-notebooks" => Ok(NotebookPolicy::VpcNotebooks),
        "none" => Ok(NotebookPolicy::None),
        _ => Err(invalid(
            "VPCE_GUARD_NOTEBOOK_POLICY",
            text,
            "expected one of: account-notebooks, org-notebooks, vpc-notebooks, none",
        )),
    }
}

/// Parses `VPCE_GUARD_API_POLICY`.
pub fn parse_api_policy(text: &str) -> Result<ApiPolicy> {
    match text.to_ascii_lowercase().as_str() {
        "account" => Ok(ApiPolicy::Account),
        "org" => Ok(ApiPolicy::Org),
        "none" => Ok(ApiPolicy::None),
        _ => Err(invalid("VPCE_GUARD_API_POLICY", text, "expected one of: account, org, none")),
    }
}

/// Parses `VPCE_GUARD_ON_DNS_CONFLICT`.
pub fn parse_on_dns_conflict(text: &str) -> Result<OnDnsConflict> {
    match text.to_ascii_lowercase().as_str() {
        "report" => Ok(OnDnsConflict::Report),
        "create" => Ok(OnDnsConflict::Create),
        _ => Err(invalid("VPCE_GUARD_ON_DNS_CONFLICT", text, "expected one of: report, create")),
    }
}

/// Parses `VPCE_GUARD_CLIENT_CIDRS`: a comma list of IPv4 or IPv6 CIDR blocks, written in
/// canonical form (no host bits set, as EC2 requires of a security group rule).
pub fn parse_client_cidrs(text: &str) -> Result<Vec<String>> {
    let mut cidrs: Vec<String> = Vec::new();
    for item in split_services(text) {
        let canonical = canonical_cidr(&item).map_err(|why| {
            invalid(
                "VPCE_GUARD_CLIENT_CIDRS",
                text,
                format!("{item:?} {why}; expected CIDR blocks such as 10.20.0.0/16,2001:db8::/32"),
            )
        })?;
        if !cidrs.contains(&canonical) {
            cidrs.push(canonical);
        }
    }
    Ok(cidrs)
}

/// The CIDR block `text` in canonical form, or why it is not one.
fn canonical_cidr(text: &str) -> std::result::Result<String, String> {
    use std::net::IpAddr;
    let (address, length) = text.split_once('/').ok_or("has no /prefix length")?;
    let address: IpAddr = address.parse().map_err(|_| "is not an IP address with a prefix length".to_string())?;
    let length: u8 = length.parse().map_err(|_| "has a prefix length that is not a number".to_string())?;
    let canonical = match address {
        IpAddr::V4(v4) if length <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            std::net::Ipv4Addr::from(u32::from(v4) & mask).to_string()
        }
        IpAddr::V6(v6) if length <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            std::net::Ipv6Addr::from(u128::from(v6) & mask).to_string()
        }
        _ => return Err("has a prefix length out of range".into()),
    };
    if canonical != address.to_string() {
        return Err(format!("has host bits set (the network is {canonical}/{length})"));
    }
    Ok(format!("{canonical}/{length}"))
}

/// Parses `VPCE_GUARD_CLIENT_PREFIX_LISTS`: a comma list of managed prefix list ids.
pub fn parse_prefix_lists(text: &str) -> Result<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for item in split_services(text) {
        let hex = item.strip_prefix("pl-").unwrap_or_default();
        if hex.is_empty() || hex.len() > 17 || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return Err(invalid(
                "VPCE_GUARD_CLIENT_PREFIX_LISTS",
                text,
                format!("{item:?} is not a managed prefix list id; expected ids such as pl-0123456789abcdef0"),
            ));
        }
        if !ids.contains(&item) {
            ids.push(item);
        }
    }
    Ok(ids)
}

/// Parses `VPCE_GUARD_IAM_GUARDRAIL`: an IAM policy name (the region is appended to it).
pub fn parse_guardrail_name(text: &str) -> Result<String> {
    let valid = text.len() <= 100 && text.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !valid {
        return Err(invalid(
            "VPCE_GUARD_IAM_GUARDRAIL",
            text,
            "expected an IAM policy name: up to 100 of A-Z a-z 0-9 + = , . @ _ - (vpce-guard appends -<region>)",
        ));
    }
    Ok(text.to_string())
}

/// Parses a boolean variable: `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(variable: &'static str, text: &str) -> Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(variable, text, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn empty_environment_gives_documented_defaults() {
        let config = from(&[]).unwrap();
        assert_eq!(
            config.service_names("us-west-2"),
            vec!["com.amazonaws.us-west-2.sagemaker.api", "aws.sagemaker.us-west-2.notebook"]
        );
        assert_eq!(config.scope, Scope::Enrolled);
        assert_eq!(config.notebook_policy, NotebookPolicy::AccountNotebooks);
        assert_eq!(config.api_policy, ApiPolicy::Account);
        assert!(config.client_cidrs.is_empty() && config.client_prefix_lists.is_empty());
        assert_eq!(config.iam_guardrail, None);
        assert_eq!(config.on_dns_conflict, OnDnsConflict::Report);
        assert_eq!(config.org_variable(), None);
        assert!(!config.dry_run);
        assert!(config.fix_vpc_dns);
    }

    #[test]
    fn values_are_parsed_case_insensitively() {
        let config = from(&[
            ("VPCE_GUARD_SCOPE", "ALL"),
            ("VPCE_GUARD_NOTEBOOK_POLICY", "account-notebooks"),
            ("VPCE_GUARD_API_POLICY", "none"),
            ("VPCE_GUARD_DRY_RUN", "True"),
            ("VPCE_GUARD_FIX_VPC_DNS", "false"),
            ("VPCE_GUARD_SERVICES", "com.amazonaws.{region}.sagemaker.api, com.amazonaws.{region}.sts"),
        ])
        .unwrap();
        assert_eq!(config.scope, Scope::All);
        assert_eq!(config.notebook_policy, NotebookPolicy::AccountNotebooks);
        assert_eq!(config.api_policy, ApiPolicy::None);
        assert!(config.dry_run && !config.fix_vpc_dns);
        assert_eq!(config.services.len(), 2);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_choices() {
        let cases = [
            ("VPCE_GUARD_SCOPE", "everything", "enrolled, all"),
            ("VPCE_GUARD_NOTEBOOK_POLICY", "vpc", "account-notebooks, org-notebooks, vpc-notebooks, none"),
            ("VPCE_GUARD_API_POLICY", "organization", "account, org, none"),
            ("VPCE_GUARD_ON_DNS_CONFLICT", "ignore", "report, create"),
            ("VPCE_GUARD_CLIENT_CIDRS", "10.0.0.0/8,192.168.1.0", "\"192.168.1.0\" has no /prefix length"),
            ("VPCE_GUARD_CLIENT_CIDRS", "10.1.2.3/16", "host bits set (the network is 10.1.0.0/16)"),
            ("VPCE_GUARD_CLIENT_CIDRS", "10.0.0.0/33", "out of range"),
            ("VPCE_GUARD_CLIENT_CIDRS", "corp/24", "not an IP address"),
            ("VPCE_GUARD_CLIENT_PREFIX_LISTS", "pl-12ab,sg-12ab", "\"sg-12ab\" is not a managed prefix list id"),
            ("VPCE_GUARD_CLIENT_PREFIX_LISTS", "pl-", "not a managed prefix list id"),
            ("VPCE_GUARD_IAM_GUARDRAIL", "deny notebooks", "IAM policy name"),
            ("VPCE_GUARD_DRY_RUN", "maybe", "true or false"),
            ("VPCE_GUARD_FIX_VPC_DNS", "2", "true or false"),
            ("VPCE_GUARD_SERVICES", "sagemaker api", "service name"),
            ("VPCE_GUARD_SERVICES", "a.b.c,a.b.c", "listed twice"),
            ("VPCE_GUARD_SERVICES", "com.amazonaws.{zone}.sagemaker.api", "service name"),
        ];
        for (variable, value, expected) in cases {
            let message = from(&[(variable, value)]).unwrap_err().to_string();
            assert!(message.contains(variable), "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(value), "the message names the bad value: {message}");
        }
    }

    #[test]
    fn default_services_follow_the_partition_and_are_recognised_by_suffix() {
        let cases = [
            ("us-west-2", "aws", "com.amazonaws.us-west-2.sagemaker.api", "aws.sagemaker.us-west-2.notebook"),
            ("cn-north-1", "aws-cn", "cn.com.amazonaws.cn-north-1.sagemaker.api", "aws.sagemaker.cn-north-1.notebook"),
            (
                "us-gov-west-1",
                "aws-us-gov",
                "com.amazonaws.us-gov-west-1.sagemaker.api",
                "aws.sagemaker.us-gov-west-1.notebook",
            ),
        ];
        let config = Config::default();
        for (region, partition, api, notebook) in cases {
            assert_eq!(partition_of(region), partition);
            assert_eq!(config.service_names(region), [api, notebook], "{region}");
            assert!(is_api_service(api) && !is_notebook_service(api), "{api}");
            assert!(is_notebook_service(notebook) && !is_api_service(notebook), "{notebook}");
        }
        assert!(!is_api_service("com.amazonaws.us-west-2.sagemaker.runtime"));
        assert!(!is_notebook_service("aws.sagemaker.us-west-2.studio"));
    }

    #[test]
    fn client_sources_and_guardrail_are_parsed() {
        let config = from(&[
            ("VPCE_GUARD_CLIENT_CIDRS", " 10.20.0.0/16, 2001:db8::/32 ,10.20.0.0/16"),
            ("VPCE_GUARD_CLIENT_PREFIX_LISTS", "pl-0123456789abcdef0"),
            ("VPCE_GUARD_IAM_GUARDRAIL", "notebooks-only-through-vpce"),
            ("VPCE_GUARD_ON_DNS_CONFLICT", "Create"),
            ("VPCE_GUARD_NOTEBOOK_POLICY", "org-notebooks"),
        ])
        .unwrap();
        assert_eq!(config.client_cidrs, ["10.20.0.0/16", "2001:db8::/32"]);
        assert_eq!(config.client_prefix_lists, ["pl-0123456789abcdef0"]);
        assert_eq!(config.client_sources().count(), 3);
        assert_eq!(config.iam_guardrail.as_deref(), Some("notebooks-only-through-vpce"));
        assert_eq!(config.on_dns_conflict, OnDnsConflict::Create);
        assert_eq!(config.org_variable(), Some("VPCE_GUARD_NOTEBOOK_POLICY"));
        let api_org = from(&[("VPCE_GUARD_API_POLICY", "org")]).unwrap();
        assert_eq!(api_org.org_variable(), Some("VPCE_GUARD_API_POLICY"));
    }
}
