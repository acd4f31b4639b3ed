//! Lambda function: the search service's HTTP API behind API Gateway (HTTP
//! API with a JWT authorizer). The router is `cdsearch serve`'s; searches
//! run as burst jobs started through the manager function.

use std::sync::Arc;

use cdsearch::api::{router, Auth, GatewayUser, Limits, Service};
use cdsearch_lambda::api::{jwt_subject, libraries_from_env, AwsPlatform};
use cdsearch_lambda::{start, FunctionEnv};
use lambda_http::{run, service_fn, Error, Request, RequestExt};
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = start().await?;
    let env = FunctionEnv::from_env()?;
    let limits = Limits::default();
    let buckets = backends.clone();
    let platform = AwsPlatform::new(
        backends.burst.clone(),
        env.manager_function,
        env.search_bucket,
        libraries_from_env()?,
        Box::new(move |bucket: &str| buckets.bucket(bucket)),
        limits.search_timeout,
    );
    let app = router(Service::new(Arc::new(platform), Auth::Gateway, limits));
    run(service_fn(move |mut request: Request| {
        let user = request
            .request_context_ref()
            .and_then(jwt_subject)
            .map(GatewayUser);
        if let Some(user) = user {
            request.extensions_mut().insert(user);
        }
        app.clone().oneshot(request)
    }))
    .await
}
