//! `luigid-rs`: command line, configuration, logging; then the server loop.

fn main() {
    env_logger::init();
    eprintln!("luigid-rs: not wired yet");
    std::process::exit(1);
}
