//! The drift queue end to end: the real `remediate` binary under the Lambda Runtime API, fed
//! what Lambda's SQS event source hands it (one delivery of many EventBridge drift events,
//! `events/sqs-drift-batch.json`'s shape), against the strict fixture. Each scenario runs twice
//! on a fresh account: the events as one delivery, and as one invocation each (how they arrived
//! before the queue). Figures are printed on `COALESCING` lines (`-- --nocapture`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use vpce_guard::report::{Outcome, Report};
use vpce_guard_tests::moto::{is_write, Moto};
use vpce_guard_tests::proxy::{FaultConfig, FaultKind, Proxy};
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
/// VPCs in the account, each with a notebook.
const VPCS: u8 = 5;

struct World {
    moto: Moto,
    seed: Seed,
    remediate: Function,
    vpcs: Vec<String>,
    /// Between the function and the fixture (transparent until a test sets faults).
    proxy: Proxy,
}

impl World {
    /// Five VPCs with a notebook each, brought into line by one sweep.
    async fn start(env: &[(&str, &str)]) -> Result<Self> {
        let moto = Moto::start().await?;
        let proxy = Proxy::in_front_of(&moto, 19).await?;
        let seed = Seed::new(&moto.sdk_config());
        let mut vpcs = Vec::new();
        for n in 0..VPCS {
            let (vpc, subnets) = seed.vpc_with_subnets(n + 20, &AZS, 1).await?;
            let group = seed.notebook_group(&vpc).await?;
            seed.notebook(&format!("nb-{n}"), &subnets[AZS[0]][0], &group).await?;
            vpcs.push(vpc);
        }
        let mut vars = proxy.env(&moto);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let remediate = Function::start(&binary("remediate"), &vars).await?;
        let world = Self { moto, seed, remediate, vpcs, proxy };
        let first = world.invoke(json!({})).await?;
        assert_eq!(first.count(Outcome::Changed), VPCS as usize, "{}", first.to_text());
        Ok(world)
    }

    async fn invoke(&self, payload: Value) -> Result<Report> {
        Ok(serde_json::from_value(self.invoke_raw(payload).await?)?)
    }

    /// The function's answer as Lambda reads it.
    async fn invoke_raw(&self, payload: Value) -> Result<Value> {
        match self.remediate.invoke(payload).await? {
            Ok(value) => Ok(value),
            Err(error) => bail!("{}: {}", error.error_type, error.error_message),
        }
    }

    /// Someone revokes VPC 0's managed rule and deletes VPC 1's notebook endpoint.
    async fn drift(&self) -> Result<Drifted> {
        let group = self.seed.managed_group(&self.vpcs[0]).await?;
        self.seed
            .ec2
            .revoke_security_group_ingress()
            .group_id(&group)
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .cidr_ip("10.20.0.0/16")
            .send()
            .await?;
        let notebook_endpoint =
            self.seed.live_endpoints(&self.vpcs[1]).await?[NOTEBOOK][0].vpc_endpoint_id().unwrap().to_string();
        self.seed.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&notebook_endpoint).send().await?;
        let mut revoke = events::load("revoke-security-group-ingress.json");
        revoke["detail"]["requestParameters"]["groupId"] = json!(group);
        let delete = events::drift("delete-vpc-endpoints.json", &self.vpcs[1], &notebook_endpoint);
        let dns_on = events::drift("modify-vpc-attribute-dns-on.json", &self.vpcs[2], "");
        Ok(Drifted { group, revoke, delete, dns_on })
    }

    /// Delivers `bodies` as one SQS delivery, or one invocation each; returns the reports and
    /// the AWS calls served meanwhile: (reads, writes).
    async fn deliver(&self, bodies: &[Value], batched: bool) -> Result<(Vec<Report>, (u64, u64))> {
        self.moto.reset_calls().await?;
        let mut reports = Vec::new();
        if batched {
            let answer = self.invoke_raw(sqs_delivery(bodies)).await?;
            // Lambda reads `batchItemFailures` from the answer (SqsBatchResponse's shape): present
            // for every delivery, empty when every record is done.
            assert!(
                answer.get("batchItemFailures").is_some_and(Value::is_array),
                "a delivery is answered as a partial batch response: {answer}"
            );
            reports.push(serde_json::from_value(answer)?);
        } else {
            for body in bodies {
                reports.push(self.invoke(body.clone()).await?);
            }
        }
        let calls: BTreeMap<String, u64> = self.moto.calls().await?;
        let writes = calls.iter().filter(|(a, _)| is_write(a)).map(|(_, n)| n).sum();
        let reads = calls.iter().filter(|(a, _)| !is_write(a)).map(|(_, n)| n).sum();
        Ok((reports, (reads, writes)))
    }
}

/// What [`World::drift`] did, and the events that record it.
struct Drifted {
    /// VPC 0's managed group, its rule revoked.
    group: String,
    /// The revoke's event.
    revoke: Value,
    /// The deletion's event (VPC 1's notebook endpoint).
    delete: Value,
    /// VPC 2's DNS support turned on: needs nothing.
    dns_on: Value,
}

/// What Lambda's SQS event source hands the function: one record per message, the body the
/// EventBridge event as the rule sent it (no input transformer).
fn sqs_delivery(bodies: &[Value]) -> Value {
    let ids: Vec<String> = (0..bodies.len()).map(message_id).collect();
    sqs_records(bodies, &ids)
}

/// The `messageId` [`sqs_delivery`] gives its `i`-th record.
fn message_id(i: usize) -> String {
    format!("4f1b7a52-0000-4000-8000-{i:012}")
}

/// [`sqs_delivery`] with the given message ids.
fn sqs_records(bodies: &[Value], ids: &[String]) -> Value {
    let template = events::load("sqs-drift-batch.json")["Records"][0].clone();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(ids[i]);
            record["body"] = json!(body.to_string());
            record
        })
        .collect();
    json!({ "Records": records })
}

/// Runs of the reports that looked at VPCs, and of those how many were sweeps.
fn runs(reports: &[Report]) -> (usize, usize) {
    let looked = reports.iter().filter(|r| !r.vpcs.is_empty()).count();
    let sweeps = reports.iter().filter(|r| r.vpcs.len() >= VPCS as usize).count();
    (looked, sweeps)
}

/// 100 events in a minute: 50 revokes of one VPC's managed rule (someone "tidying" the group),
/// 30 deletions of another VPC's notebook endpoint, 20 DNS attributes turned on. As one
/// delivery: one pass over the two VPCs, two writes; one by one: 80 passes.
#[tokio::test]
async fn a_burst_of_100_drift_events_is_one_pass_over_the_vpcs_they_name() -> Result<()> {
    let mut figures = Vec::new();
    for batched in [true, false] {
        let w = World::start(&[]).await?;
        let Drifted { group, revoke, delete, dns_on } = w.drift().await?;
        let bodies: Vec<Value> = (0..100)
            .map(|i| match i % 10 {
                0..=4 => revoke.clone(),
                5..=7 => delete.clone(),
                _ => dns_on.clone(),
            })
            .collect();

        let started = Instant::now();
        let (reports, (reads, writes)) = w.deliver(&bodies, batched).await?;
        let elapsed = started.elapsed();

        assert!(w.seed.https_sources(&group).await?.contains("10.20.0.0/16"), "the rule is back");
        assert_eq!(w.seed.live_endpoints(&w.vpcs[1]).await?[NOTEBOOK].len(), 1, "the endpoint is back");
        assert_eq!(writes, 2, "AuthorizeSecurityGroupIngress and CreateVpcEndpoint, once each");
        let (looked, sweeps) = runs(&reports);
        if batched {
            let batch = reports[0].batch.clone().expect("batch summary");
            assert_eq!((batch.records, batch.drift_events, batch.ignored_events, batch.sweep), (100, 80, 20, false));
            assert_eq!(reports[0].vpcs.len(), 2, "{}", reports[0].to_text());
        }
        figures.push(format!(
            "{}: {} invocation(s), {looked} VPC pass(es), {sweeps} sweep(s), {reads} reads, {writes} writes, {} ms",
            if batched { "one delivery" } else { "one by one" },
            reports.len(),
            elapsed.as_millis()
        ));
    }
    println!("COALESCING 100 drift events naming 2 of {VPCS} VPCs (20 need nothing): {}", figures.join("; "));
    Ok(())
}

/// Events that name no VPC that can still be found (notebooks deleted under `vpc-notebooks`,
/// whose endpoint policies list notebooks): one sweep for the whole delivery instead of one
/// per event.
#[tokio::test]
async fn a_burst_of_100_events_that_name_no_vpc_costs_one_sweep() -> Result<()> {
    let mut figures = Vec::new();
    for batched in [true, false] {
        let w = World::start(&[("VPCE_GUARD_NOTEBOOK_POLICY", "vpc-notebooks")]).await?;
        let bodies: Vec<Value> = (0..100).map(|_| events::load("delete-notebook-instance.json")).collect();

        let started = Instant::now();
        let (reports, (reads, writes)) = w.deliver(&bodies, batched).await?;
        let elapsed = started.elapsed();

        let (looked, sweeps) = runs(&reports);
        assert_eq!(sweeps, if batched { 1 } else { 100 });
        assert_eq!(looked, sweeps);
        assert_eq!(writes, 0, "nothing had changed");
        if batched {
            assert!(reports[0].batch.as_ref().is_some_and(|b| b.sweep));
        }
        figures.push(format!(
            "{}: {sweeps} sweep(s), {reads} reads, {writes} writes, {} ms",
            if batched { "one delivery" } else { "one by one" },
            elapsed.as_millis()
        ));
    }
    println!("COALESCING 100 DeleteNotebookInstance events, {VPCS} VPCs, vpc-notebooks: {}", figures.join("; "));
    Ok(())
}

/// Under the default notebook policy a deleted notebook changes no endpoint policy: no call.
#[tokio::test]
async fn deleted_notebooks_under_the_default_policy_cost_nothing() -> Result<()> {
    let w = World::start(&[]).await?;
    let bodies: Vec<Value> = (0..10).map(|_| events::load("delete-notebook-instance.json")).collect();

    let (reports, (reads, writes)) = w.deliver(&bodies, true).await?;

    assert_eq!((reads, writes), (0, 0));
    assert!(reports[0].ignored.as_deref().is_some_and(|r| r.contains("vpc-notebooks")), "{:?}", reports[0]);
    Ok(())
}

/// EC2 fails a whole `DescribeVpcEndpoints` for one unknown id (moto as AWS:
/// `InvalidVpcEndpointId.NotFound`); a delivery naming endpoints that exist beside one that no
/// longer does still finds the ones that exist. Group ids go through a filter, which ignores
/// unknown ids.
#[tokio::test]
async fn an_unknown_id_does_not_hide_the_endpoints_and_groups_that_exist() -> Result<()> {
    use vpce_guard::account::{Endpoints, Groups};
    let w = World::start(&[]).await?;
    let account = vpce_guard::aws::SdkAccount::new(&w.moto.sdk_config())?;
    let endpoint = w.seed.live_endpoints(&w.vpcs[0]).await?[NOTEBOOK][0].vpc_endpoint_id().unwrap().to_string();
    let group = w.seed.managed_group(&w.vpcs[1]).await?;
    let gone = "vpce-0000000000000dead".to_string();

    let all_at_once =
        w.seed.ec2.describe_vpc_endpoints().vpc_endpoint_ids(&endpoint).vpc_endpoint_ids(&gone).send().await;
    assert!(all_at_once.is_err(), "the fixture fails the whole call, as EC2 does");
    let found = account.endpoints_by_id(&[endpoint.clone(), gone]).await?;
    assert_eq!(
        found.iter().map(|e| (e.id.as_str(), e.vpc_id.as_str())).collect::<Vec<_>>(),
        [(endpoint.as_str(), w.vpcs[0].as_str())]
    );
    let groups = account.groups_by_id(&[group.clone(), "sg-0000000000000dead".into()]).await?;
    assert_eq!(
        groups.iter().map(|g| (g.id.as_str(), g.vpc_id.as_str())).collect::<Vec<_>>(),
        [(group.as_str(), w.vpcs[1].as_str())]
    );
    Ok(())
}

/// Lambda's partial batch response (`ReportBatchItemFailures`): a delivery naming two VPCs,
/// one of which cannot be written (every `AuthorizeSecurityGroupIngress` fails, after the SDK's
/// retries): exactly the records that named that VPC come back in `batchItemFailures`, with the
/// unreadable one; those of the VPC brought into line, and the one that needed nothing, do not.
/// Delivered again once AWS answers, the returned records converge and nothing comes back.
#[tokio::test]
async fn the_records_of_a_vpc_that_failed_come_back_to_the_queue_and_the_others_do_not() -> Result<()> {
    let w = World::start(&[]).await?;
    let Drifted { group, revoke, delete, dns_on } = w.drift().await?;
    let bodies = [revoke.clone(), delete.clone(), revoke.clone(), dns_on, delete, revoke, json!("{not json")];
    w.proxy.set(
        FaultConfig::faults(1.0).with_kinds(&[FaultKind::InternalError]).targeting("AuthorizeSecurityGroupIngress"),
    );

    let answer = w.invoke_raw(sqs_delivery(&bodies)).await?;

    let returned: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .map(|items| items.iter().filter_map(|item| item["itemIdentifier"].as_str()).collect())
        .unwrap_or_default();
    let expected = [message_id(0), message_id(2), message_id(5), message_id(6)];
    assert_eq!(returned, expected, "the revokes of the failed VPC and the unreadable record: {answer}");
    let report: Report = serde_json::from_value(answer)?;
    assert_eq!(w.seed.live_endpoints(&w.vpcs[1]).await?[NOTEBOOK].len(), 1, "the other VPC was brought into line");
    assert!(!w.seed.https_sources(&group).await?.contains("10.20.0.0/16"), "{}", report.to_text());

    w.proxy.set(FaultConfig::default());
    let again: Vec<Value> = [0, 2, 5].iter().map(|&i| bodies[i].clone()).collect();
    let ids: Vec<String> = [0, 2, 5].into_iter().map(message_id).collect();
    let retry = w.invoke_raw(sqs_records(&again, &ids)).await?;
    assert_eq!(retry["batchItemFailures"], json!([]), "{retry}");
    assert!(w.seed.https_sources(&group).await?.contains("10.20.0.0/16"), "the rule is back on the retry");
    Ok(())
}
