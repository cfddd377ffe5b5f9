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
        config.service_names("us-west-2", &ServiceAzs::new()),
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
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "-0.01", "cannot be negative"),
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "one cent", "at most 6 decimal places"),
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "1e-2", "non-negative decimal"),
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "0.0000001", "at most 6 decimal places"),
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "NaN", "price in US dollars"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "7", "0s, 30m, 12h, 7d"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "1w", "0s, 30m, 12h, 7d"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "-1d", "0s, 30m, 12h, 7d"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "1h30m", "0s, 30m, 12h, 7d"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "99999999999999d", "too long"),
    ];
    for (variable, value, expected) in cases {
        let message = from(&[(variable, value)]).unwrap_err().to_string();
        assert!(message.contains(variable), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(value), "the message names the bad value: {message}");
    }
}

/// The names `DescribeVpcEndpointServices` gives the studio and notebook services in one
/// region of each partition (cn-north-1: EC2's service list there, where most services carry
/// `cn.com.amazonaws.` but the SageMaker UI services keep `aws.sagemaker.`).
fn offered_in(region: &str) -> ServiceAzs {
    let names: Vec<String> = match partition_of(region) {
        "aws-cn" => [
            "cn.com.amazonaws.{r}.sagemaker.api",
            "cn.com.amazonaws.{r}.sagemaker.runtime",
            "aws.sagemaker.{r}.studio",
            "aws.sagemaker.{r}.notebook",
            "cn.com.amazonaws.{r}.sts",
            "cn.com.amazonaws.{r}.logs",
            "com.amazonaws.{r}.s3",
        ]
        .iter()
        .map(|t| t.replace("{r}", region))
        .collect(),
        _ => [
            "com.amazonaws.{r}.sagemaker.api",
            "com.amazonaws.{r}.sagemaker.runtime",
            "aws.sagemaker.{r}.studio",
            "aws.sagemaker.{r}.notebook",
            "com.amazonaws.{r}.sts",
            "com.amazonaws.{r}.logs",
            "com.amazonaws.{r}.s3",
        ]
        .iter()
        .map(|t| t.replace("{r}", region))
        .collect(),
    };
    names.into_iter().map(|n| (n, BTreeSet::from(["a".to_string()]))).collect()
}

#[test]
fn service_names_are_resolved_by_suffix_in_every_partition() {
    let studio = from(&[("VPCE_GUARD_PROFILES", "notebook-instances,studio")]).unwrap();
    let cases = [
        ("us-west-2", "aws", "amazonaws.com", "com.amazonaws.us-west-2.", "aws.sagemaker.us-west-2."),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn", "cn.com.amazonaws.cn-north-1.", "aws.sagemaker.cn-north-1."),
        (
            "us-gov-west-1",
            "aws-us-gov",
            "amazonaws.com",
            "com.amazonaws.us-gov-west-1.",
            "aws.sagemaker.us-gov-west-1.",
        ),
    ];
    for (region, partition, suffix, com, ui) in cases {
        assert_eq!((partition_of(region), dns_suffix(region)), (partition, suffix), "{region}");
        let expected: Vec<String> = [
            format!("{com}sagemaker.api"),
            format!("{ui}notebook"),
            format!("{com}sagemaker.runtime"),
            format!("{ui}studio"),
            format!("{com}sts"),
            format!("{com}logs"),
        ]
        .into();
        assert_eq!(studio.service_names(region, &offered_in(region)), expected, "{region}");
        let [api, notebook] = [&expected[0], &expected[1]];
        assert!(is_api_service(api) && !is_notebook_service(api), "{api}");
        assert!(is_notebook_service(notebook) && !is_api_service(notebook), "{notebook}");
        // One query per template finds it whatever the prefix, and the partition's default name
        // is asked for too (it matches even where a filter took no wildcard).
        let queries = studio.service_queries(region);
        assert!(queries.contains(&format!("*{region}.sts")), "{queries:?}");
        assert!(queries.contains(&api_service(region)), "{queries:?}");
        for name in &expected {
            assert!(queries.iter().any(|q| crate::testing::filter_matches(q, name)), "{name}: {queries:?}");
        }
    }
    // Not offered: the partition's rule names it (and the plan reports it not offered).
    let none = ServiceAzs::new();
    assert_eq!(
        studio.service_names("cn-north-1", &none)[..2],
        ["cn.com.amazonaws.cn-north-1.sagemaker.api", "aws.sagemaker.cn-north-1.notebook"]
    );
    assert_eq!(studio.service_names("cn-north-1", &none)[4], "com.amazonaws.cn-north-1.sts");
    // A look-alike that does not end on a label boundary is not the service.
    let look_alike: ServiceAzs = [("com.amazonaws.xus-west-2.sts".to_string(), BTreeSet::new())].into();
    assert_eq!(
        resolve_service("com.amazonaws.{region}.sts", "us-west-2", look_alike.keys()),
        "com.amazonaws.us-west-2.sts"
    );
    assert!(!is_api_service("com.amazonaws.us-west-2.sagemaker.runtime"));
    assert!(!is_notebook_service("aws.sagemaker.us-west-2.studio"));
    assert!(STUDIO_SERVICES.contains(&STUDIO_TEMPLATE), "studio_service names one of the profile's services");
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

#[test]
fn prices_and_durations_are_read_exactly() {
    let price = |text: &str| from(&[("VPCE_GUARD_ENDPOINT_HOURLY_USD", text)]).unwrap().endpoint_hourly_micro_usd;
    assert_eq!(from(&[]).unwrap().endpoint_hourly_micro_usd, 10_000, "0.01 by default");
    assert_eq!(price("0.013"), 13_000);
    assert_eq!(price("1"), 1_000_000);
    assert_eq!(price("0"), 0);
    assert_eq!(price("0.000001"), 1);
    let after = |text: &str| from(&[("VPCE_GUARD_PRUNE_IDLE_AFTER", text)]).unwrap().prune_idle_after;
    assert_eq!(from(&[]).unwrap().prune_idle_after, None, "off by default");
    assert_eq!(after(""), None);
    assert_eq!(after("0s"), Some(0));
    assert_eq!(after("30m"), Some(1_800));
    assert_eq!(after("12h"), Some(43_200));
    assert_eq!(after("7d"), Some(604_800));
}
