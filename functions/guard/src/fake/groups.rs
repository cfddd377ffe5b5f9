//! The fake account's [`Groups`]: the managed security group, one name per VPC, and rules
//! refused when duplicated, unknown or naming a prefix list that does not exist.

use std::collections::BTreeSet;

use super::{rejected, selected, FakeAccount, FakeGroup};
use crate::account::{Groups, VpcSelector};
use crate::error::Result;
use crate::model::{tag_is, SecurityGroup, Tags, MANAGED_GROUP_NAME, TAG_MANAGED};

impl Groups for FakeAccount {
    async fn managed_groups(&self, selector: &VpcSelector) -> Result<Vec<SecurityGroup>> {
        self.read();
        Ok(self.with_state(|s| {
            s.groups
                .values()
                .filter(|g| g.name == MANAGED_GROUP_NAME && selected(selector, &g.group.vpc_id))
                .map(|g| g.group.clone())
                .collect()
        }))
    }

    async fn groups_by_id(&self, group_ids: &[String]) -> Result<Vec<SecurityGroup>> {
        self.read();
        Ok(self.with_state(|s| {
            s.groups
                .values()
                .filter(|g| g.name == MANAGED_GROUP_NAME && group_ids.contains(&g.group.id))
                .map(|g| g.group.clone())
                .collect()
        }))
    }

    async fn create_group(&self, vpc_id: &str, name: &str, _description: &str, tags: &Tags) -> Result<String> {
        self.with_state(|s| {
            self.write(s, "CreateSecurityGroup");
            if s.groups.values().any(|g| g.group.vpc_id == vpc_id && g.name == name) {
                return Err(rejected(
                    "CreateSecurityGroup",
                    "InvalidGroup.Duplicate",
                    format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
                ));
            }
            let id = s.next("sg");
            let group = SecurityGroup {
                id: id.clone(),
                vpc_id: vpc_id.into(),
                https_sources: BTreeSet::new(),
                managed_sources: BTreeSet::new(),
                managed: tag_is(tags, TAG_MANAGED, "true"),
            };
            s.groups.insert(id.clone(), FakeGroup { group, name: name.into(), tags: tags.clone() });
            Ok(id)
        })
    }

    async fn authorize_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        const OP: &str = "AuthorizeSecurityGroupIngress";
        self.with_state(|s| {
            self.write(s, OP);
            s.may_write_groups(OP, &[group_id.to_string()])?;
            if let Some(unknown) = sources.iter().find(|p| p.starts_with("pl-") && !s.prefix_lists.contains(*p)) {
                return Err(rejected(OP, "InvalidPrefixListID.NotFound", format!("The prefix list ID '{unknown}' does not exist")));
            }
            let group = s.groups.get_mut(group_id).ok_or_else(|| {
                rejected(OP, "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            // A rule's identity is its protocol, ports and source; the description is not part
            // of it (EC2 API reference, AuthorizeSecurityGroupIngress).
            if let Some(duplicate) = sources.iter().find(|c| group.group.https_sources.contains(*c)) {
                return Err(rejected(
                    OP,
                    "InvalidPermission.Duplicate",
                    format!("the specified rule \"peer: {duplicate}, TCP, from port: 443, to port: 443, ALLOW\" already exists"),
                ));
            }
            group.group.https_sources.extend(sources.iter().cloned());
            group.group.managed_sources.extend(sources.iter().cloned());
            Ok(())
        })
    }

    async fn revoke_https(&self, group_id: &str, sources: &[String]) -> Result<()> {
        const OP: &str = "RevokeSecurityGroupIngress";
        self.with_state(|s| {
            self.write(s, OP);
            s.may_write_groups(OP, &[group_id.to_string()])?;
            let group = s.groups.get_mut(group_id).ok_or_else(|| {
                rejected(OP, "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            // EC2 refuses the whole call when a rule to revoke does not exist in a VPC group.
            if let Some(missing) = sources.iter().find(|c| !group.group.https_sources.contains(*c)) {
                return Err(rejected(
                    OP,
                    "InvalidPermission.NotFound",
                    format!("The specified rule does not exist in this security group: peer {missing}, TCP 443"),
                ));
            }
            for source in sources {
                group.group.https_sources.remove(source);
                group.group.managed_sources.remove(source);
            }
            Ok(())
        })
    }

    async fn delete_group(&self, group_id: &str) -> Result<()> {
        const OP: &str = "DeleteSecurityGroup";
        self.with_state(|s| {
            self.write(s, OP);
            let group = s.groups.get(group_id).ok_or_else(|| {
                rejected(OP, "InvalidGroup.NotFound", format!("The security group '{group_id}' does not exist"))
            })?;
            s.may_prune(OP, &format!("security-group/{group_id}"), &group.tags, &[])?;
            // "If you attempt to delete a security group that is associated with an instance or
            // network interface ... the operation fails with DependencyViolation" (EC2 API
            // reference, DeleteSecurityGroup). An endpoint's network interfaces carry its groups
            // until it is deleted: while it is `deleting` too.
            let in_use = s.endpoints.values().any(|e| {
                e.group_ids.iter().any(|g| g == group_id)
                    && (e.state.is_live() || e.state == crate::model::EndpointState::Deleting)
            });
            if in_use {
                return Err(rejected(OP, "DependencyViolation", format!("resource {group_id} has a dependent object")));
            }
            s.groups.remove(group_id);
            Ok(())
        })
    }
}
