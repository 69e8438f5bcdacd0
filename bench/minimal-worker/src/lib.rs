//! The smallest Worker that uses what talecast's platform needs: a fetch handler that reads an
//! R2 object, sends a queue message and asks a Durable Object; a queue consumer; the object.

use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let found = env.bucket("BUCKET")?.get("k").execute().await?.is_some();
    env.queue("QUEUE")?.send("m".to_string()).await?;
    let stub = env.durable_object("OBJECT")?.id_from_name("one")?.get_stub()?;
    let answer = stub.fetch_with_str("https://object/").await?.text().await?;
    Response::ok(format!("{found} {answer}"))
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, _env: Env, _ctx: Context) -> Result<()> {
    batch.ack_all();
    Ok(())
}

#[durable_object]
pub struct Object {
    state: State,
}

impl DurableObject for Object {
    fn new(state: State, _env: Env) -> Self {
        Object { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        let n: u64 = self.state.storage().get("n").await?.unwrap_or(0);
        self.state.storage().put("n", n + 1).await?;
        Response::ok(n.to_string())
    }
}
