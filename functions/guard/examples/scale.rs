//! Scale check on the in-memory fake account: sweeps over 100 / 1,000 / 5,000 VPCs of 6
//! subnets (3 AZs × 2), printing AWS calls and plan time. A benchmark, not a test: run it
//! in release (`cargo run --release -p vpce-guard --features testing --example scale`), and read the figures.
//!
//! For each size, two layouts: every VPC enrolled (the worst case), and one VPC in ten
//! enrolled (a typical account, where most VPCs hold no notebook).

use std::time::{Duration, Instant};

use vpce_guard::config::Config;
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::model::{Tags, TAG_ENFORCE};
use vpce_guard::{Guard, RunOptions};

fn account(vpcs: usize, enrolled_every: usize) -> FakeAccount {
    let fake = FakeAccount::new();
    for v in 0..vpcs {
        let vpc_id = format!("vpc-{v:017x}");
        fake.add_vpc(&vpc_id, &format!("10.{}.{}.0/24", v / 256, v % 256));
        if v % enrolled_every == 0 {
            fake.with_state(|s| {
                let vpc = s.vpcs.get_mut(&vpc_id).expect("just added");
                vpc.tags = Tags::from([(TAG_ENFORCE.to_string(), "true".to_string())]);
            });
        }
        for (a, az) in ["us-west-2a", "us-west-2b", "us-west-2c"].iter().enumerate() {
            for n in 0..2 {
                fake.add_subnet(&vpc_id, &format!("subnet-{v:012x}{a}{n:04x}"), az);
            }
        }
    }
    fake
}

fn sweep() -> Parsed {
    Parsed::Run(Trigger::Manual { vpc_ids: None, dry_run: None })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> vpce_guard::Result<()> {
    let config = Config::default();
    println!(
        "| VPCs | enrolled | first sweep reads | first sweep writes | first sweep | compliant sweep reads | compliant sweep | plan, enrolled VPCs (median of 5) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for vpcs in [100, 1_000, 5_000] {
        for enrolled_every in [1, 10] {
            let guard = Guard::new(account(vpcs, enrolled_every), config.clone());
            let started = Instant::now();
            let first = guard.run_with(sweep(), &RunOptions::default()).await?;
            let first_time = started.elapsed();
            let started = Instant::now();
            let second = guard.run_with(sweep(), &RunOptions::default()).await?;
            let second_time = started.elapsed();
            assert_eq!(second.api_calls.write, 0, "a converged account needs no write");

            let mut observations = guard.observe(&vpce_guard::account::VpcSelector::All, true, None).await?;
            observations.retain(|obs| {
                matches!(vpce_guard::plan::enrolment(obs, &config), vpce_guard::plan::Enrolment::Enrolled(_))
            });
            for obs in &mut observations {
                guard.read_dns(obs).await?;
            }
            let mut times: Vec<Duration> = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    let writes: usize =
                        observations.iter().map(|obs| vpce_guard::plan::plan(obs, &config).writes.len()).sum();
                    assert_eq!(writes, 0);
                    started.elapsed()
                })
                .collect();
            times.sort();
            println!(
                "| {vpcs} | {} | {} | {} | {:.0} ms | {} | {:.0} ms | {:.1} ms |",
                vpcs.div_ceil(enrolled_every),
                first.api_calls.read,
                first.api_calls.write,
                first_time.as_secs_f64() * 1e3,
                second.api_calls.read,
                second_time.as_secs_f64() * 1e3,
                times[2].as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
