//! The reconcile loop for observed VPCs: decide scope, plan, apply, re-plan on conflicts
//! (at most [`MAX_ROUNDS`]), and report — within the invocation's deadline.

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{info, warn};

use crate::account::{Account, VpcSelector};
use crate::apply::{apply, planned_actions, Applied, WriteWindow};
use crate::error::{Error, Result};
use crate::guard::{Guard, RunContext, CUT_MARGIN};
use crate::model::{Notebook, Observation};
use crate::plan::cost::vpc_cost;
use crate::plan::{enrolment, orphan_group, plan_at, Enrolment, Plan, Write};
use crate::report::{Action, Code, EndpointReport, Outcome, Problem, Report, Severity, VpcReport};

/// Rounds of observe → plan → apply per VPC before giving up on conflicts.
pub const MAX_ROUNDS: usize = 3;

/// How long a warm process remembers that AWS refused private DNS for a VPC and service (a
/// private hosted zone holds the name); after it, one write tries again.
pub const DNS_CONFLICT_MEMORY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The `reason` of a VPC left for the next run because the deadline was near.
pub const DEFERRED: &str = "deferred: the invocation's deadline was near; the next run continues";

/// The `reason` of a VPC left for the next run because AWS still throttled its calls when their
/// retries ran out (the account's shared request rate was spent, by vpce-guard or by others).
pub const THROTTLED: &str = Code::Throttled.as_str();

impl<A: Account> Guard<A> {
    /// Observes the selected VPCs (with their notebooks when `with_notebooks`) and brings
    /// each one in scope into line.
    pub(crate) async fn reconcile(
        &self,
        selector: &VpcSelector,
        with_notebooks: bool,
        run: RunContext<'_>,
    ) -> Result<Report> {
        let observations = self.observe_pinned(selector, with_notebooks, run.pinned).await?;
        self.reconcile_observed(observations, run).await
    }

    /// True when less than the margin is left before `deadline`.
    pub(crate) fn near_deadline(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| Instant::now() + self.deadline_margin >= d)
    }

    /// Brings each observed VPC in scope into line.
    pub(crate) async fn reconcile_observed(
        &self,
        observations: Vec<Observation>,
        run: RunContext<'_>,
    ) -> Result<Report> {
        let mut report = Report::new(run.trigger, run.dry_run);
        let total = observations.len();
        for (index, mut obs) in observations.into_iter().enumerate() {
            if self.near_deadline(run.deadline) {
                let mut deferred = VpcReport::deferred(&obs.vpc.id, DEFERRED);
                deferred.cost = Some(vpc_cost(&obs, self.config(), &[]));
                report.vpcs.push(deferred);
                continue;
            }
            let mut vpc_report = match self.reconcile_vpc(&mut obs, &run).await {
                Ok(vpc_report) => vpc_report,
                Err(error) if !run.single && error.is_throttled() => {
                    warn!(vpc = %obs.vpc.id, error = %error, "VPC throttled; deferred to the next run");
                    throttled_vpc(&obs.vpc.id, Vec::new(), &error)
                }
                Err(error) if !run.single => {
                    warn!(vpc = %obs.vpc.id, error = %error, "VPC failed; continuing the sweep");
                    failed_vpc(&obs.vpc.id, &error)
                }
                Err(error) => return Err(error),
            };
            // What its managed endpoints cost as it stands (the observation follows the writes).
            vpc_report.cost = Some(vpc_cost(&obs, self.config(), &vpc_report.actions));
            report.vpcs.push(vpc_report);
            if let Some(progress) = &self.progress {
                progress(index + 1, total);
            }
        }
        Ok(report)
    }

    async fn reconcile_vpc(&self, obs: &mut Observation, run: &RunContext<'_>) -> Result<VpcReport> {
        if obs.vpc.owner_id != obs.identity.account_id {
            return Ok(VpcReport::shared(&obs.vpc.id, &obs.vpc.owner_id));
        }
        let mut decision = enrolment(obs, self.config());
        if decision == Enrolment::NeedsNotebooks {
            self.read_notebooks(obs, run.pinned).await?;
            decision = enrolment(obs, self.config());
        }
        let reason = match decision {
            Enrolment::Skipped(reason) => {
                info!(vpc = %obs.vpc.id, reason = %reason, "skipped");
                // A prune's leftover: the managed group, once its endpoints' interfaces are gone.
                if let (Some(_), Some(_), Some(group_id)) =
                    (run.prune_at, self.config().prune_idle_after, orphan_group(obs, self.config()))
                {
                    return self.delete_orphan_group(obs, group_id, reason, run).await;
                }
                return Ok(VpcReport::skipped(&obs.vpc.id, reason));
            }
            Enrolment::Enrolled(reason) => reason,
            Enrolment::NeedsNotebooks => unreachable!("notebooks were read"),
        };
        // Private DNS silently stops resolving when either attribute is turned off, so every
        // VPC in scope has them checked (EC2 reads them one VPC and attribute at a time).
        self.read_dns(obs).await?;
        self.recall_dns_conflicts(obs);
        let mut actions = Vec::new();
        for round in 1..=MAX_ROUNDS {
            let current = self.plan_with_reads(obs, run).await?;
            info!(vpc = %obs.vpc.id, round, enrolled = reason, writes = current.writes.len(), problems = current.problems.len(), "planned");
            // Approval gate (approval.rs): writes the caller did not approve stop this VPC here.
            if let Some(refusal) = crate::approval::review(run.approve, obs, &current, round, run.dry_run) {
                if run.dry_run {
                    actions.extend(planned_actions(&current));
                }
                return Ok(crate::approval::refused(vpc_report(obs, &current, actions, run.dry_run), refusal));
            }
            if run.dry_run || current.is_empty() {
                if run.dry_run {
                    actions.extend(planned_actions(&current));
                }
                return Ok(vpc_report(obs, &current, actions, run.dry_run));
            }
            if current.pruning {
                match self.prune(obs, &current, round, run).await? {
                    Pruned::Done(report) => return Ok(report),
                    // No longer idle (or no longer the same): plan again from what was read.
                    Pruned::Cancelled => continue,
                }
            }
            match apply(self.account(), obs, &current, self.write_window(run.deadline)).await? {
                Applied::Done(done) => {
                    actions.extend(done);
                    let mut after = self.after_writes(obs, &current).await?;
                    // Under vpc-notebooks a policy is written from the notebooks seen at the start; a concurrent
                    // event that saw fewer may have written after us. Read them again (events
                    // only, one VPC's or a delivery's notebooks: a sweep would pay one listing
                    // per VPC, and the next sweep heals).
                    if (run.single || !run.pinned.is_empty())
                        && lists_notebooks(self.config())
                        && writes_policy(&current)
                        && after.notebooks.is_some()
                    {
                        self.read_notebooks(&mut after, run.pinned).await?;
                    }
                    let verify = plan_at(&after, self.config(), run.prune_at);
                    *obs = after;
                    if verify.is_empty() || round == MAX_ROUNDS {
                        return Ok(vpc_report(obs, &verify, actions, false));
                    }
                    info!(vpc = %obs.vpc.id, round, writes = verify.writes.len(), "changed under us; planning again");
                }
                Applied::Deferred(done) => {
                    actions.extend(done);
                    let mut report = vpc_report(obs, &current, actions, false);
                    report.outcome = Outcome::Pending;
                    report.reason = Some(DEFERRED.into());
                    return Ok(report);
                }
                // One VPC of an event: a Lambda error, so that Lambda retries the event later. In a
                // sweep: deferred to the next run, as the throttle says nothing of the VPC's state.
                Applied::Throttled { error, .. } if run.single => return Err(error),
                Applied::Throttled { actions: done, error } => {
                    actions.extend(done);
                    warn!(vpc = %obs.vpc.id, error = %error, "writes throttled; deferred to the next run");
                    return Ok(throttled_vpc(&obs.vpc.id, actions, &error));
                }
                Applied::Conflict { actions: done, hints, reason } => {
                    warn!(vpc = %obs.vpc.id, round, reason = %reason, "conflict; observing again");
                    actions.extend(done);
                    let mut after = self.refresh(obs, run.pinned).await?;
                    after.hints = obs.hints.clone();
                    self.remember_dns_conflicts(&obs.vpc.id, &hints.dns_conflicts);
                    after.hints.dns_conflicts.extend(hints.dns_conflicts);
                    after.hints.stale_endpoint_ids.extend(hints.stale_endpoint_ids);
                    *obs = after;
                }
            }
        }
        let last = plan_at(obs, self.config(), run.prune_at);
        let mut report = vpc_report(obs, &last, actions, false);
        report.problems.push(Problem::error(
            Code::ConflictUnresolved,
            format!(
                "VPC {} still conflicted after {MAX_ROUNDS} rounds; the next event or sweep will try again",
                obs.vpc.id
            ),
        ));
        report.outcome = Outcome::NonCompliant;
        Ok(report)
    }

    /// When this run may write before `deadline`: no write starts within the deadline margin,
    /// and a write still in flight [`CUT_MARGIN`] (at most a tenth of the margin) before the
    /// deadline is given up. An SDK call
    /// may take longer than the margin (its operation timeout is 25 s), and Lambda ends the
    /// process at the deadline: a call cut by the process's end would leave the run without an
    /// answer.
    fn write_window(&self, deadline: Option<Instant>) -> Option<WriteWindow> {
        deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            WriteWindow {
                stop_by: d - self.deadline_margin.min(left),
                cut_at: d - CUT_MARGIN.min(self.deadline_margin / 10).min(left),
            }
        })
    }

    /// Adds the private-DNS conflicts learnt for this VPC within [`DNS_CONFLICT_MEMORY`] to
    /// its hints, so a warm process does not spend a write AWS is sure to refuse.
    fn recall_dns_conflicts(&self, obs: &mut Observation) {
        let memory = self.dns_conflicts.lock().expect("dns conflict memory");
        for ((vpc, service), learnt) in memory.iter() {
            if *vpc == obs.vpc.id && learnt.elapsed() < DNS_CONFLICT_MEMORY {
                obs.hints.dns_conflicts.insert(service.clone());
            }
        }
    }

    fn remember_dns_conflicts(&self, vpc_id: &str, services: &std::collections::BTreeSet<String>) {
        let mut memory = self.dns_conflicts.lock().expect("dns conflict memory");
        memory.retain(|_, learnt| learnt.elapsed() < DNS_CONFLICT_MEMORY);
        for service in services {
            memory.insert((vpc_id.to_string(), service.clone()), Instant::now());
        }
    }

    /// Plans, first reading what the plan needs and the observation lacks: the VPC's notebooks
    /// (a subnet event that must create the notebook endpoint under `vpc-notebooks`), its
    /// private hosted zones (a plan that would create an endpoint or turn private DNS on).
    async fn plan_with_reads(&self, obs: &mut Observation, run: &RunContext<'_>) -> Result<Plan> {
        loop {
            let current = plan_at(obs, self.config(), run.prune_at);
            if current.needs_notebooks && obs.notebooks.is_none() {
                self.read_notebooks(obs, run.pinned).await?;
            } else if current.needs_s3 && obs.s3.is_none() {
                self.read_s3(obs).await?;
            } else if current.needs_hosted_zones && obs.hosted_zones.is_none() {
                self.read_hosted_zones(obs).await?;
            } else {
                return Ok(current);
            }
        }
    }

    /// The observation after a round whose writes all succeeded: endpoints and the managed
    /// group are read again (one or two calls); the VPC's DNS attributes are what was written.
    async fn after_writes(&self, obs: &Observation, done: &Plan) -> Result<Observation> {
        let selector = VpcSelector::Ids(vec![obs.vpc.id.clone()]);
        let services = self.config().service_names(&obs.identity.region, &obs.service_azs);
        let mut after = obs.clone();
        // The idle mark's tag writes change nothing else: they are applied here, no read.
        if done.writes.iter().all(|w| matches!(w, Write::MarkIdle { .. } | Write::UnmarkIdle { .. })) {
            mark_locally(&mut after, done);
            return Ok(after);
        }
        after.endpoints = self.account().describe_endpoints(&selector, &services).await?;
        if done
            .writes
            .iter()
            .any(|w| matches!(w, Write::CreateGroup | Write::AuthorizeHttps { .. } | Write::RevokeHttps { .. }))
        {
            after.group = self.account().managed_groups(&selector).await?.pop();
        }
        if done.writes.iter().any(|w| matches!(w, Write::S3Gateway { .. })) {
            after.s3 = None;
            self.read_s3(&mut after).await?;
        }
        if let Some(dns) = after.vpc.dns.as_mut() {
            dns.support |= done.writes.contains(&Write::EnableDnsSupport);
            dns.hostnames |= done.writes.contains(&Write::EnableDnsHostnames);
        }
        Ok(after)
    }

    /// Observes one VPC again after a conflict, keeping the notebooks read before.
    async fn refresh(&self, obs: &Observation, pinned: &[Notebook]) -> Result<Observation> {
        let selector = VpcSelector::Ids(vec![obs.vpc.id.clone()]);
        let mut after = self.observe_pinned(&selector, false, pinned).await?.pop().ok_or_else(|| Error::NotFound {
            kind: "VPC",
            id: obs.vpc.id.clone(),
            hint: " after writing to it".into(),
        })?;
        // What enrols the VPC is kept from the first observation: notebooks and domains.
        after.notebooks = obs.notebooks.clone();
        after.domains = obs.domains.clone();
        if obs.vpc.dns.is_some() {
            self.read_dns(&mut after).await?;
        }
        Ok(after)
    }
}

/// What became of a prune round.
enum Pruned {
    /// Deleted (or deferred, or throttled): the VPC's report.
    Done(VpcReport),
    /// The re-check found the VPC no longer idle, or other endpoints to delete: plan again.
    Cancelled,
}

impl<A: Account> Guard<A> {
    /// Deletes an idle VPC's managed endpoints (and its managed group), as `planned`, after
    /// reading the VPC again right before: a notebook, a domain or a tag that arrived since the
    /// sweep's reads cancels the prune ([`Pruned::Cancelled`]: the next round plans again from
    /// what was read, which removes the idle mark). The deletions take the VPC out of scope:
    /// what the endpoints become is AWS's (`deleting`), nothing is planned after them.
    async fn prune(&self, obs: &mut Observation, planned: &Plan, round: usize, run: &RunContext<'_>) -> Result<Pruned> {
        let selector = VpcSelector::Ids(vec![obs.vpc.id.clone()]);
        let Some(mut fresh) = self.observe_pinned(&selector, true, run.pinned).await?.pop() else {
            return Ok(Pruned::Done(VpcReport::skipped(&obs.vpc.id, "the VPC no longer exists; nothing to do")));
        };
        fresh.vpc.dns = obs.vpc.dns;
        fresh.hosted_zones = obs.hosted_zones.clone();
        fresh.route53_profiles_unread = obs.route53_profiles_unread.clone();
        fresh.hints = obs.hints.clone();
        let again = plan_at(&fresh, self.config(), run.prune_at);
        let same = |plan: &Plan| {
            plan.writes.iter().find_map(|w| match w {
                Write::DeleteEndpoints { endpoints } => {
                    Some(endpoints.iter().map(|d| d.endpoint_id.clone()).collect::<BTreeSet<_>>())
                }
                _ => None,
            })
        };
        if !again.pruning || same(&again) != same(planned) {
            info!(vpc = %obs.vpc.id, "prune cancelled: the VPC changed since the sweep read it");
            *obs = fresh;
            return Ok(Pruned::Cancelled);
        }
        if let Some(refusal) = crate::approval::review(run.approve, &fresh, &again, round, false) {
            *obs = fresh;
            return Ok(Pruned::Done(crate::approval::refused(vpc_report(obs, &again, Vec::new(), false), refusal)));
        }
        *obs = fresh;
        let (actions, deferred) = match apply(self.account(), obs, &again, self.write_window(run.deadline)).await? {
            Applied::Done(done) => (done, None),
            Applied::Deferred(done) => (done, Some(DEFERRED.to_string())),
            Applied::Throttled { error, .. } if run.single => return Err(error),
            Applied::Throttled { actions, error } => {
                return Ok(Pruned::Done(throttled_vpc(&obs.vpc.id, actions, &error)))
            }
            Applied::Conflict { actions, reason, .. } => {
                warn!(vpc = %obs.vpc.id, reason = %reason, "prune met a conflict; the next sweep tries again");
                (actions, Some(format!("deferred: {reason}; the next sweep tries again")))
            }
        };
        // As AWS has them now, without a read: the deleted endpoints `deleting`, the group gone.
        for action in &actions {
            match action {
                Action::DeleteEndpoint { endpoint_id, .. } => {
                    if let Some(endpoint) = obs.endpoints.iter_mut().find(|e| &e.id == endpoint_id) {
                        endpoint.state = crate::model::EndpointState::Deleting;
                    }
                }
                Action::DeleteSecurityGroup { .. } => obs.group = None,
                _ => {}
            }
        }
        let mut report = vpc_report(obs, &again, actions, false);
        for endpoint in &mut report.endpoints {
            if report.actions.iter().any(|a| matches!(a, Action::DeleteEndpoint { endpoint_id, .. } if Some(endpoint_id) == endpoint.endpoint_id.as_ref())) {
                endpoint.state = crate::model::EndpointState::Deleting.as_str().to_string();
            }
        }
        if let Some(reason) = deferred {
            report.outcome = Outcome::Pending;
            report.reason = Some(reason);
        }
        Ok(Pruned::Done(report))
    }

    /// Deletes the managed group a prune left behind in a VPC now out of scope (`skipped`
    /// for `reason`), once no observed endpoint uses it. `DependencyViolation` (interfaces
    /// still draining, or something else using it) leaves it for a later sweep.
    async fn delete_orphan_group(
        &self,
        obs: &Observation,
        group_id: String,
        reason: String,
        run: &RunContext<'_>,
    ) -> Result<VpcReport> {
        let plan = Plan {
            vpc_id: obs.vpc.id.clone(),
            writes: vec![Write::DeleteGroup { group_id: group_id.clone() }],
            pruning: true,
            ..Plan::default()
        };
        let skipped = |note: &str| VpcReport::skipped(&obs.vpc.id, format!("{reason}{note}"));
        if let Some(refusal) = crate::approval::review(run.approve, obs, &plan, 1, run.dry_run) {
            return Ok(crate::approval::refused(skipped(""), refusal));
        }
        let mut report = VpcReport { outcome: Outcome::WouldChange, reason: None, ..skipped("") };
        if run.dry_run {
            report.actions = planned_actions(&plan);
            return Ok(report);
        }
        match apply(self.account(), obs, &plan, self.write_window(run.deadline)).await? {
            Applied::Done(done) if !done.is_empty() => {
                report.outcome = Outcome::Changed;
                report.actions = done;
                Ok(report)
            }
            Applied::Throttled { error, .. } => Err(error),
            Applied::Deferred(_) => Ok(VpcReport::deferred(&obs.vpc.id, DEFERRED)),
            _ => Ok(skipped(&format!(
                "; its managed security group {group_id} is still in use (DependencyViolation): a later sweep deletes it"
            ))),
        }
    }
}

/// Applies the idle mark's tag writes of `done` to `obs` (what AWS now holds).
fn mark_locally(obs: &mut Observation, done: &Plan) {
    for write in &done.writes {
        match write {
            Write::MarkIdle { endpoint_ids, since } => {
                for endpoint in obs.endpoints.iter_mut().filter(|e| endpoint_ids.contains(&e.id)) {
                    endpoint.tags.insert(crate::model::TAG_IDLE_SINCE.to_string(), since.clone());
                }
            }
            Write::UnmarkIdle { endpoint_ids } => {
                for endpoint in obs.endpoints.iter_mut().filter(|e| endpoint_ids.contains(&e.id)) {
                    endpoint.tags.remove(crate::model::TAG_IDLE_SINCE);
                }
            }
            _ => {}
        }
    }
}

/// True when the notebook endpoint's policy depends on the VPC's notebooks (`vpc-notebooks`).
fn lists_notebooks(config: &crate::config::Config) -> bool {
    config.notebook_policy == crate::config::NotebookPolicy::VpcNotebooks
}

/// True when the plan writes an endpoint policy.
fn writes_policy(plan: &Plan) -> bool {
    plan.writes.iter().any(|w| match w {
        Write::CreateEndpoint { policy, .. } | Write::ModifyEndpoint { policy, .. } => policy.is_some(),
        _ => false,
    })
}

fn vpc_report(obs: &Observation, plan: &Plan, actions: Vec<Action>, dry_run: bool) -> VpcReport {
    let az_of = |subnet: &String| obs.subnets.iter().find(|s| &s.id == subnet).map(|s| s.az.clone());
    let vpc_azs: BTreeSet<&str> = obs.subnets.iter().map(|s| s.az.as_str()).collect();
    let endpoints = plan
        .services
        .iter()
        .map(|status| {
            let subnet_ids = status.endpoint.as_ref().map(|e| e.subnet_ids.clone()).unwrap_or_default();
            let azs: BTreeSet<String> = subnet_ids.iter().filter_map(az_of).collect();
            let supported = obs.service_azs.get(&status.service);
            let missing_azs = vpc_azs
                .iter()
                .filter(|az| supported.is_some_and(|s| s.contains(**az)) && !azs.contains(**az))
                .map(|az| az.to_string())
                .collect();
            EndpointReport {
                service: status.service.clone(),
                endpoint_id: status.endpoint.as_ref().map(|e| e.id.clone()),
                subnet_ids,
                private_dns: status.endpoint.as_ref().is_some_and(|e| e.private_dns),
                state: status.endpoint.as_ref().map_or_else(|| "absent".into(), |e| e.state.as_str().to_string()),
                azs: azs.into_iter().collect(),
                missing_azs,
            }
        })
        .collect();
    let has_errors = plan.problems.iter().any(|p| p.severity == Severity::Error);
    let outcome = if has_errors {
        Outcome::NonCompliant
    } else if dry_run && !plan.writes.is_empty() {
        Outcome::WouldChange
    } else if !actions.is_empty() {
        Outcome::Changed
    } else if !plan.pending.is_empty() {
        Outcome::Pending
    } else {
        Outcome::Compliant
    };
    info!(vpc = %obs.vpc.id, outcome = %outcome, actions = actions.len(), "reconciled");
    VpcReport {
        vpc_id: obs.vpc.id.clone(),
        outcome,
        reason: None,
        endpoints,
        actions,
        problems: plan.problems.clone(),
        profiles: plan.profiles.iter().map(|p| p.name().to_string()).collect(),
        cost: None,
    }
}

/// A VPC whose calls AWS still throttled when their retries ran out: `pending`, reason
/// [`THROTTLED`], never `non_compliant` (nothing is known to be wrong with it).
fn throttled_vpc(vpc_id: &str, actions: Vec<Action>, error: &Error) -> VpcReport {
    let mut report = VpcReport::deferred(vpc_id, THROTTLED);
    report.actions = actions;
    report.problems.push(Problem::warning(
        Code::Throttled,
        format!("{error}; AWS's request rate for this account and region was spent; the next run continues"),
    ));
    report
}

fn failed_vpc(vpc_id: &str, error: &Error) -> VpcReport {
    VpcReport {
        vpc_id: vpc_id.to_string(),
        outcome: Outcome::NonCompliant,
        reason: None,
        endpoints: Vec::new(),
        actions: Vec::new(),
        problems: vec![Problem::error(Code::Error, format!("{} ({})", error, error.error_type()))],
        profiles: Vec::new(),
        cost: None,
    }
}
