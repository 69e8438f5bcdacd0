//! Clients for the paid remote APIs, over the Workers Fetch API. Local runs point their base
//! URLs at devstack's stand-ins; the code path is the same.
pub mod elevenlabs;
pub mod openai;
