//! The SDK calls behind the access model: the Organization's id (`organizations`), the
//! private hosted zones associated with a VPC (`route53`), and the IAM guardrail policy
//! (`iam`): [`Iam`] is implemented here; `Account::organization_id` and
//! `Network::hosted_zones` delegate to the first two.

use aws_sdk_ec2::error::ProvideErrorMetadata;

use super::{aws_error, SdkAccount};
use crate::account::{Iam, ManagedPolicy};
use crate::error::Result;
use crate::model::HostedZone;

impl SdkAccount {
    /// `DescribeOrganization`: the Organization's id. One call, at start, signed by hand
    /// (`super::signed`, AWS JSON 1.1): the SDK crate would add to every bootstrap for it.
    pub(super) async fn describe_organization(&self) -> Result<String> {
        let out = self.organizations().invoke("DescribeOrganization", &serde_json::json!({})).await?;
        match out["Organization"]["Id"].as_str() {
            Some(id) if !id.is_empty() => Ok(id.to_string()),
            _ => Err(crate::error::Error::Aws {
                operation: "DescribeOrganization",
                code: "InvalidResponse".into(),
                message: format!("the answer names no Organization id: {:.200}", out.to_string()),
                class: crate::error::ErrorClass::Transient,
            }),
        }
    }

    /// `ListHostedZonesByVPC`, every page (it has no paginator in the SDK).
    pub(super) async fn hosted_zones_of_vpc(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        let region = aws_sdk_route53::types::VpcRegion::from(self.region.as_str());
        let mut zones = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .route53()
                .list_hosted_zones_by_vpc()
                .vpc_id(vpc_id)
                .vpc_region(region.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("ListHostedZonesByVPC", e))?;
            zones.extend(out.hosted_zone_summaries().iter().map(|zone| HostedZone {
                id: zone.hosted_zone_id().trim_start_matches("/hostedzone/").to_string(),
                name: zone.name().trim_end_matches('.').to_string(),
                route53_profile: None,
            }));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(zones),
            }
        }
    }
}

impl Iam for SdkAccount {
    /// `GetPolicy`, then `GetPolicyVersion` of the default version and `ListPolicyVersions`;
    /// `None` when the policy does not exist.
    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        let arn = arn.to_string();
        let policy = match self.iam().get_policy().policy_arn(&arn).send().await {
            Ok(out) => out.policy,
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(aws_error("GetPolicy", e)),
        };
        let Some(default_version) = policy.and_then(|p| p.default_version_id) else { return Ok(None) };
        let version = self
            .iam()
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(&default_version)
            .send()
            .await
            .map_err(|e| aws_error("GetPolicyVersion", e))?;
        let document = version.policy_version().and_then(|v| v.document()).map(decode_document).unwrap_or_default();
        let listed = self
            .iam()
            .list_policy_versions()
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error("ListPolicyVersions", e))?;
        let mut versions: Vec<_> = listed
            .versions()
            .iter()
            .map(|v| (v.create_date().map(|d| (d.secs(), d.subsec_nanos())), version_number(v.version_id()), v))
            .collect();
        versions.sort_by_key(|(created, number, _)| (*created, *number));
        let versions = versions
            .into_iter()
            .map(|(_, _, v)| (v.version_id().unwrap_or_default().to_string(), v.is_default_version()))
            .collect();
        Ok(Some(ManagedPolicy { arn, document, versions }))
    }

    /// `CreatePolicy`.
    async fn create_managed_policy(&self, path: &str, name: &str, description: &str, document: &str) -> Result<()> {
        self.iam()
            .create_policy()
            .path(path)
            .policy_name(name)
            .description(description)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| aws_error("CreatePolicy", e))?;
        Ok(())
    }

    /// `CreatePolicyVersion`, made the default.
    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<()> {
        self.iam()
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true)
            .send()
            .await
            .map_err(|e| aws_error("CreatePolicyVersion", e))?;
        Ok(())
    }

    /// `DeletePolicyVersion`.
    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        self.iam()
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| aws_error("DeletePolicyVersion", e))?;
        Ok(())
    }
}

/// `v7` → 7, for ordering versions created within the same second.
fn version_number(id: Option<&str>) -> u64 {
    id.and_then(|id| id.trim_start_matches('v').parse().ok()).unwrap_or(0)
}

/// IAM returns policy documents URL-encoded (RFC 3986; IAM API reference, `PolicyVersion`):
/// decode them, leaving a document that is already plain JSON as it is.
pub fn decode_document(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[index], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_documents_are_decoded_and_plain_ones_kept() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_document(encoded), r#"{"Version":"2012-10-17","Statement":[]}"#);
        assert_eq!(decode_document(r#"{"a": "100%"}"#), r#"{"a": "100%"}"#);
        assert_eq!(decode_document("%7B%22a%22%3A%22%E2%9C%93%22%7D"), r#"{"a":"✓"}"#);
    }

    #[test]
    fn versions_order_by_number() {
        assert!(version_number(Some("v10")) > version_number(Some("v9")));
        assert_eq!(version_number(None), 0);
    }
}
