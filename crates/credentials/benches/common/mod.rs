//! Setup shared by the credential benches.

use keyway_model::{Caller, Role};
use keyway_store::{Store, StoreError};

/// Creates the org `bench` with one member and returns that member as a caller.
pub async fn bench_caller(store: &Store) -> Result<Caller, StoreError> {
    let org = store.create_org("bench").await?;
    let user = store
        .create_user(&org.id, "bench-user", Role::Member)
        .await?;
    Ok(Caller {
        user_id: user.id,
        user_name: user.name,
        org_id: org.id,
        org_slug: org.slug,
        role: Role::Member,
    })
}
