//! Micro-benchmark (divan) of `vpce_guard::plan::plan` on one large VPC: 6 AZs × 50 subnets,
//! with 100 (or 1,000: past the 20,480-character policy limit, so the fallback policy) notebook
//! instances spread over the subnets. The observations are what `Guard::observe` reads from the
//! in-memory fake account:
//!
//! - `first_enrolment`: no endpoint, no managed group, DNS hostnames off (the most writes);
//! - `compliant`: after a sweep, with both endpoints existing (an empty plan, the common case);
//! - `drift`: those endpoints missing two AZs each and the notebook endpoint's policy changed.
//!
//! Run it through `scripts/bench.sh`, or `cargo bench -p vpce-guard --bench plan`.

use divan::{black_box, Bencher};
use vpce_guard::account::VpcSelector;
use vpce_guard::config::Config;
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::model::Observation;
use vpce_guard::plan::plan;
use vpce_guard::{testing, Guard};

const AZS: [&str; 6] = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d", "us-west-2e", "us-west-2f"];
const SUBNETS_PER_AZ: usize = 50;
const NOTEBOOKS: [usize; 2] = [100, 1_000];

fn main() {
    divan::main();
}

/// The fake account holding the large VPC.
fn account(notebooks: usize) -> FakeAccount {
    let fake = FakeAccount::new();
    fake.with_state(|s| s.service_azs = testing::service_azs(&AZS));
    let vpc = "vpc-00000000000000001";
    fake.add_vpc(vpc, "10.0.0.0/16");
    let mut subnets = Vec::new();
    for (a, az) in AZS.iter().enumerate() {
        for n in 0..SUBNETS_PER_AZ {
            let id = format!("subnet-{a:02}{n:015x}");
            fake.add_subnet(vpc, &id, az);
            subnets.push(id);
        }
    }
    for n in 0..notebooks {
        fake.add_notebook(&format!("notebook-{n:04}"), &subnets[n * 7 % subnets.len()]);
    }
    fake
}

async fn observe(guard: &Guard<FakeAccount>) -> Observation {
    let mut observations = guard.observe(&VpcSelector::All, true, None).await.expect("observe");
    assert_eq!(observations.len(), 1);
    let mut obs = observations.remove(0);
    guard.read_dns(&mut obs).await.expect("DNS attributes");
    obs
}

/// (before the first enrolment, compliant, drifted) observations of the large VPC.
fn observations(notebooks: usize) -> [Observation; 3] {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let config = Config::default();
        let guard = Guard::new(account(notebooks), config.clone());
        let before = observe(&guard).await;
        let sweep = Parsed::Run(Trigger::Manual { vpc_ids: None, dry_run: None });
        guard.run(sweep).await.expect("sweep");
        guard.account().settle();
        let compliant = observe(&guard).await;
        assert_eq!(compliant.endpoints.len(), 2, "both endpoints exist");
        assert!(plan(&compliant, &config).is_empty(), "the VPC is compliant after a sweep");
        let mut drift = compliant.clone();
        for endpoint in &mut drift.endpoints {
            endpoint.subnet_ids.truncate(AZS.len() - 2);
            if endpoint.service.ends_with(".notebook") {
                endpoint.policy = None;
            }
        }
        assert_eq!(plan(&drift, &config).writes.len(), 2, "one modify per endpoint");
        [before, compliant, drift]
    })
}

fn bench_plan(bencher: Bencher, notebooks: usize, which: usize) {
    let obs = observations(notebooks)[which].clone();
    let config = Config::default();
    bencher.bench(|| plan(black_box(&obs), black_box(&config)));
}

#[divan::bench(args = NOTEBOOKS)]
fn first_enrolment(bencher: Bencher, notebooks: usize) {
    bench_plan(bencher, notebooks, 0);
}

#[divan::bench(args = NOTEBOOKS)]
fn compliant(bencher: Bencher, notebooks: usize) {
    bench_plan(bencher, notebooks, 1);
}

#[divan::bench(args = NOTEBOOKS)]
fn drift(bencher: Bencher, notebooks: usize) {
    bench_plan(bencher, notebooks, 2);
}
