//! Benchmarks: parse+validate a 2 KB policy, evaluate a GitHub trust policy, evaluate a
//! 20-statement identity policy with wildcards, and wildcard matching against hostile patterns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyless_policy::{
    Context, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request, evaluate, parse,
    wildcard_match,
};
use std::hint::black_box;

mod workloads;
use workloads::{PROVIDER, github_trust, twenty_statements, two_kb_policy};

fn benches(c: &mut Criterion) {
    let text = two_kb_policy();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("parse_validate_{}_bytes", text.len()), |b| {
        b.iter(|| parse(black_box(&text), PolicyKind::Identity).unwrap())
    });
    g.finish();

    let trust = parse(&github_trust(), PolicyKind::Trust).unwrap();
    let mut ctx = Context::new();
    ctx.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    ctx.insert(
        "token.actions.githubusercontent.com:sub",
        "repo:acme/app:ref:refs/heads/main",
    );
    ctx.insert("sts:RoleSessionName", "gha-123");
    ctx.insert("aws:SourceIp", "203.0.113.5");
    let principal = [PrincipalId::new(PrincipalKind::Federated, PROVIDER)];
    let set = PolicySet {
        resource: Some(Named {
            name: "trust",
            policy: &trust,
        }),
        ..PolicySet::default()
    };
    let request = Request {
        principal: &principal,
        action: "sts:AssumeRoleWithWebIdentity",
        resource: "arn:aws:iam::123456789012:role/deploy",
        context: &ctx,
    };
    assert!(evaluate(&set, &request).decision.is_allowed());
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("github_trust_policy", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&request)))
    });

    let identity = parse(&twenty_statements(), PolicyKind::Identity).unwrap();
    let mut ctx = Context::new();
    ctx.insert("aws:PrincipalTag/team", "team-18-blue");
    let set = PolicySet {
        identity: vec![Named {
            name: "app",
            policy: &identity,
        }],
        ..PolicySet::default()
    };
    let request = Request {
        principal: &[],
        action: "kms:DescribeKey",
        resource: "arn:aws:kms:eu-west-1:123456789012:other-18-key",
        context: &ctx,
    };
    assert!(evaluate(&set, &request).decision.is_allowed());
    g.bench_function("identity_policy_20_statements", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&request)))
    });
    g.finish();

    let mut g = c.benchmark_group("wildcard_hostile");
    // Adversarial for a backtracking matcher: many stars, and a segment that almost matches at
    // every position. Time per byte should stay flat as the input grows.
    let pattern = "*?".repeat(8) + "*" + &"a".repeat(16) + "b*" + &"?*".repeat(8) + "c";
    for len in [1_000usize, 10_000, 100_000] {
        // Ends in `c` so the anchored last segment passes and the middle segment must be searched.
        let value = "a".repeat(len - 1) + "c";
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(len), &value, |b, v| {
            b.iter(|| wildcard_match(black_box(&pattern), black_box(v), false))
        });
    }
    g.finish();
}

criterion_group!(policy, benches);
criterion_main!(policy);
