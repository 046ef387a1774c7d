//! Integration tests for keyless-wire.
//!
//! `sigv4_official` signs requests with AWS's own `aws-sigv4` crate (the signer every Rust SDK
//! uses) and checks that our verifier accepts exactly those and refuses tampered ones.
//! `properties` checks that decoding never panics on arbitrary input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure here is a test failure"
)]

mod sigv4_official {
    use std::borrow::Cow;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        sign,
    };
    use keyless_wire::{
        HttpRequestParts, SigV4Auth, SigningKeyCache, WireError, parse_sigv4, verify_sigv4,
    };

    const AKID: &str = "ASIAEXAMPLEEXAMPLE23";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEBYaDH+session/token==";
    const HOST: &str = "sts.amazonaws.com";
    /// 2023-11-14T22:13:20Z.
    const T0: u64 = 1_700_000_000;

    /// How to sign.
    #[derive(Clone, Copy)]
    struct Opts {
        token: bool,
        presign: Option<u64>,
        content_sha_header: bool,
        unsigned_payload: bool,
    }

    const HEADER: Opts = Opts {
        token: false,
        presign: None,
        content_sha_header: false,
        unsigned_payload: false,
    };

    /// A request as the server sees it after signing.
    struct Signed {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Signed {
        fn parts(&self) -> HttpRequestParts<'_> {
            HttpRequestParts {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }

        fn auth(&self) -> SigV4Auth {
            parse_sigv4(&self.parts())
                .unwrap()
                .expect("request is signed")
        }

        fn verify(&self, secret: &str, now: u64) -> Result<(), WireError> {
            let auth = self.auth();
            verify_sigv4(&self.parts(), &auth, secret, now, &SigningKeyCache::new())
        }

        fn set_header(&mut self, name: &str, value: &str) {
            for (n, v) in &mut self.headers {
                if n == name {
                    *v = value.to_owned();
                }
            }
        }
    }

    fn sign_request(
        method: &str,
        path: &str,
        query: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        opts: Opts,
    ) -> Signed {
        let creds = Credentials::new(
            AKID,
            SECRET,
            opts.token.then(|| TOKEN.to_owned()),
            None,
            "keyless-wire-test",
        );
        let identity = creds.into();
        let mut settings = SigningSettings::default();
        if let Some(secs) = opts.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(secs));
        }
        if opts.content_sha_header {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(UNIX_EPOCH + Duration::from_secs(T0))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = if query.is_empty() {
            format!("https://{HOST}{path}")
        } else {
            format!("https://{HOST}{path}?{query}")
        };
        let signable_body = if opts.unsigned_payload {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let signable = SignableRequest::new(
            method,
            uri.as_str(),
            extra_headers.iter().copied(),
            signable_body,
        )
        .unwrap();
        let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();

        let mut headers: Vec<(String, String)> = vec![("host".to_owned(), HOST.to_owned())];
        headers.extend(
            extra_headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())),
        );
        headers.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())),
        );
        let mut full_query = query.to_owned();
        for (k, v) in instructions.params() {
            if !full_query.is_empty() {
                full_query.push('&');
            }
            let v: &Cow<'static, str> = v;
            full_query.extend(form_urlencoded::byte_serialize(k.as_bytes()));
            full_query.push('=');
            full_query.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        }
        Signed {
            method: method.to_owned(),
            path: path.to_owned(),
            query: full_query,
            headers,
            body: body.to_vec(),
        }
    }

    const FORM: (&str, &str) = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

    fn post(opts: Opts) -> Signed {
        sign_request("POST", "/", "", &[FORM], BODY, opts)
    }

    fn presigned_get(token: bool) -> Signed {
        sign_request(
            "GET",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15",
            &[],
            b"",
            Opts {
                token,
                presign: Some(300),
                ..HEADER
            },
        )
    }

    #[test]
    fn header_form_post_is_accepted() {
        let r = post(HEADER);
        let auth = r.auth();
        assert_eq!(auth.access_key_id, AKID);
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "sts");
        assert_eq!(auth.scope_date, "20231114");
        assert_eq!(auth.amz_date, "20231114T221320Z");
        assert!(!auth.presigned);
        assert_eq!(auth.security_token, None);
        assert!(auth.signed_headers.iter().any(|h| h == "host"));
        r.verify(SECRET, T0).unwrap();
    }

    #[test]
    fn header_form_post_with_session_token_is_accepted() {
        let r = post(Opts {
            token: true,
            ..HEADER
        });
        assert_eq!(r.auth().security_token.as_deref(), Some(TOKEN));
        r.verify(SECRET, T0).unwrap();
    }

    #[test]
    fn header_form_get_with_query_is_accepted() {
        let r = sign_request(
            "GET",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15&Name=a%20b%2Fc%2B&Empty=",
            &[],
            b"",
            HEADER,
        );
        r.verify(SECRET, T0).unwrap();
        let r = sign_request(
            "GET",
            "/",
            "Action=GetCallerIdentity",
            &[],
            b"",
            Opts {
                token: true,
                ..HEADER
            },
        );
        r.verify(SECRET, T0).unwrap();
    }

    #[test]
    fn content_sha256_header_is_accepted_and_checked() {
        let mut r = post(Opts {
            content_sha_header: true,
            ..HEADER
        });
        assert!(r.headers.iter().any(|(k, _)| k == "x-amz-content-sha256"));
        r.verify(SECRET, T0).unwrap();
        // Same signature, same declared hash, different body: the declared hash gives it away.
        r.body = b"Action=CreateRole&Version=2010-05-08".to_vec();
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
    }

    #[test]
    fn odd_paths_and_spaced_headers_are_accepted() {
        let r = sign_request(
            "POST",
            "/some%20path/x",
            "",
            &[FORM, ("x-amz-meta-note", "  two   spaces  ")],
            BODY,
            HEADER,
        );
        r.verify(SECRET, T0).unwrap();
    }

    #[test]
    fn presigned_get_is_accepted() {
        let r = presigned_get(false);
        let auth = r.auth();
        assert!(auth.presigned);
        assert_eq!(auth.expires, Some(300));
        assert_eq!(auth.security_token, None);
        r.verify(SECRET, T0).unwrap();
        r.verify(SECRET, T0 + 300).unwrap();
    }

    #[test]
    fn presigned_get_with_session_token_is_accepted() {
        let r = presigned_get(true);
        assert_eq!(r.auth().security_token.as_deref(), Some(TOKEN));
        r.verify(SECRET, T0).unwrap();
    }

    #[test]
    fn presigned_unsigned_payload_is_accepted_with_empty_body_only() {
        let mut r = sign_request(
            "GET",
            "/",
            "Action=GetCallerIdentity&Version=2011-06-15",
            &[],
            b"",
            Opts {
                presign: Some(60),
                unsigned_payload: true,
                ..HEADER
            },
        );
        r.verify(SECRET, T0).unwrap();
        // Smuggling parameters in an unsigned body is refused.
        r.method = "POST".into();
        let r2 = Signed {
            body: b"Action=CreateRole".to_vec(),
            ..r
        };
        assert!(r2.verify(SECRET, T0).is_err());
    }

    #[test]
    fn presigned_post_with_signed_body_is_accepted_and_bound() {
        let r = sign_request(
            "POST",
            "/",
            "",
            &[FORM],
            BODY,
            Opts {
                presign: Some(60),
                ..HEADER
            },
        );
        r.verify(SECRET, T0).unwrap();
        let tampered = Signed {
            body: b"Action=GetCallerIdentity&Version=2010-05-08".to_vec(),
            ..r
        };
        assert_eq!(
            tampered.verify(SECRET, T0),
            Err(WireError::SignatureMismatch)
        );
    }

    #[test]
    fn wrong_secret_is_rejected() {
        for r in [
            post(HEADER),
            post(Opts {
                token: true,
                ..HEADER
            }),
            presigned_get(false),
            presigned_get(true),
        ] {
            let e = r.verify("not-the-secret", T0).unwrap_err();
            assert_eq!(e, WireError::SignatureMismatch);
            assert_eq!(e.to_aws().code, "SignatureDoesNotMatch");
            assert_eq!(e.to_aws().status, 403);
        }
    }

    #[test]
    fn tampered_signed_header_is_rejected() {
        let mut r = post(HEADER);
        r.set_header("content-type", "text/plain");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
        let mut r = post(HEADER);
        r.set_header("host", "evil.example.com");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
        let mut r = post(Opts {
            token: true,
            ..HEADER
        });
        r.set_header("x-amz-security-token", "other-token");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
    }

    #[test]
    fn stripped_signed_header_is_rejected() {
        let mut r = post(HEADER);
        r.headers.retain(|(k, _)| k != "content-type");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
    }

    #[test]
    fn tampered_body_is_rejected() {
        let mut r = post(HEADER);
        r.body = b"Action=GetCallerIdentity&Version=2011-06-16".to_vec();
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
    }

    #[test]
    fn tampered_query_is_rejected() {
        let mut r = presigned_get(false);
        r.query = r.query.replace("GetCallerIdentity", "AssumeRole");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
        let mut r = sign_request("GET", "/", "Action=GetCallerIdentity", &[], b"", HEADER);
        r.query.push_str("&RoleArn=x");
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
        let mut r = sign_request("GET", "/", "Action=GetCallerIdentity", &[], b"", HEADER);
        r.method = "POST".into();
        assert_eq!(r.verify(SECRET, T0), Err(WireError::SignatureMismatch));
    }

    #[test]
    fn stale_date_is_rejected_with_aws_wording() {
        let r = post(HEADER);
        r.verify(SECRET, T0 + 15 * 60).unwrap();
        let e = r.verify(SECRET, T0 + 15 * 60 + 1).unwrap_err().to_aws();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(
            e.message,
            "Signature expired: 20231114T221320Z is now earlier than 20231114T221321Z (20231114T222821Z - 15 min.)"
        );
        // Even with a wrong secret, the date is reported (it is what the client must fix first).
        let e = r.verify("wrong", T0 + 3600).unwrap_err();
        assert!(matches!(e, WireError::SignatureExpired { .. }));
    }

    #[test]
    fn future_date_is_rejected() {
        let r = post(HEADER);
        r.verify(SECRET, T0 - 15 * 60).unwrap();
        let e = r.verify(SECRET, T0 - 15 * 60 - 1).unwrap_err().to_aws();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert!(
            e.message
                .starts_with("Signature not yet current: 20231114T221320Z is still later than")
        );
    }

    #[test]
    fn expired_presign_is_rejected() {
        let r = presigned_get(true);
        let e = r.verify(SECRET, T0 + 301).unwrap_err();
        assert_eq!(e, WireError::PresignExpired);
        let aws = e.to_aws();
        assert_eq!(aws.code, "AccessDenied");
        assert_eq!(aws.message, "Request has expired");
        assert_eq!(aws.status, 403);
    }

    #[test]
    fn changed_expiry_is_rejected() {
        let mut r = presigned_get(false);
        r.query = r.query.replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
        assert_eq!(r.auth().expires, Some(3000));
        assert_eq!(
            r.verify(SECRET, T0 + 1000),
            Err(WireError::SignatureMismatch)
        );
    }

    #[test]
    fn warm_cache_is_reused_across_requests() {
        let cache = SigningKeyCache::new();
        for r in [
            post(HEADER),
            presigned_get(true),
            post(Opts {
                token: true,
                ..HEADER
            }),
        ] {
            verify_sigv4(&r.parts(), &r.auth(), SECRET, T0, &cache).unwrap();
        }
        assert_eq!(cache.len(), 1);
        // A different secret never hits the cached key of another.
        let r = post(HEADER);
        assert!(verify_sigv4(&r.parts(), &r.auth(), "other", T0, &cache).is_err());
        assert_eq!(cache.len(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any change to the signed body, however small, is refused.
        #[test]
        fn any_body_change_is_refused(pos in 0usize..BODY.len(), bit in 0u8..8) {
            let mut r = post(HEADER);
            if let Some(b) = r.body.get_mut(pos) {
                *b ^= 1 << bit;
            }
            proptest::prop_assert!(r.verify(SECRET, T0).is_err());
        }

        /// Any change to the signature is refused.
        #[test]
        fn any_signature_change_is_refused(pos in 0usize..64, c in proptest::char::range('0', 'f')) {
            let r = post(HEADER);
            let mut auth = r.auth();
            let mut sig: Vec<char> = auth.signature.chars().collect();
            proptest::prop_assume!(sig.get(pos) != Some(&c));
            if let Some(x) = sig.get_mut(pos) {
                *x = c;
            }
            auth.signature = sig.into_iter().collect();
            let res = verify_sigv4(&r.parts(), &auth, SECRET, T0, &SigningKeyCache::new());
            proptest::prop_assert_eq!(res, Err(WireError::SignatureMismatch));
        }
    }

    #[test]
    fn system_time_sanity() {
        // Guard against the test constants drifting from what the signer used.
        assert_eq!(
            UNIX_EPOCH + Duration::from_secs(T0),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
    }
}

mod properties {
    use keyless_wire::{
        HttpRequestParts, MAX_BODY_BYTES, SigningKeyCache, decode_query, parse_sigv4, verify_sigv4,
    };
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_query_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), q in ".{0,128}") {
            let _ = decode_query(&body, Some(&q));
            let _ = decode_query(&body, None);
        }

        /// The fast escaper agrees with the plain char-by-char rule on any text.
        #[test]
        fn escape_text_matches_the_char_by_char_rule(text in "(.|[<>&'\"\r\n\t\u{1}\u{FFFE}\u{FFFF}é✓]){0,64}") {
            let mut expected = String::new();
            for c in text.chars() {
                match c {
                    '&' => expected.push_str("&amp;"),
                    '<' => expected.push_str("&lt;"),
                    '>' => expected.push_str("&gt;"),
                    '"' => expected.push_str("&quot;"),
                    '\'' => expected.push_str("&apos;"),
                    '\r' => expected.push_str("&#xD;"),
                    '\t' | '\n' => expected.push(c),
                    c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => expected.push('\u{FFFD}'),
                    c => expected.push(c),
                }
            }
            prop_assert_eq!(keyless_wire::xml::escape_text(&text), expected);
        }

        /// Form decoding agrees with the plain byte-by-byte rule on any value, and refuses
        /// exactly the values with a bad `%` escape or invalid UTF-8.
        #[test]
        fn form_values_decode_by_the_byte_by_byte_rule(raw in proptest::collection::vec(prop_oneof![
            Just(b'%'), Just(b'+'), Just(b'a'), Just(b'F'), Just(b'9'), Just(b'g'), Just(0xC3u8), Just(0xA9u8), Just(b'.')
        ], 0..40)) {
            prop_assume!(!raw.contains(&b'&') && !raw.contains(&b'='));
            let mut expected = Vec::new();
            let mut ok = true;
            let mut i = 0;
            while i < raw.len() {
                match raw[i] {
                    b'+' => { expected.push(b' '); i += 1; }
                    b'%' => {
                        let hex = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok())
                            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                            .and_then(|h| u8::from_str_radix(h, 16).ok());
                        match hex { Some(b) => { expected.push(b); i += 3; } None => { ok = false; break; } }
                    }
                    b => { expected.push(b); i += 1; }
                }
            }
            let expected = if ok { String::from_utf8(expected).ok() } else { None };
            let mut body = b"A=".to_vec();
            body.extend_from_slice(&raw);
            let got = decode_query(&body, None).ok().map(|q| q.get("A").unwrap_or_default().to_owned());
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn decode_query_handles_form_shaped_input(
            pairs in proptest::collection::vec(("[A-Za-z.0-9%+]{0,12}", "[ -~]{0,12}"), 0..20)
        ) {
            let body: String = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            if let Ok(r) = decode_query(body.as_bytes(), None) {
                // Every decoded name is unique and listed once.
                let mut names: Vec<&str> = r.params().map(|(k, _)| k).collect();
                let n = names.len();
                names.sort_unstable();
                names.dedup();
                prop_assert_eq!(names.len(), n);
                let _ = r.list("A");
                let _ = r.tags("Tags");
                let _ = r.int("A");
                let _ = r.bool("A");
            }
        }

        #[test]
        fn round_trip_of_encoded_values(values in proptest::collection::vec(".{0,40}", 1..8)) {
            let body: String = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("P.member.{}={}", i + 1, form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
                .collect::<Vec<_>>()
                .join("&");
            let r = decode_query(body.as_bytes(), None).unwrap();
            prop_assert_eq!(r.list("P"), values);
        }

        #[test]
        fn sigv4_never_panics(
            authz in "(AWS4-HMAC-SHA256 )?[ -~]{0,200}",
            date in "[0-9TZ]{0,20}",
            query in "[ -~]{0,200}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let headers = [
                ("host".to_owned(), "h".to_owned()),
                ("x-amz-date".to_owned(), date),
                ("authorization".to_owned(), authz),
            ];
            let cache = SigningKeyCache::new();
            for h in [&headers[..], &headers[..1]] {
                let req = HttpRequestParts { method: "POST", path: "/", query: &query, headers: h, body: &body };
                if let Ok(Some(auth)) = parse_sigv4(&req) {
                    let _ = verify_sigv4(&req, &auth, "secret", 1_700_000_000, &cache);
                }
            }
        }
    }

    #[test]
    fn limit_is_one_mebibyte() {
        assert_eq!(MAX_BODY_BYTES, 1_048_576);
    }
}

mod wire_documents {
    use keyless_wire::{AwsError, Namespace, WireError, XmlWriter, decode_query, success_response};

    /// A request decoded and answered end to end through the public API, as the server does.
    #[test]
    fn decode_then_render() {
        let r = decode_query(
            b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FR&RoleSessionName=s&WebIdentityToken=t",
            None,
        )
        .unwrap();
        assert_eq!(
            r.required("RoleArn").unwrap(),
            "arn:aws:iam::123456789012:role/R"
        );
        let mut w = XmlWriter::new();
        w.open("AssumedRoleUser");
        w.elem("Arn", "arn:aws:sts::123456789012:assumed-role/R/s");
        w.close("AssumedRoleUser");
        let doc = success_response(r.action().unwrap(), Namespace::Sts, "rid", Some(w));
        assert!(doc.starts_with("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><AssumedRoleUser>"));
        assert!(doc.ends_with("</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"));
    }

    #[test]
    fn missing_parameter_document() {
        let r = decode_query(b"Action=GetRole", None).unwrap();
        let e: WireError = r.required("RoleName").unwrap_err();
        let xml = e.to_aws().to_xml(Namespace::Iam, "rid");
        assert!(xml.contains("<Code>MissingParameter</Code><Message>The request must contain the parameter RoleName</Message>"));
        assert!(xml.contains("<Type>Sender</Type>"));
        assert_eq!(AwsError::invalid_action("Nope").code, "InvalidAction");
    }
}

/// The AWS signing test suite (vendored under `tests/data/aws-signing-test-suite`, Apache-2.0):
/// every case's signed request, in header and presigned form, must verify with the case's
/// secret at the case's time, and must fail with another secret.
mod aws_signing_test_suite {
    use std::path::{Path, PathBuf};

    use keyless_wire::{HttpRequestParts, SigningKeyCache, WireError, parse_sigv4, verify_sigv4};

    /// 2015-08-30T12:36:00Z, the suite's timestamp.
    const SUITE_TIME: u64 = 1_440_938_160;

    struct RawRequest {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    /// Parses the suite's HTTP/1.1 text form. Continuation lines (obs-fold) are joined to the
    /// previous header with a space, as a proxy in front of the server would deliver them.
    fn parse_request(text: &str) -> RawRequest {
        let (head, body) = match text.split_once("\n\n") {
            Some((h, b)) => (h, b),
            None => (text, ""),
        };
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let mut words = request_line.splitn(2, ' ');
        let method = words.next().unwrap().to_owned();
        let target = words.next().unwrap();
        let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with(' ') || line.starts_with('\t') {
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        RawRequest {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: body.trim_end_matches('\n').as_bytes().to_vec(),
        }
    }

    fn cases() -> Vec<PathBuf> {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aws-signing-test-suite/v4");
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    fn check(case: &Path, file: &str, secret: &str) -> Result<(), String> {
        let Ok(text) = std::fs::read_to_string(case.join(file)) else {
            return Ok(());
        };
        let r = parse_request(&text);
        let parts = HttpRequestParts {
            method: &r.method,
            path: &r.path,
            query: &r.query,
            headers: &r.headers,
            body: &r.body,
        };
        let auth = parse_sigv4(&parts)
            .map_err(|e| format!("parse: {e}"))?
            .ok_or_else(|| "not recognised as signed".to_owned())?;
        verify_sigv4(&parts, &auth, secret, SUITE_TIME, &SigningKeyCache::new())
            .map_err(|e| format!("verify: {e}"))?;
        let wrong = verify_sigv4(
            &parts,
            &auth,
            "wrong-secret",
            SUITE_TIME,
            &SigningKeyCache::new(),
        );
        if wrong != Err(WireError::SignatureMismatch) {
            return Err(format!("a wrong secret gave {wrong:?}"));
        }
        Ok(())
    }

    #[test]
    fn every_normalised_case_verifies() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for case in cases() {
            let ctx: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(case.join("context.json")).unwrap())
                    .unwrap();
            // Cases with "normalize": false describe S3's single-encoded, unnormalised paths;
            // STS and IAM use the normalised form.
            if ctx["normalize"] == serde_json::Value::Bool(false) {
                continue;
            }
            let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
            for file in ["header-signed-request.txt", "query-signed-request.txt"] {
                checked += 1;
                if let Err(e) = check(&case, file, secret) {
                    failures.push(format!(
                        "{}/{file}: {e}",
                        case.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
        assert!(checked >= 60, "only {checked} signed requests found");
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
