//! Endpoint policy documents: built as JSON values (never by string formatting, so names
//! cannot inject anything) and compared semantically after normalisation.

use serde_json::{json, Map, Value};

use crate::model::{AccountIdentity, Notebook};

/// EC2's hard limit on an endpoint policy's length, in characters.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// The policy for the notebook endpoint allowing presigned URLs for `arns` only.
/// With no notebook to allow, the endpoint denies everything.
pub fn notebook_arns_policy(arns: &[String]) -> Value {
    if arns.is_empty() {
        return json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "NoNotebookInThisVpc",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "*",
                "Resource": "*"
            }]
        });
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PresignedUrlsForNotebooksInThisVpc",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "sagemaker:CreatePresignedNotebookInstanceUrl",
            "Resource": arns
        }]
    })
}

/// The account-wide notebook ARN pattern, `notebook-instance/*` of this account and region.
pub fn account_notebooks_arn(identity: &AccountIdentity) -> String {
    format!("arn:{}:sagemaker:{}:{}:notebook-instance/*", identity.partition, identity.region, identity.account_id)
}

/// The notebook endpoint's policy for `notebooks` in the VPC, falling back to the account
/// pattern when the list would exceed EC2's limit. Returns the policy and whether it fell back.
pub fn vpc_notebooks_policy(notebooks: &[Notebook], identity: &AccountIdentity) -> (Value, bool) {
    let mut arns: Vec<String> = notebooks.iter().map(|n| n.arn.clone()).collect();
    arns.sort();
    arns.dedup();
    let policy = notebook_arns_policy(&arns);
    if policy.to_string().chars().count() <= MAX_POLICY_CHARS {
        (policy, false)
    } else {
        (notebook_arns_policy(&[account_notebooks_arn(identity)]), true)
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

/// How an IAM policy ties notebook access to the network path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCondition {
    /// `aws:SourceVpce`: calls must come through these endpoints (api and notebook).
    SourceVpce(Vec<String>),
    /// `aws:SourceVpc`: calls must come from these VPCs.
    SourceVpc(Vec<String>),
}

/// The identity policy of the SageMaker guide that allows opening notebooks
/// (`CreatePresignedNotebookInstanceUrl`, `DescribeNotebookInstance`) only through the VPCs'
/// endpoints, ready to attach to users or roles.
pub fn notebook_access_policy(condition: &AccessCondition) -> Value {
    let (key, values) = match condition {
        AccessCondition::SourceVpce(ids) => ("aws:SourceVpce", ids),
        AccessCondition::SourceVpc(ids) => ("aws:SourceVpc", ids),
    };
    let mut values = values.clone();
    values.sort();
    values.dedup();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EnableNotebookAccessOnlyThroughVpcEndpoints",
            "Effect": "Allow",
            "Action": ["sagemaker:CreatePresignedNotebookInstanceUrl", "sagemaker:DescribeNotebookInstance"],
            "Resource": "*",
            "Condition": {"StringEquals": {key: values}}
        }]
    })
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
        AccountIdentity { account_id: "123456789012".into(), partition: "aws".into(), region: "us-west-2".into() }
    }

    fn notebook(name: &str) -> Notebook {
        Notebook {
            name: name.into(),
            arn: format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{name}"),
            subnet_id: Some("subnet-1".into()),
            status: "InService".into(),
        }
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
        assert!(!fell_back);
        assert_eq!(policy["Statement"][0]["Resource"].as_array().unwrap().len(), 3);

        let many: Vec<Notebook> = (0..400).map(|i| notebook(&format!("notebook-with-a-long-name-{i:04}"))).collect();
        let (policy, fell_back) = vpc_notebooks_policy(&many, &identity());
        assert!(fell_back);
        assert_eq!(
            policy["Statement"][0]["Resource"][0],
            "arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/*"
        );
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
