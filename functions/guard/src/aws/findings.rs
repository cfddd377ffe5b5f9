//! [`Findings`] with Security Hub's REST-JSON API, signed by hand (`super::signed`): the SDK
//! crate would add more to the bootstrap than the two calls are worth.

use super::{signed, SdkAccount};
use crate::account::Findings;
use crate::error::Result;

impl Findings for SdkAccount {
    async fn findings(&self, filters: &serde_json::Value) -> Result<Vec<serde_json::Value>> {
        let mut findings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({"Filters": filters, "MaxResults": 100});
            if let Some(token) = &token {
                body["NextToken"] = token.clone().into();
            }
            let page = self.security_hub().post("GetFindings", "/findings", &body).await?;
            let (found, next) = signed::page_items("GetFindings", &page, "Findings")?;
            findings.extend(found);
            token = next;
            if token.is_none() {
                return Ok(findings);
            }
        }
    }

    async fn import_findings(&self, findings: &[serde_json::Value]) -> Result<Vec<String>> {
        let mut refused = Vec::new();
        for chunk in findings.chunks(crate::findings::IMPORT_BATCH) {
            let body = serde_json::json!({ "Findings": chunk });
            let out = self.security_hub().post("BatchImportFindings", "/findings/import", &body).await?;
            refused.extend(out["FailedFindings"].as_array().into_iter().flatten().map(|f| {
                let field = |name: &str| f[name].as_str().unwrap_or_default().to_string();
                format!("{}: {} {}", field("Id"), field("ErrorCode"), field("ErrorMessage"))
            }));
        }
        Ok(refused)
    }
}
