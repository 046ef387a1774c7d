#!/usr/bin/env python3
"""Writes the labelled trust-policy corpus: policies/*.json and index.json.

Each case is written by hand below as (name, policy, expected rule ids, reason). The labels
state what the policy allows under IAM semantics, decided from the policy text by a person,
not by running the linter. Run: python3 generate.py (from this directory).
"""
import json, os, shutil

GH = "token.actions.githubusercontent.com"
GH_ARN = f"arn:aws:iam::123456789012:oidc-provider/{GH}"
WI = "sts:AssumeRoleWithWebIdentity"
cases = []


def stmt(principal, cond=None, action=WI, effect="Allow", sid=None, not_principal=False, not_action=False):
    s = {}
    if sid:
        s["Sid"] = sid
    s["Effect"] = effect
    s["NotPrincipal" if not_principal else "Principal"] = principal
    s["NotAction" if not_action else "Action"] = action
    if cond is not None:
        s["Condition"] = cond
    return s


def policy(*stmts):
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def gh(cond, **kw):
    return stmt({"Federated": kw.pop("arn", GH_ARN)}, cond, **kw)


def add(name, pol, expected, reason):
    cases.append({"name": name, "policy": pol, "expected": sorted(set(expected)), "reason": reason})


AUD = {f"{GH}:aud": "sts.amazonaws.com"}


def eq(sub, aud=True, extra=None):
    m = dict(AUD) if aud else {}
    m[f"{GH}:sub"] = sub
    if extra:
        m.update(extra)
    return {"StringEquals": m}


def like(sub, aud=True):
    c = {"StringLike": {f"{GH}:sub": sub}}
    if aud:
        c["StringEquals"] = dict(AUD)
    return c


OWNERS = [("acme", "deploy-svc"), ("octo-org", "octo-repo"), ("Initech", "tps-reports")]

# ---------------------------------------------------------------- GitHub, secure
for o, r in OWNERS:
    add(f"gh-exact-branch-{o}", policy(gh(eq(f"repo:{o}/{r}:ref:refs/heads/main"))), [],
        "one branch of one repository, audience pinned")
    add(f"gh-exact-env-{o}", policy(gh(eq(f"repo:{o}/{r}:environment:production"))), [],
        "one protected environment of one repository")
    add(f"gh-exact-tag-{o}", policy(gh(eq(f"repo:{o}/{r}:ref:refs/tags/v1.4.0"))), [],
        "one tag of one repository")
    add(f"gh-two-repos-{o}", policy(gh(eq([f"repo:{o}/{r}:ref:refs/heads/main", f"repo:{o}/{r}-infra:ref:refs/heads/main"]))), [],
        "explicit list of exact subjects")
    add(f"gh-repo-id-plus-sub-{o}", policy(gh(eq(f"repo:{o}/{r}:environment:prod", extra={f"{GH}:repository_id": "890123456"}))), [],
        "exact subject plus the immutable repository id")
    add(f"gh-immutable-sub-{o}", policy(gh(eq(f"repo:{o}@1234567/{r}@890123456:ref:refs/heads/main"))), [],
        "immutable owner and repository ids in the subject")
    add(f"gh-jwr-sha-{o}", policy(gh(eq(f"repo:{o}/{r}:environment:prod", extra={f"{GH}:job_workflow_ref": f"{o}/ci/.github/workflows/deploy.yml@10040c56a8c0253d69db7c1f26a0d227275512e2"}))), [],
        "exact subject and a reusable workflow pinned by sha")
    add(f"gh-with-deny-{o}", policy(
        gh(eq(f"repo:{o}/{r}:ref:refs/heads/main")),
        gh({"StringNotEquals": {f"{GH}:repository_owner_id": "1234567"}}, effect="Deny")), [],
        "tight allow plus a deny guard on the owner id")
    add(f"gh-custom-template-{o}", policy(gh(eq(f"repo:{o}/{r}:environment:prod:job_workflow_ref:{o}/ci/.github/workflows/oidc.yml@refs/heads/main"))), [],
        "customised subject template pinned exactly")
add("gh-enterprise-issuer", policy(stmt({"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com/acme-corp"},
    {"StringEquals": {"token.actions.githubusercontent.com/acme-corp:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com/acme-corp:sub": "repo:acme/app:environment:prod"}})), [],
    "enterprise-slug issuer, exact subject")
add("gh-ghe-com-issuer", policy(stmt({"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.acme.ghe.com"},
    {"StringEquals": {"token.actions.acme.ghe.com:aud": "sts.amazonaws.com", "token.actions.acme.ghe.com:sub": "repo:acme/app:ref:refs/heads/main"}})), [],
    "GHE.com issuer, exact subject")
add("gh-single-statement-object", {"Version": "2012-10-17", "Statement": gh(eq("repo:acme/app:ref:refs/heads/release"))}, [],
    "Statement as an object, exact subject")
add("gh-action-list", policy(gh(eq("repo:acme/app:ref:refs/heads/main"), action=[WI, "sts:TagSession"])), [],
    "web identity plus TagSession only")
add("gh-ignorecase-exact", policy(gh({"StringEqualsIgnoreCase": {f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}, "StringEquals": AUD})), [],
    "StringEqualsIgnoreCase on an exact subject passes the guardrail and admits one subject")
add("gh-ec2-and-gh", policy(stmt({"Service": "ec2.amazonaws.com"}, action="sts:AssumeRole"), gh(eq("repo:acme/app:ref:refs/heads/main"))), [],
    "a service statement beside a tight GitHub statement")
add("gh-cn-audience", policy(gh({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com.cn", f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}})), [],
    "China audience")

# ---------------------------------------------------------------- GitHub, insecure
for o, r in OWNERS:
    add(f"gh-org-wide-{o}", policy(gh(like(f"repo:{o}/*"))), ["KL004", "KL006", "KL007", "KL008"],
        "every repository of the owner, any ref, PRs, any environment")
    add(f"gh-repo-wide-{o}", policy(gh(like(f"repo:{o}/{r}:*"))), ["KL006", "KL007", "KL008"],
        "any branch, pull requests and any environment of the repository")
    add(f"gh-any-branch-{o}", policy(gh(like(f"repo:{o}/{r}:ref:refs/heads/*"))), ["KL006"],
        "any branch of the repository")
    add(f"gh-any-owner-{o}", policy(gh(like(f"repo:*/{r}:*"))), ["KL003", "KL006", "KL007", "KL008", "KL015"],
        "a repository of that name under any owner; passes the guardrail")
    add(f"gh-prefix-repo-{o}", policy(gh(like(f"repo:{o}/{r}*:ref:refs/heads/main"))), ["KL005"],
        "prefix trap on the repository name")
    add(f"gh-env-wildcard-{o}", policy(gh(like(f"repo:{o}/{r}:environment:*"))), ["KL008"],
        "any environment of the repository")
    add(f"gh-no-sub-{o}", policy(gh({"StringEquals": dict(AUD)})), ["KL001", "KL014"],
        "audience only: any GitHub repository; IAM would refuse it today")
    add(f"gh-pr-exact-{o}", policy(gh(eq(f"repo:{o}/{r}:pull_request"))), ["KL007"],
        "pull-request subject trusted")
add("gh-repo-star", policy(gh(like("repo:*"))), ["KL003", "KL006", "KL007", "KL008", "KL015"],
    "repo:* passes the guardrail but admits everyone")
add("gh-repo-star-star", policy(gh(like("repo:*/*"))), ["KL003", "KL006", "KL007", "KL008", "KL015"],
    "repo:*/* passes the guardrail but admits everyone")
add("gh-sub-star", policy(gh(like("*"))), ["KL003", "KL006", "KL007", "KL008", "KL014"],
    "sub * : IAM refuses it; older roles are open to all")
add("gh-no-condition", policy(gh(None)), ["KL001", "KL014"], "no condition at all")
add("gh-no-condition-2", policy(gh(None, sid="GitHub")), ["KL001", "KL014"], "no condition at all, with a Sid")
add("gh-unconditioned-sibling", policy(gh(eq("repo:acme/app:ref:refs/heads/main")), gh(None, sid="Legacy")), ["KL016", "KL014"],
    "a second statement without conditions")
add("gh-unconditioned-sibling-first", policy(gh(None), gh(eq("repo:acme/app:environment:prod"))), ["KL016", "KL014"],
    "the unconditioned statement comes first")
add("gh-list-poisoned", policy(gh(like(["repo:acme/app:ref:refs/heads/main", "repo:acme/*"]))), ["KL004", "KL006", "KL007", "KL008", "KL015"],
    "tight first value, org-wide second value: the guardrail only checks the first")
add("gh-list-poisoned-star", policy(gh(like(["repo:acme/app:ref:refs/heads/main", "*"]))), ["KL003", "KL006", "KL007", "KL008", "KL015"],
    "tight first value then *")
add("gh-branch-prefix", policy(gh(like("repo:acme/app:ref:refs/heads/main*"))), ["KL005"], "main* also matches main-evil")
add("gh-release-prefix", policy(gh(like("repo:acme/app:ref:refs/heads/release/*"))), ["KL005"],
    "any branch under release/: a branch-name prefix anyone with write can create")
add("gh-env-prefix", policy(gh(like("repo:acme/app:environment:prod*"))), ["KL005"], "prod* also matches prod-evil")
add("gh-repo-dash-prefix", policy(gh(like("repo:acme/app-*:environment:prod"))), ["KL005"], "app-* matches any app- repository")
add("gh-any-ref", policy(gh(like("repo:acme/app:ref:*"))), ["KL006"], "any branch or tag")
add("gh-any-tag", policy(gh(like("repo:acme/app:ref:refs/tags/*"))), ["KL006"], "any tag: tags are created by anyone with write")
add("gh-no-aud", policy(gh(eq("repo:acme/app:ref:refs/heads/main", aud=False))), ["KL002"], "audience not pinned")
add("gh-aud-owner-url", policy(gh({"StringEquals": {f"{GH}:aud": "https://github.com/acme", f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}})), ["KL002"],
    "GitHub's default audience")
add("gh-aud-star", policy(gh({"StringLike": {f"{GH}:aud": "*"}, "StringEquals": {f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}})), ["KL002"],
    "audience wildcard")
add("gh-forallvalues-sub", policy(gh({"ForAllValues:StringEquals": {f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}, "StringEquals": AUD})), ["KL009", "KL014"],
    "ForAllValues: true when the key is missing; not accepted by the guardrail")
add("gh-ifexists-sub", policy(gh({"StringLikeIfExists": {f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}, "StringEquals": AUD})), ["KL009", "KL012", "KL014"],
    "IfExists on sub, and StringLike without a wildcard")
add("gh-ifexists-env", policy(gh(eq("repo:acme/app:ref:refs/heads/main", extra=None) | {"StringEqualsIfExists": {f"{GH}:environment": "production"}})), ["KL009"],
    "IfExists on an optional claim: jobs without environment pass")
add("gh-negated-only", policy(gh({"StringNotLike": {f"{GH}:sub": "repo:evil/*"}, "StringEquals": AUD})), ["KL003", "KL006", "KL007", "KL008", "KL009", "KL014"],
    "only a negated subject test: everyone else gets in")
add("gh-unknown-key-dead", policy(gh(eq("repo:acme/app:ref:refs/heads/main", extra={f"{GH}:repo": "acme/app"}))), ["KL010"],
    "misspelled key under a positive operator: the role never works")
add("gh-unexposed-key", policy(gh(eq("repo:acme/app:ref:refs/heads/main", extra={f"{GH}:event_name": "push"}))), ["KL010"],
    "event_name is not exposed by AWS")
add("gh-misspelled-sub-open", policy(gh({"ForAllValues:StringLike": {f"{GH}:subject": "repo:acme/app:*"}, "StringEquals": AUD})), ["KL001", "KL010", "KL014"],
    "misspelled sub key under ForAllValues: always true")
add("gh-other-provider-key", policy(gh({"StringEquals": {"gitlab.com:sub": "project_path:acme/app:ref_type:branch:ref:main", f"{GH}:aud": "sts.amazonaws.com"}})), ["KL001", "KL010", "KL014"],
    "a GitLab key under the GitHub provider")
add("gh-case-repo", policy(gh(eq("Repo:acme/app:ref:refs/heads/main"))), ["KL011"], "Repo: never matches")
add("gh-case-heads", policy(gh(eq("repo:acme/app:ref:refs/Heads/main"))), ["KL011"], "refs/Heads never matches")
add("gh-case-aud", policy(gh({"StringEquals": {f"{GH}:aud": "STS.amazonaws.com", f"{GH}:sub": "repo:acme/app:ref:refs/heads/main"}})), ["KL002", "KL011"],
    "upper-case audience never matches")
add("gh-stringlike-no-wildcard", policy(gh(like("repo:acme/app:ref:refs/heads/main"))), ["KL012"], "StringLike without wildcard (info)")
add("gh-stringequals-star", policy(gh(eq("repo:acme/*"))), ["KL013"], "StringEquals with * never matches")
add("gh-principal-star", policy(stmt("*", eq("repo:acme/app:ref:refs/heads/main"))), ["KL017"], "Principal *")
add("gh-principal-aws-star", policy(stmt({"AWS": "*"}, None, action="sts:AssumeRole")), ["KL017"], "any AWS principal, no condition")
add("gh-not-principal", policy(stmt({"AWS": "arn:aws:iam::123456789012:root"}, None, not_principal=True)), ["KL018"], "NotPrincipal with Allow")
add("gh-action-star", policy(gh(eq("repo:acme/app:ref:refs/heads/main"), action="*")), ["KL019"], "all actions")
add("gh-action-sts-star", policy(gh(eq("repo:acme/app:ref:refs/heads/main"), action="sts:*")), ["KL019"], "sts:*")
add("gh-not-action", policy(gh(eq("repo:acme/app:ref:refs/heads/main"), action=["sts:AssumeRole"], not_action=True)), ["KL019"], "NotAction")
add("gh-gitlab-subject", policy(gh(eq("project_path:acme/app:ref_type:branch:ref:main"))), ["KL020"], "a GitLab subject on the GitHub provider")
add("gh-k8s-subject", policy(gh(eq("system:serviceaccount:ci:deployer"))), ["KL020"], "a Kubernetes subject on the GitHub provider")
add("gh-jwr-only-org", policy(gh({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com", f"{GH}:job_workflow_ref": "acme/ci/.github/workflows/deploy.yml@refs/heads/main"}})), ["KL004", "KL006", "KL007", "KL008"],
    "only the reusable workflow is pinned: any repository of the org calling it, from any ref")
add("gh-repository-only", policy(gh({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com", f"{GH}:repository": "acme/app"}})), ["KL006", "KL007", "KL008", "KL014"],
    "repository key only: any ref of the repository; IAM refuses it")
add("gh-wide-and-deny", policy(gh(like("repo:acme/*")), gh({"StringLike": {f"{GH}:sub": "repo:acme/app:*"}}, effect="Deny")), ["KL006", "KL004", "KL007", "KL008"],
    "org-wide allow; the deny only removes one repository")
add("gh-pr-in-list", policy(gh(eq(["repo:acme/app:ref:refs/heads/main", "repo:acme/app:pull_request"]))), ["KL007"], "pull_request listed")
add("gh-two-stmts-one-wide", policy(gh(eq("repo:acme/app:ref:refs/heads/main")), gh(like("repo:acme/tools:*"), sid="Tools")), ["KL006", "KL007", "KL008"],
    "second statement is repo-wide")
add("gh-aud-only-like", policy(gh({"StringLike": {f"{GH}:aud": "sts.amazonaws.com"}})), ["KL001", "KL012", "KL014"], "audience only, via StringLike")

# ---------------------------------------------------------------- GitLab
GL = "gitlab.com"
GL_ARN = f"arn:aws:iam::123456789012:oidc-provider/{GL}"


def gl(cond):
    return stmt({"Federated": GL_ARN}, cond)


def gl_cond(sub, op="StringEquals", pid=True):
    c = {"StringEquals": {f"{GL}:aud": "https://gitlab.com"}}
    if pid:
        c["StringEquals"][f"{GL}:project_id"] = "67890"
    c.setdefault(op, {})[f"{GL}:sub"] = sub
    return c


for g, p in [("mygroup", "myproject"), ("platform", "api")]:
    add(f"gl-pinned-{g}", policy(gl(gl_cond(f"project_path:{g}/{p}:ref_type:branch:ref:main"))), [],
        "exact branch and project id")
    add(f"gl-id-sub-{g}", policy(gl(gl_cond("project_id:20:ref_type:branch:ref:main", pid=False))), [], "project_id-led subject")
    add(f"gl-path-only-{g}", policy(gl(gl_cond(f"project_path:{g}/{p}:ref_type:branch:ref:main", pid=False))), ["KL023"],
        "path-based subject without project id")
    add(f"gl-group-wide-{g}", policy(gl(gl_cond(f"project_path:{g}/*", "StringLike", pid=False))), ["KL004", "KL006", "KL023"],
        "every project of the group, any ref")
    add(f"gl-any-branch-{g}", policy(gl(gl_cond(f"project_path:{g}/{p}:ref_type:branch:ref:*", "StringLike"))), ["KL006"],
        "any branch")
    add(f"gl-ref-type-any-{g}", policy(gl(gl_cond(f"project_path:{g}/{p}:ref_type:*:ref:main", "StringLike"))), ["KL006"],
        "a tag named main also matches")
    add(f"gl-project-prefix-{g}", policy(gl(gl_cond(f"project_path:{g}/{p}*:ref_type:branch:ref:main", "StringLike", pid=False))), ["KL005", "KL023"],
        "project name prefix trap")
add("gl-sub-star", policy(gl(gl_cond("*", "StringLike", pid=False))), ["KL003", "KL006", "KL023"] if False else ["KL003", "KL006"],
    "any project on gitlab.com")
add("gl-project-wide-refs", policy(gl(gl_cond("project_path:mygroup/myproject:*", "StringLike"))), ["KL006"],
    "every ref of one (id-pinned) project")
add("gl-no-sub", policy(gl({"StringEquals": {f"{GL}:aud": "https://gitlab.com"}})), ["KL001"], "audience only")
add("gl-ref-protected", policy(gl(gl_cond("project_path:mygroup/myproject:ref_type:branch:ref:*", "StringLike") | {"StringEquals": {f"{GL}:aud": "https://gitlab.com", f"{GL}:project_id": "67890", f"{GL}:ref_protected": "true"}})), [],
    "any protected branch of a pinned project")
add("gl-no-aud", policy(gl({"StringEquals": {f"{GL}:sub": "project_path:mygroup/myproject:ref_type:branch:ref:main", f"{GL}:project_id": "67890"}})), ["KL002"], "no audience")
add("gl-case", policy(gl(gl_cond("project_path:mygroup/myproject:Ref_Type:branch:ref:main"))), ["KL011"], "Ref_Type never matches")
add("gl-github-subject", policy(gl(gl_cond("repo:acme/app:ref:refs/heads/main"))), ["KL020"], "GitHub subject on GitLab provider")

# ---------------------------------------------------------------- CircleCI
ORG = "2a3b4c5d-1111-2222-3333-444455556666"
CC = f"oidc.circleci.com/org/{ORG}"
PRJ = "76543210-ba98-fedc-3210-edcba0987654"
USR = "aaaa1111-bbbb-2222-cccc-333344445555"


def cc(cond):
    return stmt({"Federated": f"arn:aws:iam::123456789012:oidc-provider/{CC}"}, cond)


add("cc-exact", policy(cc({"StringEquals": {f"{CC}:aud": ORG, f"{CC}:sub": f"org/{ORG}/project/{PRJ}/user/{USR}"}})), [], "exact subject")
add("cc-project-wide", policy(cc({"StringEquals": {f"{CC}:aud": ORG}, "StringLike": {f"{CC}:sub": f"org/{ORG}/project/*"}})), ["KL004", "KL024"], "every project")
add("cc-project-id", policy(cc({"StringEquals": {f"{CC}:aud": ORG, f"{CC}:oidc.circleci.com/project-id": PRJ}})), ["KL024"], "project id only: any user, SSH reruns")
add("cc-user-wild", policy(cc({"StringEquals": {f"{CC}:aud": ORG}, "StringLike": {f"{CC}:sub": f"org/{ORG}/project/{PRJ}/user/*"}})), ["KL024"], "any user")
add("cc-ssh-key", policy(cc({"StringEquals": {f"{CC}:aud": ORG, f"{CC}:sub": f"org/{ORG}/project/{PRJ}/user/{USR}", f"{CC}:oidc.circleci.com/ssh-rerun": "false"}})), ["KL010"],
    "ssh-rerun is not a key AWS exposes: the statement is dead")
add("cc-no-aud", policy(cc({"StringEquals": {f"{CC}:sub": f"org/{ORG}/project/{PRJ}/user/{USR}"}})), ["KL002"], "no audience")

# ---------------------------------------------------------------- Bitbucket
BB = "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
BAUD = "ari:cloud:bitbucket::workspace/922e118c-f34f-4226-a897-0e0afbec553d"
R, E, S = "{1de489be-ce6a-42a0-a8c8-eadbf1174ac7}", "{bd715740-c970-486b-b68a-b421ec2a1f8b}", "{759de0c6-eaee-4eaa-b7a6-c507eec759a7}"


def bb(cond):
    return stmt({"Federated": f"arn:aws:iam::123456789012:oidc-provider/{BB}"}, cond)


add("bb-env-scoped", policy(bb({"StringEquals": {f"{BB}:aud": BAUD}, "StringLike": {f"{BB}:sub": f"{R}:{E}:*"}})), [], "repository and environment UUIDs")
add("bb-repo-wide", policy(bb({"StringEquals": {f"{BB}:aud": BAUD}, "StringLike": {f"{BB}:sub": f"{R}:*"}})), ["KL008"], "any environment of the repository")
add("bb-workspace-wide", policy(bb({"StringEquals": {f"{BB}:aud": BAUD}, "StringLike": {f"{BB}:sub": "*"}})), ["KL004", "KL008"], "any repository of the workspace")
add("bb-step-pinned", policy(bb({"StringEquals": {f"{BB}:aud": BAUD, f"{BB}:sub": f"{R}:{S}"}})), ["KL025"], "pins the volatile step UUID")

# ---------------------------------------------------------------- Terraform Cloud
TF = "app.terraform.io"


def tf(sub, op="StringLike"):
    c = {"StringEquals": {f"{TF}:aud": "aws.workload.identity"}}
    c.setdefault(op, {})[f"{TF}:sub"] = sub
    return policy(stmt({"Federated": f"arn:aws:iam::123456789012:oidc-provider/{TF}"}, c))


add("tf-exact", tf("organization:my-org:project:my-project:workspace:prod:run_phase:apply", "StringEquals"), [], "one workspace, apply phase")
add("tf-phase-any", tf("organization:my-org:project:my-project:workspace:prod:run_phase:*"), ["KL006"], "plan can assume the apply role")
add("tf-workspace-any", tf("organization:my-org:project:my-project:workspace:*"), ["KL004", "KL006"], "every workspace of the project")
add("tf-org-wide", tf("organization:my-org:*"), ["KL004", "KL006"], "every workspace of the organization")
add("tf-any-org", tf("organization:*"), ["KL003", "KL006"], "every organization on app.terraform.io")
add("tf-ws-prefix", tf("organization:my-org:project:my-project:workspace:prod*:run_phase:apply"), ["KL005"], "workspace name prefix")

# ---------------------------------------------------------------- Kubernetes / EKS
EKS = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def eks(sub, op="StringEquals", aud=True):
    c = {}
    if aud:
        c["StringEquals"] = {f"{EKS}:aud": "sts.amazonaws.com"}
    c.setdefault(op, {})[f"{EKS}:sub"] = sub
    return policy(stmt({"Federated": f"arn:aws:iam::123456789012:oidc-provider/{EKS}"}, c))


add("eks-exact", eks("system:serviceaccount:payments:deployer"), [], "one service account")
add("eks-ns-wide", eks("system:serviceaccount:payments:*", "StringLike"), ["KL004"], "every service account of the namespace")
add("eks-cluster-wide", eks("system:serviceaccount:*", "StringLike"), ["KL004"], "every service account of the cluster")
add("eks-sa-prefix", eks("system:serviceaccount:payments:deployer*", "StringLike"), ["KL005"], "service-account name prefix")
add("eks-no-aud", eks("system:serviceaccount:payments:deployer", aud=False), ["KL002"], "no audience")
add("eks-no-sub", policy(stmt({"Federated": f"arn:aws:iam::123456789012:oidc-provider/{EKS}"}, {"StringEquals": {f"{EKS}:aud": "sts.amazonaws.com"}})), ["KL001"], "any pod of the cluster")

# ---------------------------------------------------------------- more secure shapes per issuer
add("gh-two-statements-exact", policy(gh(eq("repo:acme/app:environment:prod")), gh(eq("repo:acme/infra:environment:prod"), sid="Infra")), [],
    "two statements, each one exact repository and environment")
add("gh-jwr-like-sha", policy(gh(eq("repo:acme/app:environment:prod") | {"StringLike": {f"{GH}:job_workflow_ref": "acme/ci/.github/workflows/deploy.yml@*"}})), [],
    "exact subject; the reusable workflow pinned by path at any ref of the central repository")
add("cc-vcs-exact", policy(cc({"StringEquals": {f"{CC}:aud": ORG, f"{CC}:sub": f"org/{ORG}/project/{PRJ}/user/{USR}/vcs-origin/github.com/acme/app/vcs-ref/refs/heads/main"}})), [],
    "CircleCI V2 subject pinned exactly")
add("tf-two-workspaces", tf(["organization:my-org:project:p:workspace:prod:run_phase:apply", "organization:my-org:project:p:workspace:stage:run_phase:apply"], "StringEquals"), [],
    "two exact workspaces, apply only")
add("eks-two-sas", eks(["system:serviceaccount:payments:deployer", "system:serviceaccount:payments:migrator"]), [],
    "two exact service accounts")
add("gl-id-sub-tag", policy(gl(gl_cond("project_id:20:ref_type:tag:ref:v1.0.0", pid=False))), [],
    "project_id-led subject, one tag")

# ---------------------------------------------------------------- variants to reach breadth
for i, branch in enumerate(["main", "release", "prod", "deploy", "trunk"]):
    add(f"gh-variant-exact-{branch}", policy(gh(eq(f"repo:acme/svc{i}:ref:refs/heads/{branch}"))), [], "exact branch")
    add(f"gh-variant-wide-{branch}", policy(gh(like(f"repo:acme/svc{i}:ref:refs/heads/{branch}*"))), ["KL005"], "branch prefix")
    add(f"gh-variant-env-{branch}", policy(gh(eq(f"repo:acme/svc{i}:environment:{branch}"))), [], "exact environment")
    add(f"gh-variant-org-{branch}", policy(gh(like(f"repo:team{i}/*"))), ["KL004", "KL006", "KL007", "KL008"], "owner-wide")
    add(f"gh-variant-noaud-{branch}", policy(gh(eq(f"repo:acme/svc{i}:environment:{branch}", aud=False))), ["KL002"], "no audience")
    add(f"gh-variant-deny-ok-{branch}", policy(gh(eq(f"repo:acme/svc{i}:environment:{branch}")),
        stmt({"Federated": GH_ARN}, {"StringEquals": {f"{GH}:actor": "dependabot[bot]"}}, effect="Deny")), [],
        "tight allow plus a deny for a bot actor")

# Rules about policies that fail closed (the role never works) or style: not exposures.
FAIL_CLOSED = {"KL010", "KL011", "KL012", "KL013", "KL020", "KL025"}

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "policies")
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
index = []
names = set()
for i, c in enumerate(cases):
    assert c["name"] not in names, c["name"]
    names.add(c["name"])
    fname = f"{i + 1:03d}-{c['name']}.json"
    with open(os.path.join(out, fname), "w") as f:
        json.dump(c["policy"], f, indent=2)
        f.write("\n")
    exposure = [r for r in c["expected"] if r not in FAIL_CLOSED]
    index.append({"file": fname, "insecure": bool(exposure), "expected": c["expected"], "reason": c["reason"]})
with open(os.path.join(here, "index.json"), "w") as f:
    json.dump(index, f, indent=1)
    f.write("\n")
print(f"{len(index)} policies, {sum(1 for x in index if x['insecure'])} insecure")
