//! The VPC's DNS attributes and the managed security group with its HTTPS sources.

use std::collections::BTreeSet;

use super::*;
use crate::model::{MANAGED_GROUP_NAME, TAG_MANAGED};
use crate::report::{Code, Problem};

impl Planner<'_> {
    pub(super) fn plan_vpc_dns(&mut self) {
        let Some(dns) = self.obs.vpc.dns else { return };
        if dns.support && dns.hostnames {
            return;
        }
        if self.config.fix_vpc_dns {
            if !dns.support {
                self.plan.writes.push(Write::EnableDnsSupport);
            }
            if !dns.hostnames {
                self.plan.writes.push(Write::EnableDnsHostnames);
            }
        } else {
            self.private_dns_possible = false;
            self.plan.problems.push(Problem::error(
                Code::VpcDnsOff,
                format!(
                    "VPC {} has enableDnsSupport={} and enableDnsHostnames={}; private DNS needs both: set VPCE_GUARD_FIX_VPC_DNS=true or turn them on",
                    self.obs.vpc.id, dns.support, dns.hostnames
                ),
            ));
        }
    }

    /// Keeps an existing managed group's rules current: the VPC's CIDR blocks and the
    /// configured client sources are allowed; rules vpce-guard added for anything else are
    /// revoked; rules added by anyone else are left alone.
    pub(super) fn plan_group_rules(&mut self) {
        let Some(group) = &self.obs.group else { return };
        if !group.managed {
            self.plan.problems.push(Problem::error(
                Code::UnmanagedGroup,
                format!(
                    "security group {} in VPC {} is named {MANAGED_GROUP_NAME} but not tagged {TAG_MANAGED}=true: vpce-guard writes neither its rules nor endpoints that would use it. Tag it {TAG_MANAGED}=true to hand it over (vpce-guard then keeps its TCP 443 rules), or delete or rename it so that vpce-guard creates its own",
                    group.id, self.obs.vpc.id
                ),
            ));
            return;
        }
        let wanted = self.wanted_sources();
        let missing: Vec<String> = wanted.difference(&group.https_sources).cloned().collect();
        let unwanted: Vec<String> = group.managed_sources.difference(&wanted).cloned().collect();
        if !missing.is_empty() {
            self.plan
                .writes
                .push(Write::AuthorizeHttps { group: GroupRef::Existing(group.id.clone()), sources: missing });
        }
        if !unwanted.is_empty() {
            self.plan.writes.push(Write::RevokeHttps { group_id: group.id.clone(), sources: unwanted });
        }
    }

    /// The VPC's group of the managed name exists and is not tagged managed: nothing that
    /// writes it or puts it on an endpoint is planned.
    pub(super) fn group_unmanaged(&self) -> bool {
        self.obs.group.as_ref().is_some_and(|g| !g.managed)
    }

    /// Every source the managed group must allow on 443.
    pub(super) fn wanted_sources(&self) -> BTreeSet<String> {
        let vpc = &self.obs.vpc;
        vpc.ipv4_cidrs.iter().chain(&vpc.ipv6_cidrs).chain(self.config.client_sources()).cloned().collect()
    }

    /// The managed group, creating it (once) when no group exists yet.
    pub(super) fn group(&mut self) -> GroupRef {
        if let Some(group) = &self.group {
            return group.clone();
        }
        self.plan.writes.push(Write::CreateGroup);
        let sources: Vec<String> = self.wanted_sources().into_iter().collect();
        if !sources.is_empty() {
            self.plan.writes.push(Write::AuthorizeHttps { group: GroupRef::Planned, sources });
        }
        self.group = Some(GroupRef::Planned);
        GroupRef::Planned
    }
}
