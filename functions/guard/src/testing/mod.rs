//! Builders for observations, shared by the table tests, the property tests and the fake
//! account's scenarios. Not used by the functions themselves.

pub mod iam;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{api_service, notebook_service};
use crate::model::{AccountIdentity, Endpoint, EndpointState, Hints, Notebook, Observation, Subnet, Tags, Vpc, VpcDns};

/// The account every builder uses.
pub const ACCOUNT: &str = "123456789012";
/// The AWS Organization the test account belongs to.
pub const ORG: &str = "o-a1b2c3d4e5";
/// The region every builder uses.
pub const REGION: &str = "us-west-2";

/// Our identity in the test account.
pub fn identity() -> AccountIdentity {
    AccountIdentity {
        account_id: ACCOUNT.into(),
        partition: "aws".into(),
        region: REGION.into(),
        org_id: Some(ORG.into()),
    }
}

/// Tags from pairs.
pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A subnet with 250 free addresses.
pub fn subnet(id: &str, vpc_id: &str, az: &str) -> Subnet {
    Subnet {
        id: id.into(),
        vpc_id: vpc_id.into(),
        az: az.into(),
        free_ips: 250,
        owner_id: ACCOUNT.into(),
        ipv6_native: false,
        tags: Tags::new(),
    }
}

/// An available interface endpoint.
pub fn endpoint(id: &str, vpc_id: &str, service: &str, subnet_ids: &[&str]) -> Endpoint {
    Endpoint {
        id: id.into(),
        vpc_id: vpc_id.into(),
        service: service.into(),
        endpoint_type: "Interface".into(),
        state: EndpointState::Available,
        subnet_ids: subnet_ids.iter().map(|s| s.to_string()).collect(),
        group_ids: Vec::new(),
        policy: None,
        private_dns: false,
        tags: Tags::new(),
    }
}

/// A notebook in `subnet_id`.
pub fn notebook(name: &str, subnet_id: &str) -> Notebook {
    Notebook {
        name: name.into(),
        arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{name}"),
        subnet_id: Some(subnet_id.into()),
        status: "InService".into(),
        direct_internet_access: false,
        created: Some(1_700_000_000),
    }
}

/// Both SageMaker services, supported in `azs`.
pub fn service_azs(azs: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let set: BTreeSet<String> = azs.iter().map(|s| s.to_string()).collect();
    BTreeMap::from([(api_service(REGION), set.clone()), (notebook_service(REGION), set)])
}

/// The private DNS names of both SageMaker services, as `DescribeVpcEndpointServices` gives them.
pub fn service_dns() -> BTreeMap<String, String> {
    BTreeMap::from([
        (api_service(REGION), format!("api.sagemaker.{REGION}.amazonaws.com")),
        (notebook_service(REGION), format!("*.notebook.{REGION}.sagemaker.aws")),
    ])
}

/// The studio profile's services besides the API (Service Catalog included), each with its
/// private DNS name as `DescribeVpcEndpointServices` gives it in us-west-2.
pub fn studio_services() -> Vec<(String, String)> {
    [
        ("com.amazonaws.{r}.sagemaker.runtime", "runtime.sagemaker.{r}.amazonaws.com"),
        ("aws.sagemaker.{r}.studio", "*.studio.{r}.sagemaker.aws"),
        ("com.amazonaws.{r}.sts", "sts.{r}.amazonaws.com"),
        ("com.amazonaws.{r}.logs", "logs.{r}.amazonaws.com"),
        ("com.amazonaws.{r}.servicecatalog", "servicecatalog.{r}.amazonaws.com"),
    ]
    .into_iter()
    .map(|(name, dns)| (name.replace("{r}", REGION), dns.replace("{r}", REGION)))
    .collect()
}

/// The SageMaker and studio services as `DescribeVpcEndpointServices` names them in `region`,
/// with their private DNS names. In China (`aws-cn`, EC2's service list of cn-north-1) the
/// services of the `com.amazonaws.` family are `cn.com.amazonaws.{region}.…` and their names
/// end in `amazonaws.com.cn`; the SageMaker UI services keep `aws.sagemaker.{region}.…`.
pub fn offered_services(region: &str) -> Vec<(String, String)> {
    let china = crate::config::partition_of(region) == "aws-cn";
    let suffix = crate::config::dns_suffix(region);
    let com = if china { "cn.com.amazonaws" } else { "com.amazonaws" };
    [
        ("{com}.{r}.sagemaker.api", "api.sagemaker.{r}.{suffix}"),
        ("aws.sagemaker.{r}.notebook", "*.notebook.{r}.sagemaker.aws"),
        ("{com}.{r}.sagemaker.runtime", "runtime.sagemaker.{r}.{suffix}"),
        ("aws.sagemaker.{r}.studio", "*.studio.{r}.sagemaker.aws"),
        ("{com}.{r}.sts", "sts.{r}.{suffix}"),
        ("{com}.{r}.logs", "logs.{r}.{suffix}"),
        ("{com}.{r}.servicecatalog", "servicecatalog.{r}.{suffix}"),
    ]
    .into_iter()
    .map(|(name, dns)| {
        let fill = |t: &str| t.replace("{com}", com).replace("{r}", region).replace("{suffix}", suffix);
        (fill(name), fill(dns))
    })
    .collect()
}

/// VPC `vpc-1` (10.0.0.0/16, DNS on) with `per_az` subnets in each of `azs`, one notebook in
/// the first subnet, no endpoints, no managed group and no private hosted zone (read).
pub fn observation(azs: &[&str], per_az: usize) -> Observation {
    let vpc_id = "vpc-1";
    let mut subnets = Vec::new();
    for (a, az) in azs.iter().enumerate() {
        for n in 0..per_az {
            subnets.push(subnet(&format!("subnet-{a}{n}"), vpc_id, az));
        }
    }
    let notebooks = subnets.first().map(|s| vec![notebook("nb-1", &s.id)]).unwrap_or_default();
    Observation {
        identity: identity(),
        vpc: Vpc {
            id: vpc_id.into(),
            owner_id: ACCOUNT.into(),
            ipv4_cidrs: vec!["10.0.0.0/16".into()],
            ipv6_cidrs: Vec::new(),
            dns: Some(VpcDns { support: true, hostnames: true }),
            tags: Tags::new(),
        },
        subnets,
        endpoints: Vec::new(),
        group: None,
        notebooks: Some(notebooks),
        domains: None,
        s3: None,
        service_azs: service_azs(&["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]),
        service_dns: service_dns(),
        hosted_zones: Some(Vec::new()),
        route53_profiles_unread: None,
        hints: Hints::default(),
    }
}

/// A request by a role of `owner` (in Organization `org`, if any) to open its notebook `name`
/// in this region, with the context keys the endpoint policies look at.
pub fn open_notebook_request(owner: &str, org: Option<&str>, name: &str) -> iam::Request {
    let arn = format!("arn:aws:sagemaker:{REGION}:{owner}:notebook-instance/{name}");
    let request = iam::Request::new(
        &format!("arn:aws:iam::{owner}:role/DataScientist"),
        "sagemaker:CreatePresignedNotebookInstanceUrl",
        &arn,
    )
    .with("aws:PrincipalAccount", owner)
    .with("aws:ResourceAccount", owner);
    match org {
        Some(org) => request.with("aws:PrincipalOrgID", org).with("aws:ResourceOrgID", org),
        None => request,
    }
}

/// An EC2 filter value against a resource's value: `*` matches any characters, `?` one
/// (EC2 User Guide, "List and filter your resources"; values are case-sensitive).
pub fn filter_matches(pattern: &str, value: &str) -> bool {
    fn matches(p: &[char], v: &[char]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], v) || (!v.is_empty() && matches(p, &v[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &v[1..]),
            _ => false,
        }
    }
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    matches(&p, &v)
}

/// A request of a Studio user (a role of this account) to the Studio app of `user` in domain
/// `domain`, made through endpoint `through` (`None`: from the internet or the console).
///
/// It is `sagemaker:CreatePresignedDomainUrl` on the user profile both when the URL is asked
/// for (through the SageMaker API endpoint) and for every request the browser then sends to the
/// app: "IAM authorization policies for this API are also enforced for every HTTP request and
/// WebSocket frame that attempts to connect to the app"
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePresignedDomainUrl.html>).
/// The browser's requests go through the Studio endpoint (`aws.sagemaker.{region}.studio`), so
/// they carry *its* id as `aws:SourceVpce`, which is why the example policy of "Connect to
/// Studio through an interface VPC endpoint" lists the API and the Studio endpoints
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/studio-interface-endpoint.html>);
/// `aws:SourceVpce` is the id of the endpoint a request came through
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcevpce>).
pub fn open_studio_request(domain: &str, user: &str, through: Option<&str>) -> iam::Request {
    let request = iam::Request::new(
        &format!("arn:aws:iam::{ACCOUNT}:role/StudioUser"),
        "sagemaker:CreatePresignedDomainUrl",
        &format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:user-profile/{domain}/{user}"),
    )
    .with("aws:PrincipalAccount", ACCOUNT);
    match through {
        Some(endpoint_id) => request.with("aws:SourceVpce", endpoint_id),
        None => request,
    }
}
