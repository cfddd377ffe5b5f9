//! Endpoint service names: the defaults, the studio profile's, and the partition rules that
//! turn a template (`{region}` placeholder) into the name a region's EC2 offers.

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

/// The SageMaker Studio UI service name in `region` (the `aws.sagemaker` prefix, like the
/// notebook service's).
pub fn studio_service(region: &str) -> String {
    format!("aws.sagemaker.{region}.studio")
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
