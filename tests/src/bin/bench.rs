//! The benchmark harness behind `scripts/bench.sh` (figures, not assertions; not a test).
//!
//! It drives the release builds of the four function binaries through its own minimal Lambda
//! Runtime API on 127.0.0.1 and prints markdown tables:
//!
//! - init time: from `exec` to the function's first `GET /2018-06-01/runtime/invocation/next`,
//!   over `--starts` starts of each binary (after one unmeasured start that warms the page cache);
//! - first-event latency and peak RSS of `on-subnet-created` handling a `CreateSubnet` event
//!   against the strict moto fixture, in `--repeats` fresh processes; the peak RSS is the
//!   process's `VmHWM` (what `getrusage` reports as `ru_maxrss`), read once the function asks
//!   for its next event;
//! - size of each stripped binary and of its deployment zip (`--zips DIR/<function>.zip`);
//! - AWS calls per event (the report's `api_calls`) for a compliant VPC, a new AZ, a new
//!   notebook and the first enrolment of a VPC: in a fresh process (cold) and as the second
//!   invocation of the same process (warm, on a second VPC in the same state);
//! - the sweep figures of the scale example (`--scale PATH`, its binary), and
//! - a summary with the budgets of docs/BENCHMARKS.md beside each figure.
//!
//! Usage: `bench --functions target/release [--zips DIR] [--scale PATH] [--starts 30] [--repeats 10]`

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vpce_guard::aws::SdkAccount;
use vpce_guard::config::Config;
use vpce_guard::events::parse_notebook_created;
use vpce_guard::Guard;
use vpce_guard_tests::events;
use vpce_guard_tests::http::read_message;
use vpce_guard_tests::moto::{Moto, REGION};
use vpce_guard_tests::runtime::{next_response, ACCEPTED};
use vpce_guard_tests::seed::Seed;

const FUNCTIONS: [&str; 4] = ["on-notebook-created", "on-subnet-created", "on-domain-created", "remediate"];
const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];

// Budgets (docs/BENCHMARKS.md). Sizes in decimal megabytes, the stricter reading of "MB".
const INIT_BUDGET_MS: f64 = 20.0;
const RSS_BUDGET_BYTES: u64 = 30_000_000;
const SIZE_BUDGET_BYTES: u64 = 8_000_000;
const COMPLIANT_READS_BUDGET: u64 = 8;
const PLAN_BUDGET_MS: f64 = 200.0;

/// How long a function may take to ask for an event, or to answer one.
const WAIT: Duration = Duration::from_secs(60);

struct Args {
    functions: PathBuf,
    zips: Option<PathBuf>,
    scale: Option<PathBuf>,
    starts: usize,
    repeats: usize,
}

fn args() -> Result<Args> {
    let mut args =
        Args { functions: PathBuf::from("target/release"), zips: None, scale: None, starts: 30, repeats: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--functions" => args.functions = value()?.into(),
            "--zips" => args.zips = Some(value()?.into()),
            "--scale" => args.scale = Some(value()?.into()),
            "--starts" => args.starts = value()?.parse().context("--starts")?,
            "--repeats" => args.repeats = value()?.parse().context("--repeats")?,
            "-h" | "--help" => {
                println!(
                    "usage: bench --functions DIR [--zips DIR] [--scale PATH] [--starts N (30)] [--repeats N (10)]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    ensure!(args.starts >= 1 && args.repeats >= 1, "--starts and --repeats must be at least 1");
    for name in FUNCTIONS {
        let path = args.functions.join(name);
        ensure!(path.exists(), "{} is missing: build the functions first (scripts/release.sh)", path.display());
    }
    Ok(args)
}

// ------------------------------------------------------------------ a minimal Runtime API

/// A `GET …/invocation/next` the function is blocked on; answer it with (request id, event).
struct Next {
    at: Instant,
    reply: oneshot::Sender<(String, String)>,
}

/// A POST of the function: `…/{id}/response`, `…/{id}/error` or `…/init/error`.
struct Posted {
    at: Instant,
    path: String,
    body: Vec<u8>,
}

struct RuntimeApi {
    address: String,
    nexts: mpsc::UnboundedReceiver<Next>,
    posts: mpsc::UnboundedReceiver<Posted>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (next_tx, nexts) = mpsc::unbounded_channel();
        let (post_tx, posts) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, next_tx.clone(), post_tx.clone()));
            }
        });
        Ok(Self { address, nexts, posts, server })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn connection(
    stream: TcpStream,
    nexts: mpsc::UnboundedSender<Next>,
    posts: mpsc::UnboundedSender<Posted>,
) -> Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_message(&mut reader).await? {
        let at = Instant::now();
        let path = request.start.split_whitespace().nth(1).unwrap_or_default().to_string();
        if path.ends_with("/runtime/invocation/next") {
            let (reply, answer) = oneshot::channel();
            if nexts.send(Next { at, reply }).is_err() {
                return Ok(());
            }
            let Ok((id, body)) = answer.await else { return Ok(()) };
            let response = next_response(&id, SystemTime::now() + WAIT, "bench", &body)?;
            write.write_all(response.as_bytes()).await?;
        } else {
            let _ = posts.send(Posted { at, path, body: request.body });
            write.write_all(ACCEPTED).await?;
        }
    }
    Ok(())
}

/// One invocation as the Runtime API saw it.
struct Invocation {
    /// The response (a report), or the error body.
    outcome: std::result::Result<Value, String>,
    /// From handing out the event to receiving the response.
    latency: Duration,
    /// From `exec` to receiving the response.
    since_exec: Duration,
    /// Peak RSS of the process so far, in bytes.
    peak_rss: u64,
    /// CPU time the process spent on the event (all its threads).
    cpu: Duration,
}

/// A function binary running against its own Runtime API; killed on drop.
struct Process {
    child: Child,
    pid: u32,
    api: RuntimeApi,
    spawned: Instant,
    log: PathBuf,
    waiting: Option<Next>,
    invocations: u64,
}

impl Process {
    async fn start(binary: &Path, env: &[(String, String)], log: &Path) -> Result<Self> {
        let api = RuntimeApi::start().await?;
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_string();
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the function has no pid")?;
        Ok(Self { child, pid, api, spawned, log: log.to_path_buf(), waiting: None, invocations: 0 })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the function asks for its next event (it is idle then); returns when it asked.
    async fn idle(&mut self) -> Result<Instant> {
        if let Some(next) = &self.waiting {
            return Ok(next.at);
        }
        tokio::select! {
            next = self.api.nexts.recv() => {
                let next = next.context("the Runtime API stopped")?;
                let at = next.at;
                self.waiting = Some(next);
                Ok(at)
            }
            posted = self.api.posts.recv() => {
                let posted = posted.context("the Runtime API stopped")?;
                bail!("unexpected POST {}: {}\n{}", posted.path, String::from_utf8_lossy(&posted.body), self.log_tail())
            }
            status = self.child.wait() => bail!("the function exited ({status:?}):\n{}", self.log_tail()),
            _ = tokio::time::sleep(WAIT) => bail!("no next request in {WAIT:?}:\n{}", self.log_tail()),
        }
    }

    /// Hands `event` to the function, waits for its answer and for it to be idle again.
    async fn invoke(&mut self, event: &Value) -> Result<Invocation> {
        self.idle().await?;
        let next = self.waiting.take().context("idle")?;
        self.invocations += 1;
        let id = format!("bench-{}", self.invocations);
        let cpu_before = self.cpu_time()?;
        let handed = Instant::now();
        next.reply.send((id.clone(), event.to_string())).map_err(|_| anyhow!("the function hung up"))?;
        let posted = tokio::select! {
            posted = self.api.posts.recv() => posted.context("the Runtime API stopped")?,
            status = self.child.wait() => bail!("the function exited ({status:?}):\n{}", self.log_tail()),
            _ = tokio::time::sleep(WAIT) => bail!("no answer in {WAIT:?}:\n{}", self.log_tail()),
        };
        let outcome = if posted.path.ends_with(&format!("/{id}/response")) {
            Ok(serde_json::from_slice(&posted.body).context("the response is JSON")?)
        } else {
            Err(String::from_utf8_lossy(&posted.body).into_owned())
        };
        self.idle().await?;
        Ok(Invocation {
            outcome,
            latency: posted.at - handed,
            since_exec: posted.at - self.spawned,
            peak_rss: self.peak_rss()?,
            cpu: self.cpu_time()?.saturating_sub(cpu_before),
        })
    }

    /// CPU time of the process so far: the sum over its threads of `/proc/PID/task/TID/schedstat`'s
    /// first field (nanoseconds on a CPU).
    fn cpu_time(&self) -> Result<Duration> {
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let Ok(text) = std::fs::read_to_string(task?.path().join("schedstat")) else { continue };
            total += text.split_whitespace().next().context("schedstat")?.parse::<u64>()?;
        }
        Ok(Duration::from_nanos(total))
    }

    /// `VmHWM` of the process, in bytes.
    fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/PID/status")?;
        let kib: u64 = line.split_whitespace().nth(1).context("VmHWM value")?.parse()?;
        Ok(kib * 1024)
    }

    async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

// ------------------------------------------------------------------ statistics and formatting

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Nearest-rank percentile of sorted values.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

fn sorted<T: Ord + Copy>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut list: Vec<T> = values.into_iter().collect();
    list.sort();
    list
}

/// The rows of the budget table.
#[derive(Default)]
struct Summary {
    rows: Vec<[String; 4]>,
}

impl Summary {
    fn add(&mut self, measure: impl Into<String>, measured: impl Into<String>, budget: &str, ok: Option<bool>) {
        let verdict = match ok {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        self.rows.push([measure.into(), measured.into(), budget.to_string(), verdict.to_string()]);
    }
}

// ------------------------------------------------------------------ binary and zip sizes

/// True when the ELF file has no symbol table (`strip` removed it).
fn stripped(path: &Path) -> Result<bool> {
    let data = std::fs::read(path)?;
    ensure!(data.len() > 64 && &data[..4] == b"\x7fELF" && data[4] == 2 && data[5] == 1, "not a 64-bit LE ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([data[at], data[at + 1]]) as usize;
    let offset = u64::from_le_bytes(data[0x28..0x30].try_into()?) as usize;
    let (size, count) = (u16_at(0x3A), u16_at(0x3C));
    for index in 0..count {
        let header = offset + index * size;
        let kind = u32::from_le_bytes(data[header + 4..header + 8].try_into()?);
        if kind == 2 {
            return Ok(false); // SHT_SYMTAB
        }
    }
    Ok(true)
}

fn sizes(args: &Args, out: &mut String, summary: &mut Summary) -> Result<()> {
    writeln!(out, "\n### Binary and zip size (release profile)\n")?;
    writeln!(out, "| function | binary (bytes) | symbol table | zip of `bootstrap` (bytes) |")?;
    writeln!(out, "| --- | ---: | --- | ---: |")?;
    for name in FUNCTIONS {
        let path = args.functions.join(name);
        let size = std::fs::metadata(&path)?.len();
        let stripped = stripped(&path)?;
        let zip = match &args.zips {
            Some(dir) => Some(std::fs::metadata(dir.join(format!("{name}.zip")))?.len()),
            None => None,
        };
        let zip_text = zip.map_or("-".into(), |z| format!("{z} ({:.2} MB)", mb(z)));
        let symbols = if stripped { "stripped" } else { "present" };
        writeln!(out, "| {name} | {size} ({:.2} MB) | {symbols} | {zip_text} |", mb(size))?;
        summary.add(
            format!("stripped bootstrap, {name}"),
            format!("{:.2} MB (zip {})", mb(size), zip.map_or("-".into(), |z| format!("{:.2} MB", mb(z)))),
            "≤ 8 MB",
            Some(stripped && size <= SIZE_BUDGET_BYTES),
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ init time

async fn init_times(
    args: &Args,
    env: &[(String, String)],
    logs: &Path,
    out: &mut String,
    summary: &mut Summary,
) -> Result<()> {
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    // Round 0 warms the page cache and is not counted; the functions take turns.
    for round in 0..=args.starts {
        for name in FUNCTIONS {
            let log = logs.join(format!("init-{name}.log"));
            let mut process = Process::start(&args.functions.join(name), env, &log).await?;
            let ready = process.idle().await?;
            let init = ready - process.spawned;
            process.stop().await?;
            if round > 0 {
                times.entry(name).or_default().push(init);
            }
        }
    }
    writeln!(out, "\n### Init time: exec → first `next` request, {} starts of each binary\n", args.starts)?;
    writeln!(out, "| function | median | p10 – p90 | min – max |")?;
    writeln!(out, "| --- | ---: | ---: | ---: |")?;
    for name in FUNCTIONS {
        let list = sorted(times.remove(name).context("no init times")?);
        let (median, p90) = (median(&list), percentile(&list, 0.9));
        writeln!(
            out,
            "| {name} | {:.2} ms | {:.2} – {:.2} ms | {:.2} – {:.2} ms |",
            ms(median),
            ms(percentile(&list, 0.1)),
            ms(p90),
            ms(list[0]),
            ms(list[list.len() - 1])
        )?;
        summary.add(
            format!("init, {name} (median of {})", list.len()),
            format!("{:.2} ms (p90 {:.2} ms)", ms(median), ms(p90)),
            "≤ 20 ms median",
            Some(ms(median) <= INIT_BUDGET_MS),
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ events against moto

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Compliant,
    NewAz,
    NewNotebook,
    FirstEnrolment,
    Remediate,
}

impl Kind {
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Kind::Compliant => ("compliant VPC (CreateSubnet in a covered AZ)", "on-subnet-created"),
            Kind::NewAz => ("new AZ (CreateSubnet in a 4th AZ)", "on-subnet-created"),
            Kind::NewNotebook => ("new notebook in an enrolled VPC", "on-notebook-created"),
            Kind::FirstEnrolment => ("first enrolment (first notebook of a VPC)", "on-notebook-created"),
            Kind::Remediate => ("compliant VPC, manual payload `{\"vpc_ids\": [it]}`", "remediate"),
        }
    }
}

/// A VPC seeded in the fixture: its number n (10.n.0.0/16), id, subnets by AZ, notebook group.
struct SeededVpc {
    n: u8,
    id: String,
    by_az: BTreeMap<String, Vec<String>>,
    group: String,
    subnets_added: u8,
}

struct World {
    moto: Moto,
    seed: Seed,
    guard: Guard<SdkAccount>,
    vpcs: u8,
}

impl World {
    async fn start() -> Result<Self> {
        let moto = Moto::start().await?;
        let sdk = moto.sdk_config();
        let guard = Guard::new(SdkAccount::new(&sdk)?, Config::default());
        Ok(Self { seed: Seed::new(&sdk), moto, guard, vpcs: 0 })
    }

    /// A new VPC with 2 subnets in each of 3 AZs and notebook `bench-n` in the first subnet.
    async fn vpc(&mut self) -> Result<SeededVpc> {
        self.vpcs += 1;
        let n = self.vpcs;
        let (id, by_az) = self.seed.vpc_with_subnets(n, &AZS, 2).await?;
        let group = self.seed.notebook_group(&id).await?;
        self.seed.notebook(&format!("bench-{n}"), &by_az[AZS[0]][0], &group).await?;
        Ok(SeededVpc { n, id, by_az, group, subnets_added: 0 })
    }

    /// [`World::vpc`], enrolled and compliant (reconciled through the library, then checked).
    async fn enrolled(&mut self) -> Result<SeededVpc> {
        let vpc = self.vpc().await?;
        let event = events::notebook_created(&format!("bench-{}", vpc.n), &vpc.by_az[AZS[0]][0]);
        let report = self.guard.run(parse_notebook_created(&event, REGION)?).await?;
        ensure!(report.api_calls.write > 0, "enrolling {} wrote nothing: {}", vpc.id, report.to_text());
        let again = self.guard.run(parse_notebook_created(&event, REGION)?).await?;
        ensure!(again.api_calls.write == 0, "{} is not compliant after enrolment: {}", vpc.id, again.to_text());
        Ok(vpc)
    }

    /// A subnet added to `vpc` in `az`, and its CreateSubnet event.
    async fn new_subnet(&self, vpc: &mut SeededVpc, az: &str) -> Result<Value> {
        let cidr = format!("10.{}.{}.0/24", vpc.n, 100 + vpc.subnets_added);
        vpc.subnets_added += 1;
        let subnet = self.seed.subnet(&vpc.id, &cidr, az).await?;
        Ok(events::subnet_created(&subnet, &vpc.id, az))
    }

    /// Sets up a new VPC in the state `kind` starts from and returns the event for it.
    async fn event(&mut self, kind: Kind) -> Result<Value> {
        Ok(match kind {
            Kind::Compliant => {
                let mut vpc = self.enrolled().await?;
                self.new_subnet(&mut vpc, AZS[0]).await?
            }
            Kind::NewAz => {
                let mut vpc = self.enrolled().await?;
                self.new_subnet(&mut vpc, "us-west-2d").await?
            }
            Kind::NewNotebook => {
                let vpc = self.enrolled().await?;
                let (name, subnet) = (format!("bench-{}-second", vpc.n), &vpc.by_az[AZS[1]][0]);
                self.seed.notebook(&name, subnet, &vpc.group).await?;
                events::notebook_created(&name, subnet)
            }
            Kind::FirstEnrolment => {
                let vpc = self.vpc().await?;
                events::notebook_created(&format!("bench-{}", vpc.n), &vpc.by_az[AZS[0]][0])
            }
            Kind::Remediate => {
                let vpc = self.enrolled().await?;
                events::remediate(&[vpc.id.as_str()], false)
            }
        })
    }
}

/// The report of a successful invocation.
fn report(invocation: &Invocation) -> Result<&Value> {
    invocation.outcome.as_ref().map_err(|error| anyhow!("the function failed: {error}"))
}

fn calls(report: &Value) -> (u64, u64) {
    let field = |name: &str| report["api_calls"][name].as_u64().unwrap_or_default();
    (field("read"), field("write"))
}

fn outcomes(report: &Value) -> String {
    let list: Vec<&str> =
        report["vpcs"].as_array().into_iter().flatten().filter_map(|v| v["outcome"].as_str()).collect();
    list.join(", ")
}

/// The writes a report's actions account for: (endpoints created or modified, one-time SG/DNS writes).
fn expected_writes(report: &Value) -> (u64, u64) {
    let (mut created, mut one_time) = (0, 0);
    let mut modified = BTreeSet::new();
    let actions = report["vpcs"].as_array().into_iter().flatten().flat_map(|v| v["actions"].as_array()).flatten();
    for action in actions {
        match action["action"].as_str().unwrap_or_default() {
            "create_endpoint" => created += 1,
            "add_subnets" | "add_security_group" | "set_policy" | "enable_private_dns" => {
                modified.insert(action["endpoint_id"].as_str().unwrap_or_default().to_string());
            }
            _ => one_time += 1,
        }
    }
    (created + modified.len() as u64, one_time)
}

/// First-event latency and peak RSS: CreateSubnet events of an enrolled, compliant VPC, each
/// process handling two (cold, then warm).
async fn first_event(
    world: &mut World,
    args: &Args,
    logs: &Path,
    out: &mut String,
    summary: &mut Summary,
) -> Result<()> {
    struct Sample {
        init: Duration,
        init_cpu: Duration,
        cold_cpu: Duration,
        warm_cpu: Duration,
        cold: Duration,
        since_exec: Duration,
        rss_cold: u64,
        warm: Duration,
        rss_warm: u64,
        reads: (u64, u64),
    }
    /// Picks a figure of a sample.
    type Pick<T> = fn(&Sample) -> T;
    let mut vpc = world.enrolled().await?;
    let mut samples = Vec::new();
    for round in 0..args.repeats {
        let cold_event = world.new_subnet(&mut vpc, AZS[round % AZS.len()]).await?;
        let warm_event = world.new_subnet(&mut vpc, AZS[(round + 1) % AZS.len()]).await?;
        let log = logs.join("first-event.log");
        let mut process = Process::start(&args.functions.join("on-subnet-created"), &world.moto.env(), &log).await?;
        let init = process.idle().await? - process.spawned;
        let init_cpu = process.cpu_time()?;
        let cold = process.invoke(&cold_event).await?;
        let warm = process.invoke(&warm_event).await?;
        process.stop().await?;
        for invocation in [&cold, &warm] {
            let report = report(invocation)?;
            ensure!(outcomes(report) == "compliant" && calls(report).1 == 0, "expected a compliant VPC: {report}");
        }
        samples.push(Sample {
            init,
            init_cpu,
            cold_cpu: cold.cpu,
            warm_cpu: warm.cpu,
            cold: cold.latency,
            since_exec: cold.since_exec,
            rss_cold: cold.peak_rss,
            warm: warm.latency,
            rss_warm: warm.peak_rss,
            reads: (calls(report(&cold)?).0, calls(report(&warm)?).0),
        });
    }
    writeln!(
        out,
        "\n### First event: `on-subnet-created`, CreateSubnet in a covered AZ of a compliant VPC, moto, {} fresh processes\n",
        args.repeats
    )?;
    writeln!(out, "Each process handles two events: cold (its first) and warm (its second, another new subnet).\n")?;
    writeln!(out, "| | median | min – max |")?;
    writeln!(out, "| --- | ---: | ---: |")?;
    let rows: [(&str, Pick<Duration>); 7] = [
        ("init (exec → first `next`)", |s| s.init),
        ("cold event → response", |s| s.cold),
        ("exec → cold response", |s| s.since_exec),
        ("warm event → response", |s| s.warm),
        ("CPU time of init", |s| s.init_cpu),
        ("CPU time of the cold event", |s| s.cold_cpu),
        ("CPU time of the warm event", |s| s.warm_cpu),
    ];
    let mut medians = Vec::new();
    for (label, pick) in rows {
        let list = sorted(samples.iter().map(pick));
        medians.push(median(&list));
        writeln!(
            out,
            "| {label} | {:.1} ms | {:.1} – {:.1} ms |",
            ms(median(&list)),
            ms(list[0]),
            ms(list[list.len() - 1])
        )?;
    }
    let rss: [(&str, Pick<u64>); 2] =
        [("peak RSS after the cold event", |s| s.rss_cold), ("peak RSS after both", |s| s.rss_warm)];
    for (label, pick) in rss {
        let list = sorted(samples.iter().map(pick));
        let (low, mid, high) = (list[0], percentile(&list, 0.5), list[list.len() - 1]);
        writeln!(out, "| {label} (VmHWM) | {:.1} MB | {:.1} – {:.1} MB |", mb(mid), mb(low), mb(high))?;
    }
    let reads = sorted(samples.iter().map(|s| s.reads));
    writeln!(out, "| AWS reads cold / warm | {} / {} | |", reads[0].0, reads[0].1)?;
    let peak = samples.iter().map(|s| s.rss_cold).max().unwrap_or_default();
    summary.add(
        format!("peak RSS, one CreateSubnet event (max of {} processes)", args.repeats),
        format!("{:.1} MB", mb(peak)),
        "≤ 30 MB",
        Some(peak <= RSS_BUDGET_BYTES),
    );
    summary.add(
        format!("first-event latency, CreateSubnet against moto (median of {})", args.repeats),
        format!("{:.1} ms event → response; {:.1} ms exec → response", ms(medians[1]), ms(medians[2])),
        "-",
        None,
    );
    Ok(())
}

struct Measured {
    kind: Kind,
    cold: Invocation,
    warm: Invocation,
    /// The calls the fixture served during each invocation, by action.
    cold_calls: BTreeMap<String, u64>,
    warm_calls: BTreeMap<String, u64>,
}

async fn scenario(world: &mut World, args: &Args, logs: &Path, kind: Kind) -> Result<Measured> {
    let (_, function) = kind.describe();
    // Both VPCs are set up before the process starts, so that the first event is all it does.
    let cold_event = world.event(kind).await?;
    let warm_event = world.event(kind).await?;
    let log = logs.join(format!("{function}.log"));
    let mut process = Process::start(&args.functions.join(function), &world.moto.env(), &log).await?;
    world.moto.reset_calls().await?;
    let cold = process.invoke(&cold_event).await?;
    let cold_calls = world.moto.calls().await?;
    world.moto.reset_calls().await?;
    let warm = process.invoke(&warm_event).await?;
    let warm_calls = world.moto.calls().await?;
    process.stop().await?;
    report(&cold)?;
    report(&warm)?;
    Ok(Measured { kind, cold, warm, cold_calls, warm_calls })
}

async fn aws_calls(world: &mut World, args: &Args, logs: &Path, out: &mut String, summary: &mut Summary) -> Result<()> {
    let mut measured = Vec::new();
    for kind in [Kind::Compliant, Kind::NewAz, Kind::NewNotebook, Kind::FirstEnrolment, Kind::Remediate] {
        measured.push(scenario(world, args, logs, kind).await?);
    }
    writeln!(out, "\n### AWS calls per event (the report's `api_calls`), moto\n")?;
    writeln!(
        out,
        "Cold: the first event of a fresh process. Warm: its second event, on another VPC in the same state \
         (VPCs of 3 AZs × 2 subnets).\n"
    )?;
    writeln!(
        out,
        "| event | function | cold read / write | warm read / write | outcome | actions (cold) | CPU time cold / warm | peak RSS |"
    )?;
    writeln!(out, "| --- | --- | ---: | ---: | --- | --- | ---: | ---: |")?;
    for m in &measured {
        let (name, function) = m.kind.describe();
        let (cold, warm) = (report(&m.cold)?, report(&m.warm)?);
        let ((cr, cw), (wr, ww)) = (calls(cold), calls(warm));
        let actions: Vec<&str> = cold["vpcs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| v["actions"].as_array())
            .flatten()
            .filter_map(|a| a["action"].as_str())
            .collect();
        let actions = if actions.is_empty() { "-".to_string() } else { actions.join(", ") };
        writeln!(
            out,
            "| {name} | {function} | {cr} / {cw} | {wr} / {ww} | {} | {actions} | {:.1} / {:.1} ms | {:.1} MB |",
            outcomes(cold),
            ms(m.cold.cpu),
            ms(m.warm.cpu),
            mb(m.warm.peak_rss)
        )?;
        match m.kind {
            Kind::Compliant => {
                summary.add(format!("{name}: reads, cold"), cr.to_string(), "≤ 8", Some(cr <= COMPLIANT_READS_BUDGET));
                summary.add(format!("{name}: reads, warm"), wr.to_string(), "< cold", Some(wr < cr));
                summary.add(
                    format!("{name}: writes, cold / warm"),
                    format!("{cw} / {ww}"),
                    "0",
                    Some(cw == 0 && ww == 0),
                );
            }
            Kind::NewAz | Kind::NewNotebook => {
                let (endpoints, one_time) = expected_writes(cold);
                summary.add(
                    format!("{name}: writes, cold / warm"),
                    format!("{cw} / {ww} for {endpoints} endpoint(s) changed"),
                    "1 per endpoint changed",
                    Some(cw == endpoints && ww == endpoints && one_time == 0 && endpoints > 0),
                );
            }
            Kind::FirstEnrolment => {
                let (endpoints, one_time) = expected_writes(cold);
                summary.add(
                    format!("{name}: writes, cold / warm"),
                    format!("{cw} / {ww} = {endpoints} endpoint(s) + {one_time} SG/DNS"),
                    "1 per endpoint + one-time SG/DNS",
                    Some(cw == endpoints + one_time && ww == cw && endpoints > 0),
                );
            }
            Kind::Remediate => {}
        }
    }
    writeln!(out, "\nThe same invocations as the fixture served them, by action (reads and writes):\n")?;
    writeln!(out, "| event | cold | warm |")?;
    writeln!(out, "| --- | --- | --- |")?;
    let by_action = |calls: &BTreeMap<String, u64>| {
        let list: Vec<String> = calls.iter().filter(|(_, n)| **n > 0).map(|(a, n)| format!("{a} {n}")).collect();
        list.join(", ")
    };
    for m in &measured {
        writeln!(out, "| {} | {} | {} |", m.kind.describe().0, by_action(&m.cold_calls), by_action(&m.warm_calls))?;
    }
    Ok(())
}

// ------------------------------------------------------------------ sweep at scale

async fn scale(path: &Path, out: &mut String, summary: &mut Summary) -> Result<()> {
    let output = Command::new(path).output().await.with_context(|| format!("running {}", path.display()))?;
    ensure!(output.status.success(), "{} failed: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout)?;
    writeln!(out, "\n### Sweep at scale (scale example, in-memory fake account)\n")?;
    out.push_str(&text);
    // The row of 5,000 VPCs all enrolled; its last cell is the plan time.
    let plan = text.lines().find_map(|line| {
        let cells: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        let number = |i: usize| cells.get(i).map(|c| c.replace(',', ""));
        if number(0)?.as_str() != "5000" || number(1)?.as_str() != "5000" {
            return None;
        }
        cells.last()?.trim_end_matches("ms").trim().parse::<f64>().ok()
    });
    let measure = "plan, 5,000 enrolled VPCs (scale example, median of 5)";
    match plan {
        Some(plan) => summary.add(measure, format!("{plan:.1} ms"), "≤ 200 ms", Some(plan <= PLAN_BUDGET_MS)),
        None => summary.add(measure, "not found in its output", "≤ 200 ms", None),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let logs = std::env::temp_dir().join(format!("vpce-guard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let mut summary = Summary::default();
    let mut out = String::new();

    sizes(&args, &mut out, &mut summary)?;
    let mut world = World::start().await?;
    // The functions start with the environment of the events, pointing at the fixture.
    init_times(&args, &world.moto.env(), &logs, &mut out, &mut summary).await?;
    first_event(&mut world, &args, &logs, &mut out, &mut summary).await?;
    aws_calls(&mut world, &args, &logs, &mut out, &mut summary).await?;
    if let Some(path) = &args.scale {
        scale(path, &mut out, &mut summary).await?;
    }

    println!("\n### Budgets\n");
    println!("| measure | measured | budget | met |");
    println!("| --- | --- | --- | --- |");
    for [measure, measured, budget, ok] in &summary.rows {
        println!("| {measure} | {measured} | {budget} | {ok} |");
    }
    print!("{out}");
    let _ = std::fs::remove_dir_all(&logs);
    Ok(())
}
