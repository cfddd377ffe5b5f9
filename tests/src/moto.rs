//! The strict moto fixture: a moto server with AWS's endpoint rules added
//! (`tests/fixture/moto_strict.py`), started on 127.0.0.1 on a free port.

use std::collections::BTreeMap;
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{http, repo_root};

/// The region every test uses.
pub const REGION: &str = "us-west-2";

/// A running fixture; killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    address: String,
}

impl Moto {
    /// Starts the fixture with the repo's `.venv` (made by `scripts/setup-venv.sh`).
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts the fixture recording every AWS call it serves into the JSONL file `record`
    /// (`VPCE_GUARD_FIXTURE_RECORD`: action, access key, parameters, the tags of the EC2
    /// resources named), for the permissions contract test.
    pub async fn start_recording(record: &std::path::Path) -> Result<Self> {
        Self::start_with(&[("VPCE_GUARD_FIXTURE_RECORD", record.to_string_lossy().as_ref())]).await
    }

    async fn start_with(env: &[(&str, &str)]) -> Result<Self> {
        let python = repo_root().join(".venv/bin/python");
        if !python.exists() {
            bail!("{} is missing: run scripts/setup-venv.sh first", python.display());
        }
        let mut child = Command::new(python)
            .envs(env.iter().copied())
            .arg(repo_root().join("tests/fixture/moto_strict.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the moto fixture")?;
        let stdout = child.stdout.take().context("fixture stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .context("fixture did not start in 60 s")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = String::new();
            while matches!(reader.read_line(&mut sink).await, Ok(n) if n > 0) {
                sink.clear();
            }
        });
        let url = line.trim().strip_prefix("READY ").context("fixture did not print READY")?.to_string();
        let address = url.trim_start_matches("http://").to_string();
        Ok(Self { child, url, address })
    }

    /// SDK configuration pointing every client at the fixture, with dummy credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        let credentials = aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "moto");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// Environment for a child process (function binary or CLI) to reach the fixture.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    async fn control(&self, method: &str, path: &str, body: &Value) -> Result<Value> {
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        let response = http::request(&self.address, method, path, &body).await?;
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&response.body)?)
    }

    /// Merges `config` into the fixture's configuration (`pending_seconds`, `unsupported_azs`).
    pub async fn configure(&self, config: Value) -> Result<()> {
        self.control("POST", "/_fixture/config", &config).await.map(drop)
    }

    /// From now on, endpoints entering one of `windows` stay in it (`pending` or `deleting`)
    /// until [`Moto::settle`] closes it, however long the test takes; replaces the windows held
    /// before (none: each window lasts its configured seconds again, 0 by default).
    pub async fn hold(&self, windows: &[Window]) -> Result<()> {
        let names: Vec<&str> = windows.iter().map(|w| w.name()).collect();
        self.configure(serde_json::json!({ "hold": names })).await
    }

    /// Closes the open pending and deleting windows of `endpoint_ids`, as AWS finishing its
    /// work (`pending` → `available`, `deleting` → `deleted`); returns the endpoints whose window
    /// was open, with their state now. Fails for an unknown id.
    pub async fn settle<S: AsRef<str>>(&self, endpoint_ids: &[S]) -> Result<BTreeMap<String, String>> {
        let ids: Vec<&str> = endpoint_ids.iter().map(AsRef::as_ref).collect();
        self.settle_body(serde_json::json!({ "endpoint_ids": ids })).await
    }

    /// [`Moto::settle`] for every endpoint of the fixture.
    pub async fn settle_all(&self) -> Result<BTreeMap<String, String>> {
        self.settle_body(serde_json::json!({})).await
    }

    async fn settle_body(&self, body: Value) -> Result<BTreeMap<String, String>> {
        let reply = self.control("POST", "/_fixture/settle", &body).await?;
        Ok(serde_json::from_value(reply["settled"].clone())?)
    }

    /// Registers a private hosted zone holding `service`'s DNS name in `vpc_id`.
    pub async fn hosted_zone(&self, vpc_id: &str, service: &str) -> Result<()> {
        let body = serde_json::json!({"vpc_id": vpc_id, "service_name": service});
        self.control("POST", "/_fixture/hosted-zone", &body).await.map(drop)
    }

    /// Shares a private hosted zone named `zone` with `vpc_id` through the VPC's Route 53 Profile
    /// (made if need be), as a hub does; `zone` is a service name (its private DNS domain) or a
    /// domain name. `ListHostedZonesByVPC` does not list such a zone (fixture gap p). Returns the
    /// Profile's id.
    pub async fn route53_profile_zone(&self, vpc_id: &str, zone: &str) -> Result<String> {
        let key =
            if zone.starts_with("com.amazonaws.") || zone.starts_with("aws.") { "service_name" } else { "domain" };
        let body = serde_json::json!({"vpc_id": vpc_id, key: zone});
        let reply = self.control("POST", "/_fixture/route53-profile", &body).await?;
        reply["profile_id"].as_str().map(str::to_string).context("the fixture names the Profile")
    }

    /// Forces an endpoint's state (`available` releases it).
    pub async fn force_state(&self, endpoint_id: &str, state: &str) -> Result<()> {
        let body = serde_json::json!({"endpoint_id": endpoint_id, "state": state});
        self.control("POST", "/_fixture/endpoint-state", &body).await.map(drop)
    }

    /// Every AWS call served so far, by action.
    pub async fn calls(&self) -> Result<BTreeMap<String, u64>> {
        let calls = self.control("GET", "/_fixture/calls", &Value::Null).await?;
        Ok(serde_json::from_value(calls)?)
    }

    /// Write calls (Create*, Modify*, Authorize*, Delete*) served so far.
    pub async fn writes(&self) -> Result<u64> {
        let calls = self.calls().await?;
        Ok(calls.iter().filter(|(action, _)| is_write(action)).map(|(_, n)| n).sum())
    }

    /// Turns Security Hub on or off for moto's account in us-west-2.
    pub async fn security_hub(&self, enabled: bool) -> Result<()> {
        self.control("POST", "/_fixture/security-hub", &serde_json::json!({ "enabled": enabled })).await.map(drop)
    }

    /// A CloudTrail trail `name` whose home Region is `region` (multi-Region or not, logging or
    /// not), with `event_selectors` (PutEventSelectors' `EventSelectors`) when given; returns its ARN.
    pub async fn trail(
        &self,
        name: &str,
        region: &str,
        multi_region: bool,
        logging: bool,
        event_selectors: Option<Value>,
    ) -> Result<String> {
        let body = serde_json::json!({"name": name, "region": region, "multi_region": multi_region,
            "logging": logging, "event_selectors": event_selectors});
        let made = self.control("POST", "/_fixture/trail", &body).await?;
        Ok(made["arn"].as_str().unwrap_or_default().to_string())
    }

    /// Every Security Hub finding of moto's account in us-west-2, as stored (ASFF).
    pub async fn findings(&self) -> Result<Vec<Value>> {
        let findings = self.control("GET", "/_fixture/findings", &Value::Null).await?;
        Ok(serde_json::from_value(findings)?)
    }

    /// Runs the `vpce-guard` CLI against this fixture (its credentials and endpoint only, no
    /// other environment, no standard input) and returns what it printed and its exit status.
    pub async fn cli(&self, args: &[&str]) -> Result<std::process::Output> {
        Ok(Command::new(crate::binary("vpce-guard"))
            .env_clear()
            .envs(self.env())
            .args(["--endpoint-url", self.url.as_str()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await?)
    }

    /// Zeroes the call counts.
    pub async fn reset_calls(&self) -> Result<()> {
        self.control("POST", "/_fixture/calls/reset", &Value::Null).await.map(drop)
    }
}

/// A window of the fixture in which an endpoint is `pending` or `deleting` (gaps f, f2 and f3 of
/// `tests/fixture/moto_strict.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// A new endpoint is `pending` (`pending_seconds`).
    Pending,
    /// An endpoint given new subnets is `pending` again (`modify_pending_seconds`).
    ModifyPending,
    /// A deleted endpoint is `deleting`, still holding its private DNS name (`deleting_seconds`).
    Deleting,
}

impl Window {
    /// The window's name in the fixture's `hold` list.
    fn name(self) -> &'static str {
        match self {
            Window::Pending => "pending",
            Window::ModifyPending => "modify_pending",
            Window::Deleting => "deleting",
        }
    }
}

/// True for mutating AWS actions.
pub fn is_write(action: &str) -> bool {
    ["Create", "Modify", "Authorize", "Delete", "Revoke", "Associate"].iter().any(|p| action.starts_with(p))
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
