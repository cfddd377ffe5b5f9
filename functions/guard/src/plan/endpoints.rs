//! One endpoint per service: adopt, create or modify it, and choose one subnet in each AZ.

use std::collections::BTreeSet;

use super::*;
use crate::model::{tag_is, Endpoint, EndpointState, Subnet, TAG_IGNORE, TAG_MANAGED};
use crate::policy;
use crate::report::{Code, Problem};

impl Planner<'_> {
    pub(super) fn plan_service(&mut self, service: &str) {
        let obs = self.obs;
        let mut status = ServiceStatus { service: service.to_string(), endpoint: None };
        let Some(supported) = obs.service_azs.get(service) else {
            self.plan.problems.push(Problem::error(
                Code::ServiceUnavailable,
                format!(
                    "endpoint service {service} is not offered in {}; check VPCE_GUARD_SERVICES",
                    obs.identity.region
                ),
            ));
            self.plan.services.push(status);
            return;
        };
        let ours: Vec<&Endpoint> = obs
            .endpoints
            .iter()
            .filter(|e| e.service == service && e.vpc_id == obs.vpc.id && e.is_interface())
            .collect();
        if let Some(ignored) = ours.iter().find(|e| e.state.is_live() && tag_is(&e.tags, TAG_IGNORE, "true")) {
            status.endpoint = Some((*ignored).clone());
            self.plan.services.push(status);
            return;
        }
        let adopted = ours
            .iter()
            .filter(|e| e.state.is_live())
            .min_by_key(|e| (!e.private_dns, !tag_is(&e.tags, TAG_MANAGED, "true"), e.id.clone()))
            .copied();
        let Some(dns) = self.private_dns_for(service, adopted) else {
            self.plan.services.push(status);
            return;
        };
        let subnets = self.subnets_to_add(service, supported, adopted);
        let wanted_policy = self.wanted_policy(service);
        let (private_dns, conflict) = (dns.enable, dns.conflict);
        if let Some(theirs) = adopted.filter(|e| !self.config.adopt_existing && !tag_is(&e.tags, TAG_MANAGED, "true")) {
            self.report_unmanaged(theirs, &subnets, wanted_policy.flatten(), private_dns);
            status.endpoint = Some(theirs.clone());
            self.plan.services.push(status);
            return;
        }
        match adopted {
            None => self.plan_create(service, &ours, subnets, wanted_policy, private_dns, conflict),
            Some(endpoint) if matches!(endpoint.state, EndpointState::Partial | EndpointState::PendingAcceptance) => {
                self.plan.problems.push(Problem::error(
                    Code::EndpointStuck,
                    format!(
                        "endpoint {} for {service} is {}, which AWS does not resolve by itself; check it in the VPC console (or delete it so vpce-guard creates a new one)",
                        endpoint.id,
                        endpoint.state.as_str()
                    ),
                ));
                status.endpoint = Some(endpoint.clone());
            }
            Some(endpoint) if endpoint.state != EndpointState::Available => {
                self.plan.pending.push(endpoint.id.clone());
                status.endpoint = Some(endpoint.clone());
            }
            Some(endpoint) => {
                status.endpoint = Some(endpoint.clone());
                self.plan_modify(endpoint, subnets, wanted_policy, private_dns);
            }
        }
        self.plan.services.push(status);
    }

    /// An endpoint of `service` that vpce-guard did not create, without
    /// `VPCE_GUARD_ADOPT_EXISTING`: left alone (the roles may not modify it), none created beside
    /// it, and reported with what differs from the wanted state — the AZs it lacks, its policy,
    /// private DNS. In line, it is no problem.
    fn report_unmanaged(
        &mut self,
        endpoint: &Endpoint,
        add_subnet_ids: &[String],
        wanted_policy: Option<String>,
        private_dns: bool,
    ) {
        let mut differences = Vec::new();
        if !add_subnet_ids.is_empty() {
            let azs: Vec<&str> = add_subnet_ids
                .iter()
                .filter_map(|id| self.obs.subnets.iter().find(|s| &s.id == id))
                .map(|s| s.az.as_str())
                .collect();
            differences.push(format!("no subnet in {} (wanted: {})", azs.join(", "), add_subnet_ids.join(", ")));
        }
        if let Some(text) = wanted_policy {
            let wanted: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if !policy::same_policy(endpoint.policy.as_deref(), &wanted) {
                differences.push("its policy is not the one the configuration wants".to_string());
            }
        }
        if private_dns && !endpoint.private_dns {
            differences.push("private DNS is off".to_string());
        }
        if differences.is_empty() {
            return;
        }
        self.plan.problems.push(Problem::error(
            Code::UnmanagedEndpoint,
            format!(
                "endpoint {} of {} in VPC {} was not created by vpce-guard (it is not tagged {TAG_MANAGED}=true) and differs from the wanted state: {}; vpce-guard leaves it alone and creates none beside it. Bring it in line with its owner, tag it {TAG_MANAGED}=true to hand it over, or set VPCE_GUARD_ADOPT_EXISTING=true (template parameter AdoptExisting) to let vpce-guard adopt it",
                endpoint.id,
                endpoint.service,
                self.obs.vpc.id,
                differences.join("; ")
            ),
        ));
    }

    pub(super) fn plan_create(
        &mut self,
        service: &str,
        ours: &[&Endpoint],
        subnet_ids: Vec<String>,
        policy: Option<Option<String>>,
        private_dns: bool,
        dns_conflict: bool,
    ) {
        if let Some(broken) = ours.iter().find(|e| e.state.is_failed()) {
            self.plan.problems.push(Problem::error(
                Code::EndpointFailed,
                format!(
                    "endpoint {} for {service} is {}; delete it so that vpce-guard can create a working one",
                    broken.id,
                    broken.state.as_str()
                ),
            ));
            return;
        }
        if subnet_ids.is_empty() {
            self.plan.problems.push(Problem::error(
                Code::NoUsableSubnet,
                format!("VPC {} has no subnet where an endpoint for {service} can be placed", self.obs.vpc.id),
            ));
            return;
        }
        let Some(policy) = policy else {
            self.plan.needs_notebooks = true;
            return;
        };
        if self.group_unmanaged() {
            // Reported once for the VPC (`unmanaged_group`): an endpoint would carry that group.
            return;
        }
        let group = self.group();
        let client_token = client_token(
            &self.obs.vpc.id,
            service,
            ours.iter().map(|e| e.id.as_str()),
            &self.obs.hints.stale_endpoint_ids,
        );
        self.plan.writes.push(Write::CreateEndpoint {
            service: service.to_string(),
            subnet_ids,
            group,
            policy,
            private_dns,
            client_token,
            dns_conflict,
        });
    }

    pub(super) fn plan_modify(
        &mut self,
        endpoint: &Endpoint,
        add_subnet_ids: Vec<String>,
        wanted_policy: Option<Option<String>>,
        private_dns: bool,
    ) {
        let group_ids: BTreeSet<&str> = endpoint.group_ids.iter().map(String::as_str).collect();
        let has_group = match &self.group {
            Some(GroupRef::Existing(id)) => group_ids.contains(id.as_str()),
            _ => false,
        };
        let policy = match wanted_policy {
            Some(Some(text)) => {
                let wanted: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                (!policy::same_policy(endpoint.policy.as_deref(), &wanted)).then_some(text)
            }
            _ => None,
        };
        let enable_private_dns = private_dns && !endpoint.private_dns;
        // A group of the managed name that is not tagged managed is never put on an endpoint.
        let wants_group = !has_group && !self.group_unmanaged();
        if add_subnet_ids.is_empty() && !wants_group && policy.is_none() && !enable_private_dns {
            return;
        }
        let add_group = wants_group.then(|| self.group());
        self.plan.writes.push(Write::ModifyEndpoint {
            endpoint_id: endpoint.id.clone(),
            service: endpoint.service.clone(),
            add_subnet_ids,
            add_group,
            policy,
            enable_private_dns,
        });
    }

    /// One subnet for every AZ that has subnets, the service supports, and the endpoint
    /// (if any) does not cover yet. Reports unsupported AZs and full AZs.
    pub(super) fn subnets_to_add(
        &mut self,
        service: &str,
        supported: &BTreeSet<String>,
        endpoint: Option<&Endpoint>,
    ) -> Vec<String> {
        let covered: BTreeSet<&str> = endpoint
            .map(|e| self.obs.subnets.iter().filter(|s| e.subnet_ids.contains(&s.id)).map(|s| s.az.as_str()).collect())
            .unwrap_or_default();
        let mut chosen = Vec::new();
        for (az, subnets) in &self.azs {
            if covered.contains(az) {
                continue;
            }
            if !supported.contains(*az) {
                self.plan.problems.push(Problem::warning(
                    Code::ServiceNotInAz,
                    format!("{service} is not offered in {az}; subnets there reach the endpoint through other AZs"),
                ));
                continue;
            }
            // vpce-guard's endpoints are IPv4 (EC2's default IpAddressType): an IPv6-only
            // subnet (0 free IPv4 addresses by nature) is no candidate, and no error either.
            let dual: Vec<&&Subnet> = subnets.iter().filter(|s| !s.ipv6_native).collect();
            if dual.is_empty() {
                self.plan.problems.push(Problem::warning(
                    Code::Ipv6OnlyAz,
                    format!(
                        "every subnet of {az} in VPC {} is IPv6-only, which an IPv4 endpoint cannot use; clients there reach the endpoint through other AZs",
                        self.obs.vpc.id
                    ),
                ));
                continue;
            }
            match dual.iter().find(|s| s.free_ips > 0) {
                Some(subnet) => chosen.push(subnet.id.clone()),
                None => self.plan.problems.push(Problem::error(
                    Code::NoFreeIp,
                    format!(
                        "every subnet of {az} in VPC {} is out of free IP addresses; free one up or add a subnet",
                        self.obs.vpc.id
                    ),
                )),
            }
        }
        chosen
    }
}
