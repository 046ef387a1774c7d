//! Fuzz the policy parser and validator with arbitrary bytes, for every policy kind; whatever
//! parses is also evaluated and explained, which must not panic either.
#![no_main]

use keyless_policy::{
    Context, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request, evaluate,
    parse_bytes,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Resource,
        PolicyKind::Trust,
    ] {
        match parse_bytes(data, kind) {
            Ok(policy) => {
                let mut context = Context::new();
                context.insert("aws:username", "alice");
                context.insert("aws:SourceIp", "10.0.0.1");
                context.insert("aws:CurrentTime", "2026-01-01T00:00:00Z");
                let principal = [PrincipalId::new(PrincipalKind::Aws, "123456789012")];
                let named = Named {
                    name: "fuzz",
                    policy: &policy,
                };
                let set = match kind {
                    PolicyKind::Identity => PolicySet {
                        identity: vec![named],
                        ..PolicySet::default()
                    },
                    _ => PolicySet {
                        resource: Some(named),
                        ..PolicySet::default()
                    },
                };
                let e = evaluate(
                    &set,
                    &Request {
                        principal: &principal,
                        action: "s3:GetObject",
                        resource: "arn:aws:s3:::bucket/alice/key",
                        context: &context,
                    },
                );
                let _ = e.trace.to_text();
                let _ = e.trace.summary();
            }
            Err(errors) => {
                assert!(!errors.errors.is_empty());
                let _ = errors.to_string();
            }
        }
    }
});
