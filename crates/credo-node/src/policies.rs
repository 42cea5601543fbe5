//! The relying parties' offers, installed cluster-wide.
//!
//! A single machine keeps its policy file in its folder (`PUT /v1/policies`). A cluster
//! keeps the file in the bus's bucket (`policies`): a node's `PUT /v1/policies` checks it,
//! stores it there and installs it at once in its own folders; every node reads the bucket
//! each [`crate::keys::SYNC`] and installs a file that differs from a folder's into that
//! folder (every partition it owns and its public replica), logged in the folder's audit
//! log as `admin:cluster`. A partition a node opens gets the file before it answers
//! anyone. Until a cluster-wide file is installed, each folder keeps the file it has (the
//! shipped one, on a new folder).

use crate::{NodeError, Running};
use bytes::Bytes;
use credo_access::AccessOp;
use credo_bus::Bus;
use credo_engine::Clock;
use credo_engine::access::{Pending, sha256_hex};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The bucket key of the cluster's policy file.
const KEY: &str = "policies";
/// A folder's policy file (as the engine names it).
const FILE: &str = "policies.toml";

/// Stores a checked policy file as the cluster's.
pub(crate) async fn store(bus: &Bus, text: &str) -> Result<(), NodeError> {
    bus.put_value(KEY, Bytes::from(text.to_string())).await?;
    Ok(())
}

/// The cluster's policy file, if one was installed.
pub(crate) async fn load(bus: &Bus) -> Result<Option<String>, NodeError> {
    Ok(bus
        .value(KEY)
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Installs `text` into one folder unless its file is the same already; logs an install
/// in the folder's audit log as `admin:cluster`.
pub(crate) async fn install_into(
    state: &credo_server::AppState,
    text: &str,
) -> Result<(), NodeError> {
    let failed = |m: String| NodeError::Keys(format!("installing the cluster's policies: {m}"));
    let offers = {
        let mut e = state
            .engine
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = e.dir().join(FILE);
        if std::fs::read(&path).is_ok_and(|have| have == text.as_bytes()) {
            return Ok(());
        }
        let n = e
            .install_policies(FILE, text)
            .map_err(|x| failed(x.to_string()))?;
        let today = e.today();
        e.keep_day_facts(today);
        n
    };
    let op = AccessOp::PolicyInstall {
        offers: offers as u64,
        sha256: sha256_hex(text.as_bytes()),
    };
    state
        .commits
        .submit(vec![Pending {
            at: Clock::now(),
            actor: "admin:cluster".into(),
            key: None,
            op,
            inquiry: None,
        }])
        .await
        .map_err(|e| failed(e.message))?;
    Ok(())
}

/// Brings every open partition's folder and the public replica's to the bucket's file,
/// when it differs from the file this node last installed everywhere (`last`): a
/// partition opened since got it when it opened ([`crate::Shared::reconcile`]), so an
/// unchanged file costs one read of the bucket, not one of every folder.
pub(crate) async fn sync(
    bus: &Bus,
    parts: &Arc<Mutex<BTreeMap<u32, Running>>>,
    public: &credo_server::AppState,
    last: &Mutex<Option<String>>,
) -> Result<(), NodeError> {
    let Some(text) = load(bus).await? else {
        return Ok(());
    };
    if crate::lock(last).as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    for state in crate::folders(parts, public) {
        install_into(&state, &text).await?;
    }
    *crate::lock(last) = Some(text);
    Ok(())
}
