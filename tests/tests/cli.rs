//! The `vpce-guard` command end to end against the strict moto fixture: exit codes, JSON
//! output against the report contract, apply then plan, the IAM policy, and its refusals.

use std::process::Output;

use anyhow::Result;
use serde_json::Value;
use vpce_guard_tests::binary;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::seed::Seed;

async fn cli(moto: &Moto, args: &[&str]) -> Result<Output> {
    let output = tokio::process::Command::new(binary("vpce-guard"))
        .env_clear()
        .envs(moto.env())
        .args(["--endpoint-url", moto.url.as_str()])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    Ok(output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A VPC tagged for enforcement with one subnet in each of 3 AZs.
async fn enforced_vpc(seed: &Seed, n: u8) -> Result<String> {
    let vpc = seed.vpc(&format!("10.{n}.0.0/16"), &[("vpce-guard:enforce", "true")]).await?;
    for (i, az) in ["us-west-2a", "us-west-2b", "us-west-2c"].iter().enumerate() {
        seed.subnet(&vpc, &format!("10.{n}.{i}.0/24"), az).await?;
    }
    Ok(vpc)
}

#[tokio::test]
async fn plan_apply_plan_exit_codes_and_json_contract() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 1).await?;

    let plan = cli(&moto, &["plan", "--output", "json"]).await?;
    assert_eq!(plan.status.code(), Some(2), "changes needed: {}", stderr(&plan));
    let report: Value = serde_json::from_str(&stdout(&plan))?;
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["trigger"], "Cli");
    assert_eq!(report["api_calls"]["write"], 0);
    let ours = report["vpcs"].as_array().unwrap().iter().find(|v| v["vpc_id"] == vpc.as_str()).unwrap().clone();
    assert_eq!(ours["outcome"], "would_change");
    let actions: Vec<&str> =
        ours["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["enable_dns_hostnames", "create_security_group", "authorize_https", "create_endpoint", "create_endpoint"]
    );
    for endpoint in ours["endpoints"].as_array().unwrap() {
        for key in ["service", "endpoint_id", "subnet_ids", "private_dns", "state"] {
            assert!(endpoint.get(key).is_some(), "endpoint report lacks {key}: {endpoint}");
        }
    }
    // The moto account's default VPC is out of scope.
    assert!(report["vpcs"].as_array().unwrap().iter().any(|v| v["outcome"] == "skipped"));
    assert!(seed.endpoints(&vpc).await?.is_empty(), "plan writes nothing");

    let apply = cli(&moto, &["apply", "--yes"]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains(&format!("{vpc}  changed")), "{}", stdout(&apply));
    assert_eq!(seed.live_endpoints(&vpc).await?.len(), 2);

    let again = cli(&moto, &["plan", "--vpc-id", &vpc]).await?;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(stdout(&again).contains("compliant"));
    assert!(stdout(&again).contains("0 write call(s)"));
    Ok(())
}

#[tokio::test]
async fn apply_exits_3_when_problems_remain() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 2).await?;
    moto.hosted_zone(&vpc, "com.amazonaws.us-west-2.sagemaker.api").await?;
    let apply = cli(&moto, &["apply", "--yes", "--on-dns-conflict", "create", "--vpc-id", &vpc]).await?;
    assert_eq!(apply.status.code(), Some(3), "{}{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains("private_dns_conflict"));
    Ok(())
}

#[tokio::test]
async fn iam_policy_names_both_endpoints_or_the_vpc() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 3).await?;
    let apply = cli(&moto, &["apply", "--yes", "--vpc-id", &vpc]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let mut ids: Vec<String> =
        seed.live_endpoints(&vpc).await?.values().flatten().map(|e| e.vpc_endpoint_id().unwrap().to_string()).collect();
    ids.sort();

    // The default style is the guardrail: it denies presigned URLs not made through the ids.
    let guardrail = cli(&moto, &["iam-policy"]).await?;
    assert_eq!(guardrail.status.code(), Some(0), "{}", stderr(&guardrail));
    let document: Value = serde_json::from_str(&stdout(&guardrail))?;
    let presign = |through: Option<&str>| {
        let request = vpce_guard::testing::open_notebook_request("123456789012", None, "nb-1");
        match through {
            Some(id) => request.with("aws:SourceVpce", id),
            None => request,
        }
    };
    use vpce_guard::testing::iam::{evaluate, Decision};
    assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny, "{document}");
    for id in &ids {
        assert_ne!(evaluate(&document, &presign(Some(id))), Decision::ExplicitDeny, "{document}");
    }
    let refused = cli(&moto, &["iam-policy", "--vpc-id", &vpc]).await?;
    assert_eq!(refused.status.code(), Some(1), "--vpc-id belongs to --style allow: {}", stderr(&refused));

    let output = cli(&moto, &["iam-policy", "--style", "allow", "--vpc-id", &vpc]).await?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let policy: Value = serde_json::from_str(&stdout(&output))?;
    assert_eq!(policy["Version"], "2012-10-17");
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Action"],
        serde_json::json!(["sagemaker:CreatePresignedNotebookInstanceUrl", "sagemaker:DescribeNotebookInstance"])
    );
    assert_eq!(statement["Resource"], "*");
    assert_eq!(statement["Condition"]["StringEquals"]["aws:SourceVpce"], serde_json::json!(ids));

    let by_vpc = cli(&moto, &["iam-policy", "--style", "allow", "--condition", "source-vpc"]).await?;
    let policy: Value = serde_json::from_str(&stdout(&by_vpc))?;
    assert_eq!(policy["Statement"][0]["Condition"]["StringEquals"]["aws:SourceVpc"], serde_json::json!([vpc]));
    Ok(())
}

#[tokio::test]
async fn refusals_are_one_clear_sentence_and_change_nothing() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 4).await?;
    moto.reset_calls().await?;

    let unconfirmed = cli(&moto, &["apply"]).await?;
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(stderr(&unconfirmed).contains("pass --yes"), "{}", stderr(&unconfirmed));

    let bad_scope = cli(&moto, &["--scope", "everything", "plan"]).await?;
    assert_eq!(bad_scope.status.code(), Some(1));
    assert!(stderr(&bad_scope).contains("--scope") && stderr(&bad_scope).contains("enrolled, all"));

    let bad_id = cli(&moto, &["plan", "--vpc-id", "subnet-12345678"]).await?;
    assert_eq!(bad_id.status.code(), Some(1));
    assert!(stderr(&bad_id).contains("not a VPC id"));

    let missing = cli(&moto, &["apply", "--yes", "--vpc-id", "vpc-0123456789abcdef0"]).await?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("does not exist"), "{}", stderr(&missing));
    assert_eq!(stderr(&missing).lines().count(), 1, "one sentence: {}", stderr(&missing));

    let dry = cli(&moto, &["--dry-run", "apply", "--yes"]).await?;
    assert_eq!(dry.status.code(), Some(2), "dry run reports changes without making them");

    assert_eq!(moto.writes().await?, 0);
    assert!(seed.endpoints(&vpc).await?.is_empty());
    Ok(())
}
