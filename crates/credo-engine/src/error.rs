use credo_store::StoreError;

/// Errors of the engine. Each has a stable code (see `docs/errors.md`).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the data folder {path} is in use by another credo process")]
    Locked { path: String },
    #[error("{path}: {problem}")]
    Meta { path: String, problem: String },
    #[error("the event log is inconsistent at byte {offset}: {problem}")]
    Replay { offset: u64, problem: String },
    #[error("model: {0}")]
    Model(#[from] credo_score::ModelError),
    #[error("invalid subject id: {0}")]
    BadId(#[from] credo_model::IdError),
    #[error("no subject {0} is known")]
    UnknownSubject(String),
    #[error(
        "the event log's sync stopped unexpectedly; the next ingest rebuilds the state from the log"
    )]
    Failed,
    #[error("policy file {0}")]
    Policy(#[from] credo_rules::PolicyError),
    #[error(transparent)]
    UnknownAction(#[from] credo_rules::UnknownAction),
    #[error(transparent)]
    Access(#[from] credo_access::AccessError),
    #[error("the access journal is held by the server's commit thread")]
    JournalAway,
    #[error(transparent)]
    Geo(#[from] credo_geo::GeoError),
    #[error(transparent)]
    Graph(#[from] credo_graph::GraphError),
    #[error(transparent)]
    BadNumber(#[from] crate::calls::BadNumber),
    #[error("bad notice plan: {0}")]
    BadNotice(String),
    #[error("no published listing has case number {0:?}")]
    NoCase(String),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Store(StoreError::Corrupt { .. } | StoreError::Decode { .. }) => {
                "storage_corrupt"
            }
            EngineError::Store(_) | EngineError::Io { .. } => "storage_io",
            EngineError::Locked { .. } => "data_locked",
            EngineError::Meta { .. } => "bad_data_folder",
            EngineError::Replay { .. } => "storage_corrupt",
            EngineError::Model(_) => "bad_model",
            EngineError::BadId(_) => "bad_id",
            EngineError::UnknownSubject(_) => "unknown_subject",
            EngineError::Failed => "storage_io",
            EngineError::Policy(_) => "bad_policy",
            EngineError::UnknownAction(_) => "unknown_action",
            EngineError::Access(e) => e.code(),
            EngineError::JournalAway => "internal",
            EngineError::Geo(e) => e.code(),
            EngineError::Graph(credo_graph::GraphError::NoNode(_)) => "unknown_subject",
            EngineError::Graph(
                credo_graph::GraphError::Damping(_) | credo_graph::GraphError::Tolerance(_),
            ) => "bad_model",
            EngineError::Graph(_) => "internal",
            EngineError::BadNumber(_) => "bad_number",
            EngineError::BadNotice(_) => "bad_notice",
            EngineError::NoCase(_) => "no_case",
        }
    }
}

pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    }
}
