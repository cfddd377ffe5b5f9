//! `vpce-guard` over many accounts and regions against the strict moto fixture: an
//! Organization of five accounts (one closed, one whose role is refused), two regions, VPCs
//! that need endpoints in three of the units. Asserts the per-unit reports, the endpoints
//! really created in the right account and region and nowhere else, the error row of the
//! refused account, the summary table, the exit codes, `--accounts`, `--all-regions` and the
//! usage errors. moto gives credentials of an assumed role the role ARN's account.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use anyhow::{Context, Result};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use serde_json::Value;
use vpce_guard_tests::binary;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::seed::Seed;

/// The role `--org-role` names.
const ROLE: &str = "VpceGuard";
/// The regions of the runs.
const REGIONS: [&str; 2] = ["us-west-2", "eu-west-1"];
/// moto's default account: the caller, the Organization's management account.
const MANAGEMENT: &str = "123456789012";

/// The `vpce-guard` command with the fixture's environment (no terminal on stdin).
fn vpce_guard(moto: &Moto) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary("vpce-guard"));
    command.env_clear().envs(moto.env()).args(["--endpoint-url", moto.url.as_str()]);
    command.stdin(std::process::Stdio::null());
    command
}

async fn run(moto: &Moto, args: &[&str]) -> Result<Output> {
    Ok(vpce_guard(moto).args(args).output().await?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// SDK configuration acting in `account` and `region`, through a role other than [`ROLE`].
async fn account_config(moto: &Moto, account: &str, region: &str) -> SdkConfig {
    // Loaded rather than built: AssumeRoleProvider needs the loader's time source.
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(&moto.url)
        .credentials_provider(moto.sdk_config().credentials_provider().expect("the fixture's keys"))
        .load()
        .await;
    let provider = AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/Seeder"))
        .session_name("seed")
        .configure(&base)
        .build()
        .await;
    base.to_builder().credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(provider)).build()
}

async fn seed(moto: &Moto, account: &str, region: &str) -> Seed {
    Seed::new(&account_config(moto, account, region).await)
}

/// The Organization: the management account and `members` new accounts, by id.
async fn organization(moto: &Moto, members: usize) -> Result<Vec<String>> {
    let organizations = aws_sdk_organizations::Client::new(&moto.sdk_config());
    organizations.create_organization().feature_set("ALL".into()).send().await?;
    let mut ids = Vec::new();
    for n in 0..members {
        let created = organizations
            .create_account()
            .account_name(format!("member-{n}"))
            .email(format!("member-{n}@example.com"))
            .send()
            .await?;
        let status = created.create_account_status().context("no account status")?;
        ids.push(status.account_id().context("no account id")?.to_string());
    }
    Ok(ids)
}

/// A VPC tagged for enforcement with a subnet in the region's AZs a and b.
async fn enforced_vpc(seed: &Seed, region: &str, n: u8) -> Result<String> {
    let vpc = seed.vpc(&format!("10.{n}.0.0/16"), &[("vpce-guard:enforce", "true")]).await?;
    for (i, az) in ["a", "b"].iter().enumerate() {
        seed.subnet(&vpc, &format!("10.{n}.{i}.0/24"), &format!("{region}{az}")).await?;
    }
    Ok(vpc)
}

/// A VPC enrolled by the notebook it holds.
async fn notebook_vpc(seed: &Seed, region: &str, n: u8) -> Result<String> {
    let vpc = seed.vpc(&format!("10.{n}.0.0/16"), &[]).await?;
    let subnet = seed.subnet(&vpc, &format!("10.{n}.0.0/24"), &format!("{region}a")).await?;
    seed.subnet(&vpc, &format!("10.{n}.1.0/24"), &format!("{region}b")).await?;
    let group = seed.notebook_group(&vpc).await?;
    seed.notebook(&format!("nb-{n}"), &subnet, &group).await?;
    Ok(vpc)
}

/// The seeded Organization: who is who, and the VPC that needs endpoints per unit.
struct World {
    moto: Moto,
    /// Members whose role vpce-guard may assume.
    open: [String; 2],
    /// The member whose role is refused.
    denied: String,
    /// The closed member (not ACTIVE).
    closed: String,
    /// (account, region) → the VPC that needs endpoints there.
    needy: BTreeMap<(String, String), String>,
}

async fn world() -> Result<World> {
    let moto = Moto::start().await?;
    let members = organization(&moto, 4).await?;
    let (open, denied, closed) = ([members[0].clone(), members[1].clone()], members[2].clone(), members[3].clone());
    let organizations = aws_sdk_organizations::Client::new(&moto.sdk_config());
    organizations.close_account().account_id(&closed).send().await?;
    moto.configure(serde_json::json!({"deny_assume_role_arns": [format!("arn:aws:iam::{denied}:role/{ROLE}")]}))
        .await?;
    let mut needy = BTreeMap::new();
    let unit = |account: &str, region: &str| (account.to_string(), region.to_string());
    let (west, eu) = (REGIONS[0], REGIONS[1]);
    needy.insert(unit(&open[0], west), enforced_vpc(&seed(&moto, &open[0], west).await, west, 1).await?);
    needy.insert(unit(&open[1], eu), notebook_vpc(&seed(&moto, &open[1], eu).await, eu, 2).await?);
    needy.insert(unit(MANAGEMENT, eu), enforced_vpc(&seed(&moto, MANAGEMENT, eu).await, eu, 3).await?);
    // Would need endpoints too, but vpce-guard never gets into these accounts.
    enforced_vpc(&seed(&moto, &denied, west).await, west, 4).await?;
    enforced_vpc(&seed(&moto, &closed, west).await, west, 5).await?;
    Ok(World { moto, open, denied, closed, needy })
}

impl World {
    /// The accounts a run over the whole Organization covers, in the order it prints them.
    fn active(&self) -> Vec<String> {
        let mut accounts =
            vec![MANAGEMENT.to_string(), self.open[0].clone(), self.open[1].clone(), self.denied.clone()];
        accounts.sort();
        accounts
    }

    /// Live endpoints per VPC of `account` in `region`, looked at directly in moto.
    async fn endpoints(&self, account: &str, region: &str) -> Result<BTreeMap<String, usize>> {
        let seed = seed(&self.moto, account, region).await;
        let out = seed.ec2.describe_vpc_endpoints().send().await?;
        let mut per_vpc = BTreeMap::new();
        for endpoint in out.vpc_endpoints() {
            let state = endpoint.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default();
            if !state.starts_with("delet") {
                *per_vpc.entry(endpoint.vpc_id().unwrap_or_default().to_string()).or_default() += 1;
            }
        }
        Ok(per_vpc)
    }
}

/// (account, region) → the ids of the VPCs with `outcome`, over the units that have a report.
fn vpcs_with(json: &Value, outcome: &str) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut found = BTreeMap::new();
    for unit in json["units"].as_array().expect("units") {
        let Some(vpcs) = unit["report"]["vpcs"].as_array() else { continue };
        let ids: BTreeSet<String> = vpcs
            .iter()
            .filter(|v| v["outcome"] == outcome)
            .map(|v| v["vpc_id"].as_str().unwrap_or_default().to_string())
            .collect();
        if !ids.is_empty() {
            found.insert(
                (unit["account"].as_str().unwrap().to_string(), unit["region"].as_str().unwrap().to_string()),
                ids,
            );
        }
    }
    found
}

fn unit_keys(json: &Value) -> Vec<(String, String)> {
    let units = json["units"].as_array().expect("units");
    units
        .iter()
        .map(|u| (u["account"].as_str().unwrap().to_string(), u["region"].as_str().unwrap().to_string()))
        .collect()
}

fn as_sets(needy: &BTreeMap<(String, String), String>) -> BTreeMap<(String, String), BTreeSet<String>> {
    needy.iter().map(|(unit, vpc)| (unit.clone(), BTreeSet::from([vpc.clone()]))).collect()
}

#[tokio::test]
async fn org_role_plans_and_applies_each_account_and_region_and_reports_the_refused_one() -> Result<()> {
    let w = world().await?;
    let regions = REGIONS.join(",");
    let every: Vec<(String, String)> =
        w.active().into_iter().flat_map(|a| REGIONS.map(|r| (a.clone(), r.to_string()))).collect();
    w.moto.reset_calls().await?;

    let plan = run(&w.moto, &["plan", "--org-role", ROLE, "--regions", &regions, "--output", "json"]).await?;
    assert_eq!(plan.status.code(), Some(1), "a failed unit wins: {}", text(&plan.stderr));
    let json: Value = serde_json::from_str(&text(&plan.stdout))?;
    assert_eq!(unit_keys(&json), every, "ACTIVE accounts only, each region: {json}");
    assert_eq!(vpcs_with(&json, "would_change"), as_sets(&w.needy));
    for unit in json["units"].as_array().unwrap() {
        let denied = unit["account"] == w.denied.as_str();
        let error = unit["error"].as_str().unwrap_or_default();
        assert_eq!(denied, !error.is_empty(), "{unit}");
        assert_eq!(denied, unit.get("report").is_none(), "{unit}");
        if denied {
            assert!(error.contains("AccessDenied") && error.contains(&format!(":role/{ROLE}")), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }
    let summary = json["summary"].as_array().unwrap();
    assert_eq!(summary.len(), every.len());
    let needy_row = summary.iter().find(|r| r["account"] == w.open[0].as_str() && r["region"] == REGIONS[0]).unwrap();
    assert_eq!((needy_row["would_change"].as_u64(), needy_row["skipped"].as_u64()), (Some(1), Some(1)), "{needy_row}");
    assert_eq!(w.moto.writes().await?, 0, "a plan writes nothing");

    let apply =
        run(&w.moto, &["apply", "--yes", "--org-role", ROLE, "--regions", &regions, "--concurrency", "1"]).await?;
    let out = text(&apply.stdout);
    eprintln!("{out}");
    assert_eq!(apply.status.code(), Some(1), "{out}{}", text(&apply.stderr));
    for ((account, region), vpc) in &w.needy {
        let section = out.split(&format!("== {account} {region} ==")).nth(1).context("unit section")?;
        let section = section.split("\n== ").next().unwrap_or_default();
        assert!(section.contains(&format!("{vpc}  changed")), "{account} {region}: {section}");
    }
    let table = out.split("ACCOUNT").nth(1).context("summary table")?;
    for (account, region) in &every {
        let row = table.lines().find(|l| l.starts_with(&format!("{account}  {region} "))).context("row")?;
        let cells: Vec<&str> = row.split_whitespace().collect();
        match (account == &w.denied, w.needy.contains_key(&(account.clone(), region.clone()))) {
            (true, _) => assert!(row.contains("AccessDenied") && cells[2..7] == ["-"; 5], "{row}"),
            (false, true) => assert_eq!(cells[2..8], ["0", "1", "0", "0", "1", "-"], "{row}"),
            (false, false) => assert_eq!(cells[2..8], ["0", "0", "0", "0", "1", "-"], "{row}"),
        }
    }
    assert!(out.contains(&format!("{} unit(s), 2 failed; VPCs: 3 changed, 0 non_compliant", every.len())), "{out}");

    // The endpoints exist where they were needed, and nowhere else (not in the refused or
    // the closed account, nor in a region not asked for).
    let mut accounts = w.active();
    accounts.push(w.closed.clone());
    for account in &accounts {
        for region in REGIONS.iter().chain(&["us-east-1"]) {
            let expected: BTreeMap<String, usize> =
                w.needy.get(&(account.clone(), region.to_string())).map(|vpc| (vpc.clone(), 2)).into_iter().collect();
            assert_eq!(w.endpoints(account, region).await?, expected, "{account} {region}");
        }
    }

    // --accounts restricts the run to those accounts: all compliant now, exit 0.
    let accounts = format!("{},{}", w.open[1], w.open[0]);
    let again =
        run(&w.moto, &["plan", "--org-role", ROLE, "--accounts", &accounts, "--regions", &regions, "-o", "json"])
            .await?;
    assert_eq!(again.status.code(), Some(0), "{}{}", text(&again.stdout), text(&again.stderr));
    let json: Value = serde_json::from_str(&text(&again.stdout))?;
    let mut open = w.open.to_vec();
    open.sort();
    let expected: Vec<(String, String)> =
        open.iter().flat_map(|a| REGIONS.map(|r| (a.clone(), r.to_string()))).collect();
    assert_eq!(unit_keys(&json), expected);
    assert!(vpcs_with(&json, "would_change").is_empty(), "{json}");
    assert_eq!(vpcs_with(&json, "compliant").len(), 2, "{json}");
    Ok(())
}

#[tokio::test]
async fn all_regions_are_the_regions_the_account_reports() -> Result<()> {
    let moto = Moto::start().await?;
    let members = organization(&moto, 1).await?;
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config());
    let described = ec2.describe_regions().send().await?;
    let mut regions: Vec<String> =
        described.regions().iter().filter_map(|r| r.region_name()).map(String::from).collect();
    regions.sort();
    assert!(regions.len() > 2, "{regions:?}");

    let plan = run(&moto, &["plan", "--all-regions", "--concurrency", "8", "--output", "json"]).await?;
    assert_eq!(plan.status.code(), Some(0), "nothing to do anywhere: {}", text(&plan.stderr));
    let json: Value = serde_json::from_str(&text(&plan.stdout))?;
    let expected: Vec<(String, String)> = regions.iter().map(|r| (MANAGEMENT.to_string(), r.clone())).collect();
    assert_eq!(unit_keys(&json), expected, "the caller's account, each region it reports");

    // A refused account has no regions to list: one error row for all of them.
    let denied = &members[0];
    moto.configure(serde_json::json!({"deny_assume_role_arns": [format!("arn:aws:iam::{denied}:role/{ROLE}")]}))
        .await?;
    let refused =
        run(&moto, &["plan", "--all-regions", "--org-role", ROLE, "--accounts", denied, "-o", "json"]).await?;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let json: Value = serde_json::from_str(&text(&refused.stdout))?;
    assert_eq!(unit_keys(&json), [(denied.clone(), "*".to_string())]);
    assert!(json["summary"][0]["error"].as_str().unwrap().contains("AccessDenied"), "{json}");
    Ok(())
}

#[tokio::test]
async fn usage_errors_exit_1_before_any_aws_call_and_an_empty_organization_is_an_error() -> Result<()> {
    let moto = Moto::start().await?;
    let cases: [(&[&str], &str); 10] = [
        (&["plan", "--concurrency", "0"], "--concurrency"),
        (&["plan", "--regions", "us-west-2", "--concurrency", "many"], "--concurrency"),
        (&["plan", "--accounts", "111111111111"], "--org-role"),
        (&["plan", "--org-role", ROLE, "--accounts", "1234"], "12 digits"),
        (&["plan", "--regions", "us-west-2", "--all-regions"], "--all-regions"),
        (&["plan", "--regions", "Not a region"], "not a region name"),
        (&["plan", "--regions", "us-west-2", "--out", "/tmp/vpce-guard-never.json"], "plan --out"),
        (&["apply", "--org-role", ROLE, "/tmp/vpce-guard-never.json"], "apply FILE"),
        (&["iam-policy", "--all-regions"], "iam-policy"),
        (&["apply", "--regions", "us-west-2,eu-west-1"], "pass --yes"),
    ];
    for (args, expected) in cases {
        let output = run(&moto, args).await?;
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?} should mention {expected}: {message}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert!(moto.calls().await?.is_empty(), "refused before any AWS call: {:?}", moto.calls().await?);

    // Not a usage error, but the run's own: no Organization, so no account to enter.
    let empty = run(&moto, &["plan", "--org-role", ROLE]).await?;
    assert_eq!(empty.status.code(), Some(1), "{}", text(&empty.stderr));
    assert!(text(&empty.stderr).contains("no ACTIVE account"), "{}", text(&empty.stderr));
    Ok(())
}

/// Runs the command on a terminal (util-linux `script` gives it one), typing `answer`.
async fn on_terminal(moto: &Moto, args: &[&str], answer: &str) -> Result<Output> {
    use tokio::io::AsyncWriteExt;
    let line = format!("{} --endpoint-url {} {}", binary("vpce-guard").display(), moto.url, args.join(" "));
    let mut child = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_clear()
        .envs(moto.env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("util-linux `script` runs the command on a terminal")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(answer.as_bytes()).await?;
    drop(stdin);
    Ok(child.wait_with_output().await?)
}

#[tokio::test]
async fn apply_on_a_terminal_asks_once_for_every_unit() -> Result<()> {
    let moto = Moto::start().await?;
    let mut vpcs = Vec::new();
    for (n, region) in REGIONS.iter().enumerate() {
        let config = moto.sdk_config().to_builder().region(Region::new(region.to_string())).build();
        vpcs.push((Seed::new(&config), enforced_vpc(&Seed::new(&config), region, n as u8 + 1).await?));
    }
    let args = ["--regions", "us-west-2,eu-west-1", "apply"];
    moto.reset_calls().await?;

    let refused = on_terminal(&moto, &args, "no\n").await?;
    let out = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(out.contains("Apply these 10 change(s) in 2 account/region unit(s)?"), "one question: {out}");
    assert!(out.contains("apply cancelled; nothing was changed"), "{out}");
    assert_eq!(moto.writes().await?, 0);

    let approved = on_terminal(&moto, &args, "yes\n").await?;
    let out = text(&approved.stdout);
    assert_eq!(approved.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("Apply these").count(), 1, "{out}");
    assert!(out.contains("2 unit(s), 0 failed; VPCs: 2 changed, 0 non_compliant"), "{out}");
    for (seed, vpc) in &vpcs {
        assert_eq!(seed.live_endpoints(vpc).await?.len(), 2, "{vpc}");
    }
    Ok(())
}
