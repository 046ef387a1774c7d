//! Fuzz the trust-policy linter's loaders and rules: arbitrary text as a Terraform file, a
//! CloudFormation template (YAML or JSON) and a bare policy, and as a role's trust policy read
//! from IAM. Errors are fine, panics are not.
#![no_main]

use keyless_lint::{lint_document, lint_role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for name in ["main.tf", "template.yaml", "template.json", "trust.json"] {
        if let Ok(findings) = lint_document(name, text) {
            serde_json::to_string(&findings).expect("findings serialise");
        }
    }
    let _ = lint_role("fuzz", text, &[], Some(3600));
});
