//! SigV4 tampering through an SDK interceptor that edits the request after it was signed.

use aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::BoxError;

use crate::harness::*;

/// Sets one header after signing.
#[derive(Debug)]
struct SetHeader(&'static str, String);

impl Intercept for SetHeader {
    fn name(&self) -> &'static str {
        "SetHeader"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ctx.request_mut()
            .headers_mut()
            .insert(self.0, self.1.clone());
        Ok(())
    }
}

fn tampered_client(server: &Server, header: &'static str, value: String) -> aws_sdk_sts::Client {
    let conf = server
        .sts()
        .config()
        .to_builder()
        .interceptor(SetHeader(header, value))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

#[tokio::test]
async fn tampered_signed_headers_are_refused() {
    let server = Server::start();
    // A date an hour earlier than the one signed.
    let old = {
        let t = now() - 3600;
        let days = t / 86400;
        let secs = t % 86400;
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    };
    for (header, value) in [("x-amz-date", old), ("user-agent", "changed".to_owned())] {
        let client = tampered_client(&server, header, value.clone());
        let r = client.get_caller_identity().send().await;
        if header == "user-agent" {
            // The SDK does not sign User-Agent: changing it must not matter.
            r.expect("unsigned header may change");
            continue;
        }
        let (code, message) = aws_err(r);
        assert!(
            matches!(
                code.as_str(),
                "SignatureDoesNotMatch" | "RequestExpired" | "InvalidSignatureException"
            ),
            "{header}={value}: {code}: {message}"
        );
    }
    // A signed header the SDK always signs: the content hash.
    let client = tampered_client(&server, "x-amz-content-sha256", "0".repeat(64));
    let r = client.get_caller_identity().send().await;
    if let Err(e) = r {
        let (code, message) = aws_err::<(), _, _>(Err(e));
        assert!(
            matches!(
                code.as_str(),
                "SignatureDoesNotMatch" | "InvalidRequest" | "XAmzContentSHA256Mismatch"
            ),
            "{code}: {message}"
        );
    }
    server
        .sts()
        .get_caller_identity()
        .send()
        .await
        .expect("untampered still fine");
}
