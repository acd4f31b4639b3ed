//! The caller of the `api` function: API Gateway's JWT authorizer verifies
//! the token, and the function takes the user from the verified claims.

use lambda_http::request::RequestContext;

/// The `sub` claim of a JWT that API Gateway's authorizer verified, from a
/// request's HTTP API (payload 2.0) context.
pub fn jwt_subject(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()?
            .claims
            .get("sub")
            .filter(|s| !s.is_empty())
            .cloned(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(authorizer: serde_json::Value) -> RequestContext {
        let ctx = serde_json::from_value(serde_json::json!({
            "routeKey": "ANY /{proxy+}",
            "accountId": "123456789012",
            "stage": "$default",
            "requestId": "r1",
            "apiId": "a1",
            "domainName": "a1.execute-api.eu-west-1.amazonaws.com",
            "time": "23/Nov/2026:22:00:00 +0000",
            "timeEpoch": 0,
            "http": {"method": "GET", "path": "/searches", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "t"},
            "authorizer": authorizer,
        }))
        .unwrap();
        RequestContext::ApiGatewayV2(ctx)
    }

    #[test]
    fn the_user_is_the_verified_jwt_subject() {
        let verified = context(
            serde_json::json!({"jwt": {"claims": {"sub": "u-1", "iss": "x"}, "scopes": null}}),
        );
        assert_eq!(jwt_subject(&verified).as_deref(), Some("u-1"));
        let no_sub = context(serde_json::json!({"jwt": {"claims": {"iss": "x"}, "scopes": null}}));
        assert_eq!(jwt_subject(&no_sub), None);
        assert_eq!(jwt_subject(&context(serde_json::Value::Null)), None);
    }
}
