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
