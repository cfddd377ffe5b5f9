//! Endpoint service names: the defaults, the studio profile's, and the partition rules that
//! turn a template (`{region}` placeholder) into the name a region's EC2 offers.

/// The endpoint services a region offers, by name, with the AZs each is offered in.
pub type ServiceAzs = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// Default `VPCE_GUARD_SERVICES`: the two services of the SageMaker guide, API first.
pub const DEFAULT_SERVICES: &str = "com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";

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

/// Amazon S3's endpoint service in `region` (gateway or interface).
pub fn s3_service(region: &str) -> String {
    format!("com.amazonaws.{region}.s3")
}

/// The partition of `region`, as the SDKs derive it from the region's name. The one place
/// vpce-guard decides a partition: ARNs, endpoint hosts and service names all follow it.
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

/// The DNS suffix of `region`'s partition (`amazonaws.com.cn` in China: "Amazon Web Services
/// in China" endpoints; the others as the SDKs' partition table has them).
pub fn dns_suffix(region: &str) -> &'static str {
    match partition_of(region) {
        "aws-cn" => "amazonaws.com.cn",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        "aws-eusc" => "amazonaws.eu",
        _ => "amazonaws.com",
    }
}

/// The SageMaker API service name in `region` by its partition's rule:
/// `cn.com.amazonaws.{region}.sagemaker.api` in `aws-cn` (a describe-vpc-endpoint-services
/// dump of cn-north-1, linked from aws-cdk PR #16139), `com.amazonaws.{region}.sagemaker.api`
/// elsewhere. The names vpce-guard writes come from [`resolve_service`]; this is its fallback.
pub fn api_service(region: &str) -> String {
    default_service_name(API_TEMPLATE, region)
}

/// The SageMaker API's template.
pub(crate) const API_TEMPLATE: &str = "com.amazonaws.{region}.sagemaker.api";
/// The SageMaker notebook service's template.
pub(crate) const NOTEBOOK_TEMPLATE: &str = "aws.sagemaker.{region}.notebook";
/// The SageMaker Studio UI service's template (one of [`STUDIO_SERVICES`]).
pub(crate) const STUDIO_TEMPLATE: &str = "aws.sagemaker.{region}.studio";

/// `template`'s name in `region` when `DescribeVpcEndpointServices` does not say otherwise:
/// `{region}` filled in, and for the SageMaker API the China prefix.
pub fn default_service_name(template: &str, region: &str) -> String {
    match (template, partition_of(region)) {
        (API_TEMPLATE, "aws-cn") => format!("cn.{}", template.replace("{region}", region)),
        _ => template.replace("{region}", region),
    }
}

/// A `service-name` filter value that finds `template`'s service in `region` whatever the
/// prefix its partition gives it: a wildcard, then the template from `{region}` on
/// (`*us-west-2.sts` for `com.amazonaws.{region}.sts`; `cn.com.amazonaws.cn-north-1.sts` in
/// China, EC2's service list of cn-north-1). EC2's filters take `*` as any characters (EC2 User
/// Guide, "List and filter your resources", filter values). A template without `{region}` is
/// its own name.
pub fn service_pattern(template: &str, region: &str) -> String {
    match template.find("{region}") {
        Some(at) => format!("*{}", template[at..].replace("{region}", region)),
        None => template.to_string(),
    }
}

/// The name `template` has in `region`, among the names the region `offered` (as
/// `DescribeVpcEndpointServices` answered [`service_pattern`] and [`default_service_name`]):
/// the default name when it is offered, else the offered name that ends like the template
/// (by suffix, after the prefix), else the default name (then reported as not offered).
pub fn resolve_service<'a>(template: &str, region: &str, offered: impl IntoIterator<Item = &'a String>) -> String {
    let default = default_service_name(template, region);
    let pattern = service_pattern(template, region);
    let suffix = pattern.trim_start_matches('*');
    let mut by_suffix = None;
    for name in offered {
        if *name == default {
            return default;
        }
        if pattern.starts_with('*') && name.ends_with(suffix) && name.len() > suffix.len() {
            let prefix_ends_a_label = name[..name.len() - suffix.len()].ends_with('.');
            if prefix_ends_a_label && by_suffix.is_none_or(|found: &String| name < found) {
                by_suffix = Some(name);
            }
        }
    }
    by_suffix.cloned().unwrap_or(default)
}

/// The SageMaker notebook service name in `region` (note the `aws.sagemaker` prefix, the same
/// in `aws-cn`).
pub fn notebook_service(region: &str) -> String {
    default_service_name(NOTEBOOK_TEMPLATE, region)
}

/// The SageMaker Studio UI service name in `region` (the `aws.sagemaker` prefix, like the
/// notebook service's).
pub fn studio_service(region: &str) -> String {
    default_service_name(STUDIO_TEMPLATE, region)
}

/// True for the SageMaker API service of any region and partition (recognised by suffix).
pub fn is_api_service(name: &str) -> bool {
    name.ends_with(".sagemaker.api")
}

/// True for the SageMaker notebook service of any region and partition.
pub fn is_notebook_service(name: &str) -> bool {
    name.starts_with("aws.sagemaker.") && name.ends_with(".notebook")
}

/// True for the SageMaker Studio UI service of any region and partition.
pub fn is_studio_service(name: &str) -> bool {
    name.starts_with("aws.sagemaker.") && name.ends_with(".studio")
}
