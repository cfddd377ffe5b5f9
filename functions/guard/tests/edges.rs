//! AWS behaviour at the edges, against the in-memory [`FakeAccount`] that models it: endpoints
//! `pending` again after a modify that adds subnets, and deleted endpoints that keep their
//! private DNS name while `deleting`.

use vpce_guard::config::{api_service, notebook_service, Config, NotebookPolicy};
use vpce_guard::events::{Drift, Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::model::{EndpointState, TAG_ENFORCE, TAG_PRIVATE_DNS};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::testing::REGION;
use vpce_guard::Guard;

const VPC: &str = "vpc-0e0e0e0e0e0e0e0e0";

fn guard_with(config: Config) -> Guard<FakeAccount> {
    Guard::new(FakeAccount::new(), config).with_visibility_retries(Vec::new())
}

/// An enforced VPC with a subnet in us-west-2a and us-west-2b, reconciled once.
async fn reconciled(guard: &Guard<FakeAccount>) {
    let fake = guard.account();
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into());
    });
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    fake.add_subnet(VPC, "subnet-0e0000000000000b1", "us-west-2b");
    let first = run(guard, Trigger::Manual { vpc_ids: Some(vec![VPC.into()]), dry_run: None }).await;
    assert_eq!(first.vpcs[0].outcome, Outcome::Changed, "{}", first.to_text());
}

async fn run(guard: &Guard<FakeAccount>, trigger: Trigger) -> Report {
    guard.run(Parsed::Run(trigger)).await.expect("run")
}

fn writes(fake: &FakeAccount) -> usize {
    fake.snapshot().writes.len()
}

#[tokio::test]
async fn a_modify_that_adds_subnets_leaves_endpoints_pending_and_the_replay_writes_nothing() {
    let guard = guard_with(Config::default());
    reconciled(&guard).await;
    let fake = guard.account();
    fake.with_state(|s| s.pending_after_modify = true);
    fake.add_subnet(VPC, "subnet-0e0000000000000c1", "us-west-2c");
    let event = || Trigger::SubnetCreated { subnet_id: "subnet-0e0000000000000c1".into(), vpc_id: VPC.into() };

    let changed = run(&guard, event()).await;
    assert_eq!(changed.vpcs[0].outcome, Outcome::Changed, "{}", changed.to_text());
    assert_eq!(changed.api_calls.write, 2, "one ModifyVpcEndpoint per endpoint");
    assert!(fake.live_endpoints(VPC).iter().all(|e| e.state == EndpointState::Pending), "AWS adds the interfaces");

    let replay = run(&guard, event()).await;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Pending, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);

    fake.settle();
    let settled = run(&guard, event()).await;
    assert_eq!(settled.vpcs[0].outcome, Outcome::Compliant, "{}", settled.to_text());
    assert_eq!(settled.api_calls.write, 0);
}

#[tokio::test]
async fn a_policy_lost_while_the_endpoint_is_pending_is_repaired_by_the_next_run() {
    let strict = Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() };
    let guard = guard_with(strict);
    let fake = guard.account();
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    fake.add_notebook("nb-1", "subnet-0e0000000000000a1");
    run(&guard, Trigger::NotebookCreated { name: "nb-1".into() }).await;
    // A second notebook's event ran concurrently with an older view: its policy write was lost,
    // and the endpoint is pending (a subnet was just added) when this run re-checks.
    fake.add_notebook("nb-2", "subnet-0e0000000000000a1");
    let notebook_endpoint = notebook_service(REGION);
    fake.with_state(|s| {
        for e in s.endpoints.values_mut().filter(|e| e.service == notebook_endpoint) {
            e.state = EndpointState::Pending;
        }
    });

    let during = run(&guard, Trigger::NotebookCreated { name: "nb-2".into() }).await;
    assert_eq!(during.vpcs[0].outcome, Outcome::Pending, "{}", during.to_text());
    assert_eq!(during.api_calls.write, 0, "no modify while pending");

    fake.settle();
    let sweep = run(&guard, Trigger::Scheduled).await;
    assert_eq!(sweep.api_calls.write, 1, "{}", sweep.to_text());
    let endpoint = fake.live_endpoints(VPC).into_iter().find(|e| e.service == notebook_endpoint).unwrap();
    let policy = endpoint.policy.unwrap();
    assert!(policy.contains("nb-1") && policy.contains("nb-2"), "{policy}");
}

#[tokio::test]
async fn a_deleted_endpoint_is_replaced_and_private_dns_returns_once_its_name_is_free() {
    let guard = guard_with(Config::default());
    reconciled(&guard).await;
    let fake = guard.account();
    let api = api_service(REGION);
    let old = fake.live_endpoints(VPC).into_iter().find(|e| e.service == api).unwrap();
    fake.delete_endpoint(&old.id);

    let drift = Trigger::Drift(Drift { endpoint_ids: vec![old.id.clone()], ..Drift::new("DeleteVpcEndpoints") });
    let replaced = run(&guard, drift).await;

    let vpc = &replaced.vpcs[0];
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", replaced.to_text());
    assert!(vpc.problems.iter().any(|p| p.code == "private_dns_waiting"), "{}", replaced.to_text());
    assert!(!vpc.problems.iter().any(|p| p.code == "private_dns_conflict"), "{}", replaced.to_text());
    let new: Vec<_> = fake.live_endpoints(VPC).into_iter().filter(|e| e.service == api).collect();
    assert_eq!(new.len(), 1);
    assert_ne!(new[0].id, old.id);
    assert!(!new[0].private_dns, "the name is still held by the deleting endpoint");
    assert_eq!(new[0].tags.get(TAG_PRIVATE_DNS), None, "not marked as a lasting conflict");
    let creates = fake.snapshot().writes.iter().filter(|w| *w == "CreateVpcEndpoint").count();
    assert_eq!(creates, 3, "no create refused by AWS: two at first, one replacement");

    // Still deleting: a replay waits without writing.
    let before = writes(fake);
    let waiting = run(&guard, Trigger::Scheduled).await;
    assert_eq!(writes(fake), before, "{}", waiting.to_text());

    fake.finish_deletions();
    let sweep = run(&guard, Trigger::Scheduled).await;
    assert_eq!(sweep.api_calls.write, 1, "one ModifyVpcEndpoint turns private DNS on: {}", sweep.to_text());
    let live: Vec<_> = fake.live_endpoints(VPC).into_iter().filter(|e| e.service == api).collect();
    assert_eq!(live.len(), 1);
    assert!(live[0].private_dns);
    assert_eq!(run(&guard, Trigger::Scheduled).await.api_calls.write, 0);
}

#[tokio::test]
async fn an_endpoint_tagged_conflict_gets_private_dns_once_nothing_holds_the_name() {
    let guard = guard_with(Config::default());
    reconciled(&guard).await;
    let fake = guard.account();
    let api = api_service(REGION);
    // An earlier version (or a run that met a deleting endpoint) left the tag and no private DNS.
    fake.with_state(|s| {
        let endpoint = s.endpoints.values_mut().find(|e| e.service == api).unwrap();
        endpoint.private_dns = false;
        endpoint.tags.insert(TAG_PRIVATE_DNS.into(), "conflict".into());
    });

    let sweep = run(&guard, Trigger::Scheduled).await;

    assert_eq!(sweep.api_calls.write, 1, "{}", sweep.to_text());
    assert!(fake.live_endpoints(VPC).iter().all(|e| e.private_dns));
}

#[tokio::test]
async fn a_notebook_in_a_subnet_shared_through_ram_is_reported_not_failed_and_nothing_else_is_read() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    let owner = "444455556666";
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().owner_id = owner.into();
        s.subnets.get_mut("subnet-0e0000000000000a1").unwrap().owner_id = owner.into();
    });
    fake.add_notebook("participant-nb", "subnet-0e0000000000000a1");

    let report = run(&guard, Trigger::NotebookCreated { name: "participant-nb".into() }).await;

    let vpc = &report.vpcs[0];
    assert_eq!(vpc.outcome, Outcome::Skipped, "{}", report.to_text());
    let problem = vpc.problems.iter().find(|p| p.code == "shared_vpc").expect("shared_vpc");
    assert_eq!(problem.severity, vpce_guard::report::Severity::Warning);
    assert!(problem.message.contains(owner));
    assert_eq!(report.api_calls.read, 3, "identity, the notebook and its subnet; nothing a participant cannot read");
    assert_eq!(report.api_calls.write, 0);
}

#[tokio::test]
async fn a_notebook_event_costs_the_same_reads_whatever_the_number_of_notebooks() {
    let mut reads = Vec::new();
    for notebooks in [10usize, 1_000] {
        let warm = guard_with(Config::default());
        reconciled(&warm).await;
        let state = warm.account().snapshot();
        let cold = guard_with(Config::default());
        cold.account().with_state(|s| *s = state);
        for n in 0..notebooks {
            cold.account().add_notebook(&format!("nb-{n:04}"), "subnet-0e0000000000000a1");
        }
        let report = run(&cold, Trigger::NotebookCreated { name: "nb-0007".into() }).await;
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
        assert!(report.api_calls.read <= 10, "{notebooks} notebooks: {} reads", report.api_calls.read);
        reads.push((notebooks, report.api_calls.read));
    }
    assert_eq!(reads[0].1, reads[1].1, "{reads:?}");
    println!("NOTEBOOK EVENT cold reads (notebooks, reads): {reads:?}");
}

#[tokio::test]
async fn a_token_ec2_refuses_as_a_mismatch_is_salted_and_the_next_round_creates() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into());
    });
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    // EC2 still remembers the token the plan derives, from a request with other subnets whose
    // endpoint is long gone.
    let token = vpce_guard::plan::client_token(VPC, &api_service(REGION), [], &Default::default());
    fake.with_state(|s| {
        let earlier = vpce_guard::account::NewEndpoint {
            vpc_id: VPC.into(),
            service: api_service(REGION),
            subnet_ids: vec!["subnet-0e00000000000old".into()],
            group_ids: Vec::new(),
            policy: None,
            private_dns: true,
            client_token: token.clone(),
            tags: Default::default(),
        };
        s.tokens.insert(token.clone(), ("vpce-0e000000000000old".into(), earlier));
    });

    let report = run(&guard, Trigger::Manual { vpc_ids: Some(vec![VPC.into()]), dry_run: None }).await;

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert!(!report.vpcs[0].problems.iter().any(|p| p.code == "conflict_unresolved"));
    let api: Vec<_> = fake.live_endpoints(VPC).into_iter().filter(|e| e.service == api_service(REGION)).collect();
    assert_eq!(api.len(), 1, "created in the next round, with a salted token");
}

#[tokio::test]
async fn a_notebook_re_created_with_its_name_in_another_vpc_moves_with_it_in_a_warm_process() {
    let strict = Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() };
    let guard = guard_with(strict);
    let fake = guard.account();
    let other = "vpc-0f0f0f0f0f0f0f0f0";
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    fake.add_vpc(other, "10.71.0.0/16");
    fake.add_subnet(other, "subnet-0f0000000000000a1", "us-west-2a");
    fake.add_notebook("keeps-its-name", "subnet-0e0000000000000a1");
    fake.add_notebook("stays", "subnet-0e0000000000000a1");
    run(&guard, Trigger::Scheduled).await;
    // Terraform replaces it: deleted, then created with the same name (and ARN) elsewhere.
    fake.with_state(|s| s.notebooks.remove("keeps-its-name"));
    fake.add_notebook("keeps-its-name", "subnet-0f0000000000000a1");

    let sweep = run(&guard, Trigger::Scheduled).await;

    let moved = sweep.vpcs.iter().find(|v| v.vpc_id == other).expect("the new VPC is looked at");
    assert_eq!(moved.outcome, Outcome::Changed, "enrolled by the re-created notebook: {}", sweep.to_text());
    let policy_of = |vpc: &str| {
        let notebook_endpoint = notebook_service(REGION);
        fake.live_endpoints(vpc).into_iter().find(|e| e.service == notebook_endpoint).and_then(|e| e.policy).unwrap()
    };
    assert!(policy_of(other).contains("notebook-instance/keeps-its-name"), "{}", policy_of(other));
    assert!(!policy_of(VPC).contains("keeps-its-name"), "{}", policy_of(VPC));
    assert!(policy_of(VPC).contains("notebook-instance/stays"));
}

/// AWS's endpoint-write bucket is shared with every other writer of the account: when it is
/// spent, a sweep defers the VPCs it cannot write to (`pending`, reason `throttled`) and never
/// calls them non-compliant; an event's single VPC is a transient Lambda error that Lambda retries.
#[tokio::test]
async fn throttled_endpoint_writes_defer_a_sweep_s_vpcs_and_fail_an_event_transiently() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    let vpcs = ["vpc-0e0e0e0e0e0e0e0e1", "vpc-0e0e0e0e0e0e0e0e2", "vpc-0e0e0e0e0e0e0e0e3"];
    for (n, vpc) in vpcs.iter().enumerate() {
        fake.add_vpc(vpc, &format!("10.{}.0.0/16", 80 + n));
        fake.with_state(|s| {
            s.vpcs.get_mut(*vpc).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into());
        });
        fake.add_subnet(vpc, &format!("subnet-0e00000000000{n:04}"), "us-west-2a");
    }
    // Two endpoint writes left: the first VPC gets both of its endpoints, then the bucket is spent.
    fake.with_state(|s| s.endpoint_write_tokens = Some(2));

    let sweep = run(&guard, Trigger::Scheduled).await;
    let outcome = |vpc: &str| sweep.vpcs.iter().find(|v| v.vpc_id == vpc).expect("reported").clone();
    assert_eq!(outcome(vpcs[0]).outcome, Outcome::Changed, "{}", sweep.to_text());
    for vpc in &vpcs[1..] {
        let deferred = outcome(vpc);
        assert_eq!(deferred.outcome, Outcome::Pending, "{}", sweep.to_text());
        assert_eq!(deferred.reason.as_deref(), Some("throttled"));
        assert!(deferred.problems.iter().all(|p| p.severity == vpce_guard::report::Severity::Warning));
        assert!(deferred.problems[0].message.contains("RequestLimitExceeded"), "{:?}", deferred.problems);
        // The writes before the throttled one (DNS hostnames, the managed group) are reported.
        assert!(!deferred.actions.is_empty(), "{}", sweep.to_text());
    }
    assert_eq!(sweep.count(Outcome::NonCompliant), 0);

    let event = guard
        .run(Parsed::Run(Trigger::Manual { vpc_ids: Some(vec![vpcs[1].into()]), dry_run: None }))
        .await
        .expect_err("one VPC whose writes are throttled");
    assert_eq!(event.error_type(), "Transient.Aws");

    // Once the bucket refills, the next sweep finishes the deferred VPCs.
    fake.with_state(|s| s.endpoint_write_tokens = None);
    let next = run(&guard, Trigger::Scheduled).await;
    for vpc in &vpcs {
        assert_eq!(fake.live_endpoints(vpc).len(), 2, "{}", next.to_text());
    }
}

/// Security Hub deletes an active finding 90 days after its last `UpdatedAt` (the fake models
/// it; `pass_days` moves its clock). A VPC that stays non-compliant for half a year keeps its one
/// finding and its `CreatedAt`: a sweep re-imports it, unchanged, once its `UpdatedAt` is more
/// than 30 days old; the sweeps in between import nothing.
#[tokio::test]
async fn a_finding_of_a_vpc_non_compliant_for_months_outlives_security_hubs_retention() {
    const DAY: i64 = 86_400;
    let guard = guard_with(Config { security_hub: true, fix_vpc_dns: false, ..Config::default() });
    let fake = guard.account();
    fake.with_state(|s| s.security_hub = Some(Default::default()));
    fake.add_vpc(VPC, "10.70.0.0/16");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into());
    });
    fake.add_subnet(VPC, "subnet-0e0000000000000a1", "us-west-2a");
    let finding = || {
        let findings = fake.snapshot().security_hub.unwrap_or_default();
        assert_eq!(findings.len(), 1, "one finding for the VPC: {findings:#?}");
        findings.into_values().next().unwrap()
    };
    let imports = || fake.snapshot().writes.iter().filter(|w| *w == "BatchImportFindings").count();
    let seconds = |finding: &serde_json::Value, field: &str| {
        vpce_guard::findings::epoch_seconds(finding[field].as_str().unwrap()).unwrap()
    };

    let first = run(&guard, Trigger::Scheduled).await;
    assert_eq!(first.vpcs[0].outcome, Outcome::NonCompliant, "{}", first.to_text());
    let created = seconds(&finding(), "CreatedAt");

    let mut refreshed = Vec::new();
    for week in 1..=26 {
        fake.pass_days(7);
        let before = imports();
        let sweep = run(&guard, Trigger::Scheduled).await;
        assert_eq!(sweep.vpcs[0].outcome, Outcome::NonCompliant, "week {week}: {}", sweep.to_text());
        if imports() > before {
            assert_eq!(imports() - before, 1, "week {week}: one import for the one stale finding");
            refreshed.push(week);
        }
        let held = finding();
        assert_eq!(held["RecordState"], "ACTIVE", "week {week}");
        assert_eq!(
            seconds(&held, "CreatedAt"),
            created - week * 7 * DAY,
            "week {week}: the same finding, history kept"
        );
    }
    assert_eq!(refreshed, [5, 10, 15, 20, 25], "re-imported once its UpdatedAt is over 30 days old");
}

/// The fake's model of deletion (issue 20): a deleted endpoint is `deleting` (still holding its
/// private DNS name and its security groups) until AWS has removed its network interfaces; the
/// managed group cannot be deleted before (`DependencyViolation`); an unknown id is an
/// `Unsuccessful` item; the modelled role deletes and marks only managed resources, and only
/// with the prune statements.
#[tokio::test]
async fn deleted_endpoints_hold_their_name_and_group_until_gone_and_the_role_deletes_only_managed_ones() {
    use vpce_guard::account::{Endpoints, Groups};
    use vpce_guard::model::{TAG_IDLE_SINCE, TAG_IGNORE, TAG_MANAGED};
    let guard = guard_with(Config::default());
    reconciled(&guard).await;
    let fake = guard.account();
    let ids: Vec<String> = fake.live_endpoints(VPC).iter().map(|e| e.id.clone()).collect();
    let group = fake.snapshot().groups.values().find(|g| g.group.vpc_id == VPC).unwrap().group.id.clone();

    // The role as the template renders it without PruneIdleAfter: no delete, no mark.
    fake.with_state(|s| s.role_adopts_existing = Some(false));
    let denied = fake.delete_endpoints(&ids).await.unwrap_err();
    assert_eq!(denied.aws_code(), Some("UnauthorizedOperation"));
    let mark = vpce_guard::testing::tags(&[(TAG_IDLE_SINCE, "2026-01-01T00:00:00Z")]);
    assert_eq!(fake.tag_endpoints(&ids, &mark).await.unwrap_err().aws_code(), Some("UnauthorizedOperation"));
    assert_eq!(fake.delete_group(&group).await.unwrap_err().aws_code(), Some("UnauthorizedOperation"));
    assert!(fake.live_endpoints(VPC).len() == 2);

    // With the prune statements: the mark on managed endpoints only, no other tag.
    fake.with_state(|s| s.role_prunes = true);
    fake.tag_endpoints(&ids, &mark).await.expect("the idle mark on managed endpoints");
    let other = vpce_guard::testing::tags(&[("owner", "me")]);
    assert_eq!(fake.tag_endpoints(&ids, &other).await.unwrap_err().aws_code(), Some("UnauthorizedOperation"));
    fake.untag_endpoints(&ids, &[TAG_IDLE_SINCE.to_string()]).await.expect("the mark removed");
    assert!(fake.live_endpoints(VPC).iter().all(|e| !e.tags.contains_key(TAG_IDLE_SINCE)));
    fake.with_state(|s| {
        s.endpoints.get_mut(&ids[0]).unwrap().tags.insert(TAG_IGNORE.into(), "true".into());
    });
    let ignored = fake.delete_endpoints(&ids).await.unwrap_err();
    assert_eq!(ignored.aws_code(), Some("UnauthorizedOperation"), "an ignored endpoint fails the call");
    fake.with_state(|s| {
        s.endpoints.get_mut(&ids[0]).unwrap().tags.remove(TAG_IGNORE);
    });

    // Deleted: `deleting`, the name still held, the group still in use.
    let mut request = ids.clone();
    request.push("vpce-0123456789abcdef0".into());
    let unsuccessful = fake.delete_endpoints(&request).await.expect("deleted");
    assert_eq!(unsuccessful.len(), 1);
    assert!(unsuccessful[0].1.starts_with("InvalidVpcEndpoint.NotFound"), "{unsuccessful:?}");
    assert!(fake.live_endpoints(VPC).is_empty());
    assert!(fake.snapshot().endpoints.values().filter(|e| e.vpc_id == VPC).all(|e| e.state == EndpointState::Deleting));
    let busy = fake.delete_group(&group).await.unwrap_err();
    assert_eq!(busy.aws_code(), Some("DependencyViolation"), "the deleting endpoints' interfaces use it");
    fake.finish_deletion(&ids[0]);
    assert_eq!(fake.delete_group(&group).await.unwrap_err().aws_code(), Some("DependencyViolation"));
    fake.finish_deletions();
    fake.delete_group(&group).await.expect("unused now");
    assert!(!fake.snapshot().groups.contains_key(&group));
    assert!(fake.snapshot().endpoints.values().all(|e| e.vpc_id != VPC || e.tags.contains_key(TAG_MANAGED)));
}
