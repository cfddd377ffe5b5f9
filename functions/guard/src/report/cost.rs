//! What the endpoints cost: interface endpoints are billed per endpoint and AZ per hour (plus
//! data, not counted here). Amounts are held exactly, in millionths of a US dollar, and written
//! to the JSON contract as numbers of dollars.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Hours in a month, as AWS's pricing pages count them (8,760 hours a year / 12).
pub const HOURS_PER_MONTH: u64 = 730;

/// An amount in US dollars, held in millionths of a dollar; JSON: a number of dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(pub i64);

impl Usd {
    /// The monthly cost of `endpoint_azs` endpoint-AZs at `hourly_micro_usd` each per hour,
    /// rounded to the cent.
    pub fn monthly(endpoint_azs: i64, hourly_micro_usd: u64) -> Self {
        let micros = endpoint_azs.saturating_mul(HOURS_PER_MONTH as i64).saturating_mul(hourly_micro_usd as i64);
        Self(round_to_cents(micros))
    }

    /// Dollars, as a floating-point number (the JSON contract's form).
    pub fn dollars(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// `+$7.30`, `-$7.30`, `$0.00`: a change.
    pub fn signed(self) -> String {
        match self.0.signum() {
            1 => format!("+{self}"),
            _ => self.to_string(),
        }
    }
}

fn round_to_cents(micros: i64) -> i64 {
    let cents = (micros.abs() + 5_000) / 10_000;
    micros.signum() * cents * 10_000
}

impl std::ops::Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl std::ops::Neg for Usd {
    type Output = Usd;
    fn neg(self) -> Usd {
        Usd(-self.0)
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd(0), |a, b| a + b)
    }
}

/// `$7.30` (cents); a price below a cent keeps its digits (`$0.013`).
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let micros = self.0.unsigned_abs();
        let (whole, fraction) = (micros / 1_000_000, micros % 1_000_000);
        let mut digits = format!("{fraction:06}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        let whole = whole.to_string();
        let mut grouped = String::new();
        for (index, c) in whole.chars().enumerate() {
            if index > 0 && (whole.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{sign}${grouped}.{digits}")
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.dollars())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let dollars = f64::deserialize(deserializer)?;
        Ok(Usd((dollars * 1_000_000.0).round() as i64))
    }
}

/// What one VPC's interface endpoints that vpce-guard manages (tagged `vpce-guard:managed=true`,
/// not being deleted) cost, as the VPC stands after the run (a dry run: as it stands now), and
/// what the run's actions add or remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcCost {
    /// Managed interface endpoints.
    pub endpoints: usize,
    /// Their endpoint-AZs (one network interface each): what AWS bills per hour.
    pub endpoint_azs: usize,
    /// `endpoint_azs` × 730 hours × the hourly price (`VPCE_GUARD_ENDPOINT_HOURLY_USD`).
    pub monthly_usd: Usd,
    /// What the run's actions add (a new endpoint, subnets added) or remove (endpoints deleted)
    /// per month; in a dry run, what they would.
    pub monthly_delta_usd: Usd,
}

/// The report's total over its VPCs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostSummary {
    /// The hourly price of one endpoint in one AZ the estimates use.
    pub endpoint_hourly_usd: Usd,
    /// Managed interface endpoints of the VPCs looked at.
    pub endpoints: usize,
    /// Their endpoint-AZs.
    pub endpoint_azs: usize,
    /// Their estimated monthly cost.
    pub monthly_usd: Usd,
    /// What the run's actions add or remove per month (a dry run: would).
    pub monthly_delta_usd: Usd,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_and_written_as_dollars() {
        assert_eq!(Usd::monthly(1, 10_000), Usd(7_300_000), "one endpoint-AZ at $0.01: $7.30");
        assert_eq!(Usd::monthly(15, 10_000).to_string(), "$109.50", "5 studio endpoints in 3 AZs");
        assert_eq!(Usd::monthly(1, 13_000).to_string(), "$9.49", "rounded to the cent");
        assert_eq!(Usd::monthly(-2, 10_000).signed(), "-$14.60");
        assert_eq!(Usd::monthly(2, 10_000).signed(), "+$14.60");
        assert_eq!(Usd(0).signed(), "$0.00");
        assert_eq!(Usd(13_000).to_string(), "$0.013");
        assert_eq!(Usd::monthly(200, 1_000_000).to_string(), "$146,000.00");
        let json = serde_json::to_value(Usd(7_300_000)).unwrap();
        assert_eq!(json, serde_json::json!(7.3));
        assert_eq!(serde_json::from_value::<Usd>(json).unwrap(), Usd(7_300_000));
    }
}
