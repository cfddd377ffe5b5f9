//! Lambda function `remediate`: reconciles on the EventBridge schedule and manual payloads. `main` only wires things up;
//! the handler lives in `vpce_guard::lambda`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vpce_guard::lambda::init_tracing();
    let guard = vpce_guard::lambda::start().await?;
    run(service_fn(|event: LambdaEvent<Value>| vpce_guard::lambda::remediate(event, &guard))).await
}
