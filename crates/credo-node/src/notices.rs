//! A court notice's plan on a cluster (`GET /v1/notices/plan`, docs/cluster.md).
//!
//! The audience spans every partition: the people near the debtor's address, in its
//! region and in related industries live anywhere, and its social circle is found a hop at
//! a time through every partition's contacts. The node that takes the request asks every
//! owner in legs (each for the partitions it owns, covering every partition once):
//! 1. `centre`: the debtor's partition gives its position, region, industry, court and
//!    delivered impressions ([`credo_engine::notices::NoticeCentre`]);
//! 2. `contacts`, once per hop: each partition gives the contacts it holds of the
//!    frontier's IDs ([`credo_engine::notices::Circle`]);
//! 3. `share`: each partition counts its people meeting each criterion and, of the
//!    circle's, those meeting any; the merge ([`credo_engine::notices::merge_plan`]) gives
//!    one machine's counts, size and cap (`crates/credo-engine/tests/notices.rs`).
//!
//! Legs carry unmasked IDs between nodes, so a leg must show the cluster's internal token
//! (kept in the bucket, `internal-token`), besides the caller's key: a court's key alone
//! gets the plan's masked answer, never a leg's.

use crate::http::{Bodies, Http, caller, legs, replica, serving};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use credo_access::Capability;
use credo_engine::EngineError;
use credo_engine::notices::{Circle, NoticeCentre, NoticeOptions, NoticeShare, merge_plan};
use credo_model::SubjectId;
use credo_server::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The header a node shows other nodes on an internal leg.
pub(crate) const INTERNAL: &str = "x-credo-internal";
/// The bucket key of the cluster's internal token.
pub(crate) const TOKEN_KEY: &str = "internal-token";
/// The largest leg body (a circle of three hops may hold a good part of a partition).
const MAX_LEG: usize = 256 << 20;

/// One leg's question.
#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase")]
enum Leg {
    Centre {
        case: String,
    },
    Contacts {
        ids: Vec<SubjectId>,
    },
    Share {
        centre: NoticeCentre,
        options: NoticeOptions,
        circle: Vec<SubjectId>,
        keep: usize,
    },
}

/// `GET /v1/notices/plan` on a node: the single machine's checks and answer, gathered.
pub(crate) async fn plan(h: &Http, req: Request) -> Result<Response, ApiError> {
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::NoticePlan)?;
    type Q = axum::extract::Query<credo_server::graph::PlanParams>;
    let q = Q::try_from_uri(req.uri())
        .map(|axum::extract::Query(q)| q)
        .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let o = q.options()?;
    o.check()?;
    // The replica knows which subject a published case is about (and a case it does not
    // know is not published anywhere): one machine's 404.
    if replica(h).published_case_subject(&q.case).is_none() {
        return Err(EngineError::NoCase(q.case.clone()).into());
    }
    let (head, _) = req.into_parts();
    let partitioning = h.node.bus.partitioning();
    let ask = |question: Leg| {
        let head = &head;
        async move {
            // The frontier and the circle go to the owners of their IDs only: a partition
            // answers for the subjects it holds, and a national circle is megabytes.
            let grouped = question.by_partition(partitioning);
            let routed = |parts: &[u32]| {
                let leg = question.only(parts, grouped.as_deref().unwrap_or_default());
                bytes::Bytes::from(serde_json::to_vec(&leg).unwrap_or_default())
            };
            let bodies = match grouped {
                None => Bodies::Same(bytes::Bytes::from(
                    serde_json::to_vec(&question).unwrap_or_default(),
                )),
                Some(_) => Bodies::Routed(&routed),
            };
            let mut head = head.clone();
            head.method = axum::http::Method::POST;
            // The client's GET said its own (empty) body's length, not the leg's.
            head.headers.remove(axum::http::header::CONTENT_LENGTH);
            head.headers.insert(
                INTERNAL,
                HeaderValue::from_str(&h.node.internal)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            );
            match legs(h, &head, bodies, |req| leg(h, req)).await? {
                Ok(answers) => Ok(answers
                    .into_iter()
                    .flat_map(|v| v["answers"].as_array().cloned().unwrap_or_default())
                    .collect::<Vec<_>>()),
                Err(refused) => {
                    // A leg refused (a key not yet on every node, say): its own answer.
                    let status = refused.status();
                    let v = crate::http::json_of(refused).await.unwrap_or_default();
                    Err(ApiError::new(
                        status,
                        "not_owner",
                        format!("a node refused a leg of the plan: {}", v["message"]),
                    ))
                }
            }
        }
    };
    let centre: Option<NoticeCentre> = ask(Leg::Centre {
        case: q.case.clone(),
    })
    .await?
    .into_iter()
    .find(|v| !v.is_null())
    .map(parse)
    .transpose()?;
    let centre = centre.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_owner",
            "the debtor's partition has not published this case yet; try again",
        )
    })?;
    let mut circle = Circle::new(centre.debtor);
    for _ in 0..o.hops {
        if circle.frontier().is_empty() {
            break;
        }
        let answers = ask(Leg::Contacts {
            ids: circle.frontier().to_vec(),
        })
        .await?;
        let mut contacts: Vec<(SubjectId, Vec<SubjectId>)> = Vec::new();
        for a in answers {
            contacts.extend(parse::<Vec<(SubjectId, Vec<SubjectId>)>>(a)?);
        }
        circle.hop(contacts);
    }
    let keep = q.members();
    let shares = ask(Leg::Share {
        centre: centre.clone(),
        options: o,
        circle: circle.members().to_vec(),
        keep,
    })
    .await?
    .into_iter()
    .map(parse::<NoticeShare>)
    .collect::<Result<Vec<_>, _>>()?;
    let plan = merge_plan(&centre, &o, circle.members(), &shares, keep);
    Ok(axum::Json(credo_server::body::notice_plan_json(&plan, keep)).into_response())
}

impl Leg {
    /// The IDs a routed leg carries (the frontier, the circle), grouped by partition in
    /// their order; `None` for a question every owner gets whole.
    fn by_partition(
        &self,
        partitioning: credo_cluster::Partitioning,
    ) -> Option<Vec<Vec<SubjectId>>> {
        let ids = match self {
            Leg::Centre { .. } => return None,
            Leg::Contacts { ids } => ids,
            Leg::Share { circle, .. } => circle,
        };
        let mut out = vec![Vec::new(); partitioning.count() as usize];
        for &id in ids {
            if let Some(v) = out.get_mut(partitioning.of(id) as usize) {
                v.push(id);
            }
        }
        Some(out)
    }

    /// The question as the owner of `parts` needs it: the IDs of its partitions only, as
    /// [`Leg::by_partition`] grouped them (one pass over the IDs for all owners, not one
    /// per owner).
    fn only(&self, parts: &[u32], grouped: &[Vec<SubjectId>]) -> Leg {
        let ids = || -> Vec<SubjectId> {
            parts
                .iter()
                .filter_map(|&p| grouped.get(p as usize))
                .flatten()
                .copied()
                .collect()
        };
        match self {
            Leg::Centre { case } => Leg::Centre { case: case.clone() },
            Leg::Contacts { .. } => Leg::Contacts { ids: ids() },
            Leg::Share {
                centre,
                options,
                keep,
                ..
            } => Leg::Share {
                centre: centre.clone(),
                options: *options,
                circle: ids(),
                keep: *keep,
            },
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::internal(format!("a node's leg: {e}")))
}

/// One node's leg: the answers of its own partitions, `{"partitions": [p…], "answers":
/// […]}`, for a node that shows the cluster's internal token.
pub(crate) async fn leg(h: &Http, req: Request) -> Result<Response, ApiError> {
    // Compared as digests, as keys are: the time taken says nothing of the token.
    let token = req
        .headers()
        .get(INTERNAL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if credo_access::hash_token(token) != credo_access::hash_token(&h.node.internal) {
        return Err(ApiError::forbidden(
            "an internal leg needs the cluster's token",
        ));
    }
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::NoticePlan)?;
    let bytes = credo_server::api::read_body(req.into_body(), MAX_LEG).await?;
    let question: Leg = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let parts = serving(h);
    let ids: Vec<u32> = parts.iter().map(|p| p.partition).collect();
    let engines: Vec<_> = parts.iter().map(|p| p.engine().clone()).collect();
    let answers = tokio::task::spawn_blocking(move || {
        engines
            .iter()
            .map(|e| {
                let e = e.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                Ok(match &question {
                    Leg::Centre { case } => json!(e.notice_centre(case)),
                    Leg::Contacts { ids } => json!(e.contacts_of(ids)),
                    Leg::Share {
                        centre,
                        options,
                        circle,
                        keep,
                    } => json!(e.notice_share(centre, options, circle, *keep)?),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(axum::Json(json!({"partitions": ids, "answers": answers})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split by owners, the frontier and the circle reach each partition's owner whole, in
    /// their order, and no one else; the centre's question goes to every owner unchanged.
    #[test]
    fn a_routed_leg_carries_its_owners_ids_only() {
        let g = credo_sim::generate_in_memory(300, 3).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<SubjectId> = std::str::from_utf8(&g.subjects)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["id"].as_str()?.parse().ok())
            .collect();
        assert!(ids.len() >= 300);
        let pt = credo_cluster::Partitioning::new(16).unwrap_or_else(|e| panic!("{e}"));
        let owners: [Vec<u32>; 3] = [
            vec![0, 3, 6, 9, 12, 15],
            vec![1, 4, 7, 10, 13],
            vec![2, 5, 8, 11, 14],
        ];
        let contacts = Leg::Contacts { ids: ids.clone() };
        let grouped = contacts.by_partition(pt).unwrap_or_default();
        let mut got: Vec<SubjectId> = Vec::new();
        for parts in &owners {
            let Leg::Contacts { ids: mine } = contacts.only(parts, &grouped) else {
                panic!("a contacts leg stays one");
            };
            assert!(!mine.is_empty());
            assert!(mine.iter().all(|&id| parts.contains(&pt.of(id))));
            // Each partition's IDs in the order they were asked in.
            for &p in parts {
                let asked: Vec<SubjectId> =
                    ids.iter().copied().filter(|&id| pt.of(id) == p).collect();
                let sent: Vec<SubjectId> =
                    mine.iter().copied().filter(|&id| pt.of(id) == p).collect();
                assert_eq!(sent, asked, "partition {p}");
            }
            got.extend(mine);
        }
        let key = |v: &mut Vec<SubjectId>| v.sort_unstable_by_key(|id| id.key());
        let mut want = ids.clone();
        key(&mut want);
        key(&mut got);
        assert_eq!(got, want);
        assert!(Leg::Centre { case: "c".into() }.by_partition(pt).is_none());
    }

    #[test]
    fn a_leg_reads_back_what_was_sent() {
        let id: SubjectId = "11010519491231002X"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let legs = [
            Leg::Centre {
                case: "(2025)京0105执1号".into(),
            },
            Leg::Contacts { ids: vec![id] },
            Leg::Share {
                centre: NoticeCentre {
                    case: "c".into(),
                    court: "court".into(),
                    debtor: id,
                    pos: Some([39.9, 116.4]),
                    region: 110105,
                    group: b'C',
                    delivered: 3,
                },
                options: NoticeOptions::default(),
                circle: vec![id, id],
                keep: 20,
            },
        ];
        for leg in legs {
            let text = serde_json::to_string(&leg).unwrap_or_default();
            let back: Leg = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(serde_json::to_string(&back).unwrap_or_default(), text);
        }
    }
}
