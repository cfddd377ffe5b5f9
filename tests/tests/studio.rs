//! SageMaker Studio domains against the strict fixture, through the real function binaries
//! under the Runtime API (`on-domain-created`, `on-subnet-created`, `remediate`) with
//! `VPCE_GUARD_PROFILES=notebook-instances,studio` and `VPCE_GUARD_S3_GATEWAY=true` (VPC-only
//! domains need Amazon S3 through a gateway endpoint on their subnets' route tables). moto
//! implements CreateDomain, DescribeDomain and ListDomains, route tables and gateway endpoints;
//! the fixture answers an unknown domain as AWS does (gap o).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use vpce_guard::report::{Outcome, Report};
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
/// The studio profile's services in creation order.
const S3: &str = "com.amazonaws.us-west-2.s3";
const STUDIO: [&str; 5] = [
    API,
    "com.amazonaws.us-west-2.sagemaker.runtime",
    "aws.sagemaker.us-west-2.studio",
    "com.amazonaws.us-west-2.sts",
    "com.amazonaws.us-west-2.logs",
];

struct World {
    moto: Moto,
    seed: Seed,
    env: Vec<(String, String)>,
}

impl World {
    async fn start() -> Result<Self> {
        Self::with_s3_gateway(true).await
    }

    async fn with_s3_gateway(on: bool) -> Result<Self> {
        let moto = Moto::start().await?;
        let seed = Seed::new(&moto.sdk_config());
        let mut env = moto.env();
        env.push(("VPCE_GUARD_PROFILES".into(), "notebook-instances,studio".into()));
        env.push(("VPCE_GUARD_S3_GATEWAY".into(), on.to_string()));
        Ok(Self { moto, seed, env })
    }

    /// The route tables of the VPC's S3 gateway endpoints.
    async fn s3_route_tables(&self, vpc: &str) -> Result<Vec<String>> {
        let endpoints = self.seed.endpoints(vpc).await?;
        let live = endpoints.iter().filter(|e| e.service_name() == Some(S3));
        Ok(live.flat_map(|e| e.route_table_ids().to_vec()).collect())
    }

    /// The VPC's main route table.
    async fn main_route_table(&self, vpc: &str) -> Result<String> {
        let filter = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build();
        let out = self.seed.ec2.describe_route_tables().filters(filter).send().await?;
        let main = out.route_tables().iter().find(|t| t.associations().iter().any(|a| a.main() == Some(true)));
        Ok(main.and_then(|t| t.route_table_id()).unwrap_or_default().to_string())
    }

    /// A VPC with one subnet in each of the three AZs: (vpc, subnets).
    async fn vpc(&self, n: u8) -> Result<(String, Vec<String>)> {
        let (vpc, by_az) = self.seed.vpc_with_subnets(n, &AZS, 1).await?;
        Ok((vpc, by_az.into_values().flatten().collect()))
    }

    async fn invoke(&self, function: &str, payload: Value) -> Result<Report> {
        let function = Function::start(&binary(function), &self.env).await?;
        match function.invoke(payload).await? {
            Ok(value) => Ok(serde_json::from_value(value)?),
            Err(error) => bail!("{}: {}", error.error_type, error.error_message),
        }
    }

    /// `events/create-domain.json` for `domain_id`.
    async fn domain_event(&self, domain_id: &str) -> Result<Report> {
        let mut event = events::load("create-domain.json");
        event["detail"]["responseElements"]["domainArn"] =
            json!(format!("arn:aws:sagemaker:us-west-2:123456789012:domain/{domain_id}"));
        self.invoke("on-domain-created", event).await
    }

    /// Live endpoints of the VPC by service: (count, AZs of the first, private DNS of the first).
    async fn endpoints(&self, vpc: &str) -> Result<BTreeMap<String, (usize, Vec<String>, bool)>> {
        let mut out = BTreeMap::new();
        for (service, list) in self.seed.live_endpoints(vpc).await?.into_iter().filter(|(s, _)| s != S3) {
            let azs = self.seed.endpoint_azs(vpc, &list[0]).await?;
            out.insert(service, (list.len(), azs, list[0].private_dns_enabled() == Some(true)));
        }
        Ok(out)
    }
}

fn created_services(report: &Report) -> Vec<String> {
    report.vpcs[0]
        .actions
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| a["action"] == "create_endpoint")
        .map(|a| a["service"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_vpc_only_domain_gets_every_studio_endpoint_then_a_new_az_extends_them_and_replays_write_nothing(
) -> Result<()> {
    let w = World::start().await?;
    let (vpc, subnets) = w.vpc(60).await?;
    let domain = w.seed.domain("ml-platform", &vpc, &subnets, true).await?;
    w.moto.reset_calls().await?;

    let report = w.domain_event(&domain).await?;

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(created_services(&report), STUDIO, "api first, in one invocation");
    let endpoints = w.endpoints(&vpc).await?;
    assert_eq!(endpoints.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut sorted = STUDIO.to_vec();
        sorted.sort();
        sorted
    });
    for (service, (count, azs, private_dns)) in &endpoints {
        assert_eq!((*count, azs.clone(), *private_dns), (1, AZS.map(String::from).to_vec(), true), "{service}");
    }
    assert_eq!(w.moto.calls().await?.get("CreateVpcEndpoint"), Some(&6), "five interface endpoints and the S3 gateway");
    assert_eq!(w.s3_route_tables(&vpc).await?, [w.main_route_table(&vpc).await?], "the subnets' (main) route table");

    let replay = w.domain_event(&domain).await?;
    assert_eq!((replay.vpcs[0].outcome, replay.api_calls.write), (Outcome::Compliant, 0), "{}", replay.to_text());

    // A subnet in a fourth AZ: every endpoint reaches it, one ModifyVpcEndpoint each.
    let new_subnet = w.seed.subnet(&vpc, "10.60.9.0/24", "us-west-2d").await?;
    w.moto.reset_calls().await?;
    let extended = w.invoke("on-subnet-created", events::subnet_created(&new_subnet, &vpc, "us-west-2d")).await?;
    assert_eq!(extended.vpcs[0].outcome, Outcome::Changed, "{}", extended.to_text());
    let calls = w.moto.calls().await?;
    assert_eq!(calls.get("ModifyVpcEndpoint"), Some(&5), "{calls:?}");
    assert_eq!(calls.get("CreateVpcEndpoint"), None);
    for (service, (_, azs, _)) in w.endpoints(&vpc).await? {
        assert!(azs.contains(&"us-west-2d".to_string()), "{service}: {azs:?}");
    }
    let replay = w.invoke("on-subnet-created", events::subnet_created(&new_subnet, &vpc, "us-west-2d")).await?;
    assert_eq!(replay.api_calls.write, 0, "{}", replay.to_text());
    assert!(replay.api_calls.read <= 8, "compliant studio VPC, cold process: {} reads", replay.api_calls.read);
    println!("STUDIO compliant VPC, CreateSubnet event, cold process: {} reads, 0 writes", replay.api_calls.read);
    Ok(())
}

#[tokio::test]
async fn a_vpc_with_a_notebook_and_a_domain_gets_the_union_one_endpoint_per_service() -> Result<()> {
    let w = World::start().await?;
    let (vpc, subnets) = w.vpc(61).await?;
    let group = w.seed.notebook_group(&vpc).await?;
    w.seed.notebook("nb-union", &subnets[0], &group).await?;
    w.seed.domain("ml-union", &vpc, &subnets, true).await?;

    let sweep = w.invoke("remediate", json!({"vpc_ids": [vpc]})).await?;

    assert_eq!(sweep.vpcs[0].outcome, Outcome::Changed, "{}", sweep.to_text());
    let endpoints = w.endpoints(&vpc).await?;
    let mut want: Vec<&str> = STUDIO.iter().copied().chain([NOTEBOOK]).collect();
    want.sort();
    assert_eq!(endpoints.keys().map(String::as_str).collect::<Vec<_>>(), want);
    assert!(endpoints.values().all(|(count, _, _)| *count == 1), "{endpoints:?}");
    assert_eq!(w.s3_route_tables(&vpc).await?, [w.main_route_table(&vpc).await?]);
    let again = w.invoke("remediate", json!({"vpc_ids": [vpc]})).await?;
    assert_eq!((again.vpcs[0].outcome, again.api_calls.write), (Outcome::Compliant, 0), "{}", again.to_text());
    Ok(())
}

#[tokio::test]
async fn a_public_internet_domain_is_reported_and_not_touched() -> Result<()> {
    let w = World::start().await?;
    let (vpc, subnets) = w.vpc(62).await?;
    let domain = w.seed.domain("ml-public", &vpc, &subnets, false).await?;
    w.moto.reset_calls().await?;

    let report = w.domain_event(&domain).await?;

    assert_eq!(report.vpcs[0].outcome, Outcome::Skipped, "{}", report.to_text());
    assert_eq!(report.vpcs[0].problems[0].code, "studio_public_internet");
    assert_eq!(w.moto.writes().await?, 0);
    assert!(w.seed.live_endpoints(&vpc).await?.is_empty());
    let unknown = w.domain_event("d-000000000000").await?;
    assert!(unknown.ignored.as_deref().is_some_and(|r| r.contains("no longer exists")), "{unknown:?}");
    Ok(())
}

#[tokio::test]
async fn without_s3_gateway_a_vpc_only_domain_without_an_s3_route_is_reported_naming_the_route_table() -> Result<()> {
    let w = World::with_s3_gateway(false).await?;
    let (vpc, subnets) = w.vpc(63).await?;
    let domain = w.seed.domain("ml-nos3", &vpc, &subnets, true).await?;

    let report = w.domain_event(&domain).await?;

    let ours = &report.vpcs[0];
    assert_eq!(ours.outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = ours.problems.iter().find(|p| p.code == "s3_unreachable").expect("s3_unreachable");
    assert!(problem.message.contains(&w.main_route_table(&vpc).await?), "{}", problem.message);
    assert!(w.s3_route_tables(&vpc).await?.is_empty(), "reported, not written");
    assert_eq!(w.endpoints(&vpc).await?.len(), 5, "the interface endpoints are made all the same");
    Ok(())
}

/// A user deletes the S3 gateway endpoint vpce-guard made. The fixture, as EC2 does, answers
/// a reused `ClientToken` with the endpoint that token made even once it is deleted (rule b
/// of `tests/fixture/moto_strict.py`): the next run must make a new gateway, not report the
/// deleted one as created.
#[tokio::test]
async fn a_deleted_s3_gateway_is_created_again_then_nothing_is_written() -> Result<()> {
    let w = World::start().await?;
    let (vpc, subnets) = w.vpc(64).await?;
    let domain = w.seed.domain("ml-regate", &vpc, &subnets, true).await?;
    let main = w.main_route_table(&vpc).await?;
    w.domain_event(&domain).await?;
    let gateway = live_s3_gateways(&w, &vpc).await?;
    assert_eq!(gateway.iter().map(|(_, tables)| tables.clone()).collect::<Vec<_>>(), [vec![main.clone()]]);

    w.seed.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&gateway[0].0).send().await?;
    w.moto.settle_all().await?;
    let again = w.domain_event(&domain).await?;

    assert_eq!(again.vpcs[0].outcome, Outcome::Changed, "{}", again.to_text());
    let now = live_s3_gateways(&w, &vpc).await?;
    assert_eq!(now.len(), 1, "one live gateway: {now:?}");
    assert_ne!(now[0].0, gateway[0].0, "a new endpoint, not the deleted one");
    assert_eq!(now[0].1, [main], "on the subnets' route table");
    let replay = w.domain_event(&domain).await?;
    assert_eq!((replay.vpcs[0].outcome, replay.api_calls.write), (Outcome::Compliant, 0), "{}", replay.to_text());
    Ok(())
}

/// The VPC's live S3 gateway endpoints: (id, route tables).
async fn live_s3_gateways(w: &World, vpc: &str) -> Result<Vec<(String, Vec<String>)>> {
    let endpoints = w.seed.endpoints(vpc).await?;
    let live = endpoints.iter().filter(|e| {
        e.service_name() == Some(S3) && e.state().is_some_and(|s| s.as_str().eq_ignore_ascii_case("available"))
    });
    Ok(live.map(|e| (e.vpc_endpoint_id().unwrap_or_default().to_string(), e.route_table_ids().to_vec())).collect())
}
