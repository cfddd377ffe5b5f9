//! Lambda function `on-notebook-created`: reconciles on CreateNotebookInstance CloudTrail events. `main` only wires things up;
//! the handler lives in `vpce_guard::lambda`.
// The handler's future nests the SDK's deeply enough to pass rustc's default query depth
// in release builds ("queries overflow the depth limit").
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: a Lambda process handles one event at a time and waits on AWS, and each further
// worker thread costs memory (its stack and its allocator arena) for nothing.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    vpce_guard::lambda::init_tracing();
    let guard = vpce_guard::lambda::start().await?;
    run(service_fn(|event: LambdaEvent<Value>| vpce_guard::lambda::on_notebook_created(event, &guard))).await
}
