//! IAM in the fake account: customer managed policies with IAM's limits (5 versions, 6,144
//! characters not counting whitespace, the default version undeletable), for the guardrail.

use super::{rejected, FakeAccount};
use crate::account::{Iam, ManagedPolicy};
use crate::error::Result;

/// A customer managed IAM policy of the fake account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakePolicy {
    /// Versions, oldest first: (id, document, is default).
    pub versions: Vec<(String, String, bool)>,
    /// The number the next version gets.
    pub next_version: u32,
}

impl FakePolicy {
    /// The default version's document.
    pub fn document(&self) -> Option<&str> {
        self.versions.iter().find(|v| v.2).map(|v| v.1.as_str())
    }
}

/// IAM's limits on customer managed policies (IAM User Guide, "IAM and AWS STS quotas"):
/// 5 versions, 6,144 characters not counting whitespace.
const MAX_POLICY_VERSIONS: usize = 5;

/// IAM refuses documents that are not JSON or exceed 6,144 characters not counting whitespace.
fn check_iam_policy(operation: &'static str, document: &str) -> Result<()> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(document) else {
        return Err(rejected(operation, "MalformedPolicyDocument", "Syntax errors in policy."));
    };
    if crate::policy::iam_policy_size(&value) > crate::policy::MAX_IAM_POLICY_CHARS {
        return Err(rejected(operation, "LimitExceeded", "Cannot exceed quota for PolicySize: 6144"));
    }
    Ok(())
}

impl FakeAccount {
    /// The ARN of the customer managed policy `path` + `name` in this account.
    pub fn policy_arn(&self, path: &str, name: &str) -> String {
        format!("arn:{}:iam::{}:policy{path}{name}", self.identity.partition, self.identity.account_id)
    }

    pub(super) fn iam_managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.read();
        let found = self.with_state(|s| {
            s.policies.get(arn).map(|p| ManagedPolicy {
                arn: arn.to_string(),
                document: p.document().unwrap_or_default().to_string(),
                versions: p.versions.iter().map(|(id, _, default)| (id.clone(), *default)).collect(),
            })
        });
        if found.is_some() {
            self.read();
            self.read();
        }
        Ok(found)
    }

    pub(super) fn iam_create_policy(&self, path: &str, name: &str, document: &str) -> Result<()> {
        const OP: &str = "CreatePolicy";
        let arn = self.policy_arn(path, name);
        self.with_state(|s| {
            self.write(s, OP);
            check_iam_policy(OP, document)?;
            if s.policies.contains_key(&arn) {
                return Err(rejected(OP, "EntityAlreadyExists", format!("A policy called {name} already exists.")));
            }
            let policy = FakePolicy { versions: vec![("v1".into(), document.into(), true)], next_version: 2 };
            s.policies.insert(arn, policy);
            Ok(())
        })
    }

    pub(super) fn iam_create_version(&self, arn: &str, document: &str) -> Result<()> {
        const OP: &str = "CreatePolicyVersion";
        self.with_state(|s| {
            self.write(s, OP);
            check_iam_policy(OP, document)?;
            let policy = s.policies.get_mut(arn).ok_or_else(|| rejected(OP, "NoSuchEntity", format!("Policy {arn} was not found.")))?;
            if policy.versions.len() >= MAX_POLICY_VERSIONS {
                return Err(rejected(
                    OP,
                    "LimitExceeded",
                    format!("A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version."),
                ));
            }
            let id = format!("v{}", policy.next_version);
            policy.next_version += 1;
            policy.versions.iter_mut().for_each(|v| v.2 = false);
            policy.versions.push((id, document.into(), true));
            Ok(())
        })
    }

    pub(super) fn iam_delete_version(&self, arn: &str, version_id: &str) -> Result<()> {
        const OP: &str = "DeletePolicyVersion";
        self.with_state(|s| {
            self.write(s, OP);
            let policy = s
                .policies
                .get_mut(arn)
                .ok_or_else(|| rejected(OP, "NoSuchEntity", format!("Policy {arn} was not found.")))?;
            match policy.versions.iter().position(|v| v.0 == version_id) {
                None => Err(rejected(OP, "NoSuchEntity", format!("Policy {arn} version {version_id} does not exist."))),
                Some(index) if policy.versions[index].2 => {
                    Err(rejected(OP, "DeleteConflict", "Cannot delete the default version of a policy."))
                }
                Some(index) => {
                    policy.versions.remove(index);
                    Ok(())
                }
            }
        })
    }
}

impl Iam for FakeAccount {
    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.iam_managed_policy(arn)
    }

    async fn create_managed_policy(&self, path: &str, name: &str, _description: &str, document: &str) -> Result<()> {
        self.iam_create_policy(path, name, document)
    }

    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<()> {
        self.iam_create_version(arn, document)
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.iam_delete_version(arn, version_id)
    }
}
