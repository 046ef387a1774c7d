//! Which STS endpoint `keyless assume` talks to, by the precedence the AWS SDKs and
//! configure-aws-credentials use.

/// Where the endpoint came from (printed so the user knows which setting won).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSource {
    /// `--endpoint-url`.
    Flag,
    /// `AWS_ENDPOINT_URL_STS`.
    ServiceEnv,
    /// `AWS_ENDPOINT_URL`.
    GlobalEnv,
}

impl EndpointSource {
    /// The setting's name as the user types it.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointSource::Flag => "--endpoint-url",
            EndpointSource::ServiceEnv => "AWS_ENDPOINT_URL_STS",
            EndpointSource::GlobalEnv => "AWS_ENDPOINT_URL",
        }
    }
}

/// Resolves the endpoint: `--endpoint-url`, then `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`;
/// the two variables are skipped when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true` (an explicit
/// flag still wins, as an explicit client setting does in the SDKs). `None` means the SDK default
/// (`https://sts.<region>.amazonaws.com`). Empty values count as unset.
pub fn resolve(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, EndpointSource)> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    if let Some(f) = flag.filter(|s| !s.trim().is_empty()) {
        return Some((f.to_owned(), EndpointSource::Flag));
    }
    let ignore = non_empty(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if ignore {
        return None;
    }
    if let Some(v) = non_empty(env("AWS_ENDPOINT_URL_STS")) {
        return Some((v, EndpointSource::ServiceEnv));
    }
    non_empty(env("AWS_ENDPOINT_URL")).map(|v| (v, EndpointSource::GlobalEnv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const BOTH: &[(&str, &str)] = &[
        ("AWS_ENDPOINT_URL_STS", "http://sts"),
        ("AWS_ENDPOINT_URL", "http://all"),
    ];

    #[test]
    fn flag_wins_over_everything() {
        let r = resolve(Some("http://flag"), &env(BOTH)).unwrap();
        assert_eq!(r, ("http://flag".into(), EndpointSource::Flag));
    }

    #[test]
    fn service_variable_wins_over_global() {
        assert_eq!(
            resolve(None, &env(BOTH)).unwrap().1,
            EndpointSource::ServiceEnv
        );
        let only_global = env(&[("AWS_ENDPOINT_URL", "http://all")]);
        assert_eq!(
            resolve(None, &only_global).unwrap(),
            ("http://all".into(), EndpointSource::GlobalEnv)
        );
    }

    #[test]
    fn ignore_switch_drops_variables_but_not_the_flag() {
        const IGN: &[(&str, &str)] = &[
            ("AWS_ENDPOINT_URL", "http://all"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ];
        assert_eq!(resolve(None, &env(IGN)), None);
        assert_eq!(
            resolve(Some("http://f"), &env(IGN)).unwrap().1,
            EndpointSource::Flag
        );
        const NOT_TRUE: &[(&str, &str)] = &[
            ("AWS_ENDPOINT_URL", "http://all"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"),
        ];
        assert!(resolve(None, &env(NOT_TRUE)).is_some());
    }

    #[test]
    fn nothing_set_is_sdk_default_and_empty_is_unset() {
        assert_eq!(resolve(None, &env(&[])), None);
        assert_eq!(
            resolve(Some(""), &env(&[("AWS_ENDPOINT_URL_STS", "")])),
            None
        );
    }
}
