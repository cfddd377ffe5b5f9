//! [`Trails`] with CloudTrail's AWS JSON 1.1 API, signed by hand (`super::signed`): three read
//! calls, in sweeps only, are not worth an SDK crate in every bootstrap.

use std::collections::BTreeMap;

use serde_json::json;

use super::{signed, SdkAccount};
use crate::account::{TrailView, Trails};
use crate::error::{Error, Result};

/// CloudTrail's `X-Amz-Target` prefix (its API's JSON 1.1 service name).
const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

impl Trails for SdkAccount {
    async fn trails(&self) -> Result<Vec<TrailView>> {
        let here = self.cloudtrail(&self.region);
        let listed = here.invoke("DescribeTrails", &json!({"includeShadowTrails": true})).await?;
        let Some(list) = listed["trailList"].as_array() else {
            return Err(Error::Aws {
                operation: "DescribeTrails",
                code: "InvalidResponse".into(),
                message: format!("the answer has no trailList: {:.200}", listed.to_string()),
                class: crate::error::ErrorClass::Transient,
            });
        };
        // A trail's status and selectors are read in its home Region, by ARN (a shadow trail's
        // status needs the ARN: CloudTrail API reference, GetTrailStatus, Name).
        let mut apis = BTreeMap::new();
        let mut views = Vec::with_capacity(list.len());
        for trail in list {
            let text = |name: &str| trail[name].as_str().unwrap_or_default().to_string();
            let (arn, home_region) = (text("TrailARN"), text("HomeRegion"));
            let organization = trail["IsOrganizationTrail"].as_bool().unwrap_or(false);
            let api = apis.entry(home_region.clone()).or_insert_with(|| self.cloudtrail(&home_region));
            let status = api.invoke("GetTrailStatus", &json!({"Name": arn})).await;
            let selectors = match &status {
                Ok(_) => Some(api.invoke("GetEventSelectors", &json!({"TrailName": arn})).await),
                Err(_) => None,
            };
            let (logging, management_writes) = match (status, selectors) {
                (Ok(status), Some(Ok(selectors))) => {
                    (status["IsLogging"].as_bool(), Some(records_management_writes(&selectors)))
                }
                // A member account may not read its Organization's trail.
                (Err(error), _) | (_, Some(Err(error))) if organization && refused(&error) => (None, None),
                (Err(error), _) | (_, Some(Err(error))) => return Err(error),
                (Ok(_), None) => unreachable!("selectors are read whenever the status was"),
            };
            views.push(TrailView { arn, home_region, organization, logging, management_writes });
        }
        Ok(views)
    }
}

/// Whether CloudTrail refused to show a trail to this account.
fn refused(error: &Error) -> bool {
    matches!(error, Error::Aws { code, .. }
        if ["AccessDeniedException", "TrailNotFoundException", "UnsupportedOperationException"].contains(&code.as_str()))
}

impl SdkAccount {
    /// CloudTrail in `region`, built per sweep (at most one per home Region of the trails).
    fn cloudtrail(&self, region: &str) -> signed::JsonApi {
        signed::JsonApi::json_1_1(&self.lazy.config, "cloudtrail", TARGET, region, self.counter.clone())
    }
}

/// Whether a `GetEventSelectors` answer records management write events: a basic selector
/// with `IncludeManagementEvents` (default true) and `ReadWriteType` `All` (the default) or
/// `WriteOnly`, or an advanced selector of `eventCategory` `Management` without `readOnly` =
/// `true`. CloudTrail answers a trail created without selectors with its default selector
/// (all management events) spelled out; an answer with neither kind records none.
pub fn records_management_writes(selectors: &serde_json::Value) -> bool {
    let basic = selectors["EventSelectors"].as_array().into_iter().flatten().any(|s| {
        s["IncludeManagementEvents"].as_bool().unwrap_or(true)
            && matches!(s["ReadWriteType"].as_str().unwrap_or("All"), "All" | "WriteOnly")
    });
    let advanced = selectors["AdvancedEventSelectors"].as_array().into_iter().flatten().any(|s| {
        let fields = s["FieldSelectors"].as_array().map(Vec::as_slice).unwrap_or_default();
        let equals = |field: &str, value: &str| {
            fields
                .iter()
                .any(|f| f["Field"] == field && f["Equals"].as_array().is_some_and(|v| v.iter().any(|v| v == value)))
        };
        equals("eventCategory", "Management") && !equals("readOnly", "true")
    });
    basic || advanced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_record_management_writes_unless_left_out_or_read_only() {
        use serde_json::json;
        let basic = |rw: &str, management: bool| json!({"EventSelectors": [{"ReadWriteType": rw, "IncludeManagementEvents": management, "DataResources": []}]});
        assert!(records_management_writes(&basic("All", true)));
        assert!(records_management_writes(&basic("WriteOnly", true)));
        assert!(!records_management_writes(&basic("ReadOnly", true)));
        assert!(!records_management_writes(&basic("All", false)));
        let advanced =
            |fields: serde_json::Value| json!({"AdvancedEventSelectors": [{"Name": "m", "FieldSelectors": fields}]});
        assert!(records_management_writes(&advanced(json!([{"Field": "eventCategory", "Equals": ["Management"]}]))));
        assert!(!records_management_writes(&advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["true"]}
        ]))));
        assert!(!records_management_writes(&advanced(json!([{"Field": "eventCategory", "Equals": ["Data"]}]))));
        assert!(!records_management_writes(&json!({"EventSelectors": [], "TrailARN": "arn"})));
    }
}
