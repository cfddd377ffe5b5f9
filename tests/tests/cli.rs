//! The `vpce-guard` command end to end against the strict moto fixture: exit codes, JSON
//! output against the report contract, apply then plan, saved plans (`plan --out`, `apply
//! FILE`), the IAM policy, and its refusals.

use std::process::Output;

use anyhow::Result;
use serde_json::Value;
use vpce_guard_tests::binary;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::seed::Seed;

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

/// The fixture with one enforced VPC (`10.{n}.0.0/16`), its calls counted from here on.
async fn fixture_with_enforced_vpc(n: u8) -> Result<(Moto, Seed, String)> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, n).await?;
    moto.reset_calls().await?;
    Ok((moto, seed, vpc))
}

#[tokio::test]
async fn plan_apply_plan_exit_codes_and_json_contract() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 1).await?;

    let plan = moto.cli(&["plan", "--output", "json"]).await?;
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

    let apply = moto.cli(&["apply", "--yes"]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains(&format!("{vpc}  changed")), "{}", stdout(&apply));
    assert_eq!(seed.live_endpoints(&vpc).await?.len(), 2);

    let again = moto.cli(&["plan", "--vpc-id", &vpc]).await?;
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
    let apply = moto.cli(&["apply", "--yes", "--on-dns-conflict", "create", "--vpc-id", &vpc]).await?;
    assert_eq!(apply.status.code(), Some(3), "{}{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains("private_dns_conflict"));
    Ok(())
}

#[tokio::test]
async fn iam_policy_names_both_endpoints_or_the_vpc() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 3).await?;
    let apply = moto.cli(&["apply", "--yes", "--vpc-id", &vpc]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let mut ids: Vec<String> =
        seed.live_endpoints(&vpc).await?.values().flatten().map(|e| e.vpc_endpoint_id().unwrap().to_string()).collect();
    ids.sort();

    // The default style is the guardrail: it denies presigned URLs not made through the ids.
    let guardrail = moto.cli(&["iam-policy"]).await?;
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
    let refused = moto.cli(&["iam-policy", "--vpc-id", &vpc]).await?;
    assert_eq!(refused.status.code(), Some(1), "--vpc-id belongs to --style allow: {}", stderr(&refused));

    let output = moto.cli(&["iam-policy", "--style", "allow", "--vpc-id", &vpc]).await?;
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

    let by_vpc = moto.cli(&["iam-policy", "--style", "allow", "--condition", "source-vpc"]).await?;
    let policy: Value = serde_json::from_str(&stdout(&by_vpc))?;
    assert_eq!(policy["Statement"][0]["Condition"]["StringEquals"]["aws:SourceVpc"], serde_json::json!([vpc]));
    Ok(())
}

#[tokio::test]
async fn iam_policy_style_scp_is_one_minified_document_within_the_scp_limit_or_a_clear_error() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 9).await?;
    let apply = moto.cli(&["apply", "--yes", "--vpc-id", &vpc]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let ids: Vec<String> =
        seed.live_endpoints(&vpc).await?.values().flatten().map(|e| e.vpc_endpoint_id().unwrap().to_string()).collect();

    let output = moto.cli(&["iam-policy", "--style", "scp"]).await?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    assert!(!text.contains(char::is_whitespace), "minified, as Organizations counts every character: {text}");
    assert!(text.len() <= 5_120, "{}", text.len());
    let scp: Value = serde_json::from_str(text)?;
    use vpce_guard::testing::iam::{evaluate_with_scps, Decision};
    let allow_all = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let presign = |through: Option<&str>| {
        let request = vpce_guard::testing::open_notebook_request("210987654321", None, "nb-1");
        let request = match through {
            Some(id) => request.with("aws:SourceVpce", id),
            None => request,
        };
        evaluate_with_scps(&[allow_all.clone(), scp.clone()], &allow_all, &request)
    };
    for id in &ids {
        assert_eq!(presign(Some(id)), Decision::Allow, "{scp}");
    }
    assert_eq!(presign(Some("vpce-0123456789abcdef0")), Decision::ExplicitDeny);
    assert_eq!(presign(None), Decision::ExplicitDeny);

    // Hub endpoints besides the account's two, more than an SCP can list.
    let hub: Vec<String> = (0..250).map(|i| format!("vpce-{i:017x}")).collect();
    let too_many = moto.cli(&["--guardrail-source-vpces", &hub.join(","), "iam-policy", "--style", "scp"]).await?;
    assert_eq!(too_many.status.code(), Some(1), "{}", stdout(&too_many));
    assert!(stdout(&too_many).is_empty(), "no document that AWS would refuse");
    let message = stderr(&too_many);
    for needle in ["5,120", "252 endpoint id", "--condition source-vpc", "split"] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    Ok(())
}

#[tokio::test]
async fn refusals_are_one_clear_sentence_and_change_nothing() -> Result<()> {
    let (moto, seed, vpc) = fixture_with_enforced_vpc(4).await?;

    let unconfirmed = moto.cli(&["apply"]).await?;
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(stderr(&unconfirmed).contains("pass --yes"), "{}", stderr(&unconfirmed));

    let bad_scope = moto.cli(&["--scope", "everything", "plan"]).await?;
    assert_eq!(bad_scope.status.code(), Some(1));
    assert!(stderr(&bad_scope).contains("--scope") && stderr(&bad_scope).contains("enrolled, all"));

    let bad_id = moto.cli(&["plan", "--vpc-id", "subnet-12345678"]).await?;
    assert_eq!(bad_id.status.code(), Some(1));
    assert!(stderr(&bad_id).contains("not a VPC id"));

    let missing = moto.cli(&["apply", "--yes", "--vpc-id", "vpc-0123456789abcdef0"]).await?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("does not exist"), "{}", stderr(&missing));
    assert_eq!(stderr(&missing).lines().count(), 1, "one sentence: {}", stderr(&missing));

    let dry = moto.cli(&["--dry-run", "apply", "--yes"]).await?;
    assert_eq!(
        dry.status.code(),
        Some(2),
        "dry run reports changes without making them: {}{}",
        stdout(&dry),
        stderr(&dry)
    );

    assert_eq!(moto.writes().await?, 0);
    assert!(seed.endpoints(&vpc).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_guardrail_source_that_is_not_an_endpoint_id_stops_the_cli_naming_the_variable() -> Result<()> {
    let (moto, seed, vpc) = fixture_with_enforced_vpc(8).await?;

    let args = ["--iam-guardrail", "g", "--guardrail-source-vpces", "vpc-0123456789abcdef0", "apply", "--yes"];
    let refused = moto.cli(&args).await?;

    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("VPCE_GUARD_GUARDRAIL_SOURCE_VPCES"), "{}", stderr(&refused));
    assert!(moto.calls().await?.is_empty(), "refused before any call");
    assert!(seed.endpoints(&vpc).await?.is_empty());
    Ok(())
}

/// A path for a plan file of this test process.
fn plan_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("vpce-guard-{}-{name}.json", std::process::id()))
}

fn path_arg(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[tokio::test]
async fn plan_out_then_apply_file_converges_and_the_file_is_spent() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 5).await?;
    let path = plan_path("converges");

    let plan = moto.cli(&["plan", "--out", path_arg(&path)]).await?;
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(stderr(&plan).contains("vpce-guard apply"), "{}", stderr(&plan));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(saved["format_version"], 1);
    assert_eq!(saved["region"], "us-west-2");
    assert_eq!(saved["account_id"], "123456789012");
    assert_eq!(saved["vpc_ids"], Value::Null, "every VPC in scope");
    assert_eq!(saved["report"]["dry_run"], true);
    let ours = saved["vpcs"].as_array().unwrap().iter().find(|v| v["vpc_id"] == vpc.as_str()).unwrap();
    assert!(ours["fingerprint"].as_str().unwrap().starts_with("sha256:"), "{ours}");
    assert_eq!(ours["actions"].as_array().unwrap().len(), 5, "{ours}");
    assert!(seed.endpoints(&vpc).await?.is_empty(), "plan --out writes nothing to the account");

    // No terminal and no --yes: the file is the approval.
    let apply = moto.cli(&["apply", path_arg(&path)]).await?;
    assert_eq!(apply.status.code(), Some(0), "{}{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains(&format!("{vpc}  changed")), "{}", stdout(&apply));
    let live = seed.live_endpoints(&vpc).await?;
    assert_eq!(live.len(), 2, "both services: {live:?}");
    for endpoints in live.values() {
        assert_eq!(seed.endpoint_azs(&vpc, &endpoints[0]).await?.len(), 3);
    }
    let again = moto.cli(&["plan", "--vpc-id", &vpc]).await?;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // Applied once, the plan no longer describes the account (like terraform's stale plan).
    moto.reset_calls().await?;
    let twice = moto.cli(&["apply", path_arg(&path)]).await?;
    assert_eq!(twice.status.code(), Some(1), "{}{}", stdout(&twice), stderr(&twice));
    assert!(stderr(&twice).contains("approved writes no longer planned"), "{}", stderr(&twice));
    assert_eq!(moto.writes().await?, 0);
    std::fs::remove_file(&path)?;
    Ok(())
}

#[tokio::test]
async fn apply_file_refuses_a_plan_the_account_moved_away_from() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 6).await?;
    let other = enforced_vpc(&seed, 7).await?;
    let path = plan_path("moved");
    let plan = moto.cli(&["plan", "--out", path_arg(&path)]).await?;
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));

    // A subnet in a fourth AZ: the plan would now place the endpoints there too.
    let subnet = seed.subnet(&vpc, "10.6.3.0/24", "us-west-2d").await?;
    moto.reset_calls().await?;
    let apply = moto.cli(&["apply", path_arg(&path)]).await?;
    assert_eq!(apply.status.code(), Some(1), "{}{}", stdout(&apply), stderr(&apply));
    let message = stderr(&apply);
    assert!(message.contains(&format!("no longer matches the account for {vpc};")), "{message}");
    assert!(message.contains("nothing was applied"), "{message}");
    assert!(message.contains(&subnet), "names the extra writes: {message}");
    assert!(!message.contains(&other), "only the VPC that moved: {message}");
    assert_eq!(moto.writes().await?, 0, "refuse all: not even the VPC that still matches");
    assert!(seed.endpoints(&other).await?.is_empty());

    // --yes without a terminal still applies whatever the account needs now.
    let yes = moto.cli(&["apply", "--yes"]).await?;
    assert_eq!(yes.status.code(), Some(0), "{}{}", stdout(&yes), stderr(&yes));
    for id in [&vpc, &other] {
        assert_eq!(seed.live_endpoints(id).await?.len(), 2);
    }
    std::fs::remove_file(&path)?;
    Ok(())
}

#[tokio::test]
async fn apply_file_refuses_bad_and_foreign_plans() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = enforced_vpc(&seed, 8).await?;
    let path = plan_path("foreign");
    let plan = moto.cli(&["plan", "--vpc-id", &vpc, "--out", path_arg(&path)]).await?;
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(saved["vpc_ids"], serde_json::json!([vpc]));
    moto.reset_calls().await?;

    let edited = |name: &str, change: &dyn Fn(&mut Value)| -> Result<std::path::PathBuf> {
        let mut plan = saved.clone();
        change(&mut plan);
        let edited = plan_path(name);
        std::fs::write(&edited, plan.to_string())?;
        Ok(edited)
    };
    let cases: Vec<(std::path::PathBuf, Vec<&str>, &str)> = vec![
        (edited("region", &|p| p["region"] = "eu-west-1".into())?, vec![], "pass --region eu-west-1"),
        (edited("account", &|p| p["account_id"] = "210987654321".into())?, vec![], "plan for account 210987654321"),
        (edited("format", &|p| p["format_version"] = 2.into())?, vec![], "a plan of format 2"),
        (edited("shape", &|p| p["vpcs"] = "none".into())?, vec![], "not a valid vpce-guard plan"),
        (path.clone(), vec!["--scope", "all"], "--scope (VPCE_GUARD_SCOPE) is \"all\" here but unset"),
    ];
    for (file, flags, expected) in cases {
        let mut args = flags.clone();
        args.extend(["apply", path_arg(&file)]);
        let refused = moto.cli(&args).await?;
        assert_eq!(refused.status.code(), Some(1), "{expected}: {}", stderr(&refused));
        assert!(stderr(&refused).contains(expected), "{expected}: {}", stderr(&refused));
        if file != path {
            std::fs::remove_file(&file)?;
        }
    }
    std::fs::write(&path, "{\"format_version\": 1, oops")?;
    let bad = moto.cli(&["apply", path_arg(&path)]).await?;
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("is not a vpce-guard plan (not JSON"), "{}", stderr(&bad));
    let missing = moto.cli(&["apply", path_arg(&plan_path("absent"))]).await?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot read the plan file"), "{}", stderr(&missing));

    assert_eq!(moto.writes().await?, 0);
    assert!(seed.endpoints(&vpc).await?.is_empty());
    std::fs::remove_file(&path)?;
    Ok(())
}

/// Runs the CLI with only `env` (no moto, no profile, no instance metadata).
async fn bare_cli(env: &[(&str, &str)], args: &[&str]) -> Result<Output> {
    let output = tokio::process::Command::new(binary("vpce-guard"))
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .await?;
    Ok(output)
}

#[tokio::test]
async fn a_usage_error_exits_1_not_2_which_means_changes() -> Result<()> {
    let output = bare_cli(&[], &["plan", "--bogus"]).await?;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("--bogus"));
    let help = bare_cli(&[], &["--help"]).await?;
    assert_eq!(help.status.code(), Some(0));
    Ok(())
}

#[tokio::test]
async fn missing_credentials_or_an_unreachable_endpoint_is_one_clear_line() -> Result<()> {
    let no_credentials = bare_cli(&[("AWS_REGION", "us-west-2")], &["plan"]).await?;
    assert_eq!(no_credentials.status.code(), Some(1));
    let text = stderr(&no_credentials);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("no AWS credentials found") && text.contains("--profile"), "{text}");
    assert!(!text.contains("DispatchFailure") && !text.contains("WARN"), "{text}");

    let keys = [("AWS_REGION", "us-west-2"), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")];
    let unreachable = bare_cli(&keys, &["--endpoint-url", "http://127.0.0.1:9", "plan"]).await?;
    assert_eq!(unreachable.status.code(), Some(1));
    let text = stderr(&unreachable);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("cannot reach AWS") && text.contains("--endpoint-url"), "{text}");
    assert!(!text.contains("DispatchFailure"), "{text}");
    Ok(())
}
