//! Security Hub findings end to end: the real `remediate` binary with
//! `VPCE_GUARD_SECURITY_HUB=true`, its hand-signed Security Hub calls reaching the strict
//! fixture (gap n: Security Hub's subscription, ASFF's required attributes, the default product,
//! GetFindings' filters). One finding per non-compliant VPC, left alone while nothing changes,
//! archived once the VPC is in line; an account without Security Hub is reported, not failed.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use vpce_guard::report::{Outcome, Report};
use vpce_guard_tests::binary;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;

const AZS: [&str; 2] = ["us-west-2a", "us-west-2b"];

async fn sweep(function: &Function) -> Result<Report> {
    match function.invoke(json!({})).await? {
        Ok(value) => Ok(serde_json::from_value(value)?),
        Err(error) => bail!("{}: {}", error.error_type, error.error_message),
    }
}

fn outcome(report: &Report, vpc: &str) -> Outcome {
    report.vpcs.iter().find(|v| v.vpc_id == vpc).map(|v| v.outcome).expect("the VPC is reported")
}

fn ours(findings: &[Value]) -> Vec<&Value> {
    findings.iter().filter(|f| f["GeneratorId"] == "vpce-guard").collect()
}

#[tokio::test]
async fn a_non_compliant_vpc_has_one_finding_until_it_is_in_line() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let (vpc, subnets) = seed.vpc_with_subnets(30, &AZS, 1).await?;
    let group = seed.notebook_group(&vpc).await?;
    seed.notebook("nb-hub", &subnets[AZS[0]][0], &group).await?;
    // DNS hostnames off and vpce-guard told not to fix them: private DNS is impossible.
    let mut env = moto.env();
    env.extend([("VPCE_GUARD_SECURITY_HUB".into(), "true".into()), ("VPCE_GUARD_FIX_VPC_DNS".into(), "false".into())]);
    let remediate = Function::start(&binary("remediate"), &env).await?;

    let without_hub = sweep(&remediate).await?;
    assert_eq!(outcome(&without_hub, &vpc), Outcome::NonCompliant, "{}", without_hub.to_text());
    let hub = without_hub.security_hub.clone().expect("findings reported");
    assert!(hub.problems[0].message.contains("InvalidAccessException"), "{hub:?}");

    moto.security_hub(true).await?;
    let first = sweep(&remediate).await?;
    let findings = moto.findings().await?;
    let finding = ours(&findings);
    assert_eq!(finding.len(), 1, "{findings:#?}");
    assert_eq!(finding[0]["Id"], format!("vpce-guard/123456789012/us-west-2/{vpc}"));
    assert_eq!(
        (finding[0]["RecordState"].as_str(), finding[0]["Compliance"]["Status"].as_str()),
        (Some("ACTIVE"), Some("FAILED"))
    );
    assert_eq!(finding[0]["Resources"][0]["Id"], format!("arn:aws:ec2:us-west-2:123456789012:vpc/{vpc}"));
    assert_eq!(first.security_hub.as_ref().map(|h| (h.imported, h.archived)), Some((1, 0)));

    moto.reset_calls().await?;
    let steady = sweep(&remediate).await?;
    let calls = moto.calls().await?;
    assert_eq!(steady.security_hub.as_ref().map(|h| (h.imported, h.archived)), Some((0, 0)));
    assert_eq!((calls.get("GetFindings"), calls.get("BatchImportFindings")), (Some(&1), None), "{calls:?}");

    seed.set_dns_hostnames(&vpc, true).await?;
    let fixed = sweep(&remediate).await?;
    assert_eq!(outcome(&fixed, &vpc), Outcome::Changed, "{}", fixed.to_text());
    let findings = moto.findings().await?;
    let finding = ours(&findings);
    assert_eq!(finding.len(), 1, "updated in place, not a second finding");
    assert_eq!(
        (finding[0]["RecordState"].as_str(), finding[0]["Compliance"]["Status"].as_str()),
        (Some("ARCHIVED"), Some("PASSED"))
    );
    assert_eq!(fixed.security_hub.as_ref().map(|h| (h.imported, h.archived)), Some((0, 1)));
    Ok(())
}
