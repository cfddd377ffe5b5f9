//! Endpoint policy documents: built as JSON values (never by string formatting, so names
//! cannot inject anything) and compared semantically after normalisation.

use serde_json::{json, Map, Value};

use crate::model::{AccountIdentity, Notebook};

/// EC2's hard limit on an endpoint policy's length, in characters.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// The action a notebook endpoint policy governs: opening a notebook through a presigned URL.
pub const PRESIGNED_URL_ACTION: &str = "sagemaker:CreatePresignedNotebookInstanceUrl";
/// The action that opens Studio for a user profile (studio profile).
pub const PRESIGNED_DOMAIN_URL_ACTION: &str = "sagemaker:CreatePresignedDomainUrl";

/// Every Studio user profile of this account and region: the resource of
/// `CreatePresignedDomainUrl` (service authorization reference for SageMaker, resource type
/// `user-profile`: `arn:${Partition}:sagemaker:${Region}:${Account}:user-profile/${DomainId}/${UserProfileName}`).
pub fn account_user_profiles_arn(identity: &AccountIdentity) -> String {
    let AccountIdentity { partition, region, account_id, .. } = identity;
    format!("arn:{partition}:sagemaker:{region}:{account_id}:user-profile/*/*")
}

/// The policy for the notebook endpoint allowing presigned URLs for `arns` only (never
/// called with none: a VPC without notebooks gets [`account_notebooks_policy`]).
pub fn notebook_arns_policy(arns: &[String]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PresignedUrlsForNotebooksInThisVpc",
            "Effect": "Allow",
            "Principal": "*",
            "Action": PRESIGNED_URL_ACTION,
            "Resource": arns
        }]
    })
}

/// The account-wide notebook ARN pattern, `notebook-instance/*` of this account and region.
pub fn account_notebooks_arn(identity: &AccountIdentity) -> String {
    format!("arn:{}:sagemaker:{}:{}:notebook-instance/*", identity.partition, identity.region, identity.account_id)
}

/// `account-notebooks`: presigned URLs for any notebook of this account and region, and for
/// nothing of another account (the exfiltration guard).
pub fn account_notebooks_policy(identity: &AccountIdentity) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PresignedUrlsForNotebooksOfThisAccount",
            "Effect": "Allow",
            "Principal": "*",
            "Action": PRESIGNED_URL_ACTION,
            "Resource": account_notebooks_arn(identity)
        }]
    })
}

/// `org-notebooks`: presigned URLs for notebooks (of this region) owned by any account of the
/// Organization `org_id`, through `aws:ResourceOrgID` (the owning account's Organization).
pub fn org_notebooks_policy(identity: &AccountIdentity, org_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PresignedUrlsForNotebooksOfThisOrganization",
            "Effect": "Allow",
            "Principal": "*",
            "Action": PRESIGNED_URL_ACTION,
            "Resource": format!("arn:{}:sagemaker:{}:*:notebook-instance/*", identity.partition, identity.region),
            "Condition": {"StringEquals": {"aws:ResourceOrgID": org_id}}
        }]
    })
}

/// Why `vpc-notebooks` gave the account policy instead of the VPC's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcPolicyFallback {
    /// The VPC holds no notebook (a client VPC): a list would deny every browser in it.
    NoNotebook,
    /// The ARNs exceed EC2's policy length limit.
    TooLong,
}

/// `vpc-notebooks`: the notebook endpoint's policy for `notebooks` in the VPC, falling back to
/// the account policy when the VPC holds none or the list would exceed EC2's limit.
pub fn vpc_notebooks_policy(notebooks: &[Notebook], identity: &AccountIdentity) -> (Value, Option<VpcPolicyFallback>) {
    let mut arns: Vec<String> = notebooks.iter().map(|n| n.arn.clone()).collect();
    arns.sort();
    arns.dedup();
    if arns.is_empty() {
        return (account_notebooks_policy(identity), Some(VpcPolicyFallback::NoNotebook));
    }
    let policy = notebook_arns_policy(&arns);
    if policy.to_string().chars().count() <= MAX_POLICY_CHARS {
        (policy, None)
    } else {
        (account_notebooks_policy(identity), Some(VpcPolicyFallback::TooLong))
    }
}

/// AWS's default endpoint policy (full access), what an endpoint has when none is set.
pub fn full_access_policy() -> Value {
    json!({
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
    })
}

/// The API endpoint's policy: any action, by principals of this account only.
pub fn account_api_policy(identity: &AccountIdentity) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PrincipalsOfThisAccountOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": identity.account_id}}
        }]
    })
}

/// The API endpoint's policy under `org`: any action, by principals of the Organization.
pub fn org_api_policy(org_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PrincipalsOfThisOrganizationOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}
        }]
    })
}

/// IAM's limit on a customer managed policy document, in characters other than whitespace.
pub const MAX_IAM_POLICY_CHARS: usize = 6_144;

/// A policy's size as IAM counts it (whitespace does not count).
pub fn iam_policy_size(policy: &Value) -> usize {
    policy.to_string().chars().filter(|c| !c.is_whitespace()).count()
}

/// How the guardrail ties presigned URLs to the network path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailScope {
    /// Only through the listed endpoints (`aws:SourceVpce`).
    Endpoints,
    /// The endpoint list would exceed IAM's size limit, or a door has no endpoint yet: through
    /// any VPC endpoint (`aws:SourceVpce` present), which still closes the internet door.
    AnyEndpoint,
}

/// What the IAM policies admit, per door: endpoint ids (`aws:SourceVpce`) or VPC ids
/// (`aws:SourceVpc`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSources {
    /// Notebooks (`CreatePresignedNotebookInstanceUrl`): the SageMaker API endpoints (the URL
    /// is asked for there) and the notebook endpoints (every request to the notebook is
    /// authorised again there), as the SageMaker guide's example lists them.
    pub notebooks: Vec<String>,
    /// Studio (`CreatePresignedDomainUrl`), when the studio profile is on: the SageMaker API
    /// endpoints (the URL is asked for there) and the Studio endpoints, through which the
    /// browser's every HTTP request and WebSocket frame to the app goes and is authorised
    /// again as this action (SageMaker API reference, `CreatePresignedDomainUrl`:
    /// <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePresignedDomainUrl.html>;
    /// the example policy of "Connect to Studio through an interface VPC endpoint" lists both:
    /// <https://docs.aws.amazon.com/sagemaker/latest/dg/studio-interface-endpoint.html>).
    pub studio: Option<Vec<String>>,
    /// Endpoint ids admitted for every door besides these (`VPCE_GUARD_GUARDRAIL_SOURCE_VPCES`):
    /// a central (hub) account's endpoints that serve this account's VPCs, whose ids the
    /// requests from those VPCs carry as `aws:SourceVpce` (IAM User Guide, global condition
    /// keys: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcevpce>).
    pub configured: Vec<String>,
}

impl AccessSources {
    /// Every value, sorted, once.
    pub fn all(&self) -> Vec<String> {
        let studio = self.studio.iter().flatten();
        sorted(self.notebooks.iter().chain(studio).chain(&self.configured).cloned().collect())
    }
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    values
}

/// The IAM guardrail: denies `CreatePresignedNotebookInstanceUrl` on this account's notebooks
/// in this region (and with it every request to the notebook, which IAM authorises the same
/// way) unless it arrives through one of `sources.notebooks`, and with the studio profile
/// `CreatePresignedDomainUrl` on this account's user profiles unless it arrives through one of
/// `sources.studio`; either also through one of `sources.configured`. Falls back to "through
/// some VPC endpoint" when the lists would exceed IAM's 6,144-character limit or a door has none.
pub fn guardrail_policy(sources: &AccessSources, identity: &AccountIdentity) -> (Value, GuardrailScope) {
    let with_configured = |ids: &Vec<String>| sorted(ids.iter().chain(&sources.configured).cloned().collect());
    let notebooks = with_configured(&sources.notebooks);
    let studio = sources.studio.as_ref().map(with_configured);
    let not_through = |ids: &Vec<String>| json!({"StringNotEquals": {"aws:SourceVpce": ids}});
    let document = |notebooks: Value, studio: Option<Value>| {
        // This region's notebooks (and Studio user profiles) only, so that each region's
        // guardrail can be attached to the same principal without denying the other regions'.
        let mut statements = vec![json!({
            "Sid": "NotebooksOnlyThroughThisAccountsVpcEndpoints",
            "Effect": "Deny",
            "Action": PRESIGNED_URL_ACTION,
            "Resource": account_notebooks_arn(identity),
            "Condition": notebooks
        })];
        if let Some(condition) = studio {
            statements.push(json!({
                "Sid": "StudioOnlyThroughThisAccountsVpcEndpoints",
                "Effect": "Deny",
                "Action": PRESIGNED_DOMAIN_URL_ACTION,
                "Resource": account_user_profiles_arn(identity),
                "Condition": condition
            }));
        }
        json!({"Version": "2012-10-17", "Statement": statements})
    };
    if !notebooks.is_empty() && studio.as_ref().is_none_or(|ids| !ids.is_empty()) {
        let listed = document(not_through(&notebooks), studio.as_ref().map(not_through));
        if iam_policy_size(&listed) <= MAX_IAM_POLICY_CHARS {
            return (listed, GuardrailScope::Endpoints);
        }
    }
    let any_endpoint = json!({"Null": {"aws:SourceVpce": "true"}});
    (document(any_endpoint.clone(), studio.map(|_| any_endpoint)), GuardrailScope::AnyEndpoint)
}

/// The condition key an allow-style IAM policy ties access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKey {
    /// `aws:SourceVpce`: calls must come through these endpoints.
    SourceVpce,
    /// `aws:SourceVpc`: calls must come from these VPCs (through their endpoints).
    SourceVpc,
}

impl AccessKey {
    /// The condition key's name.
    pub fn name(self) -> &'static str {
        match self {
            AccessKey::SourceVpce => "aws:SourceVpce",
            AccessKey::SourceVpc => "aws:SourceVpc",
        }
    }
}

/// The identity policy of the SageMaker guide that allows opening notebooks
/// (`CreatePresignedNotebookInstanceUrl`, `DescribeNotebookInstance`) only through
/// `sources.notebooks`, and with the studio profile Studio (`CreatePresignedDomainUrl`) only
/// through `sources.studio`, and both through the endpoints of `sources.configured` (by
/// `aws:SourceVpce` whatever `key`), ready to attach to users or roles. A door with nothing to
/// admit gets no statement.
pub fn notebook_access_policy(key: AccessKey, sources: &AccessSources) -> Value {
    let allow = |sid: &str, actions: &[&str], key: AccessKey, values: &[String]| {
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
            "Condition": {"StringEquals": {key.name(): sorted(values.to_vec())}}
        })
    };
    let mut notebook_actions = vec![PRESIGNED_URL_ACTION, "sagemaker:DescribeNotebookInstance"];
    let mut statements = Vec::new();
    if !sources.notebooks.is_empty() {
        let sid = "EnableNotebookAccessOnlyThroughVpcEndpoints";
        statements.push(allow(sid, &notebook_actions, key, &sources.notebooks));
    }
    if let Some(studio) = sources.studio.as_ref().filter(|ids| !ids.is_empty()) {
        let sid = "EnableStudioAccessOnlyThroughVpcEndpoints";
        statements.push(allow(sid, &[PRESIGNED_DOMAIN_URL_ACTION], key, studio));
    }
    if !sources.configured.is_empty() {
        if sources.studio.is_some() {
            notebook_actions.push(PRESIGNED_DOMAIN_URL_ACTION);
        }
        let sid = "EnableAccessThroughConfiguredVpcEndpoints";
        statements.push(allow(sid, &notebook_actions, AccessKey::SourceVpce, &sources.configured));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// True when the policy text `current` grants the same as `wanted`: statement order, `Sid`s,
/// single values vs lists, action case and whitespace do not count. Unparsable text differs.
pub fn same_policy(current: Option<&str>, wanted: &Value) -> bool {
    match current.and_then(|text| serde_json::from_str::<Value>(text).ok()) {
        Some(current) => normalise(&current) == normalise(wanted),
        None => false,
    }
}

/// A canonical form of a policy document for comparison.
pub fn normalise(policy: &Value) -> Value {
    let version = policy.get("Version").and_then(Value::as_str).unwrap_or("2008-10-17");
    let mut statements: Vec<Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().map(normalise_statement).collect(),
        Some(single) => vec![normalise_statement(single)],
        None => Vec::new(),
    };
    statements.sort_by_key(|s| s.to_string());
    statements.dedup();
    json!({"Version": version, "Statement": statements})
}

fn normalise_statement(statement: &Value) -> Value {
    let mut out = Map::new();
    let Some(fields) = statement.as_object() else {
        return statement.clone();
    };
    for (key, value) in fields {
        let normalised = match key.as_str() {
            "Sid" => continue,
            "Action" | "NotAction" => string_set(value, true),
            "Resource" | "NotResource" => string_set(value, false),
            "Principal" | "NotPrincipal" => normalise_principal(value),
            "Condition" => normalise_condition(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), normalised);
    }
    Value::Object(out)
}

fn string_set(value: &Value, lowercase: bool) -> Value {
    let mut items: Vec<String> = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
        }
        other => vec![other.to_string()],
    };
    if lowercase {
        items.iter_mut().for_each(|s| *s = s.to_ascii_lowercase());
    }
    items.sort();
    items.dedup();
    Value::from(items)
}

fn normalise_principal(value: &Value) -> Value {
    match value {
        Value::String(s) if s == "*" => json!({"AWS": ["*"]}),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), string_set(v, false))).collect()),
        other => other.clone(),
    }
}

fn normalise_condition(value: &Value) -> Value {
    let Some(operators) = value.as_object() else {
        return value.clone();
    };
    let normalised = operators.iter().map(|(operator, keys)| {
        let keys = match keys.as_object() {
            Some(keys) => Value::Object(
                keys.iter().map(|(key, values)| (key.to_ascii_lowercase(), string_set(values, false))).collect(),
            ),
            None => keys.clone(),
        };
        (operator.clone(), keys)
    });
    Value::Object(normalised.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> AccountIdentity {
        AccountIdentity {
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "us-west-2".into(),
            org_id: None,
        }
    }

    fn notebook(name: &str) -> Notebook {
        Notebook {
            name: name.into(),
            arn: format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{name}"),
            subnet_id: Some("subnet-1".into()),
            status: "InService".into(),
            direct_internet_access: false,
            created: None,
        }
    }

    #[test]
    fn the_studio_guardrail_denies_presigned_domain_urls_not_made_through_the_endpoints() {
        use crate::testing::iam::{evaluate, Decision, Request};
        let open_studio = |vpce: Option<&str>| {
            let request = Request::new(
                "arn:aws:iam::123456789012:role/DataScientist",
                PRESIGNED_DOMAIN_URL_ACTION,
                "arn:aws:sagemaker:us-west-2:123456789012:user-profile/d-0a1b2c3d4e5f/alice",
            );
            match vpce {
                Some(id) => request.with("aws:SourceVpce", id),
                None => request,
            }
        };
        let ids = vec!["vpce-0aaaaaaaaaaaaaaaa".to_string()];
        let sources = AccessSources { notebooks: ids.clone(), studio: Some(ids.clone()), configured: Vec::new() };
        let (with_studio, _) = guardrail_policy(&sources, &identity());
        assert_eq!(evaluate(&with_studio, &open_studio(None)), Decision::ExplicitDeny);
        assert_eq!(evaluate(&with_studio, &open_studio(Some("vpce-0bbbbbbbbbbbbbbbb"))), Decision::ExplicitDeny);
        assert_ne!(evaluate(&with_studio, &open_studio(Some(&ids[0]))), Decision::ExplicitDeny);
        let (without, _) = guardrail_policy(&AccessSources { studio: None, ..sources.clone() }, &identity());
        assert_ne!(
            evaluate(&without, &open_studio(None)),
            Decision::ExplicitDeny,
            "no studio profile, no studio statement"
        );

        let allow = notebook_access_policy(AccessKey::SourceVpce, &sources);
        assert_eq!(evaluate(&allow, &open_studio(Some(&ids[0]))), Decision::Allow);
        assert_ne!(evaluate(&allow, &open_studio(None)), Decision::Allow);
    }

    #[test]
    fn reformatted_and_reordered_policy_is_the_same() {
        let wanted = notebook_arns_policy(&["arn:b".into(), "arn:a".into()]);
        let text = r#"{ "Statement": { "Resource": ["arn:a", "arn:b", "arn:a"], "Principal": {"AWS": "*"},
            "Action": ["SageMaker:CreatePresignedNotebookInstanceUrl"], "Effect": "Allow" },
            "Version": "2012-10-17" }"#;
        assert!(same_policy(Some(text), &wanted));
    }

    #[test]
    fn different_resources_or_garbage_differ() {
        let wanted = notebook_arns_policy(&["arn:a".into()]);
        let other = notebook_arns_policy(&["arn:a".into(), "arn:b".into()]).to_string();
        assert!(!same_policy(Some(&other), &wanted));
        assert!(!same_policy(Some("not json"), &wanted));
        assert!(!same_policy(None, &wanted));
    }

    #[test]
    fn overflowing_arn_list_falls_back_to_account_pattern() {
        let few: Vec<Notebook> = (0..3).map(|i| notebook(&format!("nb-{i}"))).collect();
        let (policy, fell_back) = vpc_notebooks_policy(&few, &identity());
        assert_eq!(fell_back, None);
        assert_eq!(policy["Statement"][0]["Resource"].as_array().unwrap().len(), 3);

        let many: Vec<Notebook> = (0..400).map(|i| notebook(&format!("notebook-with-a-long-name-{i:04}"))).collect();
        let (policy, fell_back) = vpc_notebooks_policy(&many, &identity());
        assert_eq!(fell_back, Some(VpcPolicyFallback::TooLong));
        assert_eq!(policy["Statement"][0]["Resource"], "arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/*");
        assert!(policy.to_string().len() <= MAX_POLICY_CHARS);
    }

    #[test]
    fn hostile_names_stay_inside_their_json_string() {
        let mut hostile = notebook("x");
        hostile.arn = r#"arn:a"], "Action": "*", "Resource": ["*"#.into();
        let (policy, _) = vpc_notebooks_policy(&[hostile.clone()], &identity());
        let reparsed: Value = serde_json::from_str(&policy.to_string()).unwrap();
        assert_eq!(reparsed["Statement"][0]["Action"], "sagemaker:CreatePresignedNotebookInstanceUrl");
        assert_eq!(reparsed["Statement"][0]["Resource"][0], hostile.arn.as_str());
    }

    #[test]
    fn api_policy_pins_the_account() {
        let policy = account_api_policy(&identity());
        assert_eq!(policy["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"], "123456789012");
    }
}
