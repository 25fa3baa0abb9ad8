//! The ceiling server for `benches/run.sh`: `trivial_server --port N [--address A]`.
//! Run without `--port` (as `cargo bench`/`cargo test` do) it only prints its usage.

#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut port: Option<u16> = None;
    let mut address = "127.0.0.1".to_string();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" => {
                port = args.get(i + 1).and_then(|p| p.parse().ok());
                i += 1;
            }
            "--address" => {
                if let Some(a) = args.get(i + 1) {
                    address = a.clone();
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let Some(port) = port else {
        eprintln!("usage: trivial_server --port N [--address 127.0.0.1]");
        return;
    };
    let addr: SocketAddr = match format!("{address}:{port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("trivial_server: bad address {address}:{port}: {e}");
            std::process::exit(2);
        }
    };
    let listener = match mio::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trivial_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = common::trivial::serve(listener, None) {
        eprintln!("trivial_server: {e}");
        std::process::exit(1);
    }
}
