//! The private hosted zones a VPC gets through its Route 53 Profile, with the Route 53 Profiles
//! REST-JSON API signed by hand (`super::signed`): the SDK crate would add more to the bootstrap
//! than two list calls are worth. `ListHostedZonesByVPC` "does not reflect the hosted zone
//! associations to VPCs via Route 53 Profiles" (Route 53 API reference, `ListHostedZonesByVPC`),
//! so a hub sharing its zones through a Profile is seen only here.
//!
//! Route 53 API reference, Route 53 Profiles: `ListProfileAssociations` is
//! `GET /profileassociations?resourceId=<vpc>&maxResults=&nextToken=` (answers
//! `ProfileAssociations`, `NextToken`); `ListProfileResourceAssociations` is
//! `GET /profileresourceassociations/profileid/<ProfileId>?maxResults=&nextToken=` (answers
//! `ProfileResourceAssociations`, `NextToken`); signing name and endpoint prefix
//! `route53profiles`.

use serde_json::Value;

use super::{signed, SdkAccount};
use crate::error::Result;
use crate::model::HostedZone;

/// The most the two list calls answer per page (their `MaxResults`).
const PAGE: &str = "100";

impl SdkAccount {
    /// `ListProfileAssociations` of `vpc_id`, then `ListProfileResourceAssociations` of each
    /// Profile associated with it, every page; keeps the private hosted zones.
    pub(super) async fn route53_profile_zones(&self, vpc_id: &str) -> Result<Vec<HostedZone>> {
        let associations =
            self.pages("ListProfileAssociations", "/profileassociations", Some(vpc_id), "ProfileAssociations").await?;
        let mut profiles: Vec<String> = associations
            .iter()
            .filter(|a| in_effect(a))
            .filter_map(|a| a["ProfileId"].as_str().map(str::to_string))
            .collect();
        profiles.sort();
        profiles.dedup();
        let mut zones = Vec::new();
        for profile in profiles {
            let path = format!("/profileresourceassociations/profileid/{}", signed::encode(&profile));
            let resources =
                self.pages("ListProfileResourceAssociations", &path, None, "ProfileResourceAssociations").await?;
            zones.extend(resources.iter().filter(|r| in_effect(r)).filter_map(|r| hosted_zone(r, &profile)));
        }
        Ok(zones)
    }

    /// Every page of a Route 53 Profiles list call: the items of its `list` member.
    async fn pages(&self, operation: &'static str, path: &str, vpc_id: Option<&str>, list: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut pairs = vec![("maxResults", PAGE)];
            pairs.extend(vpc_id.map(|vpc| ("resourceId", vpc)));
            pairs.extend(token.as_deref().map(|t| ("nextToken", t)));
            let page = self.route53_profiles().get(operation, &format!("{path}{}", signed::query(&pairs))).await?;
            let (found, next) = signed::page_items(operation, &page, list)?;
            items.extend(found);
            token = next;
            if token.is_none() {
                return Ok(items);
            }
        }
    }
}

/// An association that is (or is about to be) in effect: not `DELETED` or `FAILED` (its
/// `Status`, `ProfileStatus`). One being created or deleted is counted: AWS may already (or
/// still) refuse private DNS for its names.
fn in_effect(association: &Value) -> bool {
    let status = association["Status"].as_str().unwrap_or_default();
    !status.eq_ignore_ascii_case("DELETED") && !status.eq_ignore_ascii_case("FAILED")
}

/// The private hosted zone of a Profile resource association, or `None` for another kind of
/// resource (a Resolver rule, a DNS Firewall rule group, an interface endpoint, …). The kind is
/// read from `ResourceArn` (`arn:<partition>:route53:::hostedzone/<id>`), whose form the Route 53
/// ARN format fixes, rather than from `ResourceType`, whose values the API reference does not
/// list. The zone's domain name is the association's `Name` when that is a domain name; a zone
/// whose name the answer does not carry cannot be matched to a service and is left out (AWS's
/// refusal of private DNS still reveals it, as for any holder vpce-guard cannot see).
fn hosted_zone(association: &Value, profile: &str) -> Option<HostedZone> {
    let arn = association["ResourceArn"].as_str()?;
    let (service, resource) = arn.split(':').nth(2).zip(arn.splitn(6, ':').nth(5))?;
    let id = resource.strip_prefix("hostedzone/").filter(|_| service == "route53")?;
    let name = association["Name"].as_str().map(|n| n.trim_end_matches('.')).filter(|n| is_domain_name(n));
    let Some(name) = name else {
        tracing::info!(profile, zone = id, "a hosted zone of the VPC's Route 53 Profile carries no domain name");
        return None;
    };
    Some(HostedZone { id: id.to_string(), name: name.to_ascii_lowercase(), route53_profile: Some(profile.to_string()) })
}

/// True for a dotted DNS name (`api.sagemaker.us-west-2.amazonaws.com`).
fn is_domain_name(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    labels.len() > 1
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_hosted_zones_in_effect_are_kept_with_their_profile() {
        let zone = json!({"ResourceArn": "arn:aws:route53:::hostedzone/Z0HUB", "Name": "API.sagemaker.us-west-2.amazonaws.com.", "Status": "COMPLETE"});
        let kept = hosted_zone(&zone, "rp-1").expect("a hosted zone");
        assert_eq!((kept.id.as_str(), kept.name.as_str()), ("Z0HUB", "api.sagemaker.us-west-2.amazonaws.com"));
        assert_eq!(kept.route53_profile.as_deref(), Some("rp-1"));
        let china = json!({"ResourceArn": "arn:aws-cn:route53:::hostedzone/Z0CN", "Name": "corp.example"});
        assert_eq!(hosted_zone(&china, "rp-1").map(|z| z.id), Some("Z0CN".to_string()));
        let rule = json!({"ResourceArn": "arn:aws:route53resolver:us-west-2:111122223333:resolver-rule/rslvr-rr-1", "Name": "corp.example"});
        let endpoint = json!({"ResourceArn": "arn:aws:ec2:us-west-2:111122223333:vpc-endpoint/vpce-1", "Name": "a.b"});
        let unnamed = json!({"ResourceArn": "arn:aws:route53:::hostedzone/Z0X", "Name": "hub-zone"});
        for other in [rule, endpoint, unnamed] {
            assert_eq!(hosted_zone(&other, "rp-1"), None, "{other}");
        }
        assert!(in_effect(&json!({"Status": "CREATING"})) && in_effect(&json!({})));
        assert!(!in_effect(&json!({"Status": "DELETED"})) && !in_effect(&json!({"Status": "FAILED"})));
    }
}
