//! `clinlabel serve --demo`: a working system to look at within a minute.
//!
//! On an empty database it creates the service provider with one account per
//! provider role, a demo client organisation with a client admin and member,
//! and certifications for the demo taskers; the passwords are random and
//! printed once. Later issues add a demo project per modality here.

use clinlabel_domain::{OrgKind, Principal, Role, Secret};
use clinlabel_store::Db;
use clinlabel_store::users::NewUser;

/// A demo account as printed.
pub struct DemoUser {
    pub role: Role,
    pub email: String,
    pub password: String,
}

const YEAR_MS: i64 = 365 * 86_400_000;

/// Creates the demo workspace if the database has no accounts; `None` if it had.
pub async fn create(db: &Db) -> anyhow::Result<Option<Vec<DemoUser>>> {
    if clinlabel_store::users::any_exist(db).await? {
        return Ok(None);
    }
    clinlabel_store::tracks::ensure_defaults(db).await?;
    let password = || clinlabel_store::db::new_token()[..20].to_string();
    let mut out = Vec::new();
    let admin_pw = password();
    let admin = clinlabel_store::auth::create_user_system(db, None, "admin@demo.clinlabel.test", "Ada Admin", Role::Admin, Secret::new(admin_pw.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("demo: {e}"))?;
    out.push(DemoUser { role: Role::Admin, email: admin.email.clone(), password: admin_pw });
    let p = Principal { user_id: admin.id.clone(), org_id: admin.org_id.clone(), role: Role::Admin };
    clinlabel_store::orgs::rename(db, &p, &admin.org_id, "clinlabel demo service").await?;
    let client = clinlabel_store::orgs::create(db, &p, "Northwind Teaching Hospital (demo)", OrgKind::Client).await?;
    let plan = [
        (Role::Pm, &admin.org_id, "pm@demo.clinlabel.test", "Priya PM"),
        (Role::QaReviewer, &admin.org_id, "qa@demo.clinlabel.test", "Quentin QA"),
        (Role::Tasker, &admin.org_id, "tasker@demo.clinlabel.test", "Dr Tara Tasker"),
        (Role::Tasker, &admin.org_id, "tasker2@demo.clinlabel.test", "Dr Theo Tasker"),
        (Role::ClientAdmin, &client.id, "client-admin@demo.clinlabel.test", "Clara Client"),
        (Role::ClientMember, &client.id, "client@demo.clinlabel.test", "Colm Member"),
    ];
    let tracks = clinlabel_store::tracks::list(db, &p, false).await?;
    let now = clinlabel_store::db::now_ms();
    for (role, org, email, name) in plan {
        let pw = password();
        let u = clinlabel_store::users::create(db, &p, NewUser { org_id: org.clone(), email: email.into(), name: name.into(), role, password: Secret::new(pw.clone()) }).await?;
        if role == Role::Tasker {
            for slug in ["radiology", "clinical-nlp", "clinical-coding"] {
                if let Some(t) = tracks.iter().find(|t| t.slug == slug) {
                    clinlabel_store::tracks::grant(db, &p, &u.id, &t.id, now + YEAR_MS, None).await?;
                }
            }
        }
        out.push(DemoUser { role, email: u.email, password: pw });
    }
    Ok(Some(out))
}
