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

/// AWS Organizations' limit on a service control policy, in characters. Whitespace counts
/// when the policy is saved through the API or the CLI (only the console strips it), so
/// `iam-policy --style scp` prints it minified (Organizations User Guide, "Quotas and service
/// limits for AWS Organizations": <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html>).
pub const MAX_SCP_CHARS: usize = 5_120;

/// An SCP's size as Organizations counts it through the API: every character of the minified text.
pub fn scp_size(policy: &Value) -> usize {
    policy.to_string().chars().count()
}

/// The SCP would exceed [`MAX_SCP_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpTooLarge {
    /// Its size, minified.
    pub size: usize,
    /// The distinct ids it lists.
    pub ids: usize,
    /// The condition key of the ids.
    pub key: AccessKey,
}

impl std::fmt::Display for ScpTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.key {
            AccessKey::SourceVpce => "endpoint ids",
            AccessKey::SourceVpc => "VPC and endpoint ids",
        };
        let fewer = match self.key {
            AccessKey::SourceVpce => "use --condition source-vpc (one id per VPC instead of one per endpoint) or ",
            AccessKey::SourceVpc => "",
        };
        write!(
            f,
            "the SCP would be {} characters with {} {what}, over AWS Organizations' limit of {} characters for a service control policy (minified; whitespace counts); {fewer}split it: one SCP per OU or account, each listing only the endpoints its accounts use (--vpc-id), since two SCPs that each deny what they do not list deny everything",
            thousands(self.size),
            self.ids,
            thousands(MAX_SCP_CHARS)
        )
    }
}

impl std::error::Error for ScpTooLarge {}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The Organization-wide alternative to the guardrail (`iam-policy --style scp`): a service
/// control policy denying `CreatePresignedNotebookInstanceUrl` on every account's notebooks in
/// this region unless the request comes through one of `sources.notebooks`, and with the
/// studio profile `CreatePresignedDomainUrl` on every account's user profiles in this region
/// unless through one of `sources.studio`; either also through `sources.configured` (always by
/// `aws:SourceVpce`). `StringNotEquals` holds when the key is absent, so requests through no
/// endpoint (the console, the internet) are denied as well. A door with nothing to admit is
/// denied outright. `Err` when the document exceeds [`MAX_SCP_CHARS`]: an SCP has no fallback,
/// the caller says what to do instead.
pub fn scp_policy(key: AccessKey, sources: &AccessSources, identity: &AccountIdentity) -> Result<Value, ScpTooLarge> {
    let AccountIdentity { partition, region, .. } = identity;
    let condition = |values: &Vec<String>| -> Option<Value> {
        let mut not_through = Map::new();
        let (listed, configured) = match key {
            AccessKey::SourceVpce => (sorted(values.iter().chain(&sources.configured).cloned().collect()), Vec::new()),
            AccessKey::SourceVpc => (sorted(values.clone()), sorted(sources.configured.clone())),
        };
        if !listed.is_empty() {
            not_through.insert(key.name().into(), listed.into());
        }
        if !configured.is_empty() {
            not_through.insert(AccessKey::SourceVpce.name().into(), configured.into());
        }
        (!not_through.is_empty()).then(|| json!({"StringNotEquals": not_through}))
    };
    let deny = |sid: &str, action: &str, resource: String, values: &Vec<String>| {
        let mut statement = json!({"Sid": sid, "Effect": "Deny", "Action": action, "Resource": resource});
        if let Some(condition) = condition(values) {
            statement["Condition"] = condition;
        }
        statement
    };
    let mut statements = vec![deny(
        "NotebooksOnlyThroughListedVpcEndpoints",
        PRESIGNED_URL_ACTION,
        format!("arn:{partition}:sagemaker:{region}:*:notebook-instance/*"),
        &sources.notebooks,
    )];
    if let Some(studio) = &sources.studio {
        statements.push(deny(
            "StudioOnlyThroughListedVpcEndpoints",
            PRESIGNED_DOMAIN_URL_ACTION,
            format!("arn:{partition}:sagemaker:{region}:*:user-profile/*/*"),
            studio,
        ));
    }
    let document = json!({"Version": "2012-10-17", "Statement": statements});
    let size = scp_size(&document);
    if size <= MAX_SCP_CHARS {
        Ok(document)
    } else {
        Err(ScpTooLarge { size, ids: sources.all().len(), key })
    }
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

#[cfg(test)]
mod scp_tests {
    use super::*;
    use crate::testing::iam::{evaluate_with_scps, Decision, Request};
    use crate::testing::identity;

    const LISTED: &str = "vpce-0aaaaaaaaaaaaaaaa";
    const STUDIO: &str = "vpce-0cccccccccccccccc";
    const HUB: &str = "vpce-0dddddddddddddddd";
    const UNLISTED: &str = "vpce-0bbbbbbbbbbbbbbbb";

    /// A member account's principal with an Allow-all identity policy, under FullAWSAccess and `scp`.
    fn decision(scp: &Value, request: Request) -> Decision {
        let allow_all =
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        evaluate_with_scps(&[allow_all.clone(), scp.clone()], &allow_all, &request)
    }

    /// A request from another account of the Organization, in `region`, through `vpce`.
    fn request(action: &str, resource: &str, vpce: Option<&str>, vpc: Option<&str>) -> Request {
        let mut request = Request::new("arn:aws:iam::210987654321:role/DataScientist", action, resource);
        if let Some(id) = vpce {
            request = request.with("aws:SourceVpce", id);
        }
        if let Some(id) = vpc {
            request = request.with("aws:SourceVpc", id);
        }
        request
    }

    fn notebook(vpce: Option<&str>) -> Request {
        let arn = "arn:aws:sagemaker:us-west-2:210987654321:notebook-instance/nb-1";
        request(PRESIGNED_URL_ACTION, arn, vpce, None)
    }

    fn studio(vpce: Option<&str>) -> Request {
        let arn = "arn:aws:sagemaker:us-west-2:210987654321:user-profile/d-0a1b2c3d4e5f/alice";
        request(PRESIGNED_DOMAIN_URL_ACTION, arn, vpce, None)
    }

    fn sources() -> AccessSources {
        AccessSources {
            notebooks: vec![LISTED.into()],
            studio: Some(vec![LISTED.into(), STUDIO.into()]),
            configured: vec![HUB.into()],
        }
    }

    #[test]
    fn the_scp_denies_presigned_urls_not_made_through_the_listed_endpoints() {
        let scp = scp_policy(AccessKey::SourceVpce, &sources(), &identity()).expect("fits");
        assert_eq!(decision(&scp, notebook(Some(LISTED))), Decision::Allow);
        assert_eq!(decision(&scp, notebook(Some(HUB))), Decision::Allow, "configured sources are admitted");
        assert_eq!(decision(&scp, notebook(Some(UNLISTED))), Decision::ExplicitDeny);
        assert_eq!(decision(&scp, notebook(None)), Decision::ExplicitDeny, "no SourceVpce: the internet door");
        assert_eq!(
            decision(&scp, notebook(Some(STUDIO))),
            Decision::ExplicitDeny,
            "the Studio endpoint is Studio's door"
        );
        for through in [LISTED, STUDIO, HUB] {
            assert_eq!(decision(&scp, studio(Some(through))), Decision::Allow, "Studio through {through}");
        }
        assert_eq!(decision(&scp, studio(Some(UNLISTED))), Decision::ExplicitDeny);
        assert_eq!(decision(&scp, studio(None)), Decision::ExplicitDeny);
        // Endpoints are regional: another region's notebooks are that region's SCP's business.
        let elsewhere =
            request(PRESIGNED_URL_ACTION, "arn:aws:sagemaker:eu-west-1:210987654321:notebook-instance/nb", None, None);
        assert_eq!(decision(&scp, elsewhere), Decision::Allow);
        assert_eq!(decision(&scp, request("sagemaker:ListNotebookInstances", "*", None, None)), Decision::Allow);
        assert!(!scp.to_string().contains(char::is_whitespace), "minified: {scp}");

        let without_studio = AccessSources { studio: None, ..sources() };
        let scp = scp_policy(AccessKey::SourceVpce, &without_studio, &identity()).expect("fits");
        assert_eq!(decision(&scp, studio(None)), Decision::Allow, "no studio profile, no Studio statement");
    }

    #[test]
    fn the_source_vpc_scp_admits_the_vpcs_and_the_configured_endpoints() {
        let vpcs = AccessSources {
            notebooks: vec!["vpc-0c11e47c11e47c11e".into()],
            studio: None,
            configured: vec![HUB.into()],
        };
        let scp = scp_policy(AccessKey::SourceVpc, &vpcs, &identity()).expect("fits");
        let from = |vpc: &str, vpce: &str| {
            let arn = "arn:aws:sagemaker:us-west-2:210987654321:notebook-instance/nb-1";
            request(PRESIGNED_URL_ACTION, arn, Some(vpce), Some(vpc))
        };
        assert_eq!(decision(&scp, from("vpc-0c11e47c11e47c11e", UNLISTED)), Decision::Allow);
        assert_eq!(decision(&scp, from("vpc-0ffffffffffffffff", HUB)), Decision::Allow, "a spoke through the hub");
        assert_eq!(decision(&scp, from("vpc-0ffffffffffffffff", UNLISTED)), Decision::ExplicitDeny);
        assert_eq!(decision(&scp, notebook(None)), Decision::ExplicitDeny);
    }

    #[test]
    fn the_scp_fits_organizations_limit_or_says_how_far_over_it_is() {
        let ids = |n: usize| (0..n).map(|i| format!("vpce-{i:017x}")).collect::<Vec<_>>();
        for studio in [false, true] {
            let sources =
                |n: usize| AccessSources { notebooks: ids(n), studio: studio.then(|| ids(n)), configured: Vec::new() };
            let fits = (1..1_000).take_while(|&n| scp_policy(AccessKey::SourceVpce, &sources(n), &identity()).is_ok());
            let most = fits.last().expect("one endpoint fits");
            let document = scp_policy(AccessKey::SourceVpce, &sources(most), &identity()).unwrap();
            assert!(scp_size(&document) <= MAX_SCP_CHARS);
            assert_eq!(scp_size(&document), document.to_string().len(), "every character counts, as printed");
            let error = scp_policy(AccessKey::SourceVpce, &sources(most + 1), &identity()).unwrap_err();
            assert!(error.size > MAX_SCP_CHARS, "{error:?}");
            assert_eq!(error.ids, most + 1);
            let message = error.to_string();
            for needle in ["5,120", &thousands(error.size), &(most + 1).to_string(), "--condition source-vpc", "split"]
            {
                assert!(message.contains(needle), "{needle:?} in {message}");
            }
            println!("SCP endpoints that fit (studio {studio}): {most}");
        }
    }
}
