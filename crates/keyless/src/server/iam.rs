//! IAM actions: decode parameters, authorise, call core, render AWS's XML.

use keyless_core::iam::{
    AuthorizationDetail, DetailFilter, NewRole, PolicyScope, RoleEntry, SimulationResult, paginate,
};
use keyless_policy::{Context, Decision};
use keyless_wire::{AwsError, QueryRequest, XmlWriter};

use super::aws::{ApiError, Call, opt_string, required, write_tags};

/// Actions served as IAM.
pub(crate) const ACTIONS: &[&str] = &[
    "CreateOpenIDConnectProvider",
    "GetOpenIDConnectProvider",
    "ListOpenIDConnectProviders",
    "DeleteOpenIDConnectProvider",
    "AddClientIDToOpenIDConnectProvider",
    "RemoveClientIDFromOpenIDConnectProvider",
    "UpdateOpenIDConnectProviderThumbprint",
    "TagOpenIDConnectProvider",
    "UntagOpenIDConnectProvider",
    "ListOpenIDConnectProviderTags",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "UpdateRole",
    "UpdateRoleDescription",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "ListInstanceProfilesForRole",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "TagPolicy",
    "UntagPolicy",
    "ListPolicyTags",
    "ListEntitiesForPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "GetAccountAuthorizationDetails",
];

type Out = Result<Option<XmlWriter>, ApiError>;

/// The resource ARN an IAM action is authorised against.
fn resource(call: &Call<'_>, action: &str, account: &str) -> String {
    let q = call.q;
    let role = |name: &str| {
        call.state
            .iam
            .role(account, name)
            .map(|r| r.role.arn.clone())
            .unwrap_or_else(|_| format!("arn:aws:iam::{account}:role/{name}"))
    };
    if let Some(name) = q.get("RoleName") {
        if action == "CreateRole" {
            let path = q.get("Path").unwrap_or("/");
            return format!("arn:aws:iam::{account}:role{path}{name}");
        }
        return role(name);
    }
    if let Some(arn) = q
        .get("PolicyArn")
        .or(q.get("OpenIDConnectProviderArn"))
        .or(q.get("PolicySourceArn"))
    {
        return arn.to_owned();
    }
    match action {
        "CreatePolicy" => format!(
            "arn:aws:iam::{account}:policy{}{}",
            q.get("Path").unwrap_or("/"),
            q.get("PolicyName").unwrap_or_default()
        ),
        "CreateOpenIDConnectProvider" => format!(
            "arn:aws:iam::{account}:oidc-provider/{}",
            q.get("Url")
                .unwrap_or_default()
                .trim_start_matches("https://")
        ),
        _ => "*".into(),
    }
}

pub(crate) fn dispatch(call: &mut Call<'_>, action: &str) -> Out {
    // A write goes through to the database and, when that is slow or unreachable, blocks for up
    // to the store's bound: let the runtime move its other tasks (STS calls served from memory)
    // to another thread meanwhile, instead of stalling the ones queued on this one.
    let writes = !(action.starts_with("Get")
        || action.starts_with("List")
        || action.starts_with("Simulate"));
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if writes && multi_thread {
        tokio::task::block_in_place(|| serve(call, action))
    } else {
        serve(call, action)
    }
}

fn serve(call: &mut Call<'_>, action: &str) -> Out {
    let account = call.account()?;
    let caller = call.caller()?.clone();
    let res = resource(call, action, &account);
    let mut ctx = Context::new();
    caller.add_context(&mut ctx);
    ctx.set(
        "aws:CurrentTime",
        vec![keyless_wire::iso8601(call.state.clock.now())],
    );
    ctx.set("aws:RequestedRegion", vec![call.info.region.clone()]);
    ctx.set("aws:SourceIp", vec![call.info.source_ip.clone()]);
    call.state.iam.authorize(
        &caller,
        &format!("iam:{action}"),
        &res,
        &ctx,
        call.state.sts.config().explain_denials,
    )?;
    let iam = &call.state.iam;
    let q = call.q;
    for (k, v) in q.params() {
        if !matches!(
            k,
            "Action" | "Version" | "PolicyDocument" | "AssumeRolePolicyDocument"
        ) {
            call.note
                .request_parameters
                .insert(lower_camel(k), serde_json::Value::String(v.to_owned()));
        }
    }
    match action {
        "CreateOpenIDConnectProvider" => {
            let p = iam.create_provider(
                &account,
                &required(q, "Url")?,
                q.list("ClientIDList"),
                q.list("ThumbprintList"),
                q.tags("Tags")?,
            )?;
            let mut w = XmlWriter::new();
            w.elem("OpenIDConnectProviderArn", &p.arn);
            if !p.tags.is_empty() {
                write_tags(&mut w, "Tags", &p.tags);
            }
            Ok(Some(w))
        }
        "GetOpenIDConnectProvider" => {
            let p = iam.provider(&account, &required(q, "OpenIDConnectProviderArn")?)?;
            let mut w = XmlWriter::new();
            w.elem("Url", p.key_prefix());
            list(&mut w, "ClientIDList", &p.client_ids);
            list(&mut w, "ThumbprintList", &p.thumbprints);
            w.elem("CreateDate", &keyless_wire::iso8601(p.created));
            write_tags(&mut w, "Tags", &p.tags);
            Ok(Some(w))
        }
        "ListOpenIDConnectProviders" => {
            let mut w = XmlWriter::new();
            w.open("OpenIDConnectProviderList");
            for p in iam.providers(&account)? {
                w.open("member");
                w.elem("Arn", &p.arn);
                w.close("member");
            }
            w.close("OpenIDConnectProviderList");
            Ok(Some(w))
        }
        "DeleteOpenIDConnectProvider" => {
            iam.delete_provider(&account, &required(q, "OpenIDConnectProviderArn")?)?;
            Ok(None)
        }
        "AddClientIDToOpenIDConnectProvider" => {
            iam.add_client_id(
                &account,
                &required(q, "OpenIDConnectProviderArn")?,
                &required(q, "ClientID")?,
            )?;
            Ok(None)
        }
        "RemoveClientIDFromOpenIDConnectProvider" => {
            iam.remove_client_id(
                &account,
                &required(q, "OpenIDConnectProviderArn")?,
                &required(q, "ClientID")?,
            )?;
            Ok(None)
        }
        "UpdateOpenIDConnectProviderThumbprint" => {
            required(q, "ThumbprintList.member.1").or_else(|_| required(q, "ThumbprintList"))?;
            iam.update_thumbprints(
                &account,
                &required(q, "OpenIDConnectProviderArn")?,
                q.list("ThumbprintList"),
            )?;
            Ok(None)
        }
        "TagOpenIDConnectProvider" => {
            iam.tag_provider(
                &account,
                &required(q, "OpenIDConnectProviderArn")?,
                q.tags("Tags")?,
            )?;
            Ok(None)
        }
        "UntagOpenIDConnectProvider" => {
            iam.untag_provider(
                &account,
                &required(q, "OpenIDConnectProviderArn")?,
                &q.list("TagKeys"),
            )?;
            Ok(None)
        }
        "ListOpenIDConnectProviderTags" => {
            let p = iam.provider(&account, &required(q, "OpenIDConnectProviderArn")?)?;
            Ok(Some(tag_page(q, &p.tags)?))
        }
        "CreateRole" => {
            let role = iam.create_role(
                &account,
                NewRole {
                    name: required(q, "RoleName")?,
                    path: opt_string(q, "Path"),
                    trust_policy: required(q, "AssumeRolePolicyDocument")?,
                    description: opt_string(q, "Description"),
                    max_session_duration: q.int("MaxSessionDuration")?,
                    permissions_boundary: opt_string(q, "PermissionsBoundary"),
                    tags: q.tags("Tags")?,
                },
            )?;
            let mut w = XmlWriter::new();
            write_role(&mut w, "Role", &role, true);
            Ok(Some(w))
        }
        "GetRole" => {
            let role = iam.role(&account, &required(q, "RoleName")?)?;
            let mut w = XmlWriter::new();
            write_role(&mut w, "Role", &role, true);
            Ok(Some(w))
        }
        "ListRoles" => {
            let page = iam.roles(
                &account,
                q.get("PathPrefix"),
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("Roles");
            for r in &page.items {
                write_role(&mut w, "member", r, false);
            }
            w.close("Roles");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "UpdateRole" => {
            iam.update_role_settings(
                &account,
                &required(q, "RoleName")?,
                opt_string(q, "Description"),
                q.int("MaxSessionDuration")?,
            )?;
            Ok(Some(XmlWriter::new()))
        }
        "UpdateRoleDescription" => {
            let name = required(q, "RoleName")?;
            iam.update_role_settings(&account, &name, Some(required(q, "Description")?), None)?;
            let role = iam.role(&account, &name)?;
            let mut w = XmlWriter::new();
            write_role(&mut w, "Role", &role, true);
            Ok(Some(w))
        }
        "DeleteRole" => {
            iam.delete_role(&account, &required(q, "RoleName")?)?;
            Ok(None)
        }
        "UpdateAssumeRolePolicy" => {
            iam.update_trust_policy(
                &account,
                &required(q, "RoleName")?,
                required(q, "PolicyDocument")?,
            )?;
            Ok(None)
        }
        "PutRolePermissionsBoundary" => {
            iam.set_boundary(
                &account,
                &required(q, "RoleName")?,
                Some(required(q, "PermissionsBoundary")?),
            )?;
            Ok(None)
        }
        "DeleteRolePermissionsBoundary" => {
            iam.set_boundary(&account, &required(q, "RoleName")?, None)?;
            Ok(None)
        }
        "TagRole" => {
            iam.tag_role(&account, &required(q, "RoleName")?, q.tags("Tags")?)?;
            Ok(None)
        }
        "UntagRole" => {
            iam.untag_role(&account, &required(q, "RoleName")?, &q.list("TagKeys"))?;
            Ok(None)
        }
        "ListRoleTags" => {
            let role = iam.role(&account, &required(q, "RoleName")?)?;
            Ok(Some(tag_page(q, &role.role.tags)?))
        }
        "ListInstanceProfilesForRole" => {
            // keyless has no EC2 instance profiles, so no role is in one; the call exists
            // because tools list them before deleting a role.
            iam.role(&account, &required(q, "RoleName")?)?;
            let none: Vec<String> = Vec::new();
            let page = paginate(none, String::clone, q.get("Marker"), q.int("MaxItems")?)?;
            let mut w = XmlWriter::new();
            w.open("InstanceProfiles");
            w.close("InstanceProfiles");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "PutRolePolicy" => {
            iam.put_role_policy(
                &account,
                &required(q, "RoleName")?,
                &required(q, "PolicyName")?,
                required(q, "PolicyDocument")?,
            )?;
            Ok(None)
        }
        "GetRolePolicy" => {
            let role = required(q, "RoleName")?;
            let name = required(q, "PolicyName")?;
            let doc = iam.role_policy(&account, &role, &name)?;
            let mut w = XmlWriter::new();
            w.elem("RoleName", &iam.role(&account, &role)?.role.name);
            w.elem("PolicyName", &name);
            w.elem("PolicyDocument", &keyless_wire::url_encode_document(&doc));
            Ok(Some(w))
        }
        "ListRolePolicies" => {
            let role = iam.role(&account, &required(q, "RoleName")?)?;
            let names: Vec<String> = role.role.inline_policies.keys().cloned().collect();
            let page = paginate(names, String::clone, q.get("Marker"), q.int("MaxItems")?)?;
            let mut w = XmlWriter::new();
            list(&mut w, "PolicyNames", &page.items);
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "DeleteRolePolicy" => {
            iam.delete_role_policy(
                &account,
                &required(q, "RoleName")?,
                &required(q, "PolicyName")?,
            )?;
            Ok(None)
        }
        "CreatePolicy" => {
            let p = iam.create_policy(
                &account,
                &required(q, "PolicyName")?,
                opt_string(q, "Path"),
                required(q, "PolicyDocument")?,
                opt_string(q, "Description"),
                q.tags("Tags")?,
            )?;
            let mut w = XmlWriter::new();
            write_policy(&mut w, "Policy", &p.policy, (0, 0));
            Ok(Some(w))
        }
        "GetPolicy" => {
            let arn = required(q, "PolicyArn")?;
            let p = iam.policy(&account, &arn)?;
            let usage = iam.policy_usage(&account, &arn)?;
            let mut w = XmlWriter::new();
            write_policy(&mut w, "Policy", &p.policy, usage);
            Ok(Some(w))
        }
        "ListPolicies" => {
            let scope = match q.get("Scope") {
                None | Some("All") => PolicyScope::All,
                Some("AWS") => PolicyScope::Aws,
                Some("Local") => PolicyScope::Local,
                Some(other) => {
                    one_of(other, "scope", &["All", "AWS", "Local"])?;
                    PolicyScope::All
                }
            };
            let only_attached = q.bool("OnlyAttached")?.unwrap_or(false);
            let usage_filter = q.get("PolicyUsageFilter");
            if let Some(u) = usage_filter {
                one_of(u, "policyUsageFilter", &USAGE_FILTERS)?;
            }
            let as_boundary = usage_filter == Some("PermissionsBoundary");
            let page = iam.list_policies(
                &account,
                scope,
                q.get("PathPrefix"),
                |(attached, boundary)| {
                    if as_boundary {
                        boundary > 0
                    } else {
                        !only_attached || attached > 0
                    }
                },
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("Policies");
            for (p, usage) in &page.items {
                // Listing calls return no tags (GetPolicy does).
                w.open("member");
                write_policy_fields(&mut w, &p.policy, *usage);
                w.close("member");
            }
            w.close("Policies");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "DeletePolicy" => {
            iam.delete_policy(&account, &required(q, "PolicyArn")?)?;
            Ok(None)
        }
        "CreatePolicyVersion" => {
            let v = iam.create_policy_version(
                &account,
                &required(q, "PolicyArn")?,
                required(q, "PolicyDocument")?,
                q.bool("SetAsDefault")?.unwrap_or(false),
            )?;
            let p = iam.policy(&account, &required(q, "PolicyArn")?)?;
            let mut w = XmlWriter::new();
            w.open("PolicyVersion");
            w.elem("VersionId", &v.id);
            w.elem(
                "IsDefaultVersion",
                bool_text(p.policy.default_version == v.id),
            );
            w.elem("CreateDate", &keyless_wire::iso8601(v.created));
            w.close("PolicyVersion");
            Ok(Some(w))
        }
        "GetPolicyVersion" => {
            let (p, v) = iam.policy_version(
                &account,
                &required(q, "PolicyArn")?,
                &required(q, "VersionId")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("PolicyVersion");
            w.elem("Document", &keyless_wire::url_encode_document(&v.document));
            w.elem("VersionId", &v.id);
            w.elem(
                "IsDefaultVersion",
                bool_text(p.policy.default_version == v.id),
            );
            w.elem("CreateDate", &keyless_wire::iso8601(v.created));
            w.close("PolicyVersion");
            Ok(Some(w))
        }
        "ListPolicyVersions" => {
            let p = iam.policy(&account, &required(q, "PolicyArn")?)?;
            // Newest first, as IAM lists them; the key is the place in that order.
            let newest_first: Vec<_> = p.policy.versions.iter().rev().enumerate().collect();
            let page = paginate(
                newest_first,
                |(i, _)| format!("{i:04}"),
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("Versions");
            for (_, v) in page.items {
                w.open("member");
                w.elem("VersionId", &v.id);
                w.elem(
                    "IsDefaultVersion",
                    bool_text(p.policy.default_version == v.id),
                );
                w.elem("CreateDate", &keyless_wire::iso8601(v.created));
                w.close("member");
            }
            w.close("Versions");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "DeletePolicyVersion" => {
            iam.delete_policy_version(
                &account,
                &required(q, "PolicyArn")?,
                &required(q, "VersionId")?,
            )?;
            Ok(None)
        }
        "SetDefaultPolicyVersion" => {
            iam.set_default_policy_version(
                &account,
                &required(q, "PolicyArn")?,
                &required(q, "VersionId")?,
            )?;
            Ok(None)
        }
        "TagPolicy" => {
            iam.tag_policy(&account, &required(q, "PolicyArn")?, q.tags("Tags")?)?;
            Ok(None)
        }
        "UntagPolicy" => {
            iam.untag_policy(&account, &required(q, "PolicyArn")?, &q.list("TagKeys"))?;
            Ok(None)
        }
        "ListPolicyTags" => {
            let p = iam.policy(&account, &required(q, "PolicyArn")?)?;
            Ok(Some(tag_page(q, &p.policy.tags)?))
        }
        "ListEntitiesForPolicy" => {
            let arn = required(q, "PolicyArn")?;
            iam.policy(&account, &arn)?;
            let filter = q.get("EntityFilter");
            if let Some(f) = filter {
                one_of(f, "entityFilter", &ENTITY_FILTERS)?;
            }
            let usage = q.get("PolicyUsageFilter");
            if let Some(u) = usage {
                one_of(
                    u,
                    "policyUsageFilter",
                    &["PermissionsPolicy", "PermissionsBoundary"],
                )?;
            }
            let path_prefix = q.get("PathPrefix").unwrap_or("/");
            keyless_core::iam::check_path_prefix(path_prefix)?;
            // keyless has roles only: no users or groups to list. Without a usage filter, both
            // uses count.
            let roles = if filter.is_none_or(|f| f == "Role") {
                let mut roles = Vec::new();
                if usage != Some("PermissionsBoundary") {
                    roles.extend(iam.roles_using_policy(&account, &arn, false)?);
                }
                if usage != Some("PermissionsPolicy") {
                    roles.extend(iam.roles_using_policy(&account, &arn, true)?);
                }
                roles.retain(|(path, _, _)| path.starts_with(path_prefix));
                roles.sort_by_key(|a| a.1.to_ascii_lowercase());
                roles.dedup_by(|a, b| a.1 == b.1);
                roles
            } else {
                Vec::new()
            };
            let page = paginate(
                roles,
                |(_, name, _)| name.to_ascii_lowercase(),
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("PolicyGroups");
            w.close("PolicyGroups");
            w.open("PolicyUsers");
            w.close("PolicyUsers");
            w.open("PolicyRoles");
            for (_, name, id) in &page.items {
                w.open("member");
                w.elem("RoleName", name);
                w.elem("RoleId", id);
                w.close("member");
            }
            w.close("PolicyRoles");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "GetAccountAuthorizationDetails" => {
            let filters = q.list("Filter");
            for f in &filters {
                one_of(f, "filter", &ENTITY_FILTERS)?;
            }
            let wants = |f: &str| filters.is_empty() || filters.iter().any(|x| x == f);
            let page = iam.authorization_details(
                &account,
                DetailFilter {
                    roles: wants("Role"),
                    local_policies: wants("LocalManagedPolicy"),
                    aws_policies: wants("AWSManagedPolicy"),
                },
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            // keyless has roles only: no users or groups to list.
            w.open("UserDetailList");
            w.close("UserDetailList");
            w.open("GroupDetailList");
            w.close("GroupDetailList");
            w.open("RoleDetailList");
            for d in &page.items {
                if let AuthorizationDetail::Role(r) = d {
                    write_role_detail(&mut w, r, &iam.attached_policies(&account, &r.role.name)?);
                }
            }
            w.close("RoleDetailList");
            w.open("Policies");
            for d in &page.items {
                if let AuthorizationDetail::Policy(p, usage) = d {
                    write_policy_detail(&mut w, &p.policy, *usage);
                }
            }
            w.close("Policies");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "AttachRolePolicy" => {
            iam.attach_role_policy(
                &account,
                &required(q, "RoleName")?,
                &required(q, "PolicyArn")?,
            )?;
            Ok(None)
        }
        "DetachRolePolicy" => {
            iam.detach_role_policy(
                &account,
                &required(q, "RoleName")?,
                &required(q, "PolicyArn")?,
            )?;
            Ok(None)
        }
        "ListAttachedRolePolicies" => {
            let attached = iam.attached_policies(&account, &required(q, "RoleName")?)?;
            let path_prefix = q.get("PathPrefix").unwrap_or("/");
            keyless_core::iam::check_path_prefix(path_prefix)?;
            // A managed policy's path is in its ARN: `…:policy/path/name`. Listed in the order
            // attached; the key is the place in that order.
            let in_path: Vec<_> = attached
                .into_iter()
                .filter(|(_, arn)| {
                    arn.split_once(":policy")
                        .is_some_and(|(_, path_name)| path_name.starts_with(path_prefix))
                })
                .enumerate()
                .collect();
            let page = paginate(
                in_path,
                |(i, _)| format!("{i:04}"),
                q.get("Marker"),
                q.int("MaxItems")?,
            )?;
            let mut w = XmlWriter::new();
            w.open("AttachedPolicies");
            for (_, (name, arn)) in page.items {
                w.open("member");
                w.elem("PolicyName", &name);
                w.elem("PolicyArn", &arn);
                w.close("member");
            }
            w.close("AttachedPolicies");
            truncation(&mut w, page.marker);
            Ok(Some(w))
        }
        "SimulatePrincipalPolicy" => {
            let ctx = simulation_context(call)?;
            let results = iam.simulate_principal(
                &account,
                &required(q, "PolicySourceArn")?,
                &actions(q)?,
                &q.list("ResourceArns"),
                &ctx,
                &q.list("PolicyInputList"),
            )?;
            Ok(Some(write_simulation(&results)))
        }
        "SimulateCustomPolicy" => {
            let ctx = simulation_context(call)?;
            let policies = q.list("PolicyInputList");
            if policies.is_empty() {
                return Err(ApiError::Wire(keyless_wire::WireError::MissingParameter(
                    "PolicyInputList.member.1".into(),
                )));
            }
            let results = keyless_core::iam::simulate_custom(
                &policies,
                q.get("ResourcePolicy"),
                q.get("CallerArn"),
                &actions(q)?,
                &q.list("ResourceArns"),
                &ctx,
            )?;
            Ok(Some(write_simulation(&results)))
        }
        other => Err(ApiError::Aws(AwsError::new(
            "InvalidAction",
            format!("keyless does not implement the IAM action {other}"),
            400,
        ))),
    }
}

fn actions(q: &keyless_wire::QueryRequest) -> Result<Vec<String>, ApiError> {
    let a = q.list("ActionNames");
    if a.is_empty() {
        return Err(ApiError::Wire(keyless_wire::WireError::MissingParameter(
            "ActionNames.member.1".into(),
        )));
    }
    Ok(a)
}

/// `ContextEntries.member.N.ContextKeyName / ContextKeyValues.member.M`.
fn simulation_context(call: &Call<'_>) -> Result<Context, ApiError> {
    let mut ctx = Context::new();
    for n in 1.. {
        let Some(name) = call
            .q
            .get(&format!("ContextEntries.member.{n}.ContextKeyName"))
        else {
            break;
        };
        let values = call
            .q
            .list(&format!("ContextEntries.member.{n}.ContextKeyValues"));
        ctx.set(name, values);
    }
    Ok(ctx)
}

fn write_simulation(results: &[SimulationResult]) -> XmlWriter {
    let mut w = XmlWriter::new();
    w.open("EvaluationResults");
    for r in results {
        w.open("member");
        w.elem("EvalActionName", &r.action);
        w.elem("EvalResourceName", &r.resource);
        w.elem(
            "EvalDecision",
            match r.evaluation.decision {
                Decision::Allow => "allowed",
                Decision::ExplicitDeny => "explicitDeny",
                Decision::ImplicitDeny => "implicitDeny",
            },
        );
        w.open("MatchedStatements");
        for m in r.evaluation.trace.matched_statements() {
            w.open("member");
            w.elem("SourcePolicyId", &m.policy_name);
            w.elem(
                "SourcePolicyType",
                if m.policy_name == "ResourcePolicy" {
                    "resource"
                } else {
                    "IAM Policy"
                },
            );
            w.open("StartPosition");
            w.elem("Line", &m.line.to_string());
            w.elem("Column", &m.column.to_string());
            w.close("StartPosition");
            w.open("EndPosition");
            w.elem("Line", &m.end_line.to_string());
            w.elem("Column", &m.end_column.to_string());
            w.close("EndPosition");
            w.close("member");
        }
        w.close("MatchedStatements");
        w.open("MissingContextValues");
        w.close("MissingContextValues");
        w.close("member");
    }
    w.close("EvaluationResults");
    w.elem("IsTruncated", "false");
    w
}

fn list(w: &mut XmlWriter, name: &str, items: &[String]) {
    w.open(name);
    for i in items {
        w.elem("member", i);
    }
    w.close(name);
}

/// A List*Tags answer: the tags sorted by key, as IAM lists them, a page at a time.
fn tag_page(q: &QueryRequest, tags: &[(String, String)]) -> Result<XmlWriter, ApiError> {
    let mut sorted: Vec<_> = tags.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paginate(
        sorted,
        |(k, _)| k.clone(),
        q.get("Marker"),
        q.int("MaxItems")?,
    )?;
    let mut w = XmlWriter::new();
    w.open("Tags");
    for (k, v) in page.items {
        w.open("member");
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("member");
    }
    w.close("Tags");
    truncation(&mut w, page.marker);
    Ok(w)
}

fn truncation(w: &mut XmlWriter, marker: Option<String>) {
    match marker {
        Some(m) => {
            w.elem("IsTruncated", "true");
            w.elem("Marker", &m);
        }
        None => w.elem("IsTruncated", "false"),
    }
}

/// What a `Role` and a `RoleDetail` have in common.
fn write_role_head(w: &mut XmlWriter, r: &keyless_core::model::Role) {
    w.elem("Path", &r.path);
    w.elem("RoleName", &r.name);
    w.elem("RoleId", &r.role_id);
    w.elem("Arn", &r.arn);
    w.elem("CreateDate", &keyless_wire::iso8601(r.created));
    w.elem(
        "AssumeRolePolicyDocument",
        &keyless_wire::url_encode_document(&r.trust_policy),
    );
}

fn write_role(w: &mut XmlWriter, name: &str, entry: &RoleEntry, full: bool) {
    let r = &entry.role;
    w.open(name);
    write_role_head(w, r);
    w.opt_elem("Description", r.description.as_deref());
    w.elem("MaxSessionDuration", &r.max_session_duration.to_string());
    if full {
        write_role_tail(w, r);
    }
    w.close(name);
}

/// Boundary, tags and last use: in GetRole's `Role` and in a `RoleDetail`, not in ListRoles.
fn write_role_tail(w: &mut XmlWriter, r: &keyless_core::model::Role) {
    if let Some(b) = &r.permissions_boundary {
        w.open("PermissionsBoundary");
        w.elem("PermissionsBoundaryType", "PermissionsBoundaryPolicy");
        w.elem("PermissionsBoundaryArn", b);
        w.close("PermissionsBoundary");
    }
    if !r.tags.is_empty() {
        write_tags(w, "Tags", &r.tags);
    }
    w.open("RoleLastUsed");
    if let Some(t) = r.last_used {
        w.elem("LastUsedDate", &keyless_wire::iso8601(t));
        w.elem("Region", "us-east-1");
    }
    w.close("RoleLastUsed");
}

/// A `RoleDetail` of GetAccountAuthorizationDetails: the role with its policies inline.
fn write_role_detail(w: &mut XmlWriter, entry: &RoleEntry, attached: &[(String, String)]) {
    let r = &entry.role;
    w.open("member");
    write_role_head(w, r);
    w.open("InstanceProfileList");
    w.close("InstanceProfileList");
    w.open("RolePolicyList");
    for (name, doc) in &r.inline_policies {
        w.open("member");
        w.elem("PolicyName", name);
        w.elem("PolicyDocument", &keyless_wire::url_encode_document(doc));
        w.close("member");
    }
    w.close("RolePolicyList");
    w.open("AttachedManagedPolicies");
    for (name, arn) in attached {
        w.open("member");
        w.elem("PolicyName", name);
        w.elem("PolicyArn", arn);
        w.close("member");
    }
    w.close("AttachedManagedPolicies");
    write_role_tail(w, r);
    w.close("member");
}

/// A `ManagedPolicyDetail` of GetAccountAuthorizationDetails: the policy with every version's
/// document.
fn write_policy_detail(
    w: &mut XmlWriter,
    p: &keyless_core::model::ManagedPolicy,
    usage: (usize, usize),
) {
    w.open("member");
    write_policy_fields(w, p, usage);
    w.open("PolicyVersionList");
    for v in p.versions.iter().rev() {
        w.open("member");
        w.elem("Document", &keyless_wire::url_encode_document(&v.document));
        w.elem("VersionId", &v.id);
        w.elem("IsDefaultVersion", bool_text(p.default_version == v.id));
        w.elem("CreateDate", &keyless_wire::iso8601(v.created));
        w.close("member");
    }
    w.close("PolicyVersionList");
    w.close("member");
}

fn write_policy(
    w: &mut XmlWriter,
    name: &str,
    p: &keyless_core::model::ManagedPolicy,
    usage: (usize, usize),
) {
    w.open(name);
    write_policy_fields(w, p, usage);
    if !p.tags.is_empty() {
        write_tags(w, "Tags", &p.tags);
    }
    w.close(name);
}

/// What a `Policy` and a `ManagedPolicyDetail` have in common.
fn write_policy_fields(
    w: &mut XmlWriter,
    p: &keyless_core::model::ManagedPolicy,
    (attached, boundary): (usize, usize),
) {
    w.elem("PolicyName", &p.name);
    w.elem("PolicyId", &p.policy_id);
    w.elem("Arn", &p.arn);
    w.elem("Path", &p.path);
    w.elem("DefaultVersionId", &p.default_version);
    w.elem("AttachmentCount", &attached.to_string());
    w.elem("PermissionsBoundaryUsageCount", &boundary.to_string());
    w.elem("IsAttachable", "true");
    w.opt_elem("Description", p.description.as_deref());
    w.elem("CreateDate", &keyless_wire::iso8601(p.created));
    w.elem("UpdateDate", &keyless_wire::iso8601(p.updated));
}

/// `PolicyUsageFilter` values.
const USAGE_FILTERS: [&str; 2] = ["PermissionsPolicy", "PermissionsBoundary"];

/// `EntityFilter` values of ListEntitiesForPolicy.
const ENTITY_FILTERS: [&str; 5] = [
    "User",
    "Role",
    "Group",
    "LocalManagedPolicy",
    "AWSManagedPolicy",
];

/// An enumerated parameter: `value` must be one of `allowed` (AWS's ValidationError if not).
fn one_of(value: &str, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError::Core(keyless_core::CoreError::Validation(
        keyless_wire::validation_message(&[(
            value.to_owned(),
            field.to_owned(),
            format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )]),
    )))
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `RoleName` → `roleName`, as CloudTrail records request parameters.
fn lower_camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
