use crate::helpers::TestStack;

#[test]
fn unknown_routes_wrong_methods_and_missing_auth_get_json_errors() {
    let stack = TestStack::start();

    let r = stack.get("/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = stack.request("DELETE", "/health", None, &[]).unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");

    let r = stack.request("POST", "/api/v1/admin/probes", None, &[]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");

    // A key-shaped token that names no user does not authenticate: 401. A real user's key
    // does, but is not allowed here: 403.
    let r = stack.request("POST", "/api/v1/admin/probes", None, &[("Authorization", "Bearer tc_not_an_admin")]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    let (_, key) = stack.create_user("not-an-admin");
    let auth = format!("Bearer {key}");
    let r = stack.request("POST", "/api/v1/admin/probes", None, &[("Authorization", &auth)]).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");

    let r = stack.admin("POST", "/api/v1/admin/probes", Some("{not json"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");

    let r = stack.admin("POST", "/api/v1/admin/probes", Some(r#"{"fail": "yes"}"#));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["field"], "fail");
}
