//! The cold-start baseline (`scripts/bench.sh`): the smallest `lambda_runtime` function, built
//! with the same profile and crate versions as the functions, answering every event with
//! itself. A function's init and warm invoke are reported as ratios to this one's.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
