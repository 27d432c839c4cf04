//! A small REST service over an in-memory store: path parameters, JSON bodies in and out,
//! errors mapped to statuses, a blocking handler, and the router's own 404 and 405.
//!
//! - `GET /items` → all items; `POST /items` `{"name":…,"price":…}` → `201` and the item
//! - `GET|PUT|DELETE /items/{id}` → the item, replaced, or removed (`404` if absent)
//! - `POST /export` (blocking: writes a file) → where the snapshot went
//! - any other method on these paths → `405` with `Allow`; other paths → `404`
//!
//! `cargo run --release --example rest -- --kernel --listen 127.0.0.1:8080`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use boomerang::{App, HttpError, Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NewItem {
    name: String,
    price: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
    price: u64,
}

/// The store. Inline handlers hold the lock only for a map operation (no I/O under it),
/// so a shard never waits long on it.
#[derive(Default)]
struct Store {
    next_id: u64,
    items: BTreeMap<u64, Item>,
}

type Shared = Arc<Mutex<Store>>;

fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, HttpError> {
    let body = serde_json::to_vec(value).map_err(|e| HttpError::new(500, e.to_string()))?;
    Ok(Response::json_bytes(body).with_status(status))
}

fn id_of(req: &Request) -> Result<u64, HttpError> {
    req.param("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| HttpError::bad_request("the id is a number"))
}

fn body_of(req: &Request) -> Result<NewItem, HttpError> {
    serde_json::from_slice(req.body())
        .map_err(|e| HttpError::bad_request(format!("the body is not an item: {e}")))
}

fn main() -> anyhow::Result<()> {
    let store = Shared::default();
    let (s1, s2, s3, s4, s5, s6) = (
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store,
    );
    App::new()
        .get("/items", move |_: &Request| {
            let items: Vec<Item> = lock(&s1).items.values().cloned().collect();
            json(StatusCode::OK, &items)
        })
        .post("/items", move |req: &Request| {
            let new = body_of(req)?;
            let mut store = lock(&s2);
            store.next_id += 1;
            let item = Item {
                id: store.next_id,
                name: new.name,
                price: new.price,
            };
            store.items.insert(item.id, item.clone());
            json(StatusCode::CREATED, &item)
        })
        .get("/items/{id}", move |req: &Request| {
            let id = id_of(req)?;
            let item = lock(&s3).items.get(&id).cloned();
            let item = item.ok_or_else(|| HttpError::not_found(format!("no item {id}")))?;
            json(StatusCode::OK, &item)
        })
        .put("/items/{id}", move |req: &Request| {
            let id = id_of(req)?;
            let new = body_of(req)?;
            let mut store = lock(&s4);
            let item = store
                .items
                .get_mut(&id)
                .ok_or_else(|| HttpError::not_found(format!("no item {id}")))?;
            item.name = new.name;
            item.price = new.price;
            let item = item.clone();
            drop(store);
            json(StatusCode::OK, &item)
        })
        .delete("/items/{id}", move |req: &Request| {
            let id = id_of(req)?;
            match lock(&s5).items.remove(&id) {
                Some(_) => Ok(StatusCode::NO_CONTENT),
                None => Err(HttpError::not_found(format!("no item {id}"))),
            }
        })
        // Writing a file blocks: this handler runs on the blocking pool.
        .route_blocking(Method::POST, "/export", move |_: &Request| {
            let items: Vec<Item> = lock(&s6).items.values().cloned().collect();
            let path = std::env::temp_dir()
                .join(format!("boomerang-rest-export-{}.json", std::process::id()));
            let body =
                serde_json::to_vec(&items).map_err(|e| HttpError::new(500, e.to_string()))?;
            std::fs::write(&path, &body).map_err(|e| HttpError::new(500, e.to_string()))?;
            json(
                StatusCode::OK,
                &serde_json::json!({ "path": path, "items": items.len(), "bytes": body.len() }),
            )
        })
        .run_from_args()
}
