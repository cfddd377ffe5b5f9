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
use crate::plan::{enrolment, plan, Enrolment, Plan, Write};
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
                report.vpcs.push(VpcReport::deferred(&obs.vpc.id, DEFERRED));
                continue;
            }
            match self.reconcile_vpc(&mut obs, &run).await {
                Ok(vpc_report) => report.vpcs.push(vpc_report),
                Err(error) if !run.single && error.is_throttled() => {
                    warn!(vpc = %obs.vpc.id, error = %error, "VPC throttled; deferred to the next run");
                    report.vpcs.push(throttled_vpc(&obs.vpc.id, Vec::new(), &error));
                }
                Err(error) if !run.single => {
                    warn!(vpc = %obs.vpc.id, error = %error, "VPC failed; continuing the sweep");
                    report.vpcs.push(failed_vpc(&obs.vpc.id, &error));
                }
                Err(error) => return Err(error),
            }
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
            let current = self.plan_with_reads(obs, run.pinned).await?;
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
                    let verify = plan(&after, self.config());
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
        let last = plan(obs, self.config());
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
    async fn plan_with_reads(&self, obs: &mut Observation, pinned: &[Notebook]) -> Result<Plan> {
        loop {
            let current = plan(obs, self.config());
            if current.needs_notebooks && obs.notebooks.is_none() {
                self.read_notebooks(obs, pinned).await?;
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
    }
}
