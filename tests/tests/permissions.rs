//! The permissions contract (issue 18): every AWS call the real function binaries make, for each
//! meaningful parameter set of `infra/template.yaml` (`PruneIdleAfter` included, so that the
//! prune's delete and tag statements are proven used), is allowed by that function's role as the
//! template renders it for those parameters, and every write permission of those roles is needed
//! by some recorded call.
//!
//! Each set runs a scenario through the binaries under the Runtime API against the strict moto
//! fixture, which records every call it serves (`VPCE_GUARD_FIXTURE_RECORD`). Each binary signs
//! with its own access key (its name), so each call is attributed to its function, and gets the
//! environment the template gives the functions for the set (`permissions_contract.py env`).
//! `infra/tools/permissions_contract.py` then maps each call to the IAM requests AWS authorises
//! (action, resource ARNs, condition keys, dependent actions; Service Authorization Reference),
//! evaluates them against the rendered roles, and fails on a denied request or an unused write
//! permission. Its self-test runs on the same recordings: a template copy without any one write
//! statement, or without a read the code needs, must fail, and so must a copy with an extra write.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{AttributeBooleanValue, Tag, TagSpecification, VpcEndpointType};
use serde_json::{json, Value};
use vpce_guard::report::Report;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events, repo_root};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const GUARDRAIL: &str = "contract-guardrail";
const CENTRAL_BUS: &str = "arn:aws:events:us-east-1:111122223333:event-bus/central";

/// The checker, run with the tests' venv.
fn contract(args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("infra/tools/permissions_contract.py"))
        .args(args)
        .output()
        .context("running infra/tools/permissions_contract.py")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn template() -> String {
    repo_root().join("infra/template.yaml").to_string_lossy().into_owned()
}

/// One parameter set's scenario: its fixture (recording), its parameters and the functions'
/// environment the template gives them.
struct World {
    moto: Moto,
    seed: Seed,
    name: String,
    parameters: Vec<(String, String)>,
    template_env: Vec<(String, String)>,
    record: PathBuf,
}

impl World {
    async fn start(dir: &Path, name: &str, parameters: &[(&str, &str)]) -> Result<Self> {
        let record = dir.join(format!("{name}.jsonl"));
        let moto = Moto::start_recording(&record).await?;
        let seed = Seed::new(&moto.sdk_config());
        let mut args = vec!["env".to_string(), template()];
        args.extend(parameters.iter().map(|(k, v)| format!("{k}={v}")));
        let (ok, text) = contract(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        if !ok {
            bail!("permissions_contract.py env: {text}");
        }
        let env: serde_json::Map<String, Value> = serde_json::from_str(text.trim())?;
        let template_env = env.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
        let parameters = parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(Self { moto, seed, name: name.into(), parameters, template_env, record })
    }

    /// Invokes `function` (a fresh process, signing with the access key `function`) with the
    /// set's environment and `extra` variables over it.
    async fn invoke(&self, function: &str, payload: Value, extra: &[(&str, &str)]) -> Result<Report> {
        let mut env = self.moto.env();
        env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID");
        env.push(("AWS_ACCESS_KEY_ID".into(), function.into()));
        env.extend(self.template_env.iter().cloned());
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let process = Function::start(&binary(function), &env).await?;
        match process.invoke(payload).await? {
            Ok(value) => Ok(serde_json::from_value(value)?),
            Err(error) => bail!("{} in set {}: {}: {}", function, self.name, error.error_type, error.error_message),
        }
    }

    fn plan_entry(&self, name: &str, extra_parameters: &[(&str, &str)]) -> Value {
        let mut parameters: serde_json::Map<String, Value> =
            self.parameters.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        parameters.extend(extra_parameters.iter().map(|(k, v)| (k.to_string(), json!(v))));
        let keys: serde_json::Map<String, Value> =
            ["on-notebook-created", "on-subnet-created", "remediate", "on-domain-created"]
                .iter()
                .map(|f| (f.to_string(), json!(f)))
                .collect();
        json!({"name": name, "parameters": parameters, "record": self.record, "keys": keys})
    }

    /// What every set runs: a notebook's VPC made compliant (DNS hostnames, the managed group and
    /// its rule, both endpoints), a subnet in a new AZ (one modify per endpoint), a VPC enrolled by
    /// tag with both DNS attributes off, a client CIDR added then dropped (authorize, revoke), and
    /// drift on the API endpoint (managed group removed, private DNS off) repaired by a sweep.
    async fn core(&self, n: u8) -> Result<String> {
        let (vpc, by_az) = self.seed.vpc_with_subnets(n, &AZS, 1).await?;
        let first = by_az["us-west-2a"][0].clone();
        let group = self.seed.notebook_group(&vpc).await?;
        self.seed.notebook("contract-nb", &first, &group).await?;
        self.invoke("on-notebook-created", events::notebook_created("contract-nb", &first), &[]).await?;

        let new_subnet = self.seed.subnet(&vpc, &format!("10.{n}.200.0/24"), "us-west-2d").await?;
        self.invoke("on-subnet-created", events::subnet_created(&new_subnet, &vpc, "us-west-2d"), &[]).await?;

        let tagged = self.seed.vpc(&format!("10.{}.0.0/16", n + 1), &[("vpce-guard:enforce", "true")]).await?;
        self.seed.subnet(&tagged, &format!("10.{}.0.0/24", n + 1), "us-west-2a").await?;
        let off = AttributeBooleanValue::builder().value(false).build();
        self.seed.ec2.modify_vpc_attribute().vpc_id(&tagged).enable_dns_support(off).send().await?;
        self.invoke("remediate", events::remediate(&[&tagged], false), &[]).await?;

        let cidrs = [("VPCE_GUARD_CLIENT_CIDRS", "10.250.0.0/16")];
        self.invoke("remediate", events::remediate(&[&vpc], false), &cidrs).await?;
        self.invoke("remediate", events::remediate(&[&vpc], false), &[]).await?;

        if let Some(api) = self.seed.live_endpoints(&vpc).await?.get(API).and_then(|list| list.first()) {
            let id = api.vpc_endpoint_id().unwrap_or_default();
            let groups: Vec<String> = api.groups().iter().filter_map(|g| g.group_id().map(String::from)).collect();
            let drift = self.seed.ec2.modify_vpc_endpoint().vpc_endpoint_id(id).private_dns_enabled(false);
            drift.set_remove_security_group_ids(Some(groups)).send().await?;
        }
        self.invoke("remediate", events::load("scheduled.json"), &[]).await?;
        Ok(vpc)
    }
}

/// The guardrail policy's versions filled up to IAM's five with another default, so that the
/// next sync must delete the oldest non-default version before it creates one.
async fn fill_guardrail_versions(w: &World) -> Result<()> {
    let iam = aws_sdk_iam::Client::new(&w.moto.sdk_config());
    let arn = format!("arn:aws:iam::123456789012:policy/vpce-guard/{GUARDRAIL}-us-west-2");
    let document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "sagemaker:CreatePresignedNotebookInstanceUrl", "Resource": "*"}]});
    loop {
        let versions = iam.list_policy_versions().policy_arn(&arn).send().await?;
        if versions.versions().len() >= 5 {
            return Ok(());
        }
        let create = iam.create_policy_version().policy_arn(&arn).policy_document(document.to_string());
        create.set_as_default(true).send().await?;
    }
}

/// A VPC-only Studio domain's VPC: every studio endpoint and the S3 gateway on the main route
/// table; then a subnet in a new AZ (interface endpoints extended), and one of the domain's
/// subnets moved to a route table of its own (the gateway given that route table).
async fn studio(w: &World, n: u8) -> Result<()> {
    let (vpc, by_az) = w.seed.vpc_with_subnets(n, &AZS, 1).await?;
    let subnets: Vec<String> = by_az.into_values().flatten().collect();
    let domain = w.seed.domain("contract-domain", &vpc, &subnets, true).await?;
    let mut event = events::load("create-domain.json");
    event["detail"]["responseElements"]["domainArn"] =
        json!(format!("arn:aws:sagemaker:us-west-2:123456789012:domain/{domain}"));
    w.invoke("on-domain-created", event, &[]).await?;

    let new_subnet = w.seed.subnet(&vpc, &format!("10.{n}.200.0/24"), "us-west-2d").await?;
    w.invoke("on-subnet-created", events::subnet_created(&new_subnet, &vpc, "us-west-2d"), &[]).await?;
    let table = w.seed.ec2.create_route_table().vpc_id(&vpc).send().await?;
    let table = table.route_table().and_then(|t| t.route_table_id()).context("route table id")?.to_string();
    w.seed.ec2.associate_route_table().route_table_id(&table).subnet_id(&subnets[0]).send().await?;
    w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    Ok(())
}

/// A notebook's VPC holding an interface endpoint for the API service that vpce-guard did not
/// create (no managed tag), in one AZ, without private DNS: adopted with AdoptExisting=true,
/// reported (unmanaged_endpoint, non-compliant) without.
async fn unmanaged_api_endpoint(w: &World, n: u8) -> Result<()> {
    let (vpc, by_az) = w.seed.vpc_with_subnets(n, &AZS, 1).await?;
    let first = by_az["us-west-2a"][0].clone();
    let tag = Tag::builder().key("Name").value("platform-team-api").build();
    let tags =
        TagSpecification::builder().resource_type(aws_sdk_ec2::types::ResourceType::VpcEndpoint).tags(tag).build();
    w.seed
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(API)
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .subnet_ids(&first)
        .private_dns_enabled(false)
        .tag_specifications(tags)
        .send()
        .await?;
    let group = w.seed.notebook_group(&vpc).await?;
    w.seed.notebook("adopt-nb", &first, &group).await?;
    w.invoke("on-notebook-created", events::notebook_created("adopt-nb", &first), &[]).await?;
    Ok(())
}

/// An idle VPC (issue 20) with `PruneIdleAfter` set: its notebook deleted, the sweep marks its
/// endpoints (CreateTags); a notebook back, the sweep unmarks them (DeleteTags); the notebook
/// gone again and the mark older than the grace period, the sweep deletes the endpoints
/// (DeleteVpcEndpoints) and the managed group (DeleteSecurityGroup).
async fn idle_vpc_pruned(w: &World, n: u8) -> Result<()> {
    let (vpc, by_az) = w.seed.vpc_with_subnets(n, &AZS, 1).await?;
    let first = by_az["us-west-2a"][0].clone();
    let group = w.seed.notebook_group(&vpc).await?;
    w.seed.notebook("idle-nb", &first, &group).await?;
    w.invoke("on-notebook-created", events::notebook_created("idle-nb", &first), &[]).await?;
    w.seed.delete_notebook("idle-nb").await?;
    w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    w.seed.notebook("idle-nb", &first, &group).await?;
    w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    w.seed.delete_notebook("idle-nb").await?;
    w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    let ids: Vec<String> = w
        .seed
        .live_endpoints(&vpc)
        .await?
        .values()
        .flatten()
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect();
    w.seed.tag(&ids, vpce_guard::model::TAG_IDLE_SINCE, "2020-01-01T00:00:00Z").await?;
    let pruned = w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    let deletes = pruned.vpcs.iter().flat_map(|v| &v.actions).filter(|a| {
        matches!(
            a,
            vpce_guard::report::Action::DeleteEndpoint { .. } | vpce_guard::report::Action::DeleteSecurityGroup { .. }
        )
    });
    if deletes.count() != ids.len() + 1 {
        bail!("the sweep did not prune {vpc}: {}", pruned.to_text());
    }
    Ok(())
}

#[tokio::test]
async fn every_call_of_every_function_is_allowed_and_every_write_permission_is_needed() -> Result<()> {
    let started = std::time::Instant::now();
    let dir = std::env::temp_dir().join(format!("vpce-guard-permissions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut plan = Vec::new();

    // Defaults; the same calls with CentralEventBusArn set (the functions' code does not read it:
    // it only adds the on-success destination's events:PutEvents, which Lambda uses).
    let w = World::start(&dir, "defaults", &[]).await?;
    w.core(10).await?;
    plan.push(w.plan_entry("defaults", &[]));
    plan.push(w.plan_entry("central event bus", &[("CentralEventBusArn", CENTRAL_BUS)]));

    // Dry run: the write policies are absent; every call must be a read the roles keep.
    let w = World::start(&dir, "dry-run", &[("DryRun", "true")]).await?;
    w.core(20).await?;
    plan.push(w.plan_entry("dry run", &[]));

    // The IAM guardrail: created, then kept in sync at IAM's five versions.
    let w = World::start(&dir, "guardrail", &[("IamGuardrail", GUARDRAIL)]).await?;
    w.core(30).await?;
    fill_guardrail_versions(&w).await?;
    w.invoke("remediate", events::load("scheduled.json"), &[]).await?;
    plan.push(w.plan_entry("guardrail", &[]));

    // Organization policies: organizations:DescribeOrganization at start.
    let w = World::start(&dir, "org", &[("NotebookPolicy", "org-notebooks"), ("ApiPolicy", "org")]).await?;
    aws_sdk_organizations::Client::new(&w.moto.sdk_config()).create_organization().send().await?;
    w.core(40).await?;
    plan.push(w.plan_entry("org policies", &[]));

    // Studio with the S3 gateway (both profiles, so the notebook scenario runs too).
    let studio_parameters = [("Profiles", "notebook-instances,studio"), ("S3Gateway", "true")];
    let w = World::start(&dir, "studio", &studio_parameters).await?;
    w.core(50).await?;
    studio(&w, 52).await?;
    plan.push(w.plan_entry("studio + S3 gateway", &[]));

    // Security Hub: a VPC with an endpoint vpce-guard does not manage (unmanaged_endpoint) is
    // non-compliant; its finding is imported.
    let w = World::start(&dir, "security-hub", &[("SecurityHubFindings", "true")]).await?;
    w.moto.security_hub(true).await?;
    w.core(60).await?;
    unmanaged_api_endpoint(&w, 62).await?;
    plan.push(w.plan_entry("security hub", &[]));

    // PruneIdleAfter: an idle VPC's endpoints marked, unmarked, then deleted with its group.
    let w = World::start(&dir, "prune", &[("PruneIdleAfter", "1d")]).await?;
    w.core(80).await?;
    idle_vpc_pruned(&w, 82).await?;
    plan.push(w.plan_entry("prune idle VPCs", &[]));

    // AdoptExisting: an endpoint vpce-guard did not create is modified in place.
    let w = World::start(&dir, "adopt", &[("AdoptExisting", "true")]).await?;
    w.core(70).await?;
    unmanaged_api_endpoint(&w, 72).await?;
    plan.push(w.plan_entry("adopt existing", &[]));
    let scenarios = started.elapsed();

    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&json!({"sets": plan}))?)?;
    let plan_arg = plan_path.to_string_lossy().into_owned();
    let (ok, report) = contract(&["check", &template(), &plan_arg])?;
    println!("{report}");
    assert!(ok, "the permissions contract fails:\n{report}");
    let (ok, self_test) = contract(&["self-test", &template(), &plan_arg])?;
    println!("{self_test}");
    assert!(ok, "a broken copy of the template passes the checker:\n{self_test}");
    println!("PERMISSIONS scenarios {:.1} s, checks {:.1} s", scenarios.as_secs_f64(), started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
