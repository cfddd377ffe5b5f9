//! [`Network`] with EC2 (VPCs, subnets, DNS attributes), Route 53 (hosted zones, in `access`)
//! and Route 53 Profiles (the hosted zones of a VPC's Profile, in `profiles`).

use aws_sdk_ec2::types::AttributeBooleanValue;

use super::{aws_error, ec2_tags, filter, vpc_chunks, SdkAccount};
use crate::account::{DnsAttribute, Network, VpcSelector};
use crate::error::Result;
use crate::model::{HostedZone, Subnet, Vpc, VpcDns};

impl Network for SdkAccount {
    async fn describe_vpcs(&self, selector: &VpcSelector) -> Result<Vec<Vpc>> {
        let mut vpcs = Vec::new();
        // By a vpc-id filter, not VpcIds: with VpcIds one unknown id fails the whole call
        // (InvalidVpcID.NotFound), while a filter simply leaves unknown ids out.
        for chunk in vpc_chunks(selector) {
            let filters = chunk.map(|ids| vec![filter("vpc-id", &ids)]);
            let mut pages = self.ec2.describe_vpcs().set_filters(filters).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeVpcs", e))?;
                vpcs.extend(page.vpcs().iter().map(to_vpc));
            }
        }
        Ok(vpcs)
    }

    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns> {
        use aws_sdk_ec2::types::VpcAttributeName;
        let read =
            |attribute: VpcAttributeName| self.ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(attribute).send();
        let support =
            read(VpcAttributeName::EnableDnsSupport).await.map_err(|e| aws_error("DescribeVpcAttribute", e))?;
        let hostnames =
            read(VpcAttributeName::EnableDnsHostnames).await.map_err(|e| aws_error("DescribeVpcAttribute", e))?;
        Ok(VpcDns {
            support: support.enable_dns_support().and_then(|v| v.value()).unwrap_or(false),
            hostnames: hostnames.enable_dns_hostnames().and_then(|v| v.value()).unwrap_or(false),
        })
    }

    async fn describe_subnets(&self, selector: &VpcSelector) -> Result<Vec<Subnet>> {
        let mut subnets = Vec::new();
        for chunk in vpc_chunks(selector) {
            let filters = chunk.map(|ids| vec![filter("vpc-id", &ids)]);
            let mut pages = self.ec2.describe_subnets().set_filters(filters).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeSubnets", e))?;
                subnets.extend(page.subnets().iter().map(to_subnet));
            }
        }
        Ok(subnets)
    }

    async fn subnets_by_id(&self, subnet_ids: &[String]) -> Result<Vec<Subnet>> {
        let out = self.ec2.describe_subnets().filters(filter("subnet-id", subnet_ids)).send().await;
        let out = out.map_err(|e| aws_error("DescribeSubnets", e))?;
        Ok(out.subnets().iter().map(to_subnet).collect())
    }

    async fn enable_vpc_dns(&self, vpc_id: &str, attribute: DnsAttribute) -> Result<()> {
        let on = AttributeBooleanValue::builder().value(true).build();
        let request = self.ec2.modify_vpc_attribute().vpc_id(vpc_id);
        let request = match attribute {
            DnsAttribute::Support => request.enable_dns_support(on),
            DnsAttribute::Hostnames => request.enable_dns_hostnames(on),
        };
        request.send().await.map_err(|e| aws_error("ModifyVpcAttribute", e))?;
        Ok(())
    }

    async fn hosted_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.hosted_zones_of_vpc(vpc_id).await
    }

    async fn profile_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        self.route53_profile_zones(vpc_id).await
    }
}

fn is_associated(state: Option<&str>) -> bool {
    state.is_some_and(|s| s.eq_ignore_ascii_case("associated"))
}

fn to_vpc(vpc: &aws_sdk_ec2::types::Vpc) -> Vpc {
    let ipv4 = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| is_associated(a.cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str())))
        .filter_map(|a| a.cidr_block().map(str::to_string));
    let ipv6 = vpc
        .ipv6_cidr_block_association_set()
        .iter()
        .filter(|a| is_associated(a.ipv6_cidr_block_state().and_then(|s| s.state()).map(|s| s.as_str())))
        .filter_map(|a| a.ipv6_cidr_block().map(str::to_string));
    let mut ipv4_cidrs: Vec<String> = ipv4.collect();
    if ipv4_cidrs.is_empty() {
        ipv4_cidrs.extend(vpc.cidr_block().map(str::to_string));
    }
    Vpc {
        id: vpc.vpc_id().unwrap_or_default().to_string(),
        owner_id: vpc.owner_id().unwrap_or_default().to_string(),
        ipv4_cidrs,
        ipv6_cidrs: ipv6.collect(),
        dns: None,
        tags: ec2_tags(vpc.tags()),
    }
}

fn to_subnet(subnet: &aws_sdk_ec2::types::Subnet) -> Subnet {
    Subnet {
        id: subnet.subnet_id().unwrap_or_default().to_string(),
        vpc_id: subnet.vpc_id().unwrap_or_default().to_string(),
        az: subnet.availability_zone().unwrap_or_default().to_string(),
        free_ips: subnet.available_ip_address_count().unwrap_or(0).max(0) as u32,
        owner_id: subnet.owner_id().unwrap_or_default().to_string(),
        ipv6_native: subnet.ipv6_native().unwrap_or(false),
        tags: ec2_tags(subnet.tags()),
    }
}
