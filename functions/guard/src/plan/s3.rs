//! Amazon S3 for VPC-only Studio domains: gateway endpoints on their subnets' route tables.

use std::collections::BTreeSet;

use super::*;
use crate::config::s3_service;
use crate::model::{Domain, S3Endpoint};
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
        let gateway = s3.endpoints.iter().find(|e| e.live && e.gateway && !e.ignored);
        let covered: BTreeSet<&String> =
            s3.endpoints.iter().filter(|e| e.live && e.gateway).flat_map(|e| &e.route_table_ids).collect();
        let missing: Vec<String> = needed.into_iter().filter(|t| !covered.contains(t)).collect();
        if missing.is_empty() {
            return;
        }
        let service = s3_service(&self.obs.identity.region);
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
