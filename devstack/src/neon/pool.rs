//! Connection pool keyed by login (user, password, startup parameters), like the proxy's
//! per-endpoint/user/database pools: idle connections are reused, anything not cleanly idle
//! is dropped, and each key has a connection cap with waiters.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conninfo::ConnInfo;
use super::pgwire::{PgConn, PgError, StartupInfo};

const MAX_CONNS_PER_KEY: usize = 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for one of the key's connections before giving up.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections older than this are closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(300);

pub struct Pool {
    pg_addr: String,
    keys: Mutex<HashMap<ConnInfo, Arc<KeyPool>>>,
}

struct KeyPool {
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<(PgConn, Instant)>>,
}

/// A checked-out connection; it goes back to the pool on drop if it is cleanly idle.
pub struct PooledConn {
    conn: Option<PgConn>,
    home: Arc<KeyPool>,
    // Released after `drop` has returned the connection, so a waiter finds it idle.
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(pg_addr: String) -> Self {
        Pool {
            pg_addr,
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, info: &ConnInfo) -> Result<PooledConn, PgError> {
        let home = {
            let mut keys = self.keys.lock().unwrap();
            keys.entry(info.clone())
                .or_insert_with(|| {
                    Arc::new(KeyPool {
                        permits: Arc::new(Semaphore::new(MAX_CONNS_PER_KEY)),
                        idle: Mutex::new(Vec::new()),
                    })
                })
                .clone()
        };
        let permit = tokio::time::timeout(CHECKOUT_TIMEOUT, home.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                PgError::Broken(format!(
                    "timed out waiting for a free connection ({MAX_CONNS_PER_KEY} in use for this user and database)"
                ))
            })?
            .expect("pool semaphore is never closed");
        let reused = home.take_idle();
        let conn = match reused {
            Some(c) => c,
            None => {
                PgConn::connect(&StartupInfo {
                    addr: &self.pg_addr,
                    user: &info.user,
                    password: info.password.as_deref(),
                    params: &info.params,
                    timeout: CONNECT_TIMEOUT,
                })
                .await?
            }
        };
        Ok(PooledConn {
            conn: Some(conn),
            home,
            _permit: permit,
        })
    }
}

impl KeyPool {
    fn take_idle(&self) -> Option<PgConn> {
        let mut idle = self.idle.lock().unwrap();
        while let Some((c, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && c.is_reusable() {
                return Some(c);
            }
        }
        None
    }
}

impl Deref for PooledConn {
    type Target = PgConn;
    fn deref(&self) -> &PgConn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut PgConn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if c.is_reusable() {
                self.home.idle.lock().unwrap().push((c, Instant::now()));
            }
        }
    }
}
