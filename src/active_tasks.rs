//! The active-task registry: one SQLite-backed Durable Object for the whole service, holding the
//! id of every task that may be queued or running, so that the sweeper can tell "nothing to do"
//! without waking Neon. The rules are in `core::active`; this object only stores.
//!
//! Internal API (through `Registry`): `POST /register` `{"task_id"}`, `POST /deregister`
//! `{"task_id"}`, `GET /snapshot` → `core::active::Snapshot`, `POST /reconcile` with a
//! `core::active::Plan` (also marks the registry adopted).

use crate::core::active::{Entry, Plan, Snapshot};
use crate::platform::Subrequests;
use serde::Deserialize;
use serde_json::json;
use worker::*;

/// The one instance's name.
const NAME: &str = "all";

#[derive(Deserialize)]
struct TaskId {
    task_id: String,
}

#[durable_object]
pub struct ActiveTasks {
    state: State,
}

impl ActiveTasks {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        self.sql().exec("CREATE TABLE IF NOT EXISTS active (task_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, registered_at INTEGER NOT NULL)", None)?;
        self.sql().exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)", None)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<i64> {
        #[derive(Deserialize)]
        struct V {
            value: i64,
        }
        let rows: Vec<V> = self.sql().exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?.to_array()?;
        Ok(rows.first().map(|v| v.value).unwrap_or(0))
    }

    fn set_meta(&self, key: &str, value: i64) -> Result<()> {
        self.sql().exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![key.into(), value.into()],
        )?;
        Ok(())
    }

    /// Registering again moves the entry past any snapshot already taken.
    fn register(&self, task_id: &str) -> Result<()> {
        let seq = self.meta("seq")? + 1;
        self.set_meta("seq", seq)?;
        self.sql().exec(
            "INSERT INTO active (task_id, seq, registered_at) VALUES (?, ?, ?) \
             ON CONFLICT (task_id) DO UPDATE SET seq = excluded.seq, registered_at = excluded.registered_at",
            vec![task_id.into(), seq.into(), (Date::now().as_millis() as i64).into()],
        )?;
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        #[derive(Deserialize)]
        struct R {
            task_id: String,
            seq: i64,
            registered_at: i64,
        }
        let rows: Vec<R> = self.sql().exec("SELECT task_id, seq, registered_at FROM active ORDER BY seq", None)?.to_array()?;
        Ok(Snapshot {
            adopted: self.meta("adopted")? == 1,
            entries: rows.into_iter().map(|r| Entry { task_id: r.task_id, seq: r.seq, registered_at_ms: r.registered_at }).collect(),
            mark: self.meta("seq")?,
            as_of_ms: Date::now().as_millis() as i64,
        })
    }

    fn apply(&self, plan: &Plan) -> Result<()> {
        for id in &plan.remove {
            self.sql().exec("DELETE FROM active WHERE task_id = ? AND seq <= ?", vec![id.as_str().into(), plan.mark.into()])?;
        }
        for id in &plan.add {
            self.register(id)?;
        }
        self.set_meta("adopted", 1)
    }
}

impl DurableObject for ActiveTasks {
    fn new(state: State, _env: Env) -> Self {
        ActiveTasks { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/register") => {
                self.register(&req.json::<TaskId>().await?.task_id)?;
                Response::empty()
            }
            (Method::Post, "/deregister") => {
                let id = req.json::<TaskId>().await?.task_id;
                self.sql().exec("DELETE FROM active WHERE task_id = ?", vec![id.into()])?;
                Response::empty()
            }
            (Method::Get, "/snapshot") => Response::from_json(&self.snapshot()?),
            (Method::Post, "/reconcile") => {
                self.apply(&req.json::<Plan>().await?)?;
                Response::empty()
            }
            _ => Response::error("unknown registry route", 404),
        }
    }
}

/// The caller's side.
pub struct Registry(Stub);

impl Registry {
    pub fn new(env: &Env) -> Result<Self> {
        Ok(Registry(env.durable_object(crate::platform::ACTIVE_TASKS_DO)?.id_from_name(NAME)?.get_stub()?))
    }

    pub async fn register(&self, task_id: &str) -> Result<()> {
        self.post("/register", json!({ "task_id": task_id })).await
    }

    pub async fn deregister(&self, task_id: &str) -> Result<()> {
        self.post("/deregister", json!({ "task_id": task_id })).await
    }

    pub async fn snapshot(&self) -> Result<Snapshot> {
        let mut resp = self.0.fetch_with_str("https://registry/snapshot").await?;
        match resp.status_code() {
            200 => resp.json().await,
            s => Err(Error::RustError(format!("registry answered {s}"))),
        }
    }

    pub async fn reconcile(&self, plan: &Plan) -> Result<()> {
        self.post("/reconcile", serde_json::to_value(plan)?).await
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<()> {
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.to_string().into()));
        let resp = self.0.fetch_with_request(Request::new_with_init(&format!("https://registry{path}"), &init)?).await?;
        match resp.status_code() {
            200..=299 => Ok(()),
            s => Err(Error::RustError(format!("registry answered {s}"))),
        }
    }
}

/// For the places where a task has certainly ended (never where it may still be active: an
/// active task missing from the registry would not be re-driven). Best effort: an entry left
/// behind costs the next sweep one Neon query, which removes it.
pub async fn forget(env: &Env, task_id: &str, counter: Option<&Subrequests>) {
    if let Some(c) = counter {
        c.add(1);
    }
    let result = match Registry::new(env) {
        Ok(r) => r.deregister(task_id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        crate::log::warn("registry_forget_failed", json!({ "task_id": task_id, "error": e.to_string() }));
    }
}
