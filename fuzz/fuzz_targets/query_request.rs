//! Fuzz the awsQuery decoder with arbitrary bodies and URI queries, then every accessor the
//! handlers call on what it decoded: errors are fine, panics are not.
#![no_main]

use keyless_wire::decode_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str)| {
    let (body, uri_query) = input;
    for query in [None, Some(uri_query)] {
        let Ok(req) = decode_query(body, query) else {
            continue;
        };
        let _ = req.action();
        let _ = req.version();
        let _ = req.required("RoleArn");
        let _ = req.list("ClientIDList");
        let _ = req.list("PolicyArns");
        let _ = req.struct_list("PolicyArns", "arn");
        let _ = req.tags("Tags");
        let _ = req.int("DurationSeconds");
        let _ = req.bool("OnlyAttached");
        let n = req.params().count();
        assert_eq!(n, req.len());
        assert_eq!(req.is_empty(), n == 0);
    }
});
