//! A minimal Lambda Runtime API (the `2018-06-01` HTTP interface Lambda offers a custom
//! runtime) on 127.0.0.1, driving a real function binary built on `lambda_runtime`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::http::read_message;

/// How long one invocation may take before the harness gives up.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(90);

/// What a function returned for an invocation: its response, or its error.
pub type Outcome = std::result::Result<Value, LambdaError>;

/// A function error as the runtime reports it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LambdaError {
    /// e.g. `Permanent.BadEvent`.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// The message.
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<LambdaError>>,
    logs: Mutex<Vec<String>>,
    /// The deadline handed out with the last invocation (`Lambda-Runtime-Deadline-Ms`).
    last_deadline: Mutex<Option<SystemTime>>,
}

/// A function binary running against this harness; killed on drop.
pub struct Function {
    child: Child,
    shared: Arc<Shared>,
    /// The tasks copying the process's stdout and stderr into the logs; they end at its exit.
    readers: Vec<tokio::task::JoinHandle<()>>,
    events: mpsc::UnboundedSender<(String, Value)>,
    next_id: AtomicU64,
    deadline: Duration,
}

impl Function {
    /// Starts `binary` with `env` (plus the variables Lambda sets) against a new Runtime API.
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Result<Self> {
        Self::start_with_deadline(binary, env, Duration::from_secs(60)).await
    }

    /// Like [`Function::start`], with each invocation's deadline `deadline` from its start.
    pub async fn start_with_deadline(binary: &Path, env: &[(String, String)], deadline: Duration) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared::default());
        let (events, queue) = mpsc::unbounded_channel();
        tokio::spawn(serve(listener, shared.clone(), Arc::new(tokio::sync::Mutex::new(queue)), deadline));
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_string();
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut readers = Vec::new();
        for stream in [
            child.stdout.take().map(Box::new).map(|s| s as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child.stderr.take().map(Box::new).map(|s| s as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let shared = shared.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    shared.logs.lock().expect("logs").push(line);
                }
            }));
        }
        Ok(Self { child, shared, readers, events, next_id: AtomicU64::new(1), deadline })
    }

    /// Invokes the function with `event` and waits for its response or error.
    pub async fn invoke(&self, event: Value) -> Result<Outcome> {
        let id = format!("invoke-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().expect("waiting").insert(id.clone(), tx);
        self.events.send((id, event)).context("runtime API stopped")?;
        let limit = INVOKE_TIMEOUT.max(self.deadline + Duration::from_secs(5));
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => {
                if let Some(error) = self.shared.init_error.lock().expect("init error").clone() {
                    bail!("function failed to initialise: {error:?}");
                }
                bail!("no answer from the function in {limit:?}; logs:\n{}", self.logs().join("\n"))
            }
        }
    }

    /// The init error the function reported, if any (waits briefly for it).
    pub async fn init_error(&self) -> Option<LambdaError> {
        for _ in 0..100 {
            if let Some(error) = self.shared.init_error.lock().expect("init error").clone() {
                return Some(error);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Everything the function printed so far, line by line (lines still on their way through
    /// the pipes may be missing: [`Function::stop`] has them all).
    pub fn logs(&self) -> Vec<String> {
        self.shared.logs.lock().expect("logs").clone()
    }

    /// The deadline the harness handed out with the last invocation, if any.
    pub fn last_deadline(&self) -> Option<SystemTime> {
        *self.shared.last_deadline.lock().expect("deadline")
    }

    /// Waits for the process to exit (e.g. after an init error) and returns its status code, once
    /// everything it printed is in [`Function::logs`].
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let status = tokio::time::timeout(limit, self.child.wait()).await.ok()?.ok()?;
        self.drain_logs().await;
        status.code()
    }

    /// Stops the process and returns everything it printed. A function prints an invocation's
    /// lines (its metrics included) before it answers, so after an answer they are all there.
    pub async fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill().await;
        self.drain_logs().await;
        self.logs()
    }

    /// Waits for the log readers to reach the end of the exited process's output.
    async fn drain_logs(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(INVOKE_TIMEOUT, reader).await;
        }
    }
}

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>;

async fn serve(listener: TcpListener, shared: Arc<Shared>, queue: Queue, deadline: Duration) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, shared.clone(), queue.clone(), deadline));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, queue: Queue, deadline: Duration) -> Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_message(&mut reader).await? {
        let path = request.start.split_whitespace().nth(1).unwrap_or_default().to_string();
        if path.ends_with("/runtime/invocation/next") {
            let next = queue.lock().await.recv().await;
            let Some((id, event)) = next else { return Ok(()) };
            let deadline = SystemTime::now() + deadline;
            *shared.last_deadline.lock().expect("deadline") = Some(deadline);
            let response = next_response(&id, deadline, "test", &event.to_string())?;
            write.write_all(response.as_bytes()).await?;
            continue;
        }
        let outcome = if path.ends_with("/init/error") {
            let error = parse_error(&request.body);
            *shared.init_error.lock().expect("init error") = Some(error);
            None
        } else if let Some(id) = path.strip_suffix("/response").and_then(|p| p.rsplit('/').next()) {
            let value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            Some((id.to_string(), Ok(value)))
        } else if let Some(id) = path.strip_suffix("/error").and_then(|p| p.rsplit('/').next()) {
            Some((id.to_string(), Err(parse_error(&request.body))))
        } else {
            None
        };
        if let Some((id, outcome)) = outcome {
            if let Some(waiter) = shared.waiting.lock().expect("waiting").remove(&id) {
                let _ = waiter.send(outcome);
            }
        }
        write.write_all(ACCEPTED).await?;
    }
    Ok(())
}

/// The Runtime API's answer to a posted response or error.
pub const ACCEPTED: &[u8] =
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n";

/// The Runtime API's answer to `GET …/invocation/next`: the event `body` with Lambda's headers.
/// Sent in one write: head and body in two segments on a kept-alive connection would wait on
/// Nagle's algorithm and the client's delayed ACK (about 40 ms per invocation).
pub fn next_response(request_id: &str, deadline: SystemTime, function: &str, body: &str) -> Result<String> {
    let deadline_ms = deadline.duration_since(UNIX_EPOCH)?.as_millis();
    Ok(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-west-2:123456789012:function:{function}\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn parse_error(body: &[u8]) -> LambdaError {
    serde_json::from_slice(body).unwrap_or_else(|_| LambdaError {
        error_type: "Unparsable".into(),
        error_message: String::from_utf8_lossy(body).into_owned(),
    })
}
