//! Signed calls to an AWS JSON API without its SDK crate. vpce-guard makes two Security Hub
//! calls (`GetFindings`, `BatchImportFindings`), and only when findings are turned on, two
//! Route 53 Profiles calls (`ListProfileAssociations`, `ListProfileResourceAssociations`), only
//! when it reads a VPC's hosted zones (both REST-JSON), three CloudTrail calls
//! (`DescribeTrails`, `GetTrailStatus`, `GetEventSelectors`; AWS JSON 1.1: a POST to `/` naming
//! the operation in `X-Amz-Target`), only in sweeps, and Organizations' `DescribeOrganization`
//! (JSON 1.1), once at start with the org policy modes; the generated crates (the whole ASFF model for Security
//! Hub) would grow every bootstrap for a handful of calls. These calls use the same credential
//! chain, endpoint overrides (`AWS_ENDPOINT_URL_<SERVICE>`, e.g. `AWS_ENDPOINT_URL_SECURITYHUB`
//! or `AWS_ENDPOINT_URL_ROUTE53PROFILES`, then `AWS_ENDPOINT_URL`) and TLS stack as the SDK
//! clients (hyper with rustls), SigV4 from `aws-sigv4` (AWS General Reference, "Signature
//! Version 4 signing process"; tested against botocore's `SigV4Auth`, a POST with a body and a
//! GET with a query string), and retry throttling and server errors twice with backoff. A
//! success whose body is not JSON is an error, never an empty answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::CallCounter;
use crate::error::{classify, Error, ErrorClass, Result};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Attempts per call (the first and two retries).
const ATTEMPTS: u32 = 3;
/// Bound on one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One AWS JSON service in one region.
pub(crate) struct JsonApi {
    /// Signing name, also the endpoint's host prefix (`securityhub`).
    service: &'static str,
    /// For an AWS JSON 1.1 service, the prefix of its `X-Amz-Target` header (the operation's
    /// name follows a dot); `None` for a REST-JSON service.
    target: Option<&'static str>,
    region: String,
    /// Base URL: `AWS_ENDPOINT_URL` (or the SDK configuration's endpoint), else the regional one.
    endpoint: String,
    credentials: Option<SharedCredentialsProvider>,
    /// Built on first use: loading the trust store costs a Lambda cold start for nothing when
    /// findings are off.
    client: tokio::sync::OnceCell<HttpsClient>,
    counter: Arc<CallCounter>,
}

impl std::fmt::Debug for JsonApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonApi").field("service", &self.service).field("endpoint", &self.endpoint).finish()
    }
}

impl JsonApi {
    pub(super) fn new(config: &SdkConfig, service: &'static str, region: &str, counter: Arc<CallCounter>) -> Self {
        Self {
            service,
            target: None,
            region: region.to_string(),
            endpoint: endpoint_url(config, service, region, |name| std::env::var(name).ok()),
            credentials: config.credentials_provider(),
            client: tokio::sync::OnceCell::new(),
            counter,
        }
    }

    /// The AWS JSON 1.1 service `service` whose `X-Amz-Target` header is `target.<operation>`.
    pub(super) fn json_1_1(
        config: &SdkConfig,
        service: &'static str,
        target: &'static str,
        region: &str,
        counter: Arc<CallCounter>,
    ) -> Self {
        Self { target: Some(target), ..Self::new(config, service, region, counter) }
    }

    /// Calls `operation` of an AWS JSON 1.1 service ([`JsonApi::json_1_1`]) with `body`.
    pub(crate) async fn invoke(&self, operation: &'static str, body: &Value) -> Result<Value> {
        self.post(operation, "/", body).await
    }

    /// POSTs `body` to `path` and returns the JSON answer; `operation` names the call in errors
    /// and in the read/write counts.
    pub(crate) async fn post(&self, operation: &'static str, path: &str, body: &Value) -> Result<Value> {
        let payload = serde_json::to_vec(body).map_err(|e| unreachable(operation, e.to_string()))?;
        self.call(operation, "POST", path, &payload).await
    }

    /// GETs `path` (which may end in a query string built with [`query`]) and returns the JSON
    /// answer; `operation` names the call in errors and in the read/write counts.
    pub(crate) async fn get(&self, operation: &'static str, path: &str) -> Result<Value> {
        self.call(operation, "GET", path, &[]).await
    }

    async fn call(&self, operation: &'static str, method: &'static str, path: &str, payload: &[u8]) -> Result<Value> {
        let is_read = ["Get", "List", "Describe"].iter().any(|prefix| operation.starts_with(prefix));
        let counter = if is_read { &self.counter.read } else { &self.counter.write };
        let mut wait = Duration::from_millis(200);
        for attempt in 1..=ATTEMPTS {
            counter.fetch_add(1, Ordering::Relaxed);
            match self.attempt(operation, method, path, payload).await {
                Err(error) if error.class() == ErrorClass::Transient && attempt < ATTEMPTS => {
                    tracing::debug!(operation, error = %error, "retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                outcome => return outcome,
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn attempt(
        &self,
        operation: &'static str,
        method: &'static str,
        path: &str,
        payload: &[u8],
    ) -> Result<Value> {
        let uri = format!("{}{path}", self.endpoint);
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| unreachable(operation, "no credentials provider configured".into()))?;
        let credentials =
            provider.provide_credentials().await.map_err(|e| unreachable(operation, format!("credentials: {e}")))?;
        let request = self.signed_request(operation, method, &uri, payload, &credentials.into(), SystemTime::now())?;
        let client =
            self.client.get_or_try_init(|| async { https_client() }).await.map_err(|e| unreachable(operation, e))?;
        let response = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request))
            .await
            .map_err(|_| unreachable(operation, format!("no answer from {uri} within {ATTEMPT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(operation, format!("{uri}: {e}")))?;
        let status = response.status();
        let error_type = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.into_body().collect().await.map_err(|e| unreachable(operation, e.to_string()))?.to_bytes();
        answer(operation, &uri, status, error_type, &body)
    }

    /// The `method` request of `uri` (a POST carries `payload` as JSON; a GET has no body),
    /// signed with SigV4 for `identity` at `time`.
    fn signed_request(
        &self,
        operation: &'static str,
        method: &'static str,
        uri: &str,
        payload: &[u8],
        identity: &Identity,
        time: SystemTime,
    ) -> Result<http::Request<Full<Bytes>>> {
        let host = uri.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default().to_string();
        let target = self.target.map(|prefix| format!("{prefix}.{operation}"));
        let mut headers = vec![("host", host.as_str())];
        match &target {
            Some(target) => headers.extend([("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)]),
            None if method != "GET" => headers.insert(0, ("content-type", "application/json")),
            None => {}
        }
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| unreachable(operation, format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(method, uri, headers.iter().copied(), SignableBody::Bytes(payload))
            .map_err(|e| unreachable(operation, format!("signing: {e}")))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| unreachable(operation, format!("signing: {e}")))?.into_parts();
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request
            .body(Full::new(Bytes::copy_from_slice(payload)))
            .map_err(|e| unreachable(operation, format!("request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// The `list` member of a page of `operation` (a list call's answer) and its `NextToken` (`None`
/// on the last page); a page without the list is an `InvalidResponse` error, never an empty list.
pub(crate) fn page_items(operation: &'static str, page: &Value, list: &str) -> Result<(Vec<Value>, Option<String>)> {
    let Some(items) = page[list].as_array() else {
        return Err(Error::Aws {
            operation,
            code: "InvalidResponse".into(),
            message: format!("the answer has no {list} list: {:.200}", page.to_string()),
            class: ErrorClass::Transient,
        });
    };
    let token = page["NextToken"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
    Ok((items.clone(), token))
}

/// A query string (`?name=value&…`, empty for no pair) with names and values [`encode`]d.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// `text` percent-encoded but for SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`), as
/// SigV4's canonical request encodes query values and path segments: a pagination token's `+`,
/// `/` and `=` reach the service as sent, and the signature covers what is sent.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The service's answer (`status`, its `x-amzn-ErrorType` header, `body`): its JSON on success,
/// else the error it names, classified.
fn answer(
    operation: &'static str,
    uri: &str,
    status: http::StatusCode,
    error_type: Option<String>,
    body: &[u8],
) -> Result<Value> {
    if status.is_success() {
        // A proxy's login page or a truncated answer is no "no findings".
        return serde_json::from_slice(body).map_err(|e| Error::Aws {
            operation,
            code: "InvalidResponse".into(),
            message: format!(
                "{uri} answered HTTP {status} with a body that is not JSON ({e}): {:.200}",
                String::from_utf8_lossy(body)
            ),
            class: ErrorClass::Transient,
        });
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |names: [&str; 2]| names.iter().find_map(|n| json.get(*n).and_then(Value::as_str)).map(str::to_string);
    let code = error_type
        .map(|t| t.split(':').next().unwrap_or_default().to_string())
        .or_else(|| field(["__type", "Code"]).map(|t| t.rsplit('#').next().unwrap_or_default().to_string()))
        .unwrap_or_else(|| format!("HTTP{}", status.as_u16()));
    let message = field(["Message", "message"]).unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let class = classify(status.as_u16(), &code);
    Err(Error::Aws { operation, code, message, class })
}

/// The base URL of `service` in `region`, as the SDKs choose it (AWS SDKs and Tools Reference
/// Guide, "Service-specific endpoints"): the service's variable (`AWS_ENDPOINT_URL_SECURITYHUB`,
/// `AWS_ENDPOINT_URL_ROUTE53PROFILES`),
/// else the configuration's endpoint (`AWS_ENDPOINT_URL`), else the regional endpoint of the
/// region's partition (`amazonaws.com.cn` in China: "Amazon Web Services in China" endpoints
/// list; `amazonaws.com` in `aws` and `aws-us-gov`).
fn endpoint_url(config: &SdkConfig, service: &str, region: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let suffix = crate::config::dns_suffix(region);
    let variable = format!("AWS_ENDPOINT_URL_{}", service.to_uppercase().replace([' ', '-'], "_"));
    lookup(&variable)
        .filter(|url| !url.trim().is_empty())
        .or_else(|| config.endpoint_url().map(str::to_string))
        .map(|url| url.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://{service}.{region}.{suffix}"))
}

/// An HTTPS (and, for local emulators, HTTP) client trusting the system's roots, as the SDK's.
fn https_client() -> std::result::Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("TLS trust store: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

fn unreachable(operation: &'static str, message: String) -> Error {
    Error::Aws { operation, code: "Unreachable".into(), message, class: ErrorClass::Transient }
}

#[cfg(test)]
#[path = "signed_tests.rs"]
mod tests;
