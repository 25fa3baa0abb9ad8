//! Path + method -> handler, as luigid's route table (protocol reference 1.2).
//!
//! Owner: the router work item.

use crate::app::{App, Peer};
use crate::http::{Request, Response};

pub fn route(app: &mut App, req: &Request, _peer: &Peer, now: f64) -> Response {
    if req.path == "/" && req.method == "HEAD" {
        return Response::new(204);
    }
    if let Some(method) = req.path.strip_prefix("/api/") {
        let args = serde_json::Map::new();
        return match crate::api::call(&mut app.scheduler, method, &args, now) {
            Ok(v) => {
                let mut body = Vec::new();
                crate::json::to_py_json(&serde_json::json!({ "response": v }), &mut body);
                Response::new(200).with_body("application/json; charset=UTF-8", body)
            }
            Err(e) => Response::new(404).with_body("text/plain", e.to_string()),
        };
    }
    Response::new(404).with_body("text/plain", "not found")
}
