//! The fake account's [`Network`]: VPCs, subnets, their DNS attributes and the private hosted
//! zones associated with them, directly or through a Route 53 Profile.

use super::{rejected, selected, FakeAccount};
use crate::account::{DnsAttribute, Network, VpcSelector};
use crate::error::Result;
use crate::model::{HostedZone, Subnet, Vpc, VpcDns};

impl Network for FakeAccount {
    async fn describe_vpcs(&self, selector: &VpcSelector) -> Result<Vec<Vpc>> {
        self.read();
        Ok(self.with_state(|s| {
            s.vpcs.values().filter(|v| selected(selector, &v.id)).map(|v| Vpc { dns: None, ..v.clone() }).collect()
        }))
    }

    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns> {
        self.read();
        self.read();
        self.with_state(|s| s.vpcs.get(vpc_id).and_then(|v| v.dns)).ok_or_else(|| {
            rejected("DescribeVpcAttribute", "InvalidVpcID.NotFound", format!("The vpc ID '{vpc_id}' does not exist"))
        })
    }

    async fn describe_subnets(&self, selector: &VpcSelector) -> Result<Vec<Subnet>> {
        self.read();
        Ok(self.with_state(|s| s.subnets.values().filter(|x| selected(selector, &x.vpc_id)).cloned().collect()))
    }

    async fn subnets_by_id(&self, subnet_ids: &[String]) -> Result<Vec<Subnet>> {
        self.read();
        Ok(self.with_state(|s| subnet_ids.iter().filter_map(|id| s.subnets.get(id).cloned()).collect()))
    }

    async fn enable_vpc_dns(&self, vpc_id: &str, attribute: DnsAttribute) -> Result<()> {
        self.with_state(|s| {
            self.write(s, "ModifyVpcAttribute");
            let vpc = s.vpcs.get_mut(vpc_id).ok_or_else(|| {
                rejected("ModifyVpcAttribute", "InvalidVpcID.NotFound", format!("The vpc ID '{vpc_id}' does not exist"))
            })?;
            let dns = vpc.dns.get_or_insert(VpcDns { support: true, hostnames: false });
            match attribute {
                DnsAttribute::Support => dns.support = true,
                DnsAttribute::Hostnames => dns.hostnames = true,
            }
            Ok(())
        })
    }

    async fn hosted_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.read();
        Ok(self.with_state(|s| s.zones_of(vpc_id)))
    }

    /// One `ListProfileAssociations`, then one `ListProfileResourceAssociations` per Profile
    /// associated with the VPC (every list fits one page here).
    async fn profile_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.read();
        if let Some(code) = self.with_state(|s| s.route53_profiles_refusal.clone()) {
            let message =
                format!("User is not authorized to perform: route53profiles:ListProfileAssociations ({vpc_id})");
            return Err(rejected("ListProfileAssociations", &code, message));
        }
        let (profiles, zones) = self.with_state(|s| {
            let profiles = s.route53_profiles.values().filter(|p| p.vpcs.contains(vpc_id)).count();
            (profiles, s.profile_zones_of(vpc_id))
        });
        for _ in 0..profiles {
            self.read();
        }
        Ok(zones)
    }
}
