//! The progress Durable Object: one instance per task (or probe), SQLite-backed, holding the
//! live state document with an increasing sequence number. Its storage expires by alarm some
//! time after the owner says so; the relational record of the work stays in Neon.
//!
//! Internal API (reached through `ProgressStub`, never from the Internet):
//! `GET /state` → `{seq, state, updated_at}` or 404; `PUT /state` with
//! `{"state": <json>, "expire_in_secs"?: n}` → the stored document.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use worker::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub seq: i64,
    pub state: Value,
    pub updated_at: String,
}

#[derive(Deserialize)]
struct PutBody {
    state: Value,
    expire_in_secs: Option<u64>,
}

#[durable_object]
pub struct TaskProgress {
    state: State,
}

impl TaskProgress {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// `delete_all` (run by the alarm) drops the table too, so every access makes sure of it.
    fn ensure_schema(&self) -> Result<()> {
        self.sql().exec(
            "CREATE TABLE IF NOT EXISTS doc (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn load(&self) -> Result<Option<Document>> {
        #[derive(Deserialize)]
        struct RowDoc {
            seq: i64,
            body: String,
            updated_at: String,
        }
        let rows: Vec<RowDoc> = self.sql().exec("SELECT seq, body, updated_at FROM doc WHERE id = 1", None)?.to_array()?;
        rows.into_iter()
            .next()
            .map(|r| {
                Ok(Document { seq: r.seq, state: serde_json::from_str(&r.body).map_err(|e| Error::RustError(e.to_string()))?, updated_at: r.updated_at })
            })
            .transpose()
    }

    async fn put(&self, body: PutBody) -> Result<Document> {
        let seq = self.load()?.map(|d| d.seq).unwrap_or(0) + 1;
        let updated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.sql().exec(
            "INSERT INTO doc (id, seq, body, updated_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, body = excluded.body, updated_at = excluded.updated_at",
            vec![seq.into(), body.state.to_string().into(), updated_at.clone().into()],
        )?;
        if let Some(secs) = body.expire_in_secs {
            self.state.storage().set_alarm(Duration::from_secs(secs)).await?;
        }
        Ok(Document { seq, state: body.state, updated_at })
    }
}

impl DurableObject for TaskProgress {
    fn new(state: State, _env: Env) -> Self {
        TaskProgress { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/state") => match self.load()? {
                Some(doc) => Response::from_json(&doc),
                None => Response::error("no state", 404),
            },
            (Method::Put, "/state") => {
                let body: PutBody = req.json().await?;
                Response::from_json(&self.put(body).await?)
            }
            _ => Response::error("unknown progress route", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::ok("expired")
    }
}

/// The caller's side: a typed client for one progress object, named by task or probe id.
pub struct ProgressStub(Stub);

impl ProgressStub {
    pub fn named(env: &Env, name: &str) -> Result<Self> {
        Ok(ProgressStub(env.durable_object(crate::platform::PROGRESS_DO)?.id_from_name(name)?.get_stub()?))
    }

    pub async fn get(&self) -> Result<Option<Document>> {
        let mut resp = self.0.fetch_with_str("https://progress/state").await?;
        match resp.status_code() {
            200 => Ok(Some(resp.json().await?)),
            404 => Ok(None),
            s => Err(Error::RustError(format!("progress object answered {s}"))),
        }
    }

    pub async fn put(&self, state: &Value, expire_in_secs: Option<u64>) -> Result<Document> {
        let body = serde_json::json!({ "state": state, "expire_in_secs": expire_in_secs });
        let mut init = RequestInit::new();
        init.with_method(Method::Put).with_body(Some(body.to_string().into()));
        let mut resp = self.0.fetch_with_request(Request::new_with_init("https://progress/state", &init)?).await?;
        match resp.status_code() {
            200 => resp.json().await,
            s => Err(Error::RustError(format!("progress object answered {s}"))),
        }
    }
}
