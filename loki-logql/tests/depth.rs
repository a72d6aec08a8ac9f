//! Deep and long queries: the parser stops at its depth limit with an error
//! (never a stack overflow), and the deepest accepted trees can be printed,
//! compared, cloned and dropped on a 2 MiB thread stack.

use loki_logql::{parse, ParseErrorKind};

fn too_deep(q: &str) -> bool {
    matches!(
        parse(q).map_err(|e| e.as_parse().map(|p| p.kind().clone())),
        Err(Some(ParseErrorKind::TooDeep { .. }))
    )
}

fn exercise(q: &str) {
    let e = parse(q).unwrap_or_else(|e| panic!("{}", e.as_parse().unwrap().message()));
    let text = e.to_string();
    let pretty = e.pretty();
    let again = parse(&text).unwrap();
    assert_eq!(again, e.clone());
    assert_eq!(parse(&pretty).unwrap(), e);
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deepest_accepted_trees_are_safe_on_a_small_stack() {
    on_small_stack(|| {
        let n = 500;
        exercise(&vec!["vector(1)"; n].join(" + "));
        exercise(&vec!["vector(1)"; 100].join(" ^ "));
        let nest = 120;
        exercise(&format!(
            "{}vector(1){}",
            "sum(".repeat(nest),
            ")".repeat(nest)
        ));
        exercise(&format!(
            r#"{{a="b"}} | {}"#,
            vec![r#"x="1""#; n].join(" or ")
        ));
        exercise(&format!(
            r#"{{a="b"}} | {}"#,
            vec![r#"x="1""#; n].join(", ")
        ));
        exercise(&format!(
            r#"{{a="b"}} | {}x="1"{}"#,
            "(".repeat(nest),
            ")".repeat(nest)
        ));
        exercise(&format!(
            "{}vector(1){}",
            "(".repeat(nest),
            ")".repeat(nest)
        ));
    });
}

#[test]
fn too_deep_is_an_error_not_a_crash() {
    on_small_stack(|| {
        let n = 20_000;
        assert!(too_deep(&format!("{}1{}", "(".repeat(n), ")".repeat(n))));
        assert!(too_deep(&format!(
            r#"{}{{a="b"}}{}"#,
            "(".repeat(n),
            ")".repeat(n)
        )));
        assert!(too_deep(&format!(
            r#"rate({}{{a="b"}}{}[1m])"#,
            "(".repeat(n),
            ")".repeat(n)
        )));
        assert!(too_deep(&vec!["vector(1)"; 5_000].join(" + ")));
        assert!(too_deep(&vec!["vector(1)"; 5_000].join(" ^ ")));
        assert!(too_deep(&format!(
            "{}vector(1){}",
            "sum(".repeat(n / 4),
            ")".repeat(n / 4)
        )));
        assert!(too_deep(&format!(
            r#"{{a="b"}} | {}"#,
            vec![r#"x="1""#; 5_000].join(" or ")
        )));
        assert!(too_deep(&format!(
            r#"{{a="b"}} | {}"#,
            vec![r#"x="1""#; 5_000].join(" ")
        )));
        assert!(too_deep(&format!(
            r#"{{a="b"}} | {}x="1"{}"#,
            "(".repeat(n),
            ")".repeat(n)
        )));
        // Nested templates fail as template errors.
        let deep = format!(
            r#"{{a="b"}} | line_format "{{{{{}.a{}}}}}""#,
            "(".repeat(n),
            ")".repeat(n)
        );
        assert!(parse(&deep).is_err());
    });
}
