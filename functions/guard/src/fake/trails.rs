//! CloudTrail in the fake account: the trails that apply to its Region, as `DescribeTrails`
//! (with shadow trails), `GetTrailStatus` and `GetEventSelectors` show them. A new fake account
//! has one multi-Region trail logging every management event, as most accounts do; tests
//! change [`FakeState::trails`](super::FakeState::trails).

use super::FakeAccount;
use crate::account::{TrailView, Trails};
use crate::error::Result;

/// The trail a new fake account has: multi-Region, logging, every management event.
pub fn default_trail(region: &str) -> TrailView {
    TrailView {
        arn: format!(
            "arn:{}:cloudtrail:{region}:123456789012:trail/management-events",
            crate::config::partition_of(region)
        ),
        home_region: region.to_string(),
        organization: false,
        logging: Some(true),
        management_writes: Some(true),
    }
}

impl Trails for FakeAccount {
    async fn trails(&self) -> Result<Vec<TrailView>> {
        self.read();
        let trails = self.with_state(|s| s.trails.clone());
        // GetTrailStatus and GetEventSelectors of each trail this account may read.
        for trail in &trails {
            if trail.logging.is_some() {
                self.read();
                self.read();
            }
        }
        Ok(trails)
    }
}
