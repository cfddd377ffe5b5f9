//! Amazon S3 for VPC-only Studio domains: gateway endpoints on their subnets' route tables.

use std::collections::BTreeSet;

use super::*;
use crate::config::s3_service;
use crate::model::{Domain, S3Endpoint, TAG_MANAGED};
use crate::report::{Code, Problem};

impl Planner<'_> {
    /// VPC-only Studio domains reach Amazon S3 only through an S3 endpoint: the route tables
    /// of their subnets (an explicit association, else the main table) need an S3 gateway
    /// endpoint, unless the VPC has an S3 interface endpoint. Created or extended with
    /// `VPCE_GUARD_S3_GATEWAY=true`, else reported. A route table is never removed.
    pub(super) fn plan_s3(&mut self) {
        let vpc_id = self.obs.vpc.id.as_str();
        let domains: Vec<&Domain> =
            self.obs.domains.iter().flatten().filter(|d| d.vpc_only && d.vpc_id == vpc_id).collect();
        if domains.is_empty() {
            return;
        }
        let Some(s3) = &self.obs.s3 else {
            self.plan.needs_s3 = true;
            return;
        };
        if s3.endpoints.iter().any(S3Endpoint::routes_the_vpc) {
            return;
        }
        let main = s3.route_tables.iter().find(|t| t.main).map(|t| t.id.clone());
        let table_of = |subnet: &String| {
            s3.route_tables.iter().find(|t| t.subnet_ids.contains(subnet)).map(|t| t.id.clone()).or(main.clone())
        };
        let needed: BTreeSet<String> = domains.iter().flat_map(|d| &d.subnet_ids).filter_map(table_of).collect();
        // An endpoint tagged vpce-guard:ignore keeps its routes but is never modified: the
        // missing tables then get a gateway endpoint of their own.
        // Without VPCE_GUARD_ADOPT_EXISTING only a gateway vpce-guard created (tagged managed) is
        // extended; one it did not create is reported with the tables it lacks and left alone.
        let candidates = s3.endpoints.iter().filter(|e| e.live && e.gateway && !e.ignored);
        let gateway = candidates.clone().filter(|e| e.managed || self.config.adopt_existing).min_by_key(|e| !e.managed);
        let theirs = candidates.clone().find(|e| !e.managed);
        let covered: BTreeSet<&String> =
            s3.endpoints.iter().filter(|e| e.live && e.gateway).flat_map(|e| &e.route_table_ids).collect();
        let missing: Vec<String> = needed.into_iter().filter(|t| !covered.contains(t)).collect();
        if missing.is_empty() {
            return;
        }
        let service = s3_service(&self.obs.identity.region);
        if let (true, None, Some(theirs)) = (self.config.s3_gateway, gateway, theirs) {
            self.plan.problems.push(Problem::error(
                Code::UnmanagedEndpoint,
                format!(
                    "S3 gateway endpoint {} in VPC {vpc_id} was not created by vpce-guard (it is not tagged {TAG_MANAGED}=true) and lacks route table(s) {} of VPC-only Studio domains' subnets; vpce-guard leaves it alone and creates none beside it. Add the route tables to it, tag it {TAG_MANAGED}=true to hand it over, or set VPCE_GUARD_ADOPT_EXISTING=true (template parameter AdoptExisting) to let vpce-guard extend it",
                    theirs.id,
                    missing.join(", ")
                ),
            ));
            return;
        }
        if self.config.s3_gateway {
            // The interface endpoints' token scheme: it changes once an endpoint was made,
            // deleted or handed back stale, so a deleted gateway is never answered again.
            let seen = s3.endpoints.iter().map(|e| e.id.as_str());
            let client_token = client_token(vpc_id, &service, seen, &self.obs.hints.stale_endpoint_ids);
            self.plan.writes.push(Write::S3Gateway {
                endpoint_id: gateway.map(|e| e.id.clone()),
                service,
                route_table_ids: missing,
                client_token,
            });
        } else {
            let ids: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
            self.plan.problems.push(Problem::error(
                Code::S3Unreachable,
                format!(
                    "Studio domain(s) {} run VPC-only in VPC {vpc_id}, but route table(s) {} of their subnets have no {service} gateway endpoint (and the VPC has no S3 interface endpoint): their apps cannot reach Amazon S3; add the gateway endpoint to them, or set VPCE_GUARD_S3_GATEWAY=true",
                    ids.join(", "),
                    missing.join(", ")
                ),
            ));
        }
    }
}
