//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between the AWS SDK and the moto fixture.
//!
//! It forwards every request byte-exact (bodies are SigV4-signed; the `Host` header is kept as
//! sent) and, for a configurable share of the calls, answers instead the way AWS does when it
//! is having a bad day: EC2's `RequestLimitExceeded` (503) and `InternalError` (500) in EC2's
//! XML error format, SageMaker's `ThrottlingException` (400, JSON, `x-amzn-ErrorType`) and
//! `InternalFailure` (500), STS's `Throttling`; a connection closed without an answer (reset,
//! the request never reached AWS); a response lost after AWS carried the call out (reset after
//! forwarding: the dangerous case for writes); and added latency. Faults can target one API
//! action, or a few (EC2: `Action=` of the form body; SageMaker: the `X-Amz-Target` suffix).
//!
//! Decisions come from a seeded xorshift generator, so a sequential test sees the same faults
//! on every run. The configuration can be changed while the proxy runs ([`Proxy::set`]).
//!
//! A test that needs one call to land before or after something else holds it ([`Proxy::hold`]):
//! the call waits in the proxy until the test releases it ([`Proxy::release`]), however slow or
//! fast the machine, and the test can wait for it to arrive ([`Proxy::until_held`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::{read_message, Message};
use crate::moto::{Moto, REGION};

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// The service's throttling error: EC2 `RequestLimitExceeded` (503), SageMaker
    /// `ThrottlingException` (400), STS `Throttling` (400).
    Throttle,
    /// The service's internal error: EC2 `InternalError`, SageMaker/STS `InternalFailure` (500).
    InternalError,
    /// The connection is closed (RST) without an answer; the call never reached the fixture.
    Reset,
    /// The call is forwarded and carried out, then the connection is closed (RST) before the
    /// answer: the client cannot tell whether its write happened.
    LostResponse,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 4] =
        [FaultKind::Throttle, FaultKind::InternalError, FaultKind::Reset, FaultKind::LostResponse];
}

/// What the proxy does to the calls it sees. Change it at any time with [`Proxy::set`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Share of (targeted) calls answered with a fault, 0.0–1.0.
    pub rate: f64,
    /// The kinds drawn from, uniformly, for a faulted call.
    pub kinds: Vec<FaultKind>,
    /// Added to every (targeted) call before it is answered or forwarded.
    pub latency: Duration,
    /// Plus a uniform random share of this.
    pub jitter: Duration,
    /// Only these API actions are affected (`CreateVpcEndpoint`, `DescribeNotebookInstance`…);
    /// every action when empty.
    pub targets: Vec<String>,
    /// At most this many faults are injected (then calls pass, still delayed).
    pub limit: Option<u64>,
}

impl Default for FaultConfig {
    /// A transparent proxy.
    fn default() -> Self {
        Self {
            rate: 0.0,
            kinds: FaultKind::ALL.to_vec(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            targets: Vec::new(),
            limit: None,
        }
    }
}

impl FaultConfig {
    /// `rate` of the calls faulted, every kind.
    pub fn faults(rate: f64) -> Self {
        Self { rate, ..Self::default() }
    }

    /// Only `kinds` are drawn.
    pub fn with_kinds(mut self, kinds: &[FaultKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// Adds `latency` plus up to `jitter` to each call.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    /// Stops injecting faults after `count` of them.
    pub fn at_most(mut self, count: u64) -> Self {
        self.limit = Some(count);
        self
    }

    /// Restricts everything to the API action `action` (and the others targeted before).
    pub fn targeting(mut self, action: &str) -> Self {
        self.targets.push(action.to_string());
        self
    }
}

/// Calls the proxy holds until [`Proxy::release`]: they are forwarded and answered only then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    actions: BTreeSet<String>,
    /// Matching calls let through before the first held one.
    pass: u64,
    /// Matching calls seen so far.
    matched: u64,
}

impl Hold {
    /// Every call of these API actions (`ModifyVpcEndpoint`, `CreateSecurityGroup`…).
    pub fn of(actions: &[&str]) -> Self {
        Self { actions: actions.iter().map(|a| a.to_string()).collect(), pass: 0, matched: 0 }
    }

    /// Lets the first `count` matching calls through and holds the ones after.
    pub fn after(mut self, count: u64) -> Self {
        self.pass = count;
        self
    }
}

/// How long [`Proxy::until_held`] waits before failing the test: far longer than any call takes
/// to reach the proxy, so that it is only a bound on a broken test, never on a slow machine.
pub const HOLD_WAIT: Duration = Duration::from_secs(120);

/// A tiny xorshift64* generator: deterministic, no dependency.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct State {
    rng: XorShift,
    /// Injected faults by name (`RequestLimitExceeded`, `ThrottlingException`, `Reset`…).
    faults: BTreeMap<String, u64>,
    /// Calls seen by action (faulted or not).
    calls: BTreeMap<String, u64>,
    /// Calls delayed, and the total delay added.
    delayed: u64,
    delay_total: Duration,
    /// Faults decided (counted before they are carried out, for `limit`).
    decided: u64,
    /// Actions forwarded one at a time.
    serialized: BTreeSet<String>,
    /// Serial number of the last fault, for request ids in error bodies.
    fault_serial: u64,
    /// The calls held until [`Proxy::release`], if any.
    hold: Option<Hold>,
    /// EC2's shared bucket for endpoint writes, when modelled ([`Proxy::throttle_endpoint_writes`]).
    endpoint_writes: Option<EndpointWriteBucket>,
}

/// EC2's token bucket for `CreateVpcEndpoint`, `ModifyVpcEndpoint` and `DeleteVpcEndpoints`,
/// shared by every caller of the account and region (EC2 API reference, "Request throttling").
#[derive(Debug, Clone, Copy)]
struct EndpointWriteBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: std::time::Instant,
}

/// The actions that spend [`EndpointWriteBucket`].
const ENDPOINT_WRITES: [&str; 3] = ["CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints"];

/// A running proxy; its accept loop stops on drop.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    config: Arc<Mutex<FaultConfig>>,
    state: Arc<Mutex<State>>,
    holds: Holds,
    accept: JoinHandle<()>,
}

/// What every connection of a proxy shares.
struct Shared {
    upstream: String,
    config: Arc<Mutex<FaultConfig>>,
    state: Arc<Mutex<State>>,
    holds: Holds,
    /// Held while a serialised action is forwarded.
    gate: tokio::sync::Mutex<()>,
}

/// The held calls' signals.
#[derive(Clone)]
struct Holds {
    /// Calls waiting in the proxy now.
    parked: Arc<watch::Sender<u64>>,
    /// Releases so far: a call held after the n-th release waits for the (n+1)-th.
    released: Arc<watch::Sender<u64>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The AWS service a request is for, from its SigV4 credential scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Ec2,
    SageMaker,
    Sts,
    Other,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy)]
struct Decision {
    delay: Duration,
    fault: Option<FaultKind>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://host:port`) with faults drawn from `seed`.
    pub async fn start(upstream: &str, seed: u64) -> Result<Self> {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let config = Arc::new(Mutex::new(FaultConfig::default()));
        let state = Arc::new(Mutex::new(State {
            rng: XorShift::new(seed),
            faults: BTreeMap::new(),
            calls: BTreeMap::new(),
            delayed: 0,
            delay_total: Duration::ZERO,
            decided: 0,
            serialized: BTreeSet::new(),
            fault_serial: 0,
            hold: None,
            endpoint_writes: None,
        }));
        let holds = Holds { parked: Arc::new(watch::Sender::new(0)), released: Arc::new(watch::Sender::new(0)) };
        let shared = Arc::new(Shared {
            upstream,
            config: config.clone(),
            state: state.clone(),
            holds: holds.clone(),
            gate: Default::default(),
        });
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &shared).await;
                });
            }
        });
        Ok(Self { url, config, state, holds, accept })
    }

    /// Starts a proxy in front of `moto`.
    pub async fn in_front_of(moto: &Moto, seed: u64) -> Result<Self> {
        Self::start(&moto.url, seed).await
    }

    /// Forwards calls of `actions` one at a time. moto checks uniqueness (a security group's
    /// name in its VPC) and then inserts without a lock, so that concurrent
    /// `CreateSecurityGroup` calls can both succeed; AWS's check is atomic.
    pub fn serialize(&self, actions: &[&str]) {
        let mut state = self.state.lock().expect("proxy state");
        state.serialized.extend(actions.iter().map(|a| a.to_string()));
    }

    /// Holds the calls `hold` selects until [`Proxy::release`] (replacing a hold not released:
    /// the calls it parked stay parked until then). Faults and latency still apply to them.
    pub fn hold(&self, hold: Hold) {
        self.state.lock().expect("proxy state").hold = Some(hold);
    }

    /// Forwards every held call, and stops holding.
    pub fn release(&self) {
        let mut state = self.state.lock().expect("proxy state");
        state.hold = None;
        self.holds.released.send_modify(|releases| *releases += 1);
    }

    /// Calls waiting in the proxy now.
    pub fn held(&self) -> u64 {
        *self.holds.parked.borrow()
    }

    /// Waits until `count` calls are waiting in the proxy; fails after [`HOLD_WAIT`].
    pub async fn until_held(&self, count: u64) -> Result<()> {
        let mut parked = self.holds.parked.subscribe();
        tokio::time::timeout(HOLD_WAIT, parked.wait_for(|n| *n >= count))
            .await
            .with_context(|| format!("{count} call(s) to hold did not reach the proxy in {HOLD_WAIT:?}"))?
            .context("proxy stopped")?;
        Ok(())
    }

    /// From now on, models EC2's shared bucket for endpoint writes: `CreateVpcEndpoint`,
    /// `ModifyVpcEndpoint` and `DeleteVpcEndpoints` spend one of `capacity` tokens, refilled at
    /// `per_second`, whoever calls (every function process of the account shares it); a call that
    /// finds the bucket empty is answered `RequestLimitExceeded` without reaching the fixture.
    /// AWS's figures: 4 tokens, 0.3 per second.
    pub fn throttle_endpoint_writes(&self, capacity: f64, per_second: f64) {
        let bucket = EndpointWriteBucket { capacity, per_second, tokens: capacity, last: std::time::Instant::now() };
        self.state.lock().expect("proxy state").endpoint_writes = Some(bucket);
    }

    /// Replaces the fault configuration.
    pub fn set(&self, config: FaultConfig) {
        *self.config.lock().expect("proxy config") = config;
    }

    /// The current fault configuration.
    pub fn config(&self) -> FaultConfig {
        self.config.lock().expect("proxy config").clone()
    }

    /// Faults injected so far, by name (`RequestLimitExceeded`, `InternalError`,
    /// `ThrottlingException`, `InternalFailure`, `Throttling`, `Reset`, `LostResponse`).
    pub fn faults(&self) -> BTreeMap<String, u64> {
        self.state.lock().expect("proxy state").faults.clone()
    }

    /// Total faults injected so far.
    pub fn injected(&self) -> u64 {
        self.faults().values().sum()
    }

    /// Calls seen so far by action, faulted or not.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state.lock().expect("proxy state").calls.clone()
    }

    /// Calls of `action` seen so far.
    pub fn seen(&self, action: &str) -> u64 {
        self.calls().get(action).copied().unwrap_or(0)
    }

    /// Calls delayed so far, and the total delay added.
    pub fn delayed(&self) -> (u64, Duration) {
        let state = self.state.lock().expect("proxy state");
        (state.delayed, state.delay_total)
    }

    /// Zeroes the counters (not the random generator).
    pub fn reset_counters(&self) {
        let mut state = self.state.lock().expect("proxy state");
        state.faults.clear();
        state.calls.clear();
        state.delayed = 0;
        state.delay_total = Duration::ZERO;
        state.decided = 0;
    }

    /// SDK configuration reaching the fixture through this proxy, with dummy credentials and
    /// `retry` (the tests choose how many SDK attempts a call gets).
    pub fn sdk_config(&self, retry: RetryConfig) -> SdkConfig {
        let credentials = aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "moto");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .retry_config(retry)
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// Environment for a function binary to reach `moto` through this proxy
    /// (`AWS_ENDPOINT_URL` is the proxy).
    pub fn env(&self, moto: &Moto) -> Vec<(String, String)> {
        let mut env = moto.env();
        for (key, value) in env.iter_mut() {
            if key == "AWS_ENDPOINT_URL" {
                *value = self.url.clone();
            }
        }
        env
    }

    fn decide(config: &Mutex<FaultConfig>, state: &Mutex<State>, action: Option<&str>) -> Decision {
        let config = config.lock().expect("proxy config").clone();
        let mut state = state.lock().expect("proxy state");
        let none = Decision { delay: Duration::ZERO, fault: None };
        let Some(action) = action else { return none };
        *state.calls.entry(action.to_string()).or_default() += 1;
        if ENDPOINT_WRITES.contains(&action) {
            if let Some(bucket) = state.endpoint_writes.as_mut() {
                let now = std::time::Instant::now();
                let refill = now.duration_since(bucket.last).as_secs_f64() * bucket.per_second;
                bucket.tokens = (bucket.tokens + refill).min(bucket.capacity);
                bucket.last = now;
                if bucket.tokens < 1.0 {
                    return Decision { delay: Duration::ZERO, fault: Some(FaultKind::Throttle) };
                }
                bucket.tokens -= 1.0;
            }
        }
        if !config.targets.is_empty() && !config.targets.iter().any(|target| target == action) {
            return none;
        }
        let mut delay = config.latency;
        if !config.jitter.is_zero() {
            delay += config.jitter.mul_f64(state.rng.next_f64());
        }
        if !delay.is_zero() {
            state.delayed += 1;
            state.delay_total += delay;
        }
        let exhausted = config.limit.is_some_and(|limit| state.decided >= limit);
        let fault = (!config.kinds.is_empty() && !exhausted && state.rng.next_f64() < config.rate)
            .then(|| config.kinds[(state.rng.next_u64() % config.kinds.len() as u64) as usize]);
        state.decided += u64::from(fault.is_some());
        Decision { delay, fault }
    }

    /// Whether the hold selects this call: the number of releases so far, which the call waits
    /// to see exceeded.
    fn parks(shared: &Shared, action: Option<&str>) -> Option<u64> {
        let action = action?;
        let mut state = shared.state.lock().expect("proxy state");
        let hold = state.hold.as_mut().filter(|hold| hold.actions.contains(action))?;
        hold.matched += 1;
        (hold.matched > hold.pass).then(|| *shared.holds.released.borrow())
    }

    fn count(state: &Mutex<State>, name: &str) -> u64 {
        let mut state = state.lock().expect("proxy state");
        *state.faults.entry(name.to_string()).or_default() += 1;
        state.fault_serial += 1;
        state.fault_serial
    }
}

/// Serves one client connection (keep-alive: many requests).
async fn serve(stream: TcpStream, shared: &Shared) -> Result<()> {
    let (config, state) = (&shared.config, &shared.state);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_message(&mut reader).await? {
        let (service, action) = identify(&request);
        let decision = Proxy::decide(config, state, action.as_deref());
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(releases) = Proxy::parks(shared, action.as_deref()) {
            let mut released = shared.holds.released.subscribe();
            shared.holds.parked.send_modify(|n| *n += 1);
            let _ = released.wait_for(|r| *r > releases).await;
            shared.holds.parked.send_modify(|n| *n -= 1);
        }
        let response = match decision.fault {
            Some(FaultKind::Reset) => {
                Proxy::count(state, "Reset");
                return reset(reader.into_inner().reunite(write)?);
            }
            Some(FaultKind::LostResponse) => {
                forward(shared, &request, action.as_deref()).await?;
                Proxy::count(state, "LostResponse");
                return reset(reader.into_inner().reunite(write)?);
            }
            Some(kind) => error_response(service, kind, state),
            None => forward(shared, &request, action.as_deref()).await?,
        };
        write.write_all(&response).await?;
        if request.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            break;
        }
    }
    Ok(())
}

/// Closes the connection with a TCP reset, without answering.
fn reset(stream: TcpStream) -> Result<()> {
    stream.set_zero_linger()?;
    drop(stream);
    Ok(())
}

/// The service (from the SigV4 credential scope) and the API action of a request.
fn identify(request: &Message) -> (Service, Option<String>) {
    let scope = request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split(['/', ',']).nth(3))
        .unwrap_or_default();
    let service = match scope {
        "ec2" => Service::Ec2,
        "sagemaker" => Service::SageMaker,
        "sts" => Service::Sts,
        _ => Service::Other,
    };
    if let Some(target) = request.header("x-amz-target") {
        return (service, target.rsplit('.').next().map(str::to_string));
    }
    let form = String::from_utf8_lossy(&request.body);
    let action = form.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_string);
    (service, action)
}

/// The error AWS would send for `kind`, in the service's protocol.
fn error_response(service: Service, kind: FaultKind, state: &Mutex<State>) -> Vec<u8> {
    let throttle = kind == FaultKind::Throttle;
    let (status, content_type, extra, body) = match service {
        Service::SageMaker => {
            let (status, code) = if throttle {
                ("400 Bad Request", "ThrottlingException")
            } else {
                ("500 Internal Server Error", "InternalFailure")
            };
            let id = Proxy::count(state, code);
            let body =
                serde_json::json!({"__type": code, "message": format!("{code} injected by the test proxy ({id})")});
            (
                status,
                "application/x-amz-json-1.1",
                format!("x-amzn-ErrorType: {code}\r\nx-amzn-RequestId: proxy-{id}\r\n"),
                body.to_string(),
            )
        }
        Service::Sts => {
            let (status, code, kind) = if throttle {
                ("400 Bad Request", "Throttling", "Sender")
            } else {
                ("500 Internal Server Error", "InternalFailure", "Receiver")
            };
            let id = Proxy::count(state, code);
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type>\
                 <Code>{code}</Code><Message>{code} injected by the test proxy</Message></Error>\
                 <RequestId>proxy-{id}</RequestId></ErrorResponse>"
            );
            (status, "text/xml", String::new(), body)
        }
        Service::Ec2 | Service::Other => {
            let (status, code, message) = if throttle {
                ("503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded.")
            } else {
                ("500 Internal Server Error", "InternalError", "An internal error has occurred.")
            };
            let id = Proxy::count(state, code);
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>{message} (injected by the test proxy)</Message></Error></Errors>\
                 <RequestID>proxy-{id}</RequestID></Response>"
            );
            (status, "text/xml;charset=UTF-8", String::new(), body)
        }
    };
    let mut response =
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// Sends `request` upstream, one at a time for serialised actions.
async fn forward(shared: &Shared, request: &Message, action: Option<&str>) -> Result<Vec<u8>> {
    let serialized = action.is_some_and(|a| shared.state.lock().expect("proxy state").serialized.contains(a));
    if serialized {
        let _turn = shared.gate.lock().await;
        return forward_now(&shared.upstream, request).await;
    }
    forward_now(&shared.upstream, request).await
}

/// Sends `request` to `upstream` on a new connection and returns the response, re-framed with
/// a `Content-Length` for the client's keep-alive connection.
async fn forward_now(upstream: &str, request: &Message) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
    let mut head = format!("{}\r\n", request.start);
    for (name, value) in &request.headers {
        if !["connection", "content-length", "transfer-encoding"].contains(&name.as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", request.body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&request.body).await?;
    let mut reader = BufReader::new(stream);
    let mut response = read_message(&mut reader).await?.context("the fixture closed without answering")?;
    let framed = response.header("content-length").is_some()
        || response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if !framed {
        reader.read_to_end(&mut response.body).await?;
    }
    let mut out = format!("{}\r\n", response.start);
    for (name, value) in &response.headers {
        if !["connection", "content-length", "transfer-encoding", "keep-alive"].contains(&name.as_str()) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", response.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_and_uniform_enough() {
        let (mut a, mut b) = (XorShift::new(7), XorShift::new(7));
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
        assert!(draws.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert_eq!(draws[..5], (0..5).map(|_| b.next_f64()).collect::<Vec<_>>()[..]);
        let below = draws.iter().filter(|&&x| x < 0.3).count();
        assert!((2_700..3_300).contains(&below), "{below} of 10000 below 0.3");
    }

    #[tokio::test]
    async fn held_calls_wait_for_their_release_after_the_ones_let_through() -> Result<()> {
        // An upstream that answers every request "ok".
        let upstream = TcpListener::bind("127.0.0.1:0").await?;
        let address = upstream.local_addr()?.to_string();
        tokio::spawn(async move {
            while let Ok((stream, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    if let Ok(Some(_)) = read_message(&mut BufReader::new(read)).await {
                        let _ = write.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
                    }
                });
            }
        });
        let proxy = Proxy::start(&address, 1).await?;
        let at = proxy.url.trim_start_matches("http://").to_string();
        let call = |action: &str| {
            let (at, body) = (at.clone(), format!("Action={action}&Version=2016-11-15"));
            tokio::spawn(async move { crate::http::request(&at, "POST", "/", body.as_bytes()).await.map(|r| r.body) })
        };
        proxy.hold(Hold::of(&["ModifyVpcEndpoint"]).after(1));
        assert_eq!(call("DescribeVpcs").await??, b"ok", "another action is not held");
        assert_eq!(call("ModifyVpcEndpoint").await??, b"ok", "the first one is let through");
        let held = call("ModifyVpcEndpoint");
        proxy.until_held(1).await?;
        assert_eq!(call("DescribeVpcs").await??, b"ok", "other calls pass while one is held");
        assert!(!held.is_finished(), "a held call waits for its release");
        assert_eq!(proxy.held(), 1);
        proxy.release();
        assert_eq!(held.await??, b"ok", "forwarded once released");
        assert_eq!(proxy.held(), 0);
        assert_eq!(call("ModifyVpcEndpoint").await??, b"ok", "nothing is held after the release");
        assert_eq!(proxy.seen("ModifyVpcEndpoint"), 3);
        Ok(())
    }

    #[test]
    fn requests_are_identified_by_scope_and_action() {
        let message = |headers: Vec<(&str, &str)>, body: &str| Message {
            start: "POST / HTTP/1.1".into(),
            headers: headers.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        };
        let ec2 = message(
            vec![(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/ec2/aws4_request, SignedHeaders=host",
            )],
            "Action=CreateVpcEndpoint&Version=2016-11-15&VpcId=vpc-1",
        );
        assert_eq!(identify(&ec2), (Service::Ec2, Some("CreateVpcEndpoint".into())));
        let sagemaker = message(
            vec![
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/sagemaker/aws4_request, SignedHeaders=host",
                ),
                ("x-amz-target", "SageMaker.DescribeNotebookInstance"),
            ],
            "{}",
        );
        assert_eq!(identify(&sagemaker), (Service::SageMaker, Some("DescribeNotebookInstance".into())));
    }
}
