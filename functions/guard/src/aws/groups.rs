//! [`Groups`] with EC2: the managed security group and its TCP 443 rules, each described as
//! vpce-guard's.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType};

use super::{aws_error, filter, tag_specification, vpc_chunks, SdkAccount, FILTER_CHUNK};
use crate::account::{Groups, VpcSelector};
use crate::error::Result;
use crate::model::{SecurityGroup, Tags, MANAGED_GROUP_NAME, RULE_DESCRIPTION, TAG_MANAGED};

impl Groups for SdkAccount {
    async fn managed_groups(&self, selector: &VpcSelector) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        for chunk in vpc_chunks(selector) {
            let mut filters = vec![filter("group-name", &[MANAGED_GROUP_NAME.to_string()])];
            filters.extend(chunk.map(|ids| filter("vpc-id", &ids)));
            groups.extend(self.security_groups(filters).await?);
        }
        Ok(groups)
    }

    async fn groups_by_id(&self, group_ids: &[String]) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        // A group-id filter, not GroupIds: an unknown id fails a GroupIds call.
        for chunk in group_ids.chunks(FILTER_CHUNK) {
            let filters = vec![filter("group-name", &[MANAGED_GROUP_NAME.to_string()]), filter("group-id", chunk)];
            groups.extend(self.security_groups(filters).await?);
        }
        Ok(groups)
    }

    async fn create_group(&self, vpc_id: &str, name: &str, description: &str, tags: &Tags) -> Result<String> {
        let out = self
            .ec2
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| aws_error("CreateSecurityGroup", e))?;
        Ok(out.group_id().unwrap_or_default().to_string())
    }

    async fn authorize_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(sources))
            .send()
            .await
            .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn delete_group(&self, group_id: &str) -> Result<()> {
        self.ec2
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteSecurityGroup", e))?;
        Ok(())
    }

    async fn revoke_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        self.ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(sources))
            .send()
            .await
            .map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?;
        Ok(())
    }
}

impl SdkAccount {
    /// Every security group the filters select, with its HTTPS sources.
    async fn security_groups(&self, filters: Vec<aws_sdk_ec2::types::Filter>) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::new();
        let mut pages = self.ec2.describe_security_groups().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeSecurityGroups", e))?;
            groups.extend(page.security_groups().iter().map(|g| {
                let (https_sources, managed_sources) = https_sources(g);
                SecurityGroup {
                    id: g.group_id().unwrap_or_default().to_string(),
                    vpc_id: g.vpc_id().unwrap_or_default().to_string(),
                    https_sources,
                    managed_sources,
                    managed: g.tags().iter().any(|t| {
                        t.key() == Some(TAG_MANAGED) && t.value().is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    }),
                }
            }));
        }
        Ok(groups)
    }
}

/// The sources a security group allows on TCP 443 (CIDR blocks and prefix lists), and those
/// of them whose rule carries vpce-guard's description.
fn https_sources(group: &aws_sdk_ec2::types::SecurityGroup) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut sources = BTreeSet::new();
    let mut managed = BTreeSet::new();
    let mut add = |source: Option<&str>, description: Option<&str>| {
        if let Some(source) = source {
            sources.insert(source.to_string());
            if description == Some(RULE_DESCRIPTION) {
                managed.insert(source.to_string());
            }
        }
    };
    for permission in group.ip_permissions() {
        let protocol = permission.ip_protocol().unwrap_or_default();
        let all = protocol == "-1";
        let covers = all
            || (protocol.eq_ignore_ascii_case("tcp")
                && permission.from_port().unwrap_or(i32::MAX) <= 443
                && permission.to_port().unwrap_or(i32::MIN) >= 443);
        // Only vpce-guard's own rule (TCP 443 exactly) counts as managed.
        let exact = protocol.eq_ignore_ascii_case("tcp")
            && permission.from_port() == Some(443)
            && permission.to_port() == Some(443);
        if !covers {
            continue;
        }
        for range in permission.ip_ranges() {
            add(range.cidr_ip(), range.description().filter(|_| exact));
        }
        for range in permission.ipv6_ranges() {
            add(range.cidr_ipv6(), range.description().filter(|_| exact));
        }
        for list in permission.prefix_list_ids() {
            add(list.prefix_list_id(), list.description().filter(|_| exact));
        }
    }
    (sources, managed)
}

/// The TCP 443 permission from `sources` (IPv4, IPv6 CIDR blocks and prefix list ids), each
/// described as vpce-guard's so that later runs know which rules they may revoke.
fn https_permission(sources: &[String]) -> IpPermission {
    let (lists, cidrs): (Vec<&String>, Vec<&String>) = sources.iter().partition(|s| s.starts_with("pl-"));
    let (v6, v4): (Vec<&String>, Vec<&String>) = cidrs.into_iter().partition(|c| c.contains(':'));
    fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
        (!items.is_empty()).then_some(items)
    }
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .set_ip_ranges(non_empty(
            v4.iter().map(|c| IpRange::builder().cidr_ip(*c).description(RULE_DESCRIPTION).build()).collect(),
        ))
        .set_ipv6_ranges(non_empty(
            v6.iter().map(|c| Ipv6Range::builder().cidr_ipv6(*c).description(RULE_DESCRIPTION).build()).collect(),
        ))
        .set_prefix_list_ids(non_empty(
            lists
                .iter()
                .map(|p| PrefixListId::builder().prefix_list_id(*p).description(RULE_DESCRIPTION).build())
                .collect(),
        ))
        .build()
}
