//! Private DNS in `plan`: who holds a service's private DNS name in the VPC, and what that
//! means for the endpoint vpce-guard creates or keeps.
//!
//! The name can be held by (1) the chosen endpoint itself (all is well); (2) another endpoint
//! of the service that is being deleted, which keeps its name until it is gone; (3) a private
//! hosted zone associated with the VPC, directly or through its Route 53 Profile (centralised
//! endpoints, or someone's own zone); or (4)
//! something vpce-guard cannot see, which only AWS's refusal reveals (a hint of this round, or
//! remembered for an hour by a warm process). An endpoint tagged `vpce-guard:private-dns=conflict`
//! by an earlier run is re-checked against (2)–(3): when nothing holds the name any more, private
//! DNS is turned on again without a human step.

use super::Planner;
use crate::config::{is_api_service, is_notebook_service, is_studio_service, OnDnsConflict};
use crate::model::{Endpoint, EndpointState, HostedZone};
use crate::report::{Code, Problem};

/// A zone as reports name it: its domain, its id and, when shared through one, its Route 53
/// Profile.
fn describe(zone: &HostedZone) -> String {
    match &zone.route53_profile {
        Some(profile) => format!("{} ({}, shared through Route 53 Profile {profile})", zone.name, zone.id),
        None => format!("{} ({})", zone.name, zone.id),
    }
}

/// Who holds a service's private DNS name, besides the chosen endpoint.
enum Holder<'a> {
    /// Nobody (or the chosen endpoint itself).
    Free,
    /// An endpoint of the service being deleted: it keeps the name until it is gone.
    Deleting(&'a Endpoint),
    /// A private hosted zone associated with the VPC.
    Zone(&'a HostedZone),
    /// The VPC's hosted zones are needed and were not read.
    NotRead,
}

/// What the plan does about private DNS for one service.
pub(super) struct DnsDecision {
    /// Ask for private DNS on the (new or existing) endpoint.
    pub enable: bool,
    /// Something else holds the name for good: the endpoint goes without private DNS and is
    /// tagged so; reported as an error.
    pub conflict: bool,
}

impl<'a> Planner<'a> {
    /// True when a hosted zone serving `service`'s name means requests the IAM guardrail judges
    /// by `aws:SourceVpce` come through endpoints it does not list (no configured sources), and
    /// the VPC has not been warned of it yet.
    fn guardrail_misses_zones(&self, service: &str) -> bool {
        let guarded = is_api_service(service) || is_notebook_service(service) || is_studio_service(service);
        guarded
            && self.config.iam_guardrail.is_some()
            && self.config.guardrail_source_vpces.is_empty()
            && !self.plan.problems.iter().any(|p| p.code == Code::GuardrailSourcesMissing)
    }

    /// Decides private DNS for `service`; `None` when the plan must stop for this service (its
    /// name is served centrally and nothing is to be created, or the hosted zones must be read).
    pub(super) fn private_dns_for(&mut self, service: &str, adopted: Option<&Endpoint>) -> Option<DnsDecision> {
        let holder = self.name_holder(service, adopted);
        let report_zones = self.config.on_dns_conflict == OnDnsConflict::Report;
        let vpc_id = self.obs.vpc.id.clone();
        if matches!(holder, Holder::Zone(_)) && self.guardrail_misses_zones(service) {
            self.plan.problems.push(Problem::warning(
                Code::GuardrailSourcesMissing,
                format!(
                    "VPC {vpc_id} reaches {service} through the endpoints a private hosted zone serves (a hub's), not this account's: its requests carry their ids as aws:SourceVpce, which the IAM guardrail does not list, so the guardrail denies the principals it is attached to there; set VPCE_GUARD_GUARDRAIL_SOURCE_VPCES to those endpoints' ids"
                ),
            ));
        }
        let decision = match holder {
            Holder::NotRead => {
                self.plan.needs_hosted_zones = true;
                return None;
            }
            Holder::Zone(zone) if report_zones => {
                self.plan.problems.push(Problem::warning(
                    Code::ServedCentrally,
                    format!(
                        "the private hosted zone {} associated with VPC {vpc_id} already serves {service}'s name; {}",
                        describe(zone),
                        match adopted {
                            None =>
                                "no local endpoint is created (VPCE_GUARD_ON_DNS_CONFLICT=create creates one anyway)",
                            Some(_) => "the local endpoint is kept in line without private DNS",
                        }
                    ),
                ));
                adopted?;
                DnsDecision { enable: false, conflict: false }
            }
            Holder::Zone(zone) => {
                self.conflict(service, &format!("the private hosted zone {}", describe(zone)));
                DnsDecision { enable: false, conflict: true }
            }
            Holder::Deleting(old) => {
                self.plan.problems.push(Problem::warning(
                    Code::PrivateDnsWaiting,
                    format!(
                        "endpoint {} of {service} is being deleted and still holds its private DNS name; the endpoint that replaces it gets private DNS once the name is free (the next event or sweep)",
                        old.id
                    ),
                ));
                self.plan.pending.push(old.id.clone());
                DnsDecision { enable: false, conflict: false }
            }
            Holder::Free => {
                // AWS refused the name this round (or within the hour, for a warm process)
                // although nothing visible holds it.
                let refused = self.obs.hints.dns_conflicts.contains(service) && !adopted.is_some_and(|e| e.private_dns);
                if refused {
                    self.conflict(
                        service,
                        "another resource (a private hosted zone this account cannot list, or an endpoint of another account's VPC association)",
                    );
                }
                DnsDecision { enable: self.private_dns_possible && !refused, conflict: refused }
            }
        };
        self.report_unread_profiles();
        Some(decision)
    }

    /// Warns (once) that the zones of the VPC's Route 53 Profile were not read with its hosted
    /// zones: a hub's zone shared that way may hold a name vpce-guard thinks free.
    fn report_unread_profiles(&mut self) {
        let Some(why) = self.obs.route53_profiles_unread.as_deref() else { return };
        if self.obs.hosted_zones.is_none()
            || self.plan.problems.iter().any(|p| p.code == Code::Route53ProfilesUnreadable)
        {
            return;
        }
        self.plan.problems.push(Problem::warning(
            Code::Route53ProfilesUnreadable,
            format!(
                "the private hosted zones of VPC {}'s Route 53 Profile could not be read ({why}); a hub's zone shared through a Profile is not seen, and AWS refuses private DNS for a name it holds (then reported as private_dns_conflict). Grant route53profiles:ListProfileAssociations and route53profiles:ListProfileResourceAssociations (the template's roles have them)",
                self.obs.vpc.id
            ),
        ));
    }

    fn conflict(&mut self, service: &str, holder: &str) {
        let vpc_id = &self.obs.vpc.id;
        self.plan.problems.push(Problem::error(
            Code::PrivateDnsConflict,
            format!(
                "{holder} already holds the private DNS name of {service} in VPC {vpc_id}; remove it (or tag this VPC vpce-guard:enforce=false) and vpce-guard turns private DNS on"
            ),
        ));
    }

    /// Who holds `service`'s name when the chosen endpoint does not: asked only when it
    /// matters (a new endpoint, or private DNS to turn on).
    fn name_holder(&self, service: &str, adopted: Option<&Endpoint>) -> Holder<'a> {
        let obs = self.obs;
        if adopted.is_some_and(|e| e.private_dns) {
            return Holder::Free;
        }
        let Some(name) = obs.service_dns.get(service) else { return Holder::Free };
        let deleting = obs.endpoints.iter().find(|e| {
            e.service == service && e.vpc_id == obs.vpc.id && e.private_dns && e.state == EndpointState::Deleting
        });
        if let Some(old) = deleting {
            return Holder::Deleting(old);
        }
        match &obs.hosted_zones {
            None => Holder::NotRead,
            Some(zones) => zones.iter().find(|zone| zone.serves(name)).map_or(Holder::Free, Holder::Zone),
        }
    }
}
