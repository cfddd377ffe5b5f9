//! Property tests of `plan` and the reconcile loop against the in-memory [`FakeAccount`]:
//! random VPC layouts (AZs the services do and do not offer, full subnets, preference tags,
//! notebooks, DNS attributes, endpoints in every state, a managed group with some rules,
//! extra CIDR blocks, a neighbouring VPC, hosted zones), random configurations, and runs
//! started by the manual payload, a `CreateSubnet` event or the schedule. The properties are
//! those the project promises (docs/ARCHITECTURE.md): reconciling converges and is then idempotent, AWS's
//! one-subnet-per-AZ rule holds, at most one endpoint per service is created, nothing is ever
//! removed (with the opt-in prune, only the schedule deletes, and only what vpce-guard created
//! where nothing enrols the VPC), `plan` is deterministic, a dry run writes nothing, and a converged VPC's endpoints
//! reach every AZ the service offers, with private DNS, the managed group and the policy.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use vpce_guard::account::{Account, VpcSelector};
use vpce_guard::config::{api_service, notebook_service, ApiPolicy, Config, NotebookPolicy, OnDnsConflict, Scope};
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::{FakeAccount, FakeGroup, FakeState};
use vpce_guard::model::{
    tag_is, Endpoint, EndpointState, Notebook, SecurityGroup, Subnet, Tags, Vpc, VpcDns, MANAGED_GROUP_NAME,
    TAG_ENDPOINT_SUBNET, TAG_ENFORCE, TAG_IGNORE, TAG_MANAGED,
};
use vpce_guard::plan::{plan, Write};
use vpce_guard::policy::{self, same_policy};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::testing::{self, ACCOUNT, REGION};
use vpce_guard::Guard;

const VPC: &str = "vpc-0f1e2d3c4b5a69788";
/// AZs a–d are where the services are (mostly) offered; e and f never are.
const AZS: [&str; 6] = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d", "us-west-2e", "us-west-2f"];
const PRIMARY_CIDR: &str = "10.0.0.0/16";
const EXTRA_IPV4: [&str; 2] = ["10.1.0.0/16", "100.64.0.0/16"];
const IPV6: &str = "2600:1f14:abc:de00::/56";
const NEIGHBOUR: &str = "vpc-0aaaaaaaaaaaaaaaa";
const NEIGHBOUR_SUBNET: &str = "subnet-0aaaaaaaaaaaaaaaa";
const GROUP_ID: &str = "sg-0000000000000e000";

// ---- layouts ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct SubnetSpec {
    free_ips: u32,
    preferred: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct EndpointSpec {
    api: bool,
    state: EndpointState,
    private_dns: bool,
    ignore: bool,
    managed: bool,
    has_group: bool,
    policy: Option<&'static str>,
    /// One optional pick per entry of `AZS`; resolved against that AZ's subnets.
    picks: Vec<Option<Index>>,
}

#[derive(Debug, Clone)]
struct ConfigSpec {
    notebook_policy: NotebookPolicy,
    api_policy: ApiPolicy,
    fix_vpc_dns: bool,
    scope: Scope,
    /// `VPCE_GUARD_ADOPT_EXISTING`, and the fake's role rendered with `AdoptExisting` so.
    adopt_existing: bool,
}

#[derive(Debug, Clone)]
struct Layout {
    /// Subnets of each entry of `AZS`; `None` when the VPC is not in that AZ.
    azs: Vec<Option<Vec<SubnetSpec>>>,
    /// Per service (API, notebook), whether each of AZs a–d offers it.
    offered: [Vec<bool>; 2],
    /// Each notebook's subnet, and whether it is being deleted.
    notebooks: Vec<(Index, bool)>,
    /// Per service (API, notebook), whether a private hosted zone holds its DNS name.
    hosted_zones: [bool; 2],
    dns: VpcDns,
    enforce: Option<&'static str>,
    shared: bool,
    endpoints: Vec<EndpointSpec>,
    /// The managed group, with which of the VPC's CIDR blocks it already allows.
    group: Option<Vec<bool>>,
    extra_ipv4: usize,
    ipv6: bool,
    new_endpoints_pending: bool,
    /// Another enrolled VPC with a notebook, which a run for `VPC` must leave alone.
    neighbour: bool,
    /// What starts the runs: the manual payload for the VPC, a `CreateSubnet` event in it,
    /// or the schedule (a sweep of every VPC).
    trigger: Kind,
    config: ConfigSpec,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Manual,
    SubnetCreated,
    Scheduled,
}

fn subnet_spec() -> impl Strategy<Value = SubnetSpec> {
    let free_ips = prop_oneof![2 => Just(0u32), 1 => Just(1u32), 1 => Just(7u32), 4 => Just(250u32)];
    let preferred =
        prop_oneof![6 => Just(None), 2 => Just(Some("true")), 1 => Just(Some("false")), 1 => Just(Some("TRUE"))];
    (free_ips, preferred).prop_map(|(free_ips, preferred)| SubnetSpec { free_ips, preferred })
}

fn endpoint_state() -> impl Strategy<Value = EndpointState> {
    prop_oneof![
        6 => Just(EndpointState::Available),
        2 => Just(EndpointState::Pending),
        1 => Just(EndpointState::PendingAcceptance),
        1 => Just(EndpointState::Partial),
        2 => Just(EndpointState::Failed),
        1 => Just(EndpointState::Rejected),
        2 => Just(EndpointState::Deleted),
        1 => Just(EndpointState::Deleting),
    ]
}

fn endpoint_spec() -> impl Strategy<Value = EndpointSpec> {
    let policy = prop_oneof![Just(None), Just(Some("full")), Just(Some("garbage"))];
    (
        any::<bool>(),
        endpoint_state(),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        any::<bool>(),
        policy,
        prop::collection::vec(prop::option::weighted(0.7, any::<Index>()), AZS.len()),
    )
        .prop_map(|(api, state, private_dns, ignore, managed, has_group, policy, picks)| EndpointSpec {
            api,
            state,
            private_dns,
            ignore,
            managed,
            has_group,
            policy,
            picks,
        })
}

fn config_spec() -> impl Strategy<Value = ConfigSpec> {
    let notebook_policy = prop_oneof![
        Just(NotebookPolicy::VpcNotebooks),
        Just(NotebookPolicy::AccountNotebooks),
        Just(NotebookPolicy::OrgNotebooks),
        Just(NotebookPolicy::None)
    ];
    let api_policy = prop_oneof![Just(ApiPolicy::Account), Just(ApiPolicy::Org), Just(ApiPolicy::None)];
    let scope = prop_oneof![3 => Just(Scope::Enrolled), 1 => Just(Scope::All)];
    (notebook_policy, api_policy, prop::bool::weighted(0.8), scope, any::<bool>()).prop_map(
        |(notebook_policy, api_policy, fix_vpc_dns, scope, adopt_existing)| ConfigSpec {
            notebook_policy,
            api_policy,
            fix_vpc_dns,
            scope,
            adopt_existing,
        },
    )
}

fn vpc_azs() -> impl Strategy<Value = Vec<Option<Vec<SubnetSpec>>>> {
    prop::collection::vec(prop::option::weighted(0.6, prop::collection::vec(subnet_spec(), 0..=4)), AZS.len())
        .prop_filter("the VPC spans 1 to 6 AZs", |azs| azs.iter().any(Option::is_some))
}

fn layout() -> impl Strategy<Value = Layout> {
    let offered = prop::collection::vec(prop::bool::weighted(0.85), 4);
    let enforce = prop_oneof![4 => Just(None), 3 => Just(Some("true")), 1 => Just(Some("false"))];
    let trigger = prop_oneof![2 => Just(Kind::Manual), 1 => Just(Kind::SubnetCreated), 1 => Just(Kind::Scheduled)];
    let hosted_zones = (prop::bool::weighted(0.1), prop::bool::weighted(0.1)).prop_map(|(a, n)| [a, n]);
    let dns = (any::<bool>(), any::<bool>()).prop_map(|(support, hostnames)| VpcDns { support, hostnames });
    (
        vpc_azs(),
        (offered.clone(), offered),
        (prop::collection::vec((any::<Index>(), prop::bool::weighted(0.1)), 0..=3), hosted_zones),
        dns,
        enforce,
        prop::bool::weighted(0.05),
        prop::collection::vec(endpoint_spec(), 0..=3),
        prop::option::of(prop::collection::vec(any::<bool>(), 4)),
        (0..=2usize, any::<bool>(), any::<bool>(), any::<bool>(), trigger),
        config_spec(),
    )
        .prop_map(
            |(
                azs,
                (api, notebook),
                (notebooks, hosted_zones),
                dns,
                enforce,
                shared,
                endpoints,
                group,
                extras,
                config,
            )| Layout {
                azs,
                offered: [api, notebook],
                notebooks,
                hosted_zones,
                dns,
                enforce,
                shared,
                endpoints,
                group,
                extra_ipv4: extras.0,
                ipv6: extras.1,
                new_endpoints_pending: extras.2,
                neighbour: extras.3,
                trigger: extras.4,
                config,
            },
        )
}

// ---- building the account --------------------------------------------------------------

fn service(api: bool) -> String {
    if api {
        api_service(REGION)
    } else {
        notebook_service(REGION)
    }
}

fn config(spec: &ConfigSpec) -> Config {
    Config {
        notebook_policy: spec.notebook_policy,
        api_policy: spec.api_policy,
        fix_vpc_dns: spec.fix_vpc_dns,
        scope: spec.scope,
        // The layouts' hosted zones model a name that only AWS's refusal reveals (the table
        // and handler tests cover zones that ListHostedZonesByVPC shows).
        on_dns_conflict: OnDnsConflict::Create,
        adopt_existing: spec.adopt_existing,
        ..Config::default()
    }
}

fn subnet_ids_by_az(layout: &Layout) -> Vec<Vec<String>> {
    layout
        .azs
        .iter()
        .enumerate()
        .map(|(a, subnets)| {
            (0..subnets.as_ref().map_or(0, Vec::len)).map(|n| format!("subnet-0000000000000{a:02x}{n}")).collect()
        })
        .collect()
}

/// Arranges `layout` in a fresh fake account; returns the guard over it.
fn arrange(layout: &Layout) -> Guard<FakeAccount> {
    let guard = Guard::new(FakeAccount::new(), config(&layout.config)).with_visibility_retries(Vec::new());
    guard.account().with_state(|s| fill(s, layout));
    guard.account().with_state(|s| s.role_adopts_existing = Some(layout.config.adopt_existing));
    guard
}

fn fill(s: &mut FakeState, layout: &Layout) {
    let mut ipv4_cidrs = vec![PRIMARY_CIDR.to_string()];
    ipv4_cidrs.extend(EXTRA_IPV4[..layout.extra_ipv4].iter().map(|c| c.to_string()));
    let ipv6_cidrs: Vec<String> = layout.ipv6.then(|| IPV6.to_string()).into_iter().collect();
    let mut tags = Tags::new();
    if let Some(value) = layout.enforce {
        tags.insert(TAG_ENFORCE.into(), value.into());
    }
    let owner_id = if layout.shared { "210987654321" } else { ACCOUNT };
    s.vpcs.insert(
        VPC.into(),
        Vpc {
            id: VPC.into(),
            owner_id: owner_id.into(),
            ipv4_cidrs: ipv4_cidrs.clone(),
            ipv6_cidrs: ipv6_cidrs.clone(),
            dns: Some(layout.dns),
            tags,
        },
    );
    for service_index in 0..2 {
        let offered: BTreeSet<String> = AZS[..4]
            .iter()
            .zip(&layout.offered[service_index])
            .filter(|(_, on)| **on)
            .map(|(az, _)| az.to_string())
            .collect();
        s.service_azs.insert(service(service_index == 0), offered);
    }
    let ids = subnet_ids_by_az(layout);
    for ((az, specs), ids) in AZS.iter().zip(&layout.azs).zip(&ids) {
        for (spec, id) in specs.iter().flatten().zip(ids) {
            let mut subnet = Subnet { free_ips: spec.free_ips, ..testing::subnet(id, VPC, az) };
            if let Some(value) = spec.preferred {
                subnet.tags.insert(TAG_ENDPOINT_SUBNET.into(), value.into());
            }
            s.subnets.insert(id.clone(), subnet);
        }
    }
    let all_subnets: Vec<&String> = ids.iter().flatten().collect();
    if !all_subnets.is_empty() {
        for (n, (index, deleting)) in layout.notebooks.iter().enumerate() {
            let name = format!("notebook-{n}");
            let mut notebook = testing::notebook(&name, index.get(all_subnets.as_slice()).as_str());
            if *deleting {
                notebook.status = "Deleting".into();
            }
            s.notebooks.insert(name, notebook);
        }
    }
    if let Some(allowed) = &layout.group {
        let sources = ipv4_cidrs.iter().chain(&ipv6_cidrs).zip(allowed).filter(|(_, on)| **on).map(|(c, _)| c.clone());
        s.groups.insert(
            GROUP_ID.into(),
            FakeGroup {
                group: {
                    let sources: BTreeSet<String> = sources.collect();
                    SecurityGroup {
                        id: GROUP_ID.into(),
                        vpc_id: VPC.into(),
                        managed_sources: sources.clone(),
                        https_sources: sources,
                        managed: true,
                    }
                },
                name: MANAGED_GROUP_NAME.into(),
                tags: testing::tags(&[(TAG_MANAGED, "true")]),
            },
        );
    }
    for (api, held) in [true, false].into_iter().zip(layout.hosted_zones) {
        if held {
            s.hidden_dns_holders.insert((VPC.to_string(), service(api)));
        }
    }
    let dns_on = layout.dns.support && layout.dns.hostnames;
    let mut private_dns_taken = BTreeSet::new();
    for (n, spec) in layout.endpoints.iter().enumerate() {
        let service = service(spec.api);
        let offered = &s.service_azs[&service];
        // As AWS allows: subnets in AZs the service offers, at most one per AZ.
        let subnet_ids: Vec<&str> = AZS
            .iter()
            .zip(&ids)
            .zip(&spec.picks)
            .filter(|((az, ids), _)| offered.contains(**az) && !ids.is_empty())
            .filter_map(|((_, ids), pick)| pick.map(|index| index.get(ids).as_str()))
            .collect();
        let id = format!("vpce-00000000000e0{n:04x}");
        let mut endpoint = testing::endpoint(&id, VPC, &service, &subnet_ids);
        // As AWS allows: private DNS needs the VPC attributes and one live endpoint per name.
        let zone_held = s.hidden_dns_holders.contains(&(VPC.to_string(), service.clone()));
        endpoint.private_dns = spec.private_dns
            && dns_on
            && !zone_held
            // A deleting endpoint keeps its name until it is gone: it holds it like a live one.
            && (!(spec.state.is_live() || spec.state == EndpointState::Deleting)
                || private_dns_taken.insert(service.clone()));
        endpoint.state = spec.state.clone();
        endpoint.policy = match spec.policy {
            Some("full") => Some(vpce_guard::policy::full_access_policy().to_string()),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        if spec.has_group && layout.group.is_some() {
            endpoint.group_ids.push(GROUP_ID.into());
        }
        if spec.ignore {
            endpoint.tags.insert(TAG_IGNORE.into(), "true".into());
        }
        if spec.managed {
            endpoint.tags.insert(TAG_MANAGED.into(), "true".into());
        }
        s.endpoints.insert(id, endpoint);
    }
    if layout.neighbour {
        let mut vpc = s.vpcs[VPC].clone();
        vpc.id = NEIGHBOUR.into();
        vpc.owner_id = ACCOUNT.into();
        vpc.tags = Tags::new();
        s.vpcs.insert(NEIGHBOUR.into(), vpc);
        s.subnets.insert(NEIGHBOUR_SUBNET.into(), testing::subnet(NEIGHBOUR_SUBNET, NEIGHBOUR, AZS[0]));
        s.notebooks.insert("neighbour".into(), testing::notebook("neighbour", NEIGHBOUR_SUBNET));
    }
    s.new_endpoint_state = layout.new_endpoints_pending.then_some(EndpointState::Pending);
}

// ---- running ---------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn manual(dry_run: Option<bool>) -> Parsed {
    Parsed::Run(Trigger::Manual { vpc_ids: Some(vec![VPC.to_string()]), dry_run })
}

fn run(rt: &tokio::runtime::Runtime, guard: &Guard<FakeAccount>, dry_run: Option<bool>) -> Report {
    run_trigger(rt, guard, manual(dry_run))
}

/// A run started the way the layout says.
fn run_as(rt: &tokio::runtime::Runtime, guard: &Guard<FakeAccount>, layout: &Layout) -> Report {
    let trigger = match layout.trigger {
        Kind::Manual => return run(rt, guard, None),
        Kind::Scheduled => Trigger::Scheduled,
        Kind::SubnetCreated => {
            let subnet_id = subnet_ids_by_az(layout).into_iter().flatten().next();
            // A subnet deleted again before the event arrived is reconciled all the same.
            let subnet_id = subnet_id.unwrap_or_else(|| "subnet-0ffffffffffffffff".into());
            Trigger::SubnetCreated { subnet_id, vpc_id: VPC.into() }
        }
    };
    run_trigger(rt, guard, Parsed::Run(trigger))
}

/// Runs `parsed`; the reconcile must neither fail nor give up on a conflict.
fn run_trigger(rt: &tokio::runtime::Runtime, guard: &Guard<FakeAccount>, parsed: Parsed) -> Report {
    let report =
        rt.block_on(guard.run(parsed)).unwrap_or_else(|e| panic!("reconcile failed: {e} ({})", e.error_type()));
    for vpc in &report.vpcs {
        let failed = vpc.problems.iter().find(|p| p.code == "error" || p.code == "conflict_unresolved");
        assert!(failed.is_none(), "{}", report.to_text());
    }
    report
}

/// What the account holds (without the write log), to compare before and after.
fn holdings(state: &FakeState) -> String {
    format!("{:?}\n{:?}\n{:?}\n{:?}\n{:?}", state.vpcs, state.subnets, state.endpoints, state.groups, state.notebooks)
}

fn action_names(report: &Report) -> Vec<String> {
    report
        .vpcs
        .iter()
        .flat_map(|v| &v.actions)
        .map(|a| serde_json::to_value(a).unwrap()["action"].as_str().unwrap().to_string())
        .collect()
}

/// The policy the configuration wants on `service`'s endpoint, if it manages one.
fn wanted_policy(config: &ConfigSpec, service: &str, state: &FakeState) -> Option<serde_json::Value> {
    let identity = testing::identity();
    if service == api_service(REGION) {
        return match config.api_policy {
            ApiPolicy::Account => Some(policy::account_api_policy(&identity)),
            ApiPolicy::Org => Some(policy::org_api_policy(testing::ORG)),
            ApiPolicy::None => None,
        };
    }
    match config.notebook_policy {
        NotebookPolicy::None => None,
        NotebookPolicy::AccountNotebooks => Some(policy::account_notebooks_policy(&identity)),
        NotebookPolicy::OrgNotebooks => Some(policy::org_notebooks_policy(&identity, testing::ORG)),
        NotebookPolicy::VpcNotebooks => {
            let in_vpc: Vec<Notebook> = state
                .notebooks
                .values()
                .filter(|n| n.status != "Deleting")
                .filter(|n| n.subnet_id.as_ref().is_some_and(|s| state.subnets[s].vpc_id == VPC))
                .cloned()
                .collect();
            Some(policy::vpc_notebooks_policy(&in_vpc, &identity).0)
        }
    }
}

/// Services whose private DNS name a hosted zone holds.
fn conflicted_services(layout: &Layout) -> BTreeSet<String> {
    [true, false].into_iter().zip(layout.hosted_zones).filter(|(_, held)| *held).map(|(api, _)| service(api)).collect()
}

/// A pre-existing endpoint in `Pending` that `settle` will release (so a later run may
/// legitimately modify it).
fn has_pending_endpoint(layout: &Layout) -> bool {
    layout.endpoints.iter().any(|e| e.state == EndpointState::Pending)
}

/// AWS's rules on the state the account holds: at most one subnet per AZ per endpoint; and
/// vpce-guard creates at most one live endpoint per service, none where one could be adopted.
fn check_aws_rules(state: &FakeState, initial: &FakeState) -> Result<(), TestCaseError> {
    for endpoint in state.endpoints.values() {
        let azs: Vec<&str> = endpoint.subnet_ids.iter().map(|id| state.subnets[id].az.as_str()).collect();
        let distinct: BTreeSet<&str> = azs.iter().copied().collect();
        prop_assert_eq!(distinct.len(), azs.len(), "two subnets in one AZ: {:?}", endpoint);
    }
    for service in [api_service(REGION), notebook_service(REGION)] {
        let live_managed = |endpoints: &BTreeMap<String, Endpoint>| {
            endpoints
                .values()
                .filter(|e| e.vpc_id == VPC && e.service == service && e.state.is_live())
                .filter(|e| tag_is(&e.tags, TAG_MANAGED, "true"))
                .count()
        };
        let created: Vec<&Endpoint> = state
            .endpoints
            .values()
            .filter(|e| e.vpc_id == VPC && e.service == service && e.state.is_live())
            .filter(|e| !initial.endpoints.contains_key(&e.id))
            .collect();
        prop_assert!(created.iter().all(|e| tag_is(&e.tags, TAG_MANAGED, "true")), "untagged: {:?}", created);
        prop_assert!(created.len() <= 1, "{} endpoints created for {}: {:?}", created.len(), service, created);
        prop_assert!(live_managed(&state.endpoints) <= live_managed(&initial.endpoints).max(1));
        let adoptable =
            initial.endpoints.values().any(|e| e.vpc_id == VPC && e.service == service && e.state.is_live());
        prop_assert!(!adoptable || created.is_empty(), "created {:?} beside a live endpoint of {}", created, service);
    }
    Ok(())
}

/// Nothing is ever removed: every endpoint keeps its subnets, private DNS, and its state
/// unless AWS moved it on (pending → available); no endpoint, group rule or group vanishes.
fn check_nothing_removed(before: &FakeState, after: &FakeState) -> Result<(), TestCaseError> {
    for (id, old) in &before.endpoints {
        let new = after.endpoints.get(id);
        prop_assert!(new.is_some(), "endpoint {} disappeared", id);
        let new = new.unwrap();
        let kept: BTreeSet<&String> = new.subnet_ids.iter().collect();
        prop_assert!(old.subnet_ids.iter().all(|s| kept.contains(s)), "{} lost subnets: {:?} → {:?}", id, old, new);
        prop_assert!(!old.private_dns || new.private_dns, "{} lost private DNS", id);
        let gone = matches!(new.state, EndpointState::Deleted | EndpointState::Deleting);
        prop_assert!(!gone || new.state == old.state, "{} went from {:?} to {:?}", id, old.state, new.state);
        prop_assert!(old.group_ids.iter().all(|g| new.group_ids.contains(g)), "{} lost groups", id);
    }
    for (id, old) in &before.groups {
        let new = after.groups.get(id);
        prop_assert!(new.is_some(), "group {} disappeared", id);
        prop_assert!(old.group.https_sources.is_subset(&new.unwrap().group.https_sources), "group {} lost rules", id);
    }
    Ok(())
}

fn cases() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) }
}

// ---- properties ------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases())]

    /// (a) Reconcile, let AWS settle, reconcile the same way again: nothing left to write.
    /// With endpoints that were pending beforehand, one more round (after AWS released them)
    /// is allowed. A private hosted zone costs at most one rejected `ModifyVpcEndpoint` per
    /// service and run (the conflict is learnt anew each invocation), and changes nothing.
    #[test]
    fn reconcile_converges_then_writes_nothing(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        let zones = conflicted_services(&layout);
        run_as(&rt, &guard, &layout);
        fake.settle();
        let second = run_as(&rt, &guard, &layout);
        if has_pending_endpoint(&layout) {
            fake.settle();
        } else {
            prop_assert!(second.api_calls.write <= zones.len() as u64, "second run wrote: {}", second.to_text());
        }
        let state_before = fake.snapshot();
        let last = run_as(&rt, &guard, &layout);
        let state_after = fake.snapshot();
        prop_assert_eq!(holdings(&state_after), holdings(&state_before), "converged run changed the account");
        let new_writes = &state_after.writes[state_before.writes.len()..];
        prop_assert!(new_writes.len() <= zones.len(), "converged run wrote {:?}: {}", new_writes, last.to_text());
        prop_assert!(new_writes.iter().all(|w| w == "ModifyVpcEndpoint"), "{:?}", new_writes);
        prop_assert_eq!(last.api_calls.write, new_writes.len() as u64);
        prop_assert!(last.vpcs.iter().all(|v| v.outcome != Outcome::Changed && v.actions.is_empty()));
        // The same at the level of `plan`: observing the converged account as a manual run
        // does plans nothing (but turning on private DNS where a hosted zone will refuse it).
        let enrolled = last.vpcs.iter().any(|v| v.vpc_id == VPC && v.outcome != Outcome::Skipped);
        if enrolled && matches!(layout.trigger, Kind::Manual) {
            let mut obs = rt.block_on(guard.observe(&VpcSelector::Ids(vec![VPC.into()]), true, None)).unwrap().remove(0);
            rt.block_on(guard.read_dns(&mut obs)).unwrap();
            let again = plan(&obs, guard.config());
            for write in &again.writes {
                let only_dns = matches!(write, Write::ModifyEndpoint { service, add_subnet_ids, add_group: None, policy: None, enable_private_dns: true, .. }
                    if add_subnet_ids.is_empty() && zones.contains(service));
                prop_assert!(only_dns, "converged observation plans {:?}", write);
            }
        }
    }

    /// (b) No endpoint ever holds two subnets of one AZ, and vpce-guard creates at most one
    /// live endpoint per service (none where a live one could be adopted).
    #[test]
    fn one_subnet_per_az_and_one_endpoint_per_service(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        let initial = fake.snapshot();
        for _ in 0..3 {
            run_as(&rt, &guard, &layout);
            check_aws_rules(&fake.snapshot(), &initial)?;
            fake.settle();
        }
    }

    /// (c) Reconciling never removes a subnet from an endpoint, never deletes an endpoint (or
    /// moves it towards deletion) and never takes away a group rule or private DNS.
    #[test]
    fn reconcile_never_removes_anything(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        for _ in 0..2 {
            let before = fake.snapshot();
            run_as(&rt, &guard, &layout);
            check_nothing_removed(&before, &fake.snapshot())?;
            fake.settle();
        }
    }

    /// (h) Issue 20: with `VPCE_GUARD_PRUNE_IDLE_AFTER=0s`, a run started by an event or a
    /// manual payload still removes nothing; the schedule's sweep deletes only endpoints
    /// vpce-guard created (tagged managed, not ignored), only in a VPC that holds no notebook and
    /// is not tagged `vpce-guard:enforce`, and no other endpoint, subnet, rule or private DNS.
    #[test]
    fn only_the_schedule_prunes_and_only_what_vpce_guard_created(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let pruning = Config { prune_idle_after: Some(0), ..guard.config().clone() };
        let guard = Guard::new(FakeAccount::new(), pruning).with_visibility_retries(Vec::new());
        guard.account().with_state(|s| fill(s, &layout));
        guard.account().with_state(|s| {
            s.role_adopts_existing = Some(layout.config.adopt_existing);
            s.role_prunes = true;
        });
        let fake = guard.account();
        for parsed in [manual(None), Parsed::Run(Trigger::SubnetCreated { subnet_id: "subnet-0ffffffffffffffff".into(), vpc_id: VPC.into() })] {
            let before = fake.snapshot();
            run_trigger(&rt, &guard, parsed);
            check_nothing_removed(&before, &fake.snapshot())?;
        }
        let before = fake.snapshot();
        run_trigger(&rt, &guard, Parsed::Run(Trigger::Scheduled));
        let after = fake.snapshot();
        let has_notebook = |vpc: &str| {
            before.notebooks.values().filter(|n| !n.status.eq_ignore_ascii_case("Deleting")).any(|n| {
                n.subnet_id.as_ref().is_some_and(|s| before.subnets.get(s).is_some_and(|s| s.vpc_id == vpc))
            })
        };
        for (id, old) in &before.endpoints {
            let new = &after.endpoints[id];
            let deleted = old.state.is_live() && !new.state.is_live();
            let (vpc, has_notebook) = (&before.vpcs[&old.vpc_id], has_notebook(&old.vpc_id));
            if deleted {
                prop_assert!(tag_is(&old.tags, TAG_MANAGED, "true") && !tag_is(&old.tags, TAG_IGNORE, "true"), "{} was not vpce-guard's", id);
                prop_assert!(!has_notebook && !vpc.tags.contains_key(TAG_ENFORCE), "{} deleted in an enrolled VPC", id);
                prop_assert!(layout.config.scope == Scope::Enrolled, "{} deleted under scope all", id);
            } else {
                prop_assert!(old.subnet_ids.iter().all(|s| new.subnet_ids.contains(s)), "{} lost subnets", id);
                prop_assert!(!old.private_dns || new.private_dns, "{} lost private DNS", id);
            }
        }
    }

    /// (g) Without `VPCE_GUARD_ADOPT_EXISTING` (the default), an endpoint vpce-guard did not
    /// create is never written — the fake's role, as the template renders it by default, would
    /// refuse the call (`UnauthorizedOperation`) — and (`check_aws_rules`) none is created
    /// beside it.
    #[test]
    fn unmanaged_endpoints_are_never_written_without_the_opt_in(layout in layout()) {
        let mut layout = layout;
        layout.config.adopt_existing = false;
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        // Everything a write could change of an endpoint, state aside (AWS settles that).
        let unmanaged = |s: &FakeState| -> Vec<Endpoint> {
            s.endpoints
                .values()
                .filter(|e| !tag_is(&e.tags, TAG_MANAGED, "true"))
                .map(|e| Endpoint { state: EndpointState::Available, ..e.clone() })
                .collect()
        };
        let before = unmanaged(&fake.snapshot());
        for _ in 0..2 {
            let report = run_as(&rt, &guard, &layout);
            let text = report.to_text();
            prop_assert!(!text.contains("UnauthorizedOperation"), "a write the role refuses: {}", text);
            fake.settle();
        }
        prop_assert_eq!(before, unmanaged(&fake.snapshot()));
    }

    /// (d) The same observation gives the same plan; the order in which AWS lists subnets and
    /// endpoints does not change the writes.
    #[test]
    fn plan_is_deterministic(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let mut obs = rt.block_on(guard.observe(&VpcSelector::Ids(vec![VPC.into()]), true, None)).unwrap().remove(0);
        rt.block_on(guard.read_dns(&mut obs)).unwrap();
        let first = plan(&obs, guard.config());
        prop_assert_eq!(&first, &plan(&obs.clone(), guard.config()));
        let mut reordered = obs.clone();
        reordered.subnets.reverse();
        reordered.endpoints.reverse();
        if let Some(notebooks) = reordered.notebooks.as_mut() {
            notebooks.reverse();
        }
        prop_assert_eq!(&first.writes, &plan(&reordered, guard.config()).writes);
        // Observing is read-only.
        prop_assert_eq!(guard.account().api_calls().write, 0);
    }

    /// (e) A dry run writes nothing and changes nothing, and announces the actions that the
    /// real run then takes (unless a hosted zone, which only AWS's refusal reveals, holds a
    /// service's private DNS name).
    #[test]
    fn dry_run_writes_nothing_and_predicts_the_real_run(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        let before = fake.snapshot();
        let dry = run(&rt, &guard, Some(true));
        prop_assert!(dry.dry_run);
        prop_assert_eq!(dry.api_calls.write, 0);
        prop_assert_eq!(fake.api_calls().write, 0);
        prop_assert!(fake.snapshot().writes.is_empty());
        prop_assert_eq!(holdings(&fake.snapshot()), holdings(&before));
        let real = run(&rt, &guard, Some(false));
        // A dry run cannot know of a hosted zone: AWS's refusal of private DNS tells it.
        prop_assume!(conflicted_services(&layout).is_empty());
        prop_assert_eq!(action_names(&dry), action_names(&real), "dry: {}\nreal: {}", dry.to_text(), real.to_text());
        for (dry_vpc, real_vpc) in dry.vpcs.iter().zip(&real.vpcs) {
            if !dry_vpc.actions.is_empty() && dry_vpc.outcome != Outcome::NonCompliant {
                prop_assert_eq!(dry_vpc.outcome, Outcome::WouldChange);
                prop_assert!(real_vpc.outcome == Outcome::Changed || real_vpc.outcome == Outcome::NonCompliant);
            }
        }
    }
    /// (f) Once converged, the endpoint of each service reaches every AZ of the VPC that the
    /// service offers and that has a subnet with a free address, has private DNS wherever AWS
    /// allows it, and carries the managed group and the configured policy.
    #[test]
    fn converged_endpoints_reach_every_offered_az(layout in layout()) {
        let rt = runtime();
        let guard = arrange(&layout);
        let fake = guard.account();
        let zones = conflicted_services(&layout);
        let mut report = run_as(&rt, &guard, &layout);
        for _ in 0..2 {
            fake.settle();
            report = run(&rt, &guard, None);
        }
        let state = fake.snapshot();
        let vpc = &state.vpcs[VPC];
        let dns_on = vpc.dns == Some(VpcDns { support: true, hostnames: true });
        for endpoint_report in report.vpcs.iter().flat_map(|v| &v.endpoints) {
            let Some(id) = &endpoint_report.endpoint_id else { continue };
            let endpoint = &state.endpoints[id];
            if endpoint.state != EndpointState::Available || tag_is(&endpoint.tags, TAG_IGNORE, "true") {
                continue;
            }
            // Without the opt-in an endpoint vpce-guard did not create is left alone (and
            // reported when it differs, see `unmanaged_endpoints_are_reported_and_never_written`).
            if !layout.config.adopt_existing && !tag_is(&endpoint.tags, TAG_MANAGED, "true") {
                continue;
            }
            let offered = &state.service_azs[&endpoint.service];
            let reachable: BTreeSet<&str> = state
                .subnets
                .values()
                .filter(|s| s.vpc_id == VPC && s.free_ips > 0 && offered.contains(&s.az))
                .map(|s| s.az.as_str())
                .collect();
            let covered: BTreeSet<&str> = endpoint.subnet_ids.iter().map(|id| state.subnets[id].az.as_str()).collect();
            prop_assert!(reachable.is_subset(&covered), "{} covers {:?}, not {:?}", id, covered, reachable);
            let held_by_deleting = state.endpoints.values().any(|e| {
                e.service == endpoint.service && e.private_dns && e.state == EndpointState::Deleting
            });
            if dns_on && !zones.contains(&endpoint.service) && !held_by_deleting {
                prop_assert!(endpoint.private_dns, "{} has no private DNS: {}", id, report.to_text());
            }
            prop_assert!(endpoint.group_ids.iter().any(|g| state.groups.get(g).is_some_and(|g| g.name == MANAGED_GROUP_NAME)));
            let sources = &state.groups.values().find(|g| g.name == MANAGED_GROUP_NAME).unwrap().group.https_sources;
            prop_assert!(vpc.ipv4_cidrs.iter().chain(&vpc.ipv6_cidrs).all(|c| sources.contains(c)), "{:?}", sources);
            if let Some(wanted) = wanted_policy(&layout.config, &endpoint.service, &state) {
                prop_assert!(same_policy(endpoint.policy.as_deref(), &wanted), "{} has policy {:?}", id, endpoint.policy);
            }
        }
    }
}

/// The generator reaches the cases that matter (every outcome, the usual problems, adoption
/// and hosted-zone conflicts); guards against a strategy that silently stops producing them.
#[test]
fn layouts_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let rt = runtime();
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        let layout = layout().new_tree(&mut runner).unwrap().current();
        let guard = arrange(&layout);
        for round in 0..2 {
            let report = match round {
                0 => run_as(&rt, &guard, &layout),
                _ => run(&rt, &guard, None),
            };
            for vpc in &report.vpcs {
                *seen.entry(format!("{}@{round}", vpc.outcome)).or_default() += 1;
                for problem in &vpc.problems {
                    *seen.entry(problem.code.to_string()).or_default() += 1;
                }
                for action in action_names(&report) {
                    *seen.entry(action).or_default() += 1;
                }
            }
        }
    }
    let wanted = [
        "changed@0",
        "compliant@1",
        "skipped@0",
        "pending@1",
        "non_compliant@0",
        "service_not_in_az",
        "no_free_ip",
        "no_usable_subnet",
        "endpoint_failed",
        "vpc_dns_off",
        "shared_vpc",
        "private_dns_conflict",
        "add_subnets",
        "add_security_group",
        "set_policy",
        "enable_private_dns",
        "enable_dns_support",
        "authorize_https",
        "unmanaged_endpoint",
    ];
    for wanted in wanted {
        assert!(seen.get(wanted).copied().unwrap_or(0) > 0, "never saw {wanted}: {seen:?}");
    }
}
