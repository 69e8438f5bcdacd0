use super::*;
use serde_json::json;

#[test]
fn endpoint_replaces_first_label_like_the_driver() {
    let ep = endpoint_for("postgresql://u:p@ep-x-1.us-east-2.aws.neon.tech/db?sslmode=require", None).unwrap();
    assert_eq!(ep, "https://api.us-east-2.aws.neon.tech/sql");
}

#[test]
fn endpoint_override_wins_and_blank_override_is_ignored() {
    let cs = "postgres://u:p@localhost:5432/db";
    assert_eq!(endpoint_for(cs, Some("http://127.0.0.1:4444/sql")).unwrap(), "http://127.0.0.1:4444/sql");
    assert_eq!(endpoint_for(cs, Some("  ")).unwrap(), "https://localhost/sql");
}

#[test]
fn connection_string_checks() {
    assert!(matches!(parse_connection_string("mysql://u:p@h/db"), Err(NeonError::Config(_))));
    assert!(matches!(parse_connection_string("postgresql://h/db"), Err(NeonError::Config(_))));
    assert!(matches!(parse_connection_string("postgresql://u@h"), Err(NeonError::Config(_))));
    assert_eq!(parse_connection_string("postgres://u:p@h/db").unwrap().scheme(), "postgresql");
}

#[test]
fn params_serialise_as_the_driver_does() {
    let ts = parse_timestamptz("2026-11-22 02:05:28.5+00").unwrap();
    let q = Query::new("x")
        .bind(1_i64)
        .bind("a")
        .bind(true)
        .bind(Option::<String>::None)
        .bind(json!({"k": [1, 2]}))
        .bind(vec![1u8, 0xab])
        .bind(ts)
        .bind(vec!["a\"b".to_string(), "c\\d".to_string()]);
    let body: Value = serde_json::from_str(&single_request("cs", &q).body).unwrap();
    assert_eq!(
        body["params"],
        json!(["1", "a", "true", null, "{\"k\":[1,2]}", "\\x01ab", "2026-11-22T02:05:28.500000Z", "{\"a\\\"b\",\"c\\\\d\"}"])
    );
}

#[test]
fn batch_request_sets_isolation_header_and_queries() {
    let r = batch_request("cs", &[Query::new("a"), Query::new("b").bind(2)], Some(Isolation::Serializable));
    assert!(r.headers.contains(&("Neon-Batch-Isolation-Level", "Serializable".to_string())));
    assert!(r.headers.contains(&("Neon-Array-Mode", "true".to_string())));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["queries"][1], json!({"query": "b", "params": ["2"]}));
}

fn result(fields: &[(&str, u32)], row: Vec<Option<&str>>) -> QueryResult {
    let body = json!({
        "fields": fields.iter().map(|(n, o)| json!({"name": n, "dataTypeID": o, "tableID": 0, "columnID": 0,
            "dataTypeSize": -1, "dataTypeModifier": -1, "format": "text"})).collect::<Vec<_>>(),
        "rows": [row], "command": "SELECT", "rowCount": 1, "rowAsArray": true
    });
    decode_single(200, &body.to_string()).unwrap()
}

#[test]
fn typed_decoding_of_every_supported_type() {
    let r = result(
        &[("i", 23), ("b", 20), ("n", 1700), ("t", 16), ("s", 25), ("j", 3802), ("ts", 1184), ("u", 2950),
          ("by", 17), ("arr", 1009), ("ints", 1016), ("nul", 25)],
        vec![Some("7"), Some("9007199254740993"), Some("12.50"), Some("t"), Some("hé"), Some("{\"a\":1}"),
             Some("2026-11-22 02:05:28.123456+00"), Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
             Some("\\xdeadbeef"), Some("{a,\"b c\",NULL,\"d\\\"e\"}"), Some("{1,-2}"), None],
    );
    let row = r.first().unwrap();
    assert_eq!(row.get::<i32>("i").unwrap(), 7);
    assert_eq!(row.get::<i64>("b").unwrap(), 9007199254740993);
    assert_eq!(row.get::<String>("n").unwrap(), "12.50");
    assert_eq!(row.get::<f64>("n").unwrap(), 12.5);
    assert!(row.get::<bool>("t").unwrap());
    assert_eq!(row.get::<String>("s").unwrap(), "hé");
    assert_eq!(row.get::<Value>("j").unwrap(), json!({"a": 1}));
    assert_eq!(row.get::<DateTime<Utc>>("ts").unwrap().to_rfc3339(), "2026-11-22T02:05:28.123456+00:00");
    assert_eq!(row.get::<String>("u").unwrap(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(row.get::<Vec<u8>>("by").unwrap(), vec![0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(
        row.get::<Vec<Option<String>>>("arr").unwrap(),
        vec![Some("a".into()), Some("b c".into()), None, Some("d\"e".into())]
    );
    assert_eq!(row.get::<Vec<i64>>("ints").unwrap(), vec![1, -2]);
    assert_eq!(row.get::<Option<String>>("nul").unwrap(), None);
    assert!(row.get::<String>("nul").is_err(), "NULL into a non-Option must fail");
    assert!(row.get::<i64>("s").is_err(), "text into an integer must fail by OID");
    assert!(row.get::<i64>("missing").is_err());
}

#[test]
fn timestamptz_with_other_offsets() {
    assert_eq!(parse_timestamptz("2026-01-01 05:00:00+05:30").unwrap().to_rfc3339(), "2025-12-31T23:30:00+00:00");
    assert_eq!(parse_timestamptz("2026-01-01 00:00:00-02").unwrap().to_rfc3339(), "2026-01-01T02:00:00+00:00");
    assert!(parse_timestamptz("yesterday").is_err());
}

#[test]
fn errors_map_to_typed_variants() {
    let body = json!({"message": "duplicate key value violates unique constraint \"users_name_key\"", "code": "23505",
        "detail": "Key (name)=(a) already exists.", "hint": null, "position": null, "internalPosition": null,
        "internalQuery": null, "severity": "ERROR", "where": null, "table": "users", "column": null, "schema": "public",
        "dataType": null, "constraint": "users_name_key", "file": "nbtinsert.c", "line": "664", "routine": "_bt_check_unique"});
    let e = decode_single(400, &body.to_string()).unwrap_err();
    assert!(e.is_unique_violation());
    match &e {
        NeonError::Db(d) => assert_eq!(d.constraint.as_deref(), Some("users_name_key")),
        other => panic!("{other:?}"),
    }
    let e = decode_single(500, "upstream down").unwrap_err();
    assert_eq!(e, NeonError::Http { status: 500, body: "upstream down".into() });
    assert!(!e.is_unique_violation());
    assert!(matches!(decode_batch(200, "{\"rows\":[]}"), Err(NeonError::Decode(_))));
}

#[test]
fn array_literal_parser_rejects_garbage() {
    assert!(parse_array("nope").is_err());
    assert!(parse_array("{\"open").is_err());
    assert!(parse_array("{{1},{2}}").is_err());
    assert_eq!(parse_array("{}").unwrap(), Vec::<Option<String>>::new());
}

#[test]
fn transient_errors_are_the_ones_a_retry_can_fix() {
    assert!(NeonError::Transport("reset".into()).is_transient());
    assert!(NeonError::Http { status: 500, body: String::new() }.is_transient());
    assert!(NeonError::Http { status: 503, body: String::new() }.is_transient());
    assert!(!NeonError::Http { status: 413, body: String::new() }.is_transient());
    assert!(!NeonError::Decode("x".into()).is_transient());
    assert!(!NeonError::Config("x".into()).is_transient());
}

/// PostgreSQL prints a jsonb number in full: a story `config` holding 1.7976931348623157e308
/// (the largest f64, which a request may carry) comes back as 309 digits. Read approximately,
/// they rounded past f64::MAX and every read of that story answered 500 (found by schemathesis).
/// Native test builds read them exactly even without the crate's `float_roundtrip` (the
/// `jsonschema` dev-dependency turns it on too), so the Worker's build is guarded end to end by
/// `tests/api/fuzz.rs` `found_before`.
#[test]
fn jsonb_numbers_at_the_edge_of_f64_read_back() {
    let printed = format!("{{\"x\": 17976931348623157{}}}", "0".repeat(292));
    let v = Value::from_pg(oid::JSONB, Some(&printed)).expect("the largest f64, as PostgreSQL prints it");
    assert_eq!(v["x"].as_f64(), Some(f64::MAX));
    let tiny = format!("{{\"x\": 0.{}22250738585072014}}", "0".repeat(307));
    assert_eq!(Value::from_pg(oid::JSONB, Some(&tiny)).unwrap()["x"].as_f64(), Some(2.2250738585072014e-308));
}
