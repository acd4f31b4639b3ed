//! `s3://BUCKET/PREFIX` library arguments (read in every build, so that one
//! without the `aws` feature can say what it lacks).

/// The bucket and prefix (no trailing `/`) of an `s3://BUCKET/PREFIX` URL.
pub fn s3_url(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), prefix.trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_prefixes() {
        let url = |b: &str, p: &str| Some((b.to_owned(), p.to_owned()));
        assert_eq!(s3_url("s3://b/lib/x/"), url("b", "lib/x"));
        assert_eq!(s3_url("s3://b"), url("b", ""));
        assert_eq!(s3_url("s3:///x"), None);
        assert_eq!(s3_url("/data/lib"), None);
    }
}
