//! The progress Durable Object: one instance per task (or probe), SQLite-backed, holding the
//! live state document with an increasing sequence number, and streaming every change to
//! `/events` subscribers. Its storage expires by alarm some time after the task ends; the
//! relational record of the work stays in Neon.
//!
//! Internal API (reached through `ProgressStub`, never from the Internet):
//! `GET /state` → `{seq, state, updated_at}` or 404; `PUT /state` with
//! `{"state": <json>, "expire_in_secs"?: n}` stores any document (probes, health);
//! `PUT /task` with `{"task": <TaskView>, "expire_in_secs": n}` folds a task view in (progress
//! never decreases, a terminal task stays as it ended) and arms the expiry alarm once it ends;
//! `GET /events` streams the task as server-sent events until it ends.

use crate::core::task::TaskView;
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::future::{select, Either};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::time::Duration;
use worker::*;

/// Idle SSE connections get a comment this often, so proxies keep them open.
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub seq: i64,
    pub state: Value,
    pub updated_at: String,
}

impl Document {
    fn is_terminal_task(&self) -> bool {
        serde_json::from_value::<TaskView>(self.state.clone()).is_ok_and(|t| t.status.is_terminal())
    }

    fn sse(&self) -> String {
        format!("event: task\nid: {}\ndata: {}\n\n", self.seq, self.state)
    }
}

#[derive(Deserialize)]
struct PutState {
    state: Value,
    expire_in_secs: Option<u64>,
}

#[derive(Deserialize)]
struct PutTask {
    task: TaskView,
    expire_in_secs: u64,
}

#[durable_object]
pub struct TaskProgress {
    state: State,
    subscribers: RefCell<Vec<UnboundedSender<Document>>>,
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
                let state = serde_json::from_str(&r.body).map_err(|e| Error::RustError(e.to_string()))?;
                Ok(Document { seq: r.seq, state, updated_at: r.updated_at })
            })
            .transpose()
    }

    fn store(&self, state: Value) -> Result<Document> {
        let seq = self.load()?.map(|d| d.seq).unwrap_or(0) + 1;
        let updated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.sql().exec(
            "INSERT INTO doc (id, seq, body, updated_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, body = excluded.body, updated_at = excluded.updated_at",
            vec![seq.into(), state.to_string().into(), updated_at.clone().into()],
        )?;
        let doc = Document { seq, state, updated_at };
        // Subscribers that went away are dropped here.
        self.subscribers.borrow_mut().retain(|tx| tx.unbounded_send(doc.clone()).is_ok());
        Ok(doc)
    }

    async fn put_task(&self, body: PutTask) -> Result<Document> {
        let stored = self.load()?;
        let old: Option<TaskView> = stored.as_ref().and_then(|d| serde_json::from_value(d.state.clone()).ok());
        let merged = TaskView::merge(old.as_ref(), body.task);
        let value = serde_json::to_value(&merged).map_err(|e| Error::RustError(e.to_string()))?;
        if let Some(d) = stored.filter(|d| d.state == value) {
            return Ok(d);
        }
        let doc = self.store(value)?;
        if merged.status.is_terminal() {
            self.state.storage().set_alarm(Duration::from_secs(body.expire_in_secs)).await?;
        }
        Ok(doc)
    }

    fn events(&self) -> Result<Response> {
        let (tx, rx) = unbounded();
        if let Some(doc) = self.load()? {
            let _ = tx.unbounded_send(doc);
        }
        self.subscribers.borrow_mut().push(tx);
        let resp = Response::from_stream(sse_stream(rx))?;
        resp.headers().set("Content-Type", "text/event-stream; charset=utf-8")?;
        resp.headers().set("Cache-Control", "no-cache")?;
        Ok(resp)
    }
}

/// Every document as an SSE event, a comment when idle, and the end after a terminal task.
fn sse_stream(rx: UnboundedReceiver<Document>) -> impl futures::Stream<Item = Result<Vec<u8>>> {
    futures::stream::unfold((rx, false), |(mut rx, finished)| async move {
        if finished {
            return None;
        }
        let next = {
            let doc = Box::pin(rx.next());
            let tick = Box::pin(Delay::from(KEEPALIVE));
            match select(doc, tick).await {
                Either::Left((doc, _)) => Some(doc),
                Either::Right(_) => None,
            }
        };
        match next {
            Some(Some(doc)) => {
                let end = doc.is_terminal_task();
                Some((Ok(doc.sse().into_bytes()), (rx, end)))
            }
            Some(None) => None,
            None => Some((Ok(b": keep-alive\n\n".to_vec()), (rx, false))),
        }
    })
}

impl DurableObject for TaskProgress {
    fn new(state: State, _env: Env) -> Self {
        TaskProgress { state, subscribers: RefCell::new(Vec::new()) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/state") => match self.load()? {
                Some(doc) => Response::from_json(&doc),
                None => Response::error("no state", 404),
            },
            (Method::Put, "/state") => {
                let body: PutState = req.json().await?;
                let doc = self.store(body.state)?;
                if let Some(secs) = body.expire_in_secs {
                    self.state.storage().set_alarm(Duration::from_secs(secs)).await?;
                }
                Response::from_json(&doc)
            }
            (Method::Put, "/task") => {
                let body: PutTask = req.json().await?;
                Response::from_json(&self.put_task(body).await?)
            }
            (Method::Get, "/events") => self.events(),
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

    pub fn for_task(env: &Env, task_id: &str) -> Result<Self> {
        Self::named(env, &format!("task:{task_id}"))
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
        self.send(Method::Put, "/state", serde_json::json!({ "state": state, "expire_in_secs": expire_in_secs })).await
    }

    pub async fn put_task(&self, task: &TaskView, expire_in_secs: u64) -> Result<Document> {
        self.send(Method::Put, "/task", serde_json::json!({ "task": task, "expire_in_secs": expire_in_secs })).await
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> Result<Document> {
        let mut init = RequestInit::new();
        init.with_method(method).with_body(Some(body.to_string().into()));
        let mut resp = self.0.fetch_with_request(Request::new_with_init(&format!("https://progress{path}"), &init)?).await?;
        match resp.status_code() {
            200 => resp.json().await,
            s => Err(Error::RustError(format!("progress object answered {s}"))),
        }
    }

    /// The SSE stream, re-wrapped: a Durable Object's response has immutable headers, and the
    /// API layer adds CORS headers to what it returns.
    pub async fn events(&self) -> Result<Response> {
        let mut upstream = self.0.fetch_with_str("https://progress/events").await?;
        let resp = Response::from_stream(upstream.stream()?)?;
        resp.headers().set("Content-Type", "text/event-stream; charset=utf-8")?;
        resp.headers().set("Cache-Control", "no-cache")?;
        Ok(resp)
    }
}

/// Folds a task view (read in the same round trip as the write that changed the task) into
/// its progress object, which streams it to subscribers. Returns the view as the object now
/// holds it.
pub async fn publish_view(env: &Env, view: &TaskView, ttl_secs: u64) -> Result<TaskView> {
    let doc = ProgressStub::for_task(env, &view.id)?.put_task(view, ttl_secs).await?;
    serde_json::from_value(doc.state).map_err(|e| Error::RustError(e.to_string()))
}

/// Reads the task's recorded state (one round trip) and publishes it: for callers that did
/// not just write the task.
pub async fn publish_task(env: &Env, db: &crate::db::Db, task_id: &str, ttl_secs: u64) -> Result<Option<TaskView>> {
    let r = db.query(&crate::db::tasks::view(None, task_id)).await.map_err(|e| Error::RustError(e.to_string()))?;
    let Some((_, view)) = crate::db::tasks::view_from(&r).map_err(|e| Error::RustError(e.to_string()))? else {
        return Ok(None);
    };
    publish_view(env, &view, ttl_secs).await.map(Some)
}
