//! Lambda function: the search service's HTTP API behind API Gateway (HTTP
//! API with a JWT authorizer). The router is `cdsearch serve`'s; searches
//! run as burst jobs started through the manager function. `GET /config`
//! names the Cognito hosted UI of `CDSEARCH_SIGN_IN_DOMAIN` and
//! `CDSEARCH_SIGN_IN_CLIENT_ID` for the web client to sign in through.

use std::sync::Arc;

use burst_aws::S3ObjectStore;
use cdsearch_lambda::config::sign_in_from_vars;
use cdsearch_lambda::gateway::jwt_subject;
use cdsearch_lambda::{start, AwsBackends, FunctionEnv};
use cdsearch_service::platform::aws::{libraries_from_env, AwsPlatform};
use cdsearch_service::{router, Auth, GatewayUser, Limits, Service};
use lambda_http::{run, service_fn, Error, Request, RequestExt};
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = start(AwsBackends::api).await?;
    let env = FunctionEnv::from_env()?;
    let sign_in = sign_in_from_vars(|name| std::env::var(name).ok())?;
    let limits = Limits::default();
    let clients = backends.clients.clone();
    let platform = AwsPlatform::new(
        backends.burst.clone(),
        env.manager_function,
        env.search_bucket,
        libraries_from_env()?,
        Box::new(move |bucket: &str| Arc::new(S3ObjectStore::new(&clients, bucket)) as _),
        limits.search_timeout,
    );
    let app = router(Service::with_sign_in(
        Arc::new(platform),
        Auth::Gateway,
        limits,
        sign_in,
    ));
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
