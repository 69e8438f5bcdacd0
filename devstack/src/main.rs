//! `devstack serve`: the local stand-ins for talecast's remote services, on loopback.
//! `devstack migrate`: applies `migrations/` over Neon's SQL-over-HTTP protocol, so the same
//! runner works against the local server and against a real Neon endpoint.

mod migrate;
mod neon;
mod providers;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "devstack")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the Neon-protocol endpoint and the provider stand-ins (port 0 picks a free port).
    Serve {
        #[arg(long, default_value = "127.0.0.1:4444")]
        neon_addr: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:4445")]
        providers_addr: SocketAddr,
        /// The PostgreSQL server the Neon endpoint forwards to: host:port, or a unix socket
        /// path (`/dir/.s.PGSQL.5432`).
        #[arg(long, env = "DEVSTACK_PG_ADDR", default_value = "127.0.0.1:5432")]
        pg_addr: String,
        #[arg(long, env = "OPENAI_API_KEY")]
        openai_key: String,
        #[arg(long, env = "ELEVENLABS_API_KEY")]
        elevenlabs_key: String,
    },
    /// Apply every not-yet-applied file of a migrations folder, each in one transaction.
    Migrate {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The SQL-over-HTTP endpoint; by default derived from the connection string as Neon's driver does.
        #[arg(long, env = "NEON_HTTP_ENDPOINT")]
        endpoint: Option<String>,
        #[arg(long, default_value = "migrations")]
        dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() {
    match Cli::parse().cmd {
        Cmd::Serve { neon_addr, providers_addr, pg_addr, openai_key, elevenlabs_key } => {
            let neon_listener = tokio::net::TcpListener::bind(neon_addr).await.expect("bind neon address");
            let prov_listener =
                tokio::net::TcpListener::bind(providers_addr).await.expect("bind providers address");
            let neon_app = neon::router(neon::Config { pg_addr });
            let prov_app = providers::router(providers::Config { openai_key, elevenlabs_key });
            // One machine-readable line, so scripts and tests learn the ports picked with port 0.
            println!(
                "{}",
                serde_json::json!({
                    "ready": true,
                    "neon": neon_listener.local_addr().unwrap().to_string(),
                    "providers": prov_listener.local_addr().unwrap().to_string(),
                })
            );
            let a = tokio::spawn(async move { axum::serve(neon_listener, neon_app).await });
            let b = tokio::spawn(async move { axum::serve(prov_listener, prov_app).await });
            let _ = tokio::try_join!(a, b);
        }
        Cmd::Migrate { database_url, endpoint, dir } => {
            if let Err(e) = tokio::task::spawn_blocking(move || migrate::run(&database_url, endpoint.as_deref(), &dir))
                .await
                .expect("migration task")
            {
                eprintln!("migrate: {e}");
                std::process::exit(1);
            }
        }
    }
}
