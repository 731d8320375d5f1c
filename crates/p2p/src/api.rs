//! The node's HTTP/JSON API (axum): the RSUs' and the operator's interface.
//!
//! - `GET /status`: `{"id", "height", "tip", "peers", "mempool", "admitted"}`
//! - `POST /crossings`: `{"request": HEX, "rsu": N}` (a signed crossing request, as
//!   `vkm_transfer::crossing::CrossingRequest` encodes it, delivered by RSU `N`; `rsu`
//!   defaults to the one the request names) -> `{"txid"}`; bad input gets a 4xx status
//!   with `{"error"}` and changes nothing.
//! - `GET /admissions?after=N`: vehicles admitted into this domain after the `N`th.
//! - `GET /blocks/{height}`: the best-chain block at that height, as JSON.
//! - `GET /metrics`: Prometheus text format.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use vkm_block::{Block, Transaction, deserialize, serialize};
use vkm_transfer::crossing::{CrossingRequest, RsuId};

use crate::node::{CrossingOutcome, Input};
use crate::state::Shared;

/// Largest request body read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most admissions one `GET /admissions` returns.
pub const MAX_ADMISSIONS_PER_PAGE: usize = 10_000;
/// How long the API waits for the manager.
const MANAGER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers reach.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) inbox: mpsc::Sender<Input>,
    pub(crate) shared: Arc<Shared>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The block as JSON: its header fields, miner, transactions' ids and kinds, size.
pub fn block_json(block: &Block, height: u64) -> Value {
    let kinds: Vec<&str> = block
        .transactions
        .iter()
        .map(|tx| match tx {
            Transaction::KeyTransfer(_) => "key_transfer",
            Transaction::Value(_) => "value",
            Transaction::Registry(_) => "registry",
        })
        .collect();
    json!({
        "height": height,
        "hash": block.block_hash().to_string(),
        "prev_block": block.header.prev_block.to_string(),
        "merkle_root": block.header.merkle_root.to_string(),
        "timestamp": block.header.timestamp.0,
        "difficulty_bits": block.header.difficulty_bits,
        "nonce": block.header.nonce,
        "miner": block.miner.0,
        "transactions": block.transactions.len(),
        "txids": block.txids().iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "kinds": kinds,
        "bytes": serialize(block).len(),
    })
}

async fn status(State(state): State<ApiState>) -> Response {
    axum::Json(state.shared.status()).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.shared.render_metrics(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrossingBody {
    request: String,
    #[serde(default)]
    rsu: Option<u32>,
}

async fn crossings(State(state): State<ApiState>, body: Bytes) -> Response {
    let body: CrossingBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    if body.request.len() > 2 * MAX_BODY_BYTES {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "request too long");
    }
    let bytes = match hex::decode(&body.request) {
        Ok(bytes) => bytes,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request is not hex: {e}")),
    };
    let request: CrossingRequest = match deserialize(&bytes) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request: {e}")),
    };
    let via = RsuId(body.rsu.unwrap_or(request.rsu.0));
    let (reply, answer) = oneshot::channel();
    let input = Input::Crossing {
        request: Box::new(request),
        via,
        reply,
    };
    if state.inbox.send(input).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the manager is stopping");
    }
    match tokio::time::timeout(MANAGER_TIMEOUT, answer).await {
        Ok(Ok(CrossingOutcome::Transfer(txid))) => {
            axum::Json(json!({ "txid": txid.to_string() })).into_response()
        }
        Ok(Ok(CrossingOutcome::Enrolled)) => {
            axum::Json(json!({ "txid": null, "enrolled": true })).into_response()
        }
        Ok(Ok(CrossingOutcome::Refused(why))) => error(StatusCode::UNPROCESSABLE_ENTITY, why),
        Ok(Err(_)) | Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the manager did not answer",
        ),
    }
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn admissions(State(state): State<ApiState>, Query(after): Query<After>) -> Response {
    let list = state
        .shared
        .admissions_after(after.after, MAX_ADMISSIONS_PER_PAGE);
    let next = list.last().map_or(after.after, |r| r.seq);
    axum::Json(json!({ "admissions": list, "next": next })).into_response()
}

async fn block(State(state): State<ApiState>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "height must be a non-negative integer",
        );
    };
    let (reply, answer) = oneshot::channel();
    if state.inbox.send(Input::Block { height, reply }).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the manager is stopping");
    }
    match tokio::time::timeout(MANAGER_TIMEOUT, answer).await {
        Ok(Ok(Some(block))) => axum::Json(block_json(&block, height)).into_response(),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            format!("no block at height {height}"),
        ),
        Ok(Err(_)) | Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the manager did not answer",
        ),
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/crossings", post(crossings))
        .route("/admissions", get(admissions))
        .route("/blocks/{height}", get(block))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("API server: {e}");
    }
}
