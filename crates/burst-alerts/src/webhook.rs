//! The webhook URL, as kept in its secret: never printed (its `Debug` hides it), checked once.

use serde_json::Value;

/// Why a secret's value is not a webhook URL (never containing the value).
pub type Malformed = String;

/// A webhook URL read from a secret. It is a credential (whoever has it can post), so neither
/// `Debug` nor any error shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl WebhookUrl {
    /// Reads a secret's value: an `https://` URL, or a JSON object with a `url` (or
    /// `webhookUrl`) string, as the Secrets Manager console stores key/value secrets. Plain
    /// `http://` is accepted only for a loopback host (a local receiver in tests).
    pub fn parse(secret: &str) -> Result<Self, Malformed> {
        let secret = secret.trim();
        let url = if secret.starts_with('{') {
            let value: Value = serde_json::from_str(secret)
                .map_err(|e| format!("its value starts with '{{' but is not JSON ({e})"))?;
            ["url", "webhookUrl"]
                .iter()
                .find_map(|key| value.get(key).and_then(Value::as_str))
                .ok_or("its JSON has no \"url\" string")?
                .trim()
                .to_owned()
        } else {
            secret.to_owned()
        };
        if url.is_empty() {
            return Err("it is empty".into());
        }
        if url.chars().any(char::is_whitespace) {
            return Err("the URL contains whitespace".into());
        }
        let (scheme, rest) = url.split_once("://").ok_or("it is not a URL")?;
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if hostname.is_empty() {
            return Err("the URL has no host".into());
        }
        let loopback = ["127.0.0.1", "localhost", "[::1]"].contains(&hostname);
        match scheme {
            "https" => Ok(WebhookUrl(url)),
            "http" if loopback => Ok(WebhookUrl(url)),
            "http" => Err("the URL is http:// (only https:// is accepted)".into()),
            _ => Err(format!("the URL's scheme is {scheme:?}, not https")),
        }
    }

    /// The URL, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_holds_an_https_url_plain_or_in_json() {
        let url = "https://hooks.slack.com/services/T0/B0/XyZ";
        assert_eq!(WebhookUrl::parse(url).unwrap().expose(), url);
        let json = format!(" {{\"url\": \"{url}\"}} ");
        assert_eq!(WebhookUrl::parse(&json).unwrap().expose(), url);
        let key_value = format!("{{\"webhookUrl\": \"{url}\"}}");
        assert_eq!(WebhookUrl::parse(&key_value).unwrap().expose(), url);
        let local = "http://127.0.0.1:8080/hook";
        assert_eq!(WebhookUrl::parse(local).unwrap().expose(), local);
        assert_eq!(
            format!("{:?}", WebhookUrl::parse(url).unwrap()),
            "WebhookUrl(<redacted>)"
        );
    }

    #[test]
    fn malformed_secrets_are_named_without_their_value() {
        let cases = [
            ("", "empty"),
            ("hooks.slack.com/services/SECRET", "not a URL"),
            ("http://hooks.slack.com/SECRET", "only https"),
            ("ftp://host/SECRET", "scheme"),
            ("{\"token\": \"SECRET\"}", "no \"url\""),
            ("{SECRET", "not JSON"),
            ("https:///SECRET", "no host"),
            ("https://host/a SECRET", "whitespace"),
        ];
        for (secret, reason) in cases {
            let err = WebhookUrl::parse(secret).unwrap_err();
            assert!(err.contains(reason), "{secret}: {err}");
            assert!(!err.contains("SECRET"), "{err}");
        }
    }
}
