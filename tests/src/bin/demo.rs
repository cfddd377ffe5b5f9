//! The demo: on the strict moto fixture, a `CreateNotebookInstance` event turns a VPC with no
//! endpoints into one with both SageMaker interface endpoints in every AZ, then a
//! `CreateSubnet` event in a new AZ extends them, then a replay writes nothing (`pending` while
//! AWS adds the new network interfaces, `compliant` after). The real function binaries run
//! under a local Lambda Runtime API, fed with the files of `events/`; the fixture keeps new and
//! modified endpoints `pending` for 2 s, as AWS does for a minute or two.

use anyhow::{Context, Result};
use vpce_guard::report::Report;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
/// How long the fixture keeps new and modified endpoints `pending`.
const PENDING: std::time::Duration = std::time::Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<()> {
    println!("== starting the strict moto fixture on 127.0.0.1");
    let moto = Moto::start().await?;
    moto.configure(
        serde_json::json!({"pending_seconds": PENDING.as_secs_f64(), "modify_pending_seconds": PENDING.as_secs_f64()}),
    )
    .await?;
    let seed = Seed::new(&moto.sdk_config());

    println!("== seeding: VPC 10.0.0.0/16, 2 subnets in each of {}, notebook fraud-model-dev", AZS.join(", "));
    let (vpc, by_az) = seed.vpc_with_subnets(0, &AZS, 2).await?;
    let notebook_subnet = by_az["us-west-2a"][0].clone();
    let group = seed.notebook_group(&vpc).await?;
    seed.notebook("fraud-model-dev", &notebook_subnet, &group).await?;
    show_state(&seed, &vpc).await?;

    println!("\n== CreateNotebookInstance event (events/create-notebook-instance.json) → on-notebook-created");
    let on_notebook = Function::start(&binary("on-notebook-created"), &moto.env()).await?;
    let event = events::notebook_created("fraud-model-dev", &notebook_subnet);
    print_report(on_notebook.invoke(event).await?)?;
    show_state(&seed, &vpc).await?;

    println!("\n== {} s later (AWS: a minute or two) the endpoints are available", PENDING.as_secs());
    tokio::time::sleep(PENDING).await;
    println!(
        "\n== a subnet is created in us-west-2d; CreateSubnet event (events/create-subnet.json) → on-subnet-created"
    );
    let new_subnet = seed.subnet(&vpc, "10.0.200.0/24", "us-west-2d").await?;
    let on_subnet = Function::start(&binary("on-subnet-created"), &moto.env()).await?;
    let event = events::subnet_created(&new_subnet, &vpc, "us-west-2d");
    print_report(on_subnet.invoke(event.clone()).await?)?;
    show_state(&seed, &vpc).await?;

    println!("\n== the same CreateSubnet event again (EventBridge delivers at least once), right away");
    print_report(on_subnet.invoke(event.clone()).await?)?;
    println!("\n== and once AWS has added the interfaces ({} s later)", PENDING.as_secs());
    tokio::time::sleep(PENDING).await;
    print_report(on_subnet.invoke(event).await?)?;
    println!("\nfixture call counts: {:?}", moto.calls().await?);
    Ok(())
}

fn print_report(outcome: vpce_guard_tests::runtime::Outcome) -> Result<()> {
    let value = outcome.map_err(|e| anyhow::anyhow!("the function failed: {}: {}", e.error_type, e.error_message))?;
    let report: Report = serde_json::from_value(value).context("the response is a report")?;
    print!("{}", report.to_text());
    Ok(())
}

async fn show_state(seed: &Seed, vpc: &str) -> Result<()> {
    let (support, hostnames) = seed.dns(vpc).await?;
    println!("-- account state of {vpc}: enableDnsSupport={support} enableDnsHostnames={hostnames}");
    let endpoints = seed.live_endpoints(vpc).await?;
    if endpoints.is_empty() {
        println!("   no interface endpoint");
    }
    for (service, list) in endpoints {
        for endpoint in list {
            let azs = seed.endpoint_azs(vpc, &endpoint).await?;
            let groups: Vec<&str> = endpoint.groups().iter().filter_map(|g| g.group_id()).collect();
            println!(
                "   {service}: {} {} private_dns={} AZs={} groups={}",
                endpoint.vpc_endpoint_id().unwrap_or_default(),
                endpoint.state().map(|s| s.as_str()).unwrap_or_default(),
                endpoint.private_dns_enabled().unwrap_or(false),
                azs.join(","),
                groups.join(",")
            );
            if service.ends_with(".notebook") {
                let policy: serde_json::Value = serde_json::from_str(endpoint.policy_document().unwrap_or("{}"))?;
                println!("     policy resources: {}", policy["Statement"][0]["Resource"]);
            }
            for group in groups {
                let sources: Vec<String> = seed.https_sources(group).await?.into_iter().collect();
                if !sources.is_empty() {
                    println!("     {group} allows TCP 443 from {}", sources.join(", "));
                }
            }
        }
    }
    Ok(())
}
